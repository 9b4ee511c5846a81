//! The admin routes (`/_mock/…`) when the mock was given an admin token: every one of them,
//! with every method, refused without it (401 in Cal.com's envelope, nothing read, nothing
//! changed) and served with it; and the binary refusing to start open beyond loopback.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::{one_host, serve};
use mock_calcom::api::admin;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use simkit::access::Secret;

const TOKEN: &str = "admin-token-for-tests-0123456789";

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

/// A body every admin route parses (or refuses as a bad request, never as unauthorized).
fn body_for(path: &str) -> Value {
    match path {
        "/bookings" => json!({ "eventTypeId": 1001, "start": "2025-11-25T10:00:00Z" }),
        "/faults" => json!({ "kind": "status", "status": 500 }),
        _ => json!({}),
    }
}

/// Every admin route, its path parameters filled in, and some paths under `/_mock` that
/// match none (refused as well, so that a stranger cannot map the admin API).
fn admin_paths() -> Vec<String> {
    let mut paths: Vec<String> = admin::routes()
        .into_iter()
        .map(|(path, _)| format!("/_mock{}", path.replace("{uid}", "bk_1")))
        .collect();
    paths.extend(["/_mock", "/_mock/", "/_mock/nothing/here"].map(str::to_owned));
    paths
}

#[tokio::test]
async fn every_admin_route_and_method_needs_the_token() {
    let s = serve(one_host()).await;
    s.mock.require_admin_token(Secret::new(TOKEN).unwrap());
    // The world as the ground truth shows it, less the request counters.
    let world = || {
        let mut truth = serde_json::to_value(s.mock.ground_truth()).unwrap();
        truth.as_object_mut().unwrap().remove("requests");
        truth
    };
    let before = world();
    let generation = s.mock.generation();
    let routes = admin::routes().len();
    assert!(routes >= 8, "the admin API lists its routes ({routes})");
    for path in admin_paths() {
        for method in METHODS {
            for auth in [
                None,
                Some("Bearer wrong-token"),
                Some(TOKEN),
                Some("Bearer "),
            ] {
                let mut request = s
                    .http
                    .request(method.clone(), format!("{}{path}", s.base))
                    .json(&body_for(&path));
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                let r = request.send().await.unwrap();
                assert_eq!(
                    r.status(),
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} with {auth:?}"
                );
                let body: Value = r.json().await.unwrap();
                assert_eq!(body["status"], "error", "{method} {path}: {body}");
                assert_eq!(body["error"]["code"], "UnauthorizedException", "{body}");
                assert!(
                    !body.to_string().contains("Siegfried") && !body.to_string().contains(TOKEN),
                    "a refusal shows nothing of the world or the token: {body}"
                );
            }
        }
    }
    assert_eq!(world(), before, "refused requests changed nothing");
    assert_eq!(s.mock.generation(), generation, "no world was loaded");
    // The world's routes (`/v2/…`) did not start needing the admin token.
    let r = s
        .http
        .get(format!(
            "{}/v2/slots?eventTypeId=1001&start=2025-11-25&end=2025-11-25",
            s.base
        ))
        .header("cal-api-version", "2024-09-04")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "Cal.com's own API is unchanged");

    // With the token every listed route serves at least one method (the list is the
    // router's); the world may change from here on.
    let bearer = format!("Bearer {TOKEN}");
    for (path, _) in admin::routes() {
        let path = format!("/_mock{}", path.replace("{uid}", "bk_1"));
        let mut served = 0;
        for method in METHODS {
            let r = s
                .http
                .request(method.clone(), format!("{}{path}", s.base))
                .header("authorization", &bearer)
                .json(&body_for(&path))
                .send()
                .await
                .unwrap();
            let status = r.status();
            assert_ne!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            let body: Value = r.json().await.unwrap_or_default();
            // A method the route lacks is NestJS's "Cannot METHOD path".
            let unrouted = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Cannot "));
            if !unrouted {
                served += 1;
            }
        }
        assert!(
            served > 0,
            "{path} serves some method with the token (listed = routed)"
        );
    }
    let r = s
        .http
        .get(format!("{}/_mock/state", s.base))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_token_the_admin_routes_stay_open_as_on_loopback() {
    let s = serve(one_host()).await;
    let r = s
        .http
        .get(format!("{}/_mock/state", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mock-calcom"))
}

#[test]
fn beyond_loopback_the_mock_refuses_to_start_open() {
    for listen in ["0.0.0.0:0", "[::]:0"] {
        let out = bin()
            .args(["serve", "--listen", listen])
            .env_remove("MOCK_CALCOM_ADMIN_TOKEN")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{listen}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        for named in [
            "--admin-token-file",
            "MOCK_CALCOM_ADMIN_TOKEN",
            "--insecure",
        ] {
            assert!(stderr.contains(named), "names {named}: {stderr}");
        }
    }
    let out = bin()
        .args(["serve", "--listen", "0.0.0.0:0", "--admin-token", " "])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "an empty token is no token");
}

/// Starts the binary, returns its base URL (through loopback), its banner and the child.
fn start(args: &[&str], env: &[(&str, &str)]) -> (String, String, std::process::Child) {
    let mut command = bin();
    command
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "warn")
        .env_remove("MOCK_CALCOM_ADMIN_TOKEN")
        .stdout(Stdio::piped());
    for (k, v) in env {
        command.env(k, v);
    }
    let mut child = command.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let mut banner = first.clone();
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("admin") && (line.contains("Bearer") || line.contains("open")) {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"));
    let port = addr.rsplit(':').next().unwrap();
    (format!("http://127.0.0.1:{port}"), banner, child)
}

fn stop(mut child: std::process::Child) {
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    assert!(child.wait().unwrap().success());
}

fn get_state(base: &str, auth: Option<&str>) -> StatusCode {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut request = reqwest::Client::new().get(format!("{base}/_mock/state"));
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        request.send().await.unwrap().status()
    })
}

#[test]
fn beyond_loopback_the_token_comes_from_the_environment_or_a_file_and_is_never_shown() {
    let file = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("mock-admin-token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let file_arg = file.display().to_string();
    for (args, env) in [
        (
            vec!["--listen", "0.0.0.0:0"],
            vec![("MOCK_CALCOM_ADMIN_TOKEN", TOKEN)],
        ),
        (
            vec!["--listen", "0.0.0.0:0", "--admin-token-file", &file_arg],
            vec![],
        ),
    ] {
        let (base, banner, child) = start(&args, &env);
        assert!(banner.contains("Bearer"), "{banner}");
        assert!(
            !banner.contains(TOKEN),
            "the token is never printed: {banner}"
        );
        assert_eq!(get_state(&base, None), StatusCode::UNAUTHORIZED);
        assert_eq!(get_state(&base, Some("nope")), StatusCode::UNAUTHORIZED);
        assert_eq!(get_state(&base, Some(TOKEN)), StatusCode::OK);
        stop(child);
    }
    let (base, banner, child) = start(&["--listen", "0.0.0.0:0", "--insecure"], &[]);
    assert!(
        banner.contains("open to anyone"),
        "says what is open: {banner}"
    );
    assert_eq!(get_state(&base, None), StatusCode::OK);
    stop(child);
}
