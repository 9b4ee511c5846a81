//! The `mock-calcom` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use mock_calcom::MockConfig;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_mock-calcom"))
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn validate_names_file_line_and_field_and_exits_2() {
    let bad = temp_file(
        "typo.toml",
        "[api]\nkeys = []\n\n[latency]\nslot = { fixed = \"1s\" }\n",
    );
    let out = bin().arg("validate").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("typo.toml"), "{stderr}");
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(stderr.contains("unknown field `slot`"), "{stderr}");
    let demo = temp_file("demo.toml", mock_calcom::config::DEMO_TOML);
    let example = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/misbehaving.toml");
    let out = bin()
        .arg("validate")
        .arg(&demo)
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = bin()
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "serve refuses a bad config before listening"
    );
}

#[test]
fn demo_config_prints_the_demo_world() {
    let out = bin().arg("demo-config").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        MockConfig::from_toml(&text, "stdout").unwrap(),
        MockConfig::demo()
    );
}

#[test]
fn serve_answers_and_stops_cleanly_on_interrupt() {
    let mut child = bin()
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    std::thread::spawn(move || lines.for_each(drop));
    let base = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no address in {first:?}"))
        .to_owned();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let r = reqwest::get(format!(
            "{base}/v2/slots?eventTypeId=1001&start=2030-01-07&end=2030-01-07"
        ))
        .await
        .unwrap();
        (r.status(), r.text().await.unwrap())
    });
    assert_eq!(
        status, 404,
        "GET /v2/slots without 2024-09-04 is Cal.com's 404: {body}"
    );
    let truth = rt.block_on(async {
        reqwest::get(format!("{base}/_mock/state"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(truth.contains("\"bookings\""), "{truth}");
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exit = child.wait().unwrap();
    assert!(exit.success(), "stops with success on Ctrl-C, got {exit}");
}
