//! The server as an operator runs it: a process that can be killed, restarted, and given
//! its own certificate.

use trialog_client::{Client, Home};
use trialog_e2e::{
    FUNCTIONAL, OPERATOR_PASSPHRASE, PASSPHRASE, ServerProcess, bilan_values, grant,
    install_tls_provider, riziv,
};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{MessageKind, Role};
use trialog_server::operator::AccountRef;
use trialog_server::operator_key::OperatorKey;
use trialog_server::{App, StartError};

async fn invite(data: &std::path::Path, role: Role, riziv: &str, name: &str) -> String {
    let config = trialog_e2e::config(data);
    trialog_server::invite(
        &config,
        role,
        &Riziv::parse(riziv).expect("riziv"),
        name,
        14,
    )
    .await
    .expect("invite")
    .0
}

/// The operator's `approve` on a data directory: attests the physician's key.
async fn approve(data: &std::path::Path, key: &OperatorKey, riziv: &str, c: &Client) {
    let config = trialog_e2e::config(data);
    let who = AccountRef::Riziv(Riziv::parse(riziv).expect("riziv"));
    trialog_server::operator::approve(&config, &who, &c.fingerprint().short(), key, false)
        .await
        .expect("approve");
}

async fn client(
    root: &std::path::Path,
    who: &str,
    server: &ServerProcess,
    operator: &OperatorKey,
) -> Client {
    Client::init(
        Home::new(root.join(who)),
        &server.url,
        &server.cert_sha256,
        Some(&operator.public_hex()),
        PASSPHRASE,
    )
    .await
    .expect("client init")
}

/// An envelope answered with 201 is on disk: `kill -9` right after, restart, and the
/// recipient reads it intact (DESIGN.md §2.8: commit before 2xx).
#[tokio::test(flavor = "multi_thread")]
async fn an_accepted_envelope_survives_a_killed_server() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let port = server.url.rsplit(':').next().expect("port").to_owned();
    let operator = OperatorKey::create(&data, OPERATOR_PASSPHRASE).expect("operator key");

    let mut treating = client(root.path(), "treating", &server, &operator).await;
    let treating_riziv = riziv(123456, 580);
    treating
        .register(&invite(&data, Role::Treating, &treating_riziv, "Dr. An Peeters").await)
        .await
        .expect("register");
    approve(&data, &operator, &treating_riziv, &treating).await;
    let mut occ = client(root.path(), "occ", &server, &operator).await;
    let occ_riziv = riziv(234567, 4);
    let occ_id = occ
        .register(&invite(&data, Role::Occupational, &occ_riziv, "Dr. Luc Janssens").await)
        .await
        .expect("register")
        .account;
    approve(&data, &operator, &occ_riziv, &occ).await;
    let opened = treating.open_case("Case 2026-099").await.expect("open");
    let mut patient = client(root.path(), "patient", &server, &operator).await;
    let (view, case) = patient.join(&opened.enrolment_code).await.expect("join");
    treating
        .confirm_patient(&case, &view.fingerprint.short())
        .await
        .expect("confirm");
    patient.add_member(&case, &occ_id).await.expect("add");
    grant(&mut patient, &case, &occ_id, FUNCTIONAL, &[]).await;
    let sent = treating
        .send(trialog_client::Outgoing {
            case: case.clone(),
            to: occ_id.clone(),
            kind: MessageKind::Bilan,
            values: bilan_values(),
            override_leak_guard: false,
        })
        .await
        .expect("send");

    // Crash right after the 201, then start again on the same port and data directory:
    // same certificate (so the pin still holds), same database.
    server.kill();
    let restarted = ServerProcess::start(&data, &format!("127.0.0.1:{port}"));
    let read = occ
        .read(&sent.message_id)
        .await
        .expect("read after restart");
    let expected: Vec<_> = bilan_values()
        .into_iter()
        .filter(|(f, _)| !f.is_medical())
        .collect();
    assert_eq!(read.fields, expected);
    // The replay protection survived too.
    let env = occ
        .api()
        .await
        .expect("api")
        .envelope(&sent.message_id)
        .await;
    assert_eq!(
        env.expect_err("acknowledged").api_code(),
        Some("message_gone")
    );
    drop(restarted);
}

