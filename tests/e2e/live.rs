//! Live delivery (`GET /v1/events`): the account concerned hears of new envelopes,
//! acknowledgements, destructions and revocations as they are committed, resumes from its
//! last event without a gap, and (on PostgreSQL) hears of what another replica accepted
//! within a second, through a replica that dies mid-stream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use trialog_client::{Client, Follower, Home};
use trialog_e2e::{FUNCTIONAL, PASSPHRASE, TestApp, World, database, grant};
use trialog_protocol::api::{LiveEvent, LiveEventKind};

async fn next(c: &mut Client, f: &mut Follower) -> LiveEvent {
    tokio::time::timeout(Duration::from_secs(10), c.next_event(f))
        .await
        .expect("an event within 10 s")
        .expect("the event stream")
}

/// Nothing arrives on `f` within `wait`.
async fn quiet(c: &mut Client, f: &mut Follower, wait: Duration) {
    if let Ok(e) = tokio::time::timeout(wait, c.next_event(f)).await {
        panic!("no event expected, got {e:?}");
    }
}

#[tokio::test]
async fn messages_acknowledgements_destructions_and_revocations_arrive_live() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let mut to_occupational = w.occupational.follow_now().await.expect("follow");
    let mut to_treating = w.treating.follow_now().await.expect("follow");
    let mut to_advising = w.advising.follow_now().await.expect("follow");

    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let e = next(&mut w.occupational, &mut to_occupational).await;
    assert_eq!(e.kind, LiveEventKind::Message);
    assert_eq!(e.subject, sent.message_id.as_str());
    assert_eq!(e.case_id, w.case);

    // Reading acknowledges: the sender hears of it.
    w.occupational.read(&sent.message_id).await.expect("read");
    let e = next(&mut w.treating, &mut to_treating).await;
    assert_eq!(e.kind, LiveEventKind::Acknowledged);
    assert_eq!(e.subject, sent.message_id.as_str());

    // A second one, unread when the patient revokes: the recipient hears of both the
    // revocation and the destruction, with its reason.
    let unread = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let e = next(&mut w.occupational, &mut to_occupational).await;
    assert_eq!(e.subject, unread.message_id.as_str());
    w.patient.revoke(&consent.consent_id).await.expect("revoke");
    let a = next(&mut w.occupational, &mut to_occupational).await;
    let b = next(&mut w.occupational, &mut to_occupational).await;
    assert!(a.id < b.id, "in commit order");
    let (revoked, gone) = if a.kind == LiveEventKind::ConsentRevoked {
        (a, b)
    } else {
        (b, a)
    };
    assert_eq!(revoked.kind, LiveEventKind::ConsentRevoked);
    assert_eq!(revoked.subject, consent.consent_id.as_str());
    assert_eq!(gone.kind, LiveEventKind::Gone);
    assert_eq!(gone.subject, unread.message_id.as_str());
    assert_eq!(gone.reason.as_deref(), Some("revoked"));

    // Each account hears only of its own: the advising physician heard nothing.
    quiet(
        &mut w.advising,
        &mut to_advising,
        Duration::from_millis(500),
    )
    .await;
}

#[tokio::test]
async fn a_follower_resumes_from_its_last_event_without_a_gap() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let mut f = w.occupational.follow_now().await.expect("follow");
    let first = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    assert_eq!(
        next(&mut w.occupational, &mut f).await.subject,
        first.message_id.as_str()
    );
    let last = f.last().expect("a cursor");
    drop(f);

    // Two more while nobody follows.
    let mut missed = Vec::new();
    for _ in 0..2 {
        let m = w
            .treating
            .send(w.bilan_to(&w.occupational_id))
            .await
            .expect("send");
        missed.push(m.message_id.to_string());
    }
    let mut f = Follower::after(last);
    let a = next(&mut w.occupational, &mut f).await;
    let b = next(&mut w.occupational, &mut f).await;
    assert_eq!(vec![a.subject, b.subject], missed);
    assert!(last < a.id && a.id < b.id);
}

