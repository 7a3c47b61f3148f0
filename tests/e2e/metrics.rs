//! The operator's view, second part (issue 9): Prometheus metrics on their own listener,
//! off by default, labelled by route template and code and never by an id; and one log line
//! per revocation, purge and key event with its code and nothing of what it is about.

use trialog_e2e::{
    FUNCTIONAL, LABEL, PASSPHRASE, ServerProcess, TestApp, World, bilan_values, grant,
    install_tls_provider, server_cmd,
};

/// A raw HTTPS client pinned to `cert_sha256`, for requests the real client would not make.
fn https(cert_sha256: &str) -> reqwest::Client {
    let pin = trialog_client::tls::parse_pin(cert_sha256).expect("pin");
    reqwest::Client::builder()
        .tls_backend_preconfigured(trialog_client::tls::pinned_config(pin))
        .build()
        .expect("http client")
}

/// `GET /metrics` over plain HTTP: the exposition's text, after checking it is one.
async fn scrape(url: &str) -> String {
    let r = reqwest::Client::new()
        .get(url)
        .send()
        .await
        .expect("scrape");
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(kind.starts_with("application/openmetrics-text"), "{kind}");
    let text = r.text().await.expect("body");
    assert!(text.ends_with("# EOF\n"), "{text}");
    text
}

/// The value of one series (`name{labels}` exactly as exposed), if it is there.
fn value(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let rest = l.strip_prefix(series)?.strip_prefix(' ')?;
        rest.split(' ').next()?.parse().ok()
    })
}

fn assert_value(scrape: &str, series: &str, expected: f64) {
    assert_eq!(
        value(scrape, series),
        Some(expected),
        "{series} in\n{scrape}"
    );
}

/// Every id Trialog makes ends in 32 lower-case hex digits: none may be in a scrape.
fn assert_no_id(scrape: &str) {
    let mut run = 0;
    for c in scrape.chars() {
        run = if c.is_ascii_hexdigit() { run + 1 } else { 0 };
        assert!(run < 32, "an id in the metrics:\n{scrape}");
    }
}

#[tokio::test]
async fn a_scrape_counts_envelopes_and_refusals_by_route_template_and_code() {
    let app = TestApp::spawn_with_metrics().await;
    let url = app.metrics_url.clone().expect("a metrics listener");
    let mut w = World::with_app(app).await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");

    // Accepted, committed once, waiting for its recipient.
    let before = scrape(&url).await;
    assert_value(&before, "trialog_envelopes_accepted_total", 1.0);
    assert_value(&before, "trialog_commit_batch_size_count", 1.0);
    assert_value(&before, "trialog_commit_batch_size_sum", 1.0);
    assert_value(&before, "trialog_commit_duration_seconds_count", 1.0);
    assert_value(&before, "trialog_envelopes_pending", 1.0);
    let bytes = value(&before, "trialog_envelopes_pending_bytes").expect("pending bytes");
    assert!(bytes > 0.0, "{before}");

    // Read (fetched, then acknowledged) by the recipient: nothing pending any more.
    w.occupational
        .read(&sent.message_id)
        .await
        .expect("read the bilan");
    // Two refusals made by hand: no token on a route with an id, and a path that is no
    // route at all (with an id in it, which must not become a label either).
    let http = https(&w.app.cert_sha256);
    let r = http
        .get(format!("{}/v1/envelopes/{}", w.app.url, sent.message_id))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 401);
    let r = http
        .get(format!("{}/v1/nothing/{}", w.app.url, w.case))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);

    let after = scrape(&url).await;
    assert_value(&after, "trialog_envelopes_accepted_total", 1.0);
    assert_value(&after, "trialog_envelopes_delivered_total", 1.0);
    assert_value(&after, "trialog_envelopes_acknowledged_total", 1.0);
    assert_value(&after, "trialog_envelopes_pending", 0.0);
    assert_value(&after, "trialog_envelopes_pending_bytes", 0.0);
    for reason in ["revoked", "expired", "no_longer_covered", "member_removed"] {
        let series = format!("trialog_envelopes_purged_total{{reason=\"{reason}\"}}");
        assert_value(&after, &series, 0.0);
    }
    assert_value(
        &after,
        "trialog_refusals_total{code=\"missing_token\"}",
        1.0,
    );
    assert_value(&after, "trialog_refusals_total{code=\"not_found\"}", 1.0);
    // Routes by their template, with method and status.
    for (series, n) in [
        (
            "trialog_http_requests_total{route=\"/v1/envelopes\",method=\"POST\",status=\"201\"}",
            1.0,
        ),
        (
            "trialog_http_requests_total{route=\"/v1/envelopes/{id}\",method=\"GET\",status=\"200\"}",
            1.0,
        ),
        (
            "trialog_http_requests_total{route=\"/v1/envelopes/{id}/ack\",method=\"POST\",status=\"204\"}",
            1.0,
        ),
        (
            "trialog_http_requests_total{route=\"/v1/envelopes/{id}\",method=\"GET\",status=\"401\"}",
            1.0,
        ),
        (
            "trialog_http_requests_total{route=\"unmatched\",method=\"GET\",status=\"404\"}",
            1.0,
        ),
        (
            "trialog_http_request_duration_seconds_count{route=\"/v1/envelopes/{id}/ack\",method=\"POST\"}",
            1.0,
        ),
    ] {
        assert_value(&after, series, n);
    }
    // Never an id: not the case's, an account's or the message's, nor anything like one.
    for id in [
        w.case.to_string(),
        w.patient_id.to_string(),
        w.treating_id.to_string(),
        w.occupational_id.to_string(),
        sent.message_id.to_string(),
    ] {
        assert!(!after.contains(&id), "{id} in\n{after}");
    }
    assert_no_id(&after);
    assert!(!after.contains(LABEL));
}