/// A certificate the operator brings is served, and clients pin its fingerprint.
#[tokio::test]
async fn a_given_certificate_is_served_and_pinned() {
    install_tls_provider();
    let dir = tempfile::tempdir().expect("tmp");
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, ck.cert.pem()).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(ck.cert.der()))
    };

    let mut config = trialog_e2e::config(dir.path().join("data"));
    config.tls_cert = Some(cert.clone());
    let half = App::build(config.clone())
        .await
        .expect_err("a certificate without its key");
    assert!(matches!(half, StartError::HalfTls), "{half}");

    config.tls_key = Some(key);
    let app = App::build(config)
        .await
        .expect("start with the given certificate");
    assert_eq!(app.cert_sha256, expected);
    assert!(
        !dir.path().join("data/tls-cert.pem").exists(),
        "no self-signed certificate is made"
    );
    let url = format!("https://{}", app.local_addr);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = rx.await;
    }));
    let c = Client::init(
        Home::new(dir.path().join("client")),
        &url,
        &expected,
        None,
        PASSPHRASE,
    )
    .await;
    assert!(c.is_ok(), "{:?}", c.err());
    let _ = tx.send(());
    task.await.expect("join").expect("server ran");
}

/// The answer to `join` or `register` is lost after the server committed: running the
/// command again repeats the same registration instead of failing on a spent code.
#[tokio::test]
async fn a_registration_whose_answer_was_lost_can_be_repeated() {
    use trialog_e2e::TestApp;
    let app = TestApp::spawn().await;
    let (mut treating, _) = app
        .physician(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
        .await;
    let opened = treating.open_case("Case 2026-120").await.expect("open");

    // First attempt: committed on the server, but pretend the client never heard back.
    let mut patient = app.client("patient").await;
    let (view, case) = patient.join(&opened.enrolment_code).await.expect("join");
    let home = Home::new(app.data.path().join("clients").join("patient"));
    let lose_answer = |home: &Home| {
        let mut cfg = home.load_config().expect("config");
        let (account, role) = (
            cfg.account.take().expect("account"),
            cfg.role.take().expect("role"),
        );
        cfg.pending = Some(trialog_client::home::Pending { account, role });
        home.save_config(&cfg).expect("save");
    };
    lose_answer(&home);
    let mut again = Client::open(home.clone(), PASSPHRASE).expect("open");
    let (view2, case2) = again
        .join(&opened.enrolment_code)
        .await
        .expect("join repeated");
    assert_eq!((view2.account, case2), (view.account.clone(), case.clone()));
    assert_eq!(again.config().pending, None);
    assert_eq!(again.whoami().await.expect("whoami").account, view.account);

    // Someone else cannot use the spent code, nor claim that account with another key.
    let mut other = app.client("other").await;
    let e = other
        .join(&opened.enrolment_code)
        .await
        .expect_err("spent code");
    assert_eq!(e.api_code(), Some("bad_enrolment_code"));
    let mut cfg = other.config().clone();
    cfg.pending = Some(trialog_client::home::Pending {
        account: view.account.clone(),
        role: Role::Patient,
    });
    let other_home = Home::new(app.data.path().join("clients").join("other"));
    other_home.save_config(&cfg).expect("save");
    let mut other = Client::open(other_home, PASSPHRASE).expect("open");
    let e = other
        .join(&opened.enrolment_code)
        .await
        .expect_err("another key");
    assert_eq!(e.api_code(), Some("account_exists"));

    // The same for a physician's invitation.
    let code = app
        .invite(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    let mut occ = app.client("occ").await;
    let first = occ.register(&code).await.expect("register");
    let occ_home = Home::new(app.data.path().join("clients").join("occ"));
    lose_answer(&occ_home);
    let mut occ = Client::open(occ_home, PASSPHRASE).expect("open");
    assert_eq!(
        occ.register(&code)
            .await
            .expect("register repeated")
            .account,
        first.account
    );
    // Only one registration entry in the directory's log.
    let log = occ.directory_audit().await.expect("directory log");
    let entries = log
        .iter()
        .filter(|e| e.subject.as_deref() == Some(first.account.as_str()))
        .count();
    assert_eq!(entries, 1);
}
