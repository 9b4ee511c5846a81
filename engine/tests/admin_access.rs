//! Who may use the engine's routes when it is given an admin token, a Retell API key and a
//! webhook secret: every route not in `server::OPEN`, with every method, refused without the
//! token (401 in the engine's envelope, nothing read, nothing saved) and served with it; the
//! open ones refuse what their signature does not cover; and the binary refusing to start
//! open beyond loopback.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;

use booking_engine::catalog::Catalog;
use booking_engine::server::{OPEN, routes, serve_with};
use booking_engine::{Engine, EngineSettings, Policy};
use bytes::Bytes;
use chrono::DateTime;
use http::{Method, Request};
use http_body_util::Full;
use serde_json::{Value, json};
use simkit::access::Secret;
use simkit::transport::{HttpClient, Listener, Network, Timeouts};
use simkit::{ManualClock, SeedStreams};

const TOKEN: &str = "engine-admin-token-0123456789";
const RETELL_KEY: &str = "key_retell_for_tests";
const WEBHOOK_SECRET: &str = "whsec_for_tests";

const METHODS: [Method; 5] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::PATCH,
    Method::DELETE,
];

async fn served() -> (Arc<Engine>, String) {
    let now = DateTime::parse_from_rfc3339("2025-11-24T08:00:00Z")
        .unwrap()
        .to_utc();
    let engine = Engine::new(
        EngineSettings {
            catalog: Catalog::demo(),
            policy: Policy::preset("full").unwrap(),
            calcom_url: "http://127.0.0.1:9".into(),
            calcom_api_key: "cal_x".into(),
            webhook_secret: Some(WEBHOOK_SECRET.into()),
            retell_api_key: Some(RETELL_KEY.into()),
        },
        Arc::new(ManualClock::new(now)),
        SeedStreams::new(1),
        Network::Real,
    );
    let listener = Listener::bind(Network::Real, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve_with(
        engine.clone(),
        listener,
        std::future::pending(),
        Secret::new(TOKEN),
    ));
    (engine, base)
}

