//! The operator's view (issue 9, first part): health and readiness on the API listener,
//! log lines a collector can read (JSON, no colour codes in files, one line per refusal
//! with its code and nothing of the request), and a backup of a running server that
//! restores.

use trialog_client::{Client, Home};
use trialog_e2e::{PASSPHRASE, ServerProcess, TestApp, install_tls_provider, server_cmd};

/// A raw HTTPS client pinned to `cert_sha256`.
fn http(cert_sha256: &str) -> reqwest::Client {
    let pin = trialog_client::tls::parse_pin(cert_sha256).expect("pin");
    reqwest::Client::builder()
        .tls_backend_preconfigured(trialog_client::tls::pinned_config(pin))
        .build()
        .expect("http client")
}

#[tokio::test]
async fn health_and_readiness_answer_without_a_session() {
    let app = TestApp::spawn().await;
    let http = http(&app.cert_sha256);
    for (path, status) in [("/healthz", "alive"), ("/readyz", "ready")] {
        let r = http
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 200, "{path}");
        let body: serde_json::Value = r.json().await.expect("json");
        assert_eq!(body["status"], status, "{path}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn json_logs_say_each_refusal_with_its_code_and_nothing_of_the_request() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let (json_log, text_log) = (root.path().join("json.log"), root.path().join("text.log"));
    let server = ServerProcess::start_with(
        &data,
        "127.0.0.1:0",
        &["--log-format", "json"],
        Some(&json_log),
    );
    let client = http(&server.cert_sha256);
    let secret_token = "Bearer not-a-token-but-looks-like-one";
    let r = client
        .get(format!("{}/v1/accounts/me", server.url))
        .header("authorization", secret_token)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let r = client
        .get(format!("{}/v1/cases", server.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    server.kill();

    let logs = std::fs::read_to_string(&json_log).expect("logs");
    let refusals: Vec<serde_json::Value> = logs
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .filter(|v: &serde_json::Value| v["fields"]["message"] == "request refused")
        .collect();
    let codes: Vec<&str> = refusals
        .iter()
        .filter_map(|v| v["fields"]["code"].as_str())
        .collect();
    assert_eq!(codes, ["invalid_token", "missing_token"], "{logs}");
    assert!(!logs.contains("not-a-token"), "a token in the logs: {logs}");
    assert!(!logs.contains('\u{1b}'), "colour codes in a file: {logs}");

    // Text logs to a file carry no colour codes either.
    let server = ServerProcess::start_with(&data, "127.0.0.1:0", &[], Some(&text_log));
    let _ = http(&server.cert_sha256)
        .get(format!("{}/v1/cases", server.url))
        .send()
        .await
        .expect("get");
    server.kill();
    let text = std::fs::read_to_string(&text_log).expect("logs");
    assert!(
        text.contains("request refused") && text.contains("missing_token"),
        "{text}"
    );
    assert!(!text.contains('\u{1b}'), "colour codes in a file: {text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_of_a_running_server_restores() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let port = server.url.rsplit(':').next().expect("port").to_owned();
    let mut c =
        trialog_e2e::process_physician(&data, &root.path().join("peeters"), &server, 123456).await;
    let me = c.whoami().await.expect("whoami");

    let backup = root.path().join("backup.db");
    let to = backup.display().to_string();
    let run = || server_cmd(&data, &["backup", "--to", &to]);
    let out = run();
    if trialog_e2e::database::is_postgres() {
        // PostgreSQL has its own tools, which the refusal names; nothing is written.
        assert!(!out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("pg_dump"),
            "{out:?}"
        );
        assert!(!backup.exists());
        return;
    }
    assert!(out.status.success(), "{out:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&backup)
            .expect("backup")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "owner only");
    }
    // Never over an existing file.
    let again = run();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));

    // Restore: the backup as the database of a data directory with the same keys, on
    // the same address; the client goes on as if nothing happened.
    server.kill();
    let restored = root.path().join("restored");
    std::fs::create_dir_all(&restored).expect("dir");
    for f in ["server-key.pem", "tls-cert.pem", "tls-key.pem"] {
        std::fs::copy(data.join(f), restored.join(f)).expect("copy key");
    }
    std::fs::copy(&backup, restored.join("trialog.db")).expect("copy backup");
    let _server = ServerProcess::start(&restored, &format!("127.0.0.1:{port}"));
    let mut again = Client::open(Home::new(root.path().join("peeters")), PASSPHRASE).expect("open");
    assert_eq!(again.whoami().await.expect("whoami").account, me.account);
}