#[tokio::test]
async fn the_event_stream_refuses_what_it_cannot_read() {
    let mut w = World::new().await;
    let api = w.occupational.api().await.expect("login").clone();
    for path in ["/events?after=-1", "/events?after=abc", "/events?since=1"] {
        let e = api
            .call_raw::<()>(reqwest::Method::GET, path, None)
            .await
            .expect_err(path);
        assert_eq!(e.api_code(), Some("bad_parameter"), "{path}: {e}");
    }
    // Without a session: refused before anything streams.
    let anonymous = trialog_client::api::Api::new(
        &w.app.url,
        trialog_client::tls::parse_pin(&w.app.cert_sha256).expect("pin"),
    )
    .expect("api");
    let e = anonymous.events(None).await.expect_err("no token");
    assert_eq!(e.api_code(), Some("missing_token"));
}

/// A load balancer in front of replicas: TCP passed through (TLS ends at the replica, which
/// all hold the same certificate) to the replica it points at now.
struct Balancer {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Balancer {
    async fn start(target: SocketAddr) -> Balancer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let target = Arc::new(Mutex::new(target));
        let to = target.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = *to.lock().expect("lock");
                tokio::spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Balancer { addr, target }
    }

    fn point_at(&self, target: SocketAddr) {
        *self.target.lock().expect("lock") = target;
    }
}

fn addr_of(url: &str) -> SocketAddr {
    url.trim_start_matches("https://").parse().expect("address")
}

/// A copy of the client home `from` that reaches the server at `url` (same keys, same
/// pins): the physician's client configured with the load balancer's address.
fn home_through(from: &std::path::Path, to: &std::path::Path, url: &str, old: &str) -> Home {
    std::fs::create_dir_all(to).expect("home");
    for entry in std::fs::read_dir(from).expect("home") {
        let entry = entry.expect("entry");
        if entry.file_type().expect("type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
    let config = to.join("config.toml");
    let text = std::fs::read_to_string(&config).expect("config");
    assert!(text.contains(old), "the home names its server");
    std::fs::write(&config, text.replace(old, url)).expect("config");
    Home::new(to)
}

/// Two server processes on one PostgreSQL database: what replica A accepts reaches a
/// client following on replica B within a second; B is killed mid-stream and the client,
/// behind a load balancer, resumes on A without losing what was accepted meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn replicas_deliver_live_and_a_killed_replica_loses_nothing() {
    if !database::is_postgres() {
        // Replicas share a PostgreSQL database: this test runs in the suite's PostgreSQL
        // pass (`.ci/run`, or TRIALOG_TEST_DATABASE_URL set).
        eprintln!("replicas need PostgreSQL; skipped on SQLite");
        return;
    }
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let mut w = World::with_app(TestApp::process(&[], &[], logs.path()).await).await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;

    // Replica B: the same server key and certificate, the same database.
    let b = w.app.replica("replica-b", None);
    let lb = Balancer::start(addr_of(&b.url)).await;

    let occupational_home = w.app.data.path().join("clients").join("Dr. Luc Janssens");
    let lb_url = format!("https://{}", lb.addr);
    let home = home_through(
        &occupational_home,
        &w.app.data.path().join("occupational-via-lb"),
        &lb_url,
        &w.app.url,
    );
    let mut follower = Client::open(home, PASSPHRASE).expect("open");
    let mut f = follower.follow_now().await.expect("follow on B");

    // Accepted by A, heard on B.
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send on A");
    let answered = Instant::now();
    let e = next(&mut follower, &mut f).await;
    let took = answered.elapsed();
    assert_eq!(e.subject, sent.message_id.as_str());
    assert!(
        took < Duration::from_secs(1),
        "heard on B {took:?} after A answered"
    );

    // B dies mid-stream; the balancer sends new connections to A. What A accepts while
    // the client reconnects is not lost.
    b.kill();
    lb.point_at(addr_of(&w.app.url));
    let meanwhile = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send on A");
    let e = next(&mut follower, &mut f).await;
    assert_eq!(e.subject, meanwhile.message_id.as_str());
    let after = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send on A");
    let e = next(&mut follower, &mut f).await;
    assert_eq!(e.subject, after.message_id.as_str());
}