async fn send(
    client: &HttpClient,
    method: Method,
    url: &str,
    auth: Option<&str>,
    body: &Value,
) -> (u16, Value, String) {
    let mut req = Request::builder()
        .method(method)
        .uri(url)
        .header("content-type", "application/json");
    if let Some(auth) = auth {
        req = req.header("authorization", auth);
    }
    let response = client
        .send(req.body(Full::new(Bytes::from(body.to_string()))).unwrap())
        .await
        .unwrap();
    let text = String::from_utf8_lossy(&response.body).into_owned();
    (
        response.status.as_u16(),
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// A body each route parses: a channel appointment, a function call, a webhook.
fn body_for(path: &str) -> Value {
    match path {
        "/api/appointments" => {
            json!({ "service": "Herrenhaarschnitt", "datetime": "2025-11-25T12:00", "customer_name": "Siegfried Reu" })
        }
        "/api/webhooks/retell/function" => {
            json!({ "name": "start_booking", "call": { "call_id": "call_x" }, "args": { "datetime": "2025-11-25T12:00", "service_name": "Herrenhaarschnitt", "customer_name": "Siegfried Reu" } })
        }
        _ => json!({ "triggerEvent": "BOOKING_CANCELLED", "payload": {} }),
    }
}

#[test]
fn only_signature_guarded_routes_and_health_are_open() {
    let open: Vec<&str> = OPEN.iter().map(|(p, _)| *p).collect();
    assert_eq!(
        open,
        [
            "/api/webhooks/retell/function",
            "/api/webhooks/calcom",
            "/health"
        ],
        "a new open path needs its own guard, and a test here that it holds"
    );
    let routed: Vec<&str> = routes().into_iter().map(|(p, _)| p).collect();
    for path in open {
        assert!(routed.contains(&path), "{path} is a route");
    }
}

#[tokio::test]
async fn every_route_but_the_open_ones_needs_the_admin_token() {
    let (engine, base) = served().await;
    let client = HttpClient::new(Network::Real, Timeouts::default());
    let bearer = format!("Bearer {TOKEN}");
    let mut paths: Vec<String> = routes().into_iter().map(|(p, _)| p.to_owned()).collect();
    // Paths that match no route are refused alike: a stranger cannot map the API.
    paths.extend(["/api/nothing", "/", "/api/appointments/1"].map(str::to_owned));
    let mut guarded = 0;
    for path in &paths {
        if OPEN.iter().any(|(p, _)| p == path) {
            continue;
        }
        guarded += 1;
        let url = format!("{base}{path}");
        for method in METHODS {
            for auth in [None, Some("Bearer wrong"), Some(TOKEN), Some("Bearer ")] {
                let (status, body, text) =
                    send(&client, method.clone(), &url, auth, &body_for(path)).await;
                assert_eq!(status, 401, "{method} {path} with {auth:?}: {text}");
                assert_eq!(body["error"], "unauthorized", "{text}");
                assert!(
                    !text.contains("Siegfried") && !text.contains(TOKEN),
                    "{text}"
                );
            }
        }
    }
    assert!(guarded >= 1, "the read-out and the channel are guarded");
    assert!(
        engine.appointments.appointments().is_empty(),
        "nothing refused was saved"
    );

    // With the token: the channel takes an appointment, the read-out shows it.
    let url = format!("{base}/api/appointments");
    let (status, _, text) = send(
        &client,
        Method::POST,
        &url,
        Some(&bearer),
        &body_for("/api/appointments"),
    )
    .await;
    assert_eq!(status, 201, "{text}");
    let (status, body, text) = send(&client, Method::GET, &url, Some(&bearer), &json!({})).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(body["appointments"].as_array().unwrap().len(), 1, "{text}");
}

#[tokio::test]
async fn the_open_routes_refuse_what_their_signature_does_not_cover() {
    let (engine, base) = served().await;
    let client = HttpClient::new(Network::Real, Timeouts::default());
    for (path, _) in OPEN {
        let url = format!("{base}{path}");
        for method in METHODS {
            let (status, _, text) =
                send(&client, method.clone(), &url, None, &body_for(path)).await;
            match (*path, method.clone()) {
                ("/health", Method::GET) => assert_eq!((status, text.as_str()), (200, "ok")),
                ("/api/webhooks/retell/function", Method::POST) => {
                    assert_eq!(status, 401, "unsigned function call: {text}")
                }
                ("/api/webhooks/calcom", Method::POST) => {
                    assert_eq!(status, 403, "unsigned webhook: {text}")
                }
                _ => assert_eq!(status, 405, "{method} {path}: {text}"),
            }
        }
    }
    assert!(engine.appointments.appointments().is_empty());
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_booking-engine"))
}

const ENVS: [&str; 4] = [
    "BOOKING_ENGINE_ADMIN_TOKEN",
    "BOOKING_ENGINE_RETELL_API_KEY",
    "BOOKING_ENGINE_WEBHOOK_SECRET",
    "BOOKING_ENGINE_CALCOM_API_KEY",
];

fn serve_cmd(args: &[&str]) -> Command {
    let mut command = bin();
    command
        .args(["serve", "--calcom-url", "http://127.0.0.1:9"])
        .args(args)
        .env("RUST_LOG", "warn");
    for env in ENVS {
        command.env_remove(env);
    }
    command
}

#[test]
fn beyond_loopback_the_engine_refuses_to_start_without_its_secrets() {
    let out = serve_cmd(&["--listen", "0.0.0.0:0"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    for named in [
        "--admin-token-file",
        "--retell-api-key-file",
        "--webhook-secret-file",
        "--insecure",
    ] {
        assert!(stderr.contains(named), "names {named}: {stderr}");
    }
    // One missing is enough to refuse, and only it is named.
    let out = serve_cmd(&["--listen", "0.0.0.0:0", "--admin-token", "t"])
        .env("BOOKING_ENGINE_RETELL_API_KEY", RETELL_KEY)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--webhook-secret-file"), "{stderr}");
    assert!(!stderr.contains("--admin-token-file"), "{stderr}");
    assert!(!stderr.contains(RETELL_KEY), "{stderr}");
}

/// Starts the binary; its base URL through loopback and everything it printed at start-up.
fn start(mut command: Command) -> (String, String, std::process::Child) {
    let mut child = command.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    let mut banner = format!("{first}\n");
    // Up to the warning that Cal.com (nobody at port 9) could not be asked for its event
    // types, printed once the banner is out.
    for line in lines.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("event types") {
            break;
        }
    }
    std::thread::spawn(move || lines.for_each(drop));
    let addr = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix("http://"))
        .unwrap();
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

fn appointments(base: &str, auth: Option<&str>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = HttpClient::new(Network::Real, Timeouts::default());
        let url = format!("{base}/api/appointments");
        send(&client, Method::GET, &url, auth, &json!({})).await.0
    })
}

#[test]
fn secrets_come_from_the_environment_or_files_and_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("{text}\n")).unwrap();
        path.display().to_string()
    };
    let (token, retell, webhook) = (
        file("token", TOKEN),
        file("retell", RETELL_KEY),
        file("webhook", WEBHOOK_SECRET),
    );
    let bearer = format!("Bearer {TOKEN}");
    let mut from_env = serve_cmd(&["--listen", "0.0.0.0:0"]);
    from_env
        .env("BOOKING_ENGINE_ADMIN_TOKEN", TOKEN)
        .env("BOOKING_ENGINE_RETELL_API_KEY", RETELL_KEY)
        .env("BOOKING_ENGINE_WEBHOOK_SECRET", WEBHOOK_SECRET);
    let from_files = serve_cmd(&[
        "--listen",
        "0.0.0.0:0",
        "--admin-token-file",
        &token,
        "--retell-api-key-file",
        &retell,
        "--webhook-secret-file",
        &webhook,
    ]);
    for command in [from_env, from_files] {
        let (base, banner, child) = start(command);
        assert!(banner.contains("Bearer <admin token>"), "{banner}");
        for secret in [TOKEN, RETELL_KEY, WEBHOOK_SECRET] {
            assert!(!banner.contains(secret), "{banner}");
        }
        assert!(!banner.contains("--insecure"), "{banner}");
        assert_eq!(appointments(&base, None), 401);
        assert_eq!(appointments(&base, Some("Bearer nope")), 401);
        assert_eq!(appointments(&base, Some(&bearer)), 200);
        stop(child);
    }
    let (base, banner, child) = start(serve_cmd(&["--listen", "0.0.0.0:0", "--insecure"]));
    for open in ["/api/appointments is open", "accepted unsigned"] {
        assert!(banner.contains(open), "says what is open: {banner}");
    }
    assert_eq!(appointments(&base, None), 200);
    stop(child);
}
