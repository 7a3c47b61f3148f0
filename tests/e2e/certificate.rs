//! TLS certificate rotation (DESIGN.md §3): `trialog-server rotate-cert` makes a new
//! certificate and a statement for it signed by the server key; a client that pinned the old
//! certificate follows the change by itself, checking the statement with the server key it
//! pinned, and refuses every change the server key does not vouch for.
//!
//! The attacks play a server that presents another certificate on the real server's address
//! (the real one stopped): with no statement, with a statement signed by another key, with
//! the real server's genuine statement for another certificate, and with an old certificate
//! and its genuine but older statement.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trialog_client::i18n::explain;
use trialog_client::{Client, ClientError, Home};
use trialog_e2e::{PASSPHRASE, ServerProcess, bin_dir, install_tls_provider, server_cmd};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::certificate::{CertificateRefusal, CertificateStatement, CertificateView};
use trialog_protocol::{Lang, Signed};

/// `rotate-cert`, which must succeed; the new certificate's SHA-256 it prints.
fn rotate(data: &Path, args: &[&str]) -> String {
    let mut all = vec!["rotate-cert"];
    all.extend_from_slice(args);
    let out = server_cmd(data, &all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "rotate-cert failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("restart"),
        "says a restart is needed: {stdout}"
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("New TLS certificate SHA-256: "))
        .expect("the new certificate's hash")
        .trim()
        .to_owned()
}

/// A registered treating physician whose home is `root/who`, made against `server`.
async fn physician(root: &Path, data: &Path, server: &ServerProcess, who: &str, n: u32) -> Client {
    trialog_e2e::process_physician(data, &root.join(who), server, n).await
}

fn port_of(server: &ServerProcess) -> u16 {
    server
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port")
}

fn pinned(home: &Path) -> String {
    Home::new(home).load_config().expect("config").cert_sha256
}

fn sha256_hex(der: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(der))
}

/// A self-signed certificate for the loopback address: (cert PEM, key PEM, cert DER, key DER).
fn new_certificate() -> (String, String, Vec<u8>, Vec<u8>) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
        .expect("cert");
    (
        ck.cert.pem(),
        ck.signing_key.serialize_pem(),
        ck.cert.der().to_vec(),
        ck.signing_key.serialize_der(),
    )
}

/// A server that is not the real one, on the real one's address: it presents `cert` and
/// answers every request with `status` and `body`, and records each request's head.
struct Impostor {
    task: tokio::task::JoinHandle<()>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Impostor {
    async fn start(port: u16, cert: &[u8], key: &[u8], status: u16, body: String) -> Impostor {
        let mut config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(cert.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.to_vec())),
            )
            .expect("TLS config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("bind the real server's port");
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, seen, body) = (acceptor.clone(), seen.clone(), body.clone());
                tokio::spawn(async move {
                    // A pinned client gives up during the handshake: nothing to answer.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                        match tls.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .expect("heads")
                        .push(String::from_utf8_lossy(&head).into_owned());
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = tls.write_all(answer.as_bytes()).await;
                    let _ = tls.shutdown().await;
                });
            }
        });
        Impostor { task, heads }
    }

    /// Stops listening (the port is free again) and returns the request heads it saw.
    async fn stop(self) -> Vec<String> {
        self.task.abort();
        let _ = self.task.await;
        self.heads.lock().expect("heads").clone()
    }
}

/// The probe asked for the statement and nothing else, and never sent a token.
fn only_the_statement_was_asked(heads: &[String]) {
    assert!(!heads.is_empty(), "the client probed the certificate");
    for h in heads {
        assert!(h.starts_with("GET /v1/certificate HTTP/1.1\r\n"), "{h}");
        assert!(
            !h.to_ascii_lowercase().contains("authorization"),
            "a token was sent to a server that is not the pinned one: {h}"
        );
    }
}

/// The refusal, with the pinned-certificate error and a sentence in each language.
fn refused(e: ClientError, expected: CertificateRefusal) {
    assert_eq!(e.code(), trialog_protocol::Code::Network);
    let en = explain(&e, Lang::En);
    let ClientError::CertificateNotFollowed { refusal, .. } = &e else {
        panic!("not a refused certificate change: {e}");
    };
    assert_eq!(refusal, &expected, "{en}");
    assert!(en.contains("is not the pinned one"), "{en}");
    assert!(en.contains("does not vouch for it"), "{en}");
    assert!(explain(&e, Lang::Nl).contains("staat er niet voor in"));
    assert!(explain(&e, Lang::Fr).contains("ne s'en porte pas garante"));
}