#[tokio::test(flavor = "multi_thread")]
async fn there_is_no_metrics_listener_unless_asked_for() {
    let app = TestApp::spawn().await;
    assert!(app.metrics_url.is_none());
    // Nor are the metrics on the API listener.
    let r = https(&app.cert_sha256)
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);

    // The binary: no metrics line, and so no listener, without --metrics-listen.
    let root = tempfile::tempdir().expect("tmp");
    let server = ServerProcess::start(&root.path().join("data"), "127.0.0.1:0");
    assert!(server.metrics_url.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn revocations_purges_and_key_events_log_their_code_and_no_value() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let log = root.path().join("server.log");
    let app = TestApp::process(
        &["--log-format", "json"],
        &["--metrics-listen", "127.0.0.1:0"],
        &log,
    )
    .await;
    let url = app.metrics_url.clone().expect("a metrics listener");
    let data = app.config.data_dir.clone();
    let mut w = World::with_app(app).await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    w.treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let revoked = w.patient.revoke(&consent.consent_id).await.expect("revoke");
    assert_eq!(revoked.purged, 1, "the unread bilan is destroyed");

    // A key event of the operator's own commands, in their own process's log.
    let out = server_cmd(&data, &["--log-format", "json", "rotate-cert"]);
    assert!(out.status.success(), "{out:?}");
    let operator_log = String::from_utf8_lossy(&out.stderr).into_owned();

    let metrics = scrape(&url).await;
    assert_value(
        &metrics,
        "trialog_envelopes_purged_total{reason=\"revoked\"}",
        1.0,
    );
    assert_no_id(&metrics);

    let logs = std::fs::read_to_string(&log).expect("logs");
    let lines: Vec<serde_json::Value> = logs
        .lines()
        .chain(operator_log.lines())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let events = |name: &str| -> Vec<&serde_json::Value> {
        lines
            .iter()
            .map(|l| &l["fields"])
            .filter(|f| f["event"] == name)
            .collect()
    };
    let revocation = events("consent_revoked");
    assert_eq!(revocation.len(), 1, "{logs}");
    assert_eq!(revocation[0]["consent"], consent.consent_id.to_string());
    let purge = events("envelopes_purged");
    assert_eq!(purge.len(), 1, "{logs}");
    assert_eq!(purge[0]["reason"], "revoked");
    assert_eq!(purge[0]["count"], 1);
    // Three physicians and the patient registered a key; the server key vouched for the new
    // certificate on the operator's command.
    assert_eq!(events("key_registered").len(), 4, "{logs}");
    let vouched = events("certificate_vouched");
    assert!(
        vouched.iter().any(|f| f["how"] == "rotate-cert"),
        "{operator_log}"
    );

    // Nothing of what was said, nor the case's label, a token or a passphrase.
    let everything = format!("{logs}\n{operator_log}");
    for (_, v) in bilan_values() {
        let text = match &v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if text.len() > 3 {
            assert!(!everything.contains(&text), "a value in the logs: {text}");
        }
    }
    for secret in [LABEL, PASSPHRASE, "Bearer", "eyJ"] {
        assert!(!everything.contains(secret), "{secret} in the logs");
    }
}
