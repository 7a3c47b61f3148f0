//! The benchmark tool (`trialog-bench`) end to end: it starts the real server as a process
//! of its own, or uses one already running, sets up accounts, cases and consents, gets
//! its requests answered and reports. No figure is asserted: the tool measures, and these
//! tests only show that it works.

use serde_json::Value;
use std::process::{Command, Output};
use trialog_e2e::{OPERATOR_PASSPHRASE, ServerProcess, bin_dir};

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_trialog-bench"))
        .arg("--server-bin")
        .arg(bin_dir().join("trialog-server"))
        .args(args)
        .env_remove("TRIALOG_DATABASE_URL")
        .output()
        .expect("run trialog-bench")
}

/// The JSON report of a run that succeeded.
fn report(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "trialog-bench failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON report")
}

/// A phase of the report, checked to have had answers and no error.
fn answered<'a>(r: &'a Value, name: &str) -> &'a Value {
    let p = r["phases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == name))
        .unwrap_or_else(|| panic!("no {name} phase in {r}"));
    assert!(p["ok"].as_u64().is_some_and(|n| n > 0), "{name}: {p}");
    assert_eq!(p["errors"], 0, "{name}: {p}");
    assert!(p["latency_ms"]["p99"].is_number(), "{name}: {p}");
    p
}

#[test]
fn all_starts_the_server_sets_up_and_reports_floor_and_relay() {
    let r = report(&bench(&[
        "--json",
        "all",
        "--connections",
        "2",
        "--duration",
        "1",
        "--max-rate",
        "40",
    ]));
    assert_eq!(r["setup"]["cases"], 2, "{r}");
    assert_eq!(r["setup"]["consents"], 4, "{r}");
    let sealed = &r["seal"];
    for size in [
        &sealed["ciphertext_bytes_min"],
        &sealed["ciphertext_bytes_max"],
    ] {
        let size = size.as_u64().expect("a size");
        assert!((4096..=8192).contains(&size), "{sealed}");
    }
    answered(&r, "floor");
    let submit = answered(&r, "submit");
    // Its own server: the process's CPU and memory were read.
    assert!(submit["server"]["cpu_s"].is_number(), "{submit}");
    assert!(submit["server"]["memory_after"]["peak_rss_kib"].as_u64() > Some(0));
    assert!(r["relay_fraction_of_floor"].is_number(), "{r}");
}

#[test]
fn submit_at_a_rate_to_a_running_server_and_the_client_crypto() {
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let pid = server.pid().to_string();
    let data_dir = data.to_str().expect("utf-8 path");
    let target = [
        "--url",
        &server.url,
        "--cert-sha256",
        &server.cert_sha256,
        "--data-dir",
        data_dir,
        "--server-pid",
        &pid,
    ];
    let mut args = vec!["--json", "submit", "--connections", "2"];
    args.extend(["--duration", "1", "--rate", "20"]);
    args.extend(target);
    // The operator's steps reach the server's database (PostgreSQL in that pass of the suite).
    let db = trialog_e2e::database_args(&data);
    args.extend(db.iter().map(String::as_str));
    let out = Command::new(env!("CARGO_BIN_EXE_trialog-bench"))
        .args(&args)
        .env("TRIALOG_OPERATOR_PASSPHRASE", OPERATOR_PASSPHRASE)
        .output()
        .expect("run trialog-bench");
    let r = report(&out);
    let submit = answered(&r, "submit");
    assert_eq!(submit["load"], "open", "{submit}");
    assert!(submit["server"]["cpu_s"].is_number(), "{submit}");

    // Without the data directory, nothing can be set up: said, and nothing is run.
    let out = Command::new(env!("CARGO_BIN_EXE_trialog-bench"))
        .args(["submit", "--count", "1"])
        .args(&target[..4])
        .output()
        .expect("run trialog-bench");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir"));

    let r = report(&bench(&["--json", "crypto", "--count", "3"]));
    assert_eq!(r["crypto"]["bilans"], 3, "{r}");
    for step in ["seal_ms", "open_ms"] {
        assert!(r["crypto"][step]["p50"].is_number(), "{r}");
    }
}