/// The operator rotates the certificate on the data directory and restarts the server; a
/// client set up before keeps working without any edit, and its configuration now pins the
/// new certificate. The CLI says so in one line.
#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_certificate_is_followed_without_a_hand_edit() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");

    // Like every operator command, it refuses a data directory where no server ran.
    let out = server_cmd(&root.path().join("nothing"), &["rotate-cert"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Trialog server has been started"));
    assert!(!root.path().join("nothing").exists(), "nothing created");

    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let (port, old) = (port_of(&server), server.cert_sha256.clone());
    let mut treating = physician(root.path(), &data, &server, "treating", 123456).await;
    let cli_home = root.path().join("cli");
    drop(physician(root.path(), &data, &server, "cli", 234567).await);
    // At init the client noted when the server key vouched for the pinned certificate.
    let at_init = Home::new(root.path().join("treating"))
        .load_config()
        .expect("config")
        .cert_issued_at;
    assert!(at_init.is_some());
    let followed = Arc::new(Mutex::new(Vec::<String>::new()));
    let noted = followed.clone();
    treating.on_certificate_followed(move |sha| noted.lock().expect("notes").push(sha.into()));

    // Rotated while the server is stopped, then started again on the same address.
    server.kill();
    let new = rotate(&data, &[]);
    assert_ne!(new, old);
    let restarted = ServerProcess::start(&data, &format!("127.0.0.1:{port}"));
    assert_eq!(restarted.cert_sha256, new, "the new certificate is served");

    // The client made before the rotation (logged in, pinned to the old one) just works.
    let me = treating.whoami().await.expect("works after the rotation");
    assert_eq!(&me.account, treating.account().expect("account"));
    assert_eq!(*followed.lock().expect("notes"), vec![new.clone()]);
    assert_eq!(pinned(&root.path().join("treating")), new);
    let now_at = Home::new(root.path().join("treating"))
        .load_config()
        .expect("config")
        .cert_issued_at;
    assert!(now_at >= at_init);
    // Opened again from its home, it pins the new one from the start.
    let mut again =
        Client::open(Home::new(root.path().join("treating")), PASSPHRASE).expect("open");
    again.whoami().await.expect("works");

    // The real CLI, from a home set up before the rotation: one notice line on stderr,
    // once, and the command's own answer.
    let cli = |args: &[&str]| {
        Command::new(bin_dir().join("trialog"))
            .args(args)
            .env("TRIALOG_HOME", &cli_home)
            .env("TRIALOG_PASSPHRASE", PASSPHRASE)
            .env("TRIALOG_LANG", "en")
            .output()
            .expect("run trialog")
    };
    let out = cli(&["whoami"]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("certificate changed") && stderr.contains(&new),
        "{stderr}"
    );
    assert_eq!(pinned(&cli_home), new);
    let out = cli(&["whoami"]);
    assert!(out.status.success());
    assert!(out.stderr.is_empty(), "no notice the second time");

    // The statement the server answers is the server key's, for the certificate served.
    let api = treating.api().await.expect("api");
    let view = api.certificate().await.expect("statement");
    let info = api.server_info().await.expect("server info");
    let key = trialog_protocol::keys::verifying_key(&info.server_key.0).expect("key");
    let statement = view.statement.open(&key).expect("signed by the server key");
    assert_eq!(statement.cert_sha256, new);

    // Both certificates are in the directory's verified audit chain.
    let log = treating.directory_audit().await.expect("verified log");
    let vouched: Vec<_> = log
        .iter()
        .filter(|e| e.event == AuditEvent::CertificateVouched)
        .map(|e| (e.subject.clone().unwrap_or_default(), e.detail.clone()))
        .collect();
    assert_eq!(
        vouched,
        vec![
            (old, Some("at start-up".to_owned())),
            (new, Some("rotate-cert".to_owned()))
        ]
    );
    drop(restarted);
}

/// Attacks: a server on the real one's address presents another certificate with no
/// statement, with a statement signed by another key, or with the real server's genuine
/// statement (for the real certificate). Each is refused with the pinned-certificate error,
/// the pin is unchanged, and no token reaches it.
#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_change_the_server_key_does_not_vouch_for_is_refused() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let (port, old) = (port_of(&server), server.cert_sha256.clone());
    let mut treating = physician(root.path(), &data, &server, "treating", 123456).await;
    let genuine = treating
        .api()
        .await
        .expect("api")
        .certificate()
        .await
        .expect("the real statement");
    let followed = Arc::new(Mutex::new(0));
    let noted = followed.clone();
    treating.on_certificate_followed(move |_| *noted.lock().expect("notes") += 1);
    server.kill();

    let (_, _, cert, key) = new_certificate();
    let impostor_sha = sha256_hex(&cert);
    let other_key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let by_other_key = serde_json::to_string(&CertificateView {
        statement: Signed::sign(
            &CertificateStatement {
                cert_sha256: impostor_sha.clone(),
                issued_at: trialog_client::client::now(),
            },
            &other_key,
        )
        .expect("sign"),
    })
    .expect("json");
    let cases = [
        (
            404,
            r#"{"code":"not_found","message":"no such route"}"#.to_owned(),
            CertificateRefusal::NoStatement,
        ),
        (200, by_other_key, CertificateRefusal::NotByServerKey),
        (
            200,
            serde_json::to_string(&genuine).expect("json"),
            CertificateRefusal::OtherCertificate,
        ),
    ];
    for (status, body, expected) in cases {
        let impostor = Impostor::start(port, &cert, &key, status, body).await;
        let e = treating.whoami().await.expect_err("refused");
        refused(e, expected.clone());
        only_the_statement_was_asked(&impostor.stop().await);
        assert_eq!(pinned(&root.path().join("treating")), old, "{expected:?}");
    }
    assert_eq!(*followed.lock().expect("notes"), 0, "nothing followed");

    // The real server back: the unchanged pin still works.
    let _back = ServerProcess::start(&data, &format!("127.0.0.1:{port}"));
    treating
        .whoami()
        .await
        .expect("the real server still works");
    assert_eq!(pinned(&root.path().join("treating")), old);
}

/// Attack: after two rotations, someone holding the key of the certificate in between (the
/// reason it was rotated away) presents it with its genuine statement, now older than the
/// one the client follows: refused. Also covers `rotate-cert --tls-cert/--tls-key`.
#[tokio::test(flavor = "multi_thread")]
async fn an_older_certificate_is_not_followed_back() {
    install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let port = port_of(&server);
    let mut treating = physician(root.path(), &data, &server, "treating", 123456).await;
    server.kill();

    // First rotation: to a certificate the operator brings.
    let (pem, key_pem, cert, key) = new_certificate();
    let (cert_file, key_file) = (root.path().join("b.pem"), root.path().join("b-key.pem"));
    std::fs::write(&cert_file, pem).expect("write");
    std::fs::write(&key_file, key_pem).expect("write");
    let b = rotate(
        &data,
        &[
            "--tls-cert",
            cert_file.to_str().expect("path"),
            "--tls-key",
            key_file.to_str().expect("path"),
        ],
    );
    assert_eq!(
        b,
        sha256_hex(&cert),
        "the given certificate is the one vouched for"
    );
    let server = ServerProcess::start(&data, &format!("127.0.0.1:{port}"));
    assert_eq!(server.cert_sha256, b);
    treating
        .whoami()
        .await
        .expect("followed to the given certificate");
    let statement_b = treating
        .api()
        .await
        .expect("api")
        .certificate()
        .await
        .expect("statement");
    server.kill();

    // Second rotation, a second later (statements are dated to the second).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let c = rotate(&data, &[]);
    let server = ServerProcess::start(&data, &format!("127.0.0.1:{port}"));
    treating.whoami().await.expect("followed again");
    assert_eq!(pinned(&root.path().join("treating")), c);
    server.kill();

    let impostor = Impostor::start(
        port,
        &cert,
        &key,
        200,
        serde_json::to_string(&statement_b).expect("json"),
    )
    .await;
    let e = treating.whoami().await.expect_err("refused");
    refused(e, CertificateRefusal::Older);
    only_the_statement_was_asked(&impostor.stop().await);
    assert_eq!(pinned(&root.path().join("treating")), c);
}
