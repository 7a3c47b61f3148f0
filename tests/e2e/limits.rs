//! What a slow or idle client can hold of the server (`server/src/listener.rs`): raw TCP and
//! TLS connections that stall at each stage are closed within that stage's deadline, a
//! flood of idle connections does not keep a normal client out, and the inbox long poll
//! still gets its full wait. Deadlines are set to about a second so each test takes a few;
//! every wait is bounded, and each test prints what it measured (`--nocapture`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use trialog_e2e::{TestApp, riziv};
use trialog_protocol::Role;
use trialog_server::listener::Limits;
use trialog_server::state::Settings;

const SECOND: Duration = Duration::from_secs(1);
/// Room for a loaded 2-core machine between a deadline and the close we observe.
const SLACK: Duration = Duration::from_millis(1500);

async fn spawn(limits: Limits) -> TestApp {
    TestApp::spawn_with(Settings {
        limits,
        ..Default::default()
    })
    .await
}

fn addr(app: &TestApp) -> String {
    app.url.trim_start_matches("https://").to_owned()
}

/// A TLS 1.3 connection to `app`, pinned to its certificate as the real client does,
/// offering only `alpn`.
async fn tls(app: &TestApp, alpn: &[u8]) -> TlsStream<TcpStream> {
    let pin = trialog_client::tls::parse_pin(&app.cert_sha256).expect("pin");
    let mut config = trialog_client::tls::pinned_config(pin);
    config.alpn_protocols = vec![alpn.to_vec()];
    let tcp = TcpStream::connect(addr(app)).await.expect("connect");
    TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("localhost").expect("name"), tcp)
        .await
        .expect("TLS handshake")
}

/// Reads until the server closes the connection, at most `limit`; what it sent meanwhile.
async fn read_to_close(s: &mut (impl AsyncRead + Unpin), limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the server kept the connection open for {limit:?}"
    );
    got
}

/// One HTTP/1.1 response: status and body (by Content-Length), within 5 s.
async fn read_response(s: &mut (impl AsyncRead + Unpin)) -> (u16, String) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    tokio::time::timeout(5 * SECOND, async {
        loop {
            let text = String::from_utf8_lossy(&got).to_string();
            if let Some(end) = text.find("\r\n\r\n") {
                let head = text[..end].to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().expect("content-length"))
                    .unwrap_or(0);
                if got.len() >= end + 4 + length {
                    let status = text[9..12].parse().expect("status");
                    return (status, text[end + 4..end + 4 + length].to_owned());
                }
            }
            let n = s.read(&mut buf).await.expect("read");
            assert!(n > 0, "closed mid-response: {text:?}");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("a response within 5 s")
}

/// A TCP connection that never starts the TLS handshake is closed once the handshake
/// timeout passes, and not before.
#[tokio::test]
async fn limits_a_connection_that_never_starts_tls_is_closed_at_the_handshake_timeout() {
    let app = spawn(Limits {
        handshake_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let mut tcp = TcpStream::connect(addr(&app)).await.expect("connect");
    let start = Instant::now();
    let got = read_to_close(&mut tcp, SECOND + SLACK).await;
    let took = start.elapsed();
    eprintln!("no TLS handshake: closed after {took:?}");
    assert!(got.is_empty());
    assert!(took >= SECOND - Duration::from_millis(100), "{took:?}");
}

/// A client that sends the start of a request head and then a header line every 200 ms,
/// never the blank line that ends it, is cut off at the header timeout: trickling bytes does
/// not extend it.
#[tokio::test]
async fn limits_a_trickled_request_head_is_closed_at_the_header_timeout() {
    let app = spawn(Limits {
        header_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let stream = tls(&app, b"http/1.1").await;
    let start = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(stream);
    wr.write_all(b"GET /v1/server HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .expect("write");
    let trickle = tokio::spawn(async move {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if wr.write_all(b"X-Slow: 1\r\n").await.is_err() {
                return;
            }
        }
    });
    let got = read_to_close(&mut rd, SECOND + SLACK).await;
    let took = start.elapsed();
    trickle.abort();
    eprintln!(
        "trickled head: closed after {took:?}, answer {:?}",
        String::from_utf8_lossy(&got).lines().next()
    );
    assert!(took >= SECOND - Duration::from_millis(100), "{took:?}");
}

/// An HTTP/1.1 keep-alive connection that has had its answer and sends nothing more is
/// closed at the idle timeout (here shorter than the header timeout, so it is the idle
/// watchdog that closes it, not hyper's header timer).
#[tokio::test]
async fn limits_an_idle_http1_keep_alive_connection_is_closed_at_the_idle_timeout() {
    let app = spawn(Limits {
        idle_timeout: SECOND,
        header_timeout: 4 * SECOND,
        ..Default::default()
    })
    .await;
    let mut stream = tls(&app, b"http/1.1").await;
    stream
        .write_all(b"GET /v1/server HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .expect("write");
    let (status, body) = read_response(&mut stream).await;
    assert_eq!(status, 200, "{body}");
    let start = Instant::now();
    let got = read_to_close(&mut stream, SECOND + SLACK).await;
    let took = start.elapsed();
    eprintln!("idle HTTP/1.1: closed {took:?} after the answer");
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert!(took >= SECOND - Duration::from_millis(100), "{took:?}");
}

/// HTTP/2 frame types and flags used below (RFC 9113 §6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const GOAWAY: u8 = 0x7;
const END_STREAM: u8 = 0x1;
const ACK: u8 = 0x1;

fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = len.to_be_bytes()[1..].to_vec();
    f.extend([kind, flags]);
    f.extend(stream.to_be_bytes());
    f.extend(payload);
    f
}

/// An HTTP/2 connection (what the real client speaks) that has had its answer and opens no
/// new stream is sent a GOAWAY at the idle timeout and closed, although it answers every
/// ping, as a live but idle client does.
#[tokio::test]
async fn limits_an_idle_http2_connection_gets_goaway_at_the_idle_timeout() {
    let app = spawn(Limits {
        idle_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let mut stream = tls(&app, b"h2").await;
    // Preface, empty SETTINGS, then GET /v1/server on stream 1 with HPACK literals:
    // :method GET (static 2), :scheme https (static 7), :path and :authority as literals
    // without indexing on static names 4 and 1.
    let mut block = vec![0x82, 0x87, 0x04, 10];
    block.extend(b"/v1/server");
    block.extend([0x01, 9]);
    block.extend(b"localhost");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(frame(SETTINGS, 0, 0, &[]));
    hello.extend(frame(HEADERS, END_STREAM | 0x4, 1, &block));
    stream.write_all(&hello).await.expect("write");

    let (mut answered, mut goaway) = (None, None);
    let outcome = tokio::time::timeout(10 * SECOND, async {
        loop {
            let mut head = [0u8; 9];
            if stream.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes([0, head[0], head[1], head[2]]) as usize;
            let (kind, flags) = (head[3], head[4]);
            let mut payload = vec![0u8; len];
            if stream.read_exact(&mut payload).await.is_err() {
                return;
            }
            match kind {
                SETTINGS if flags & ACK == 0 => {
                    let _ = stream.write_all(&frame(SETTINGS, ACK, 0, &[])).await;
                }
                PING if flags & ACK == 0 => {
                    let _ = stream.write_all(&frame(PING, ACK, 0, &payload)).await;
                }
                DATA | HEADERS if flags & END_STREAM != 0 => answered = Some(Instant::now()),
                GOAWAY => {
                    goaway.get_or_insert(Instant::now());
                }
                _ => {}
            }
        }
    })
    .await;
    let closed = Instant::now();
    assert!(outcome.is_ok(), "the idle HTTP/2 connection stayed open");
    let answered = answered.expect("an answer on stream 1");
    let goaway = goaway.expect("a GOAWAY before the close") - answered;
    let took = closed - answered;
    eprintln!("idle HTTP/2: GOAWAY {goaway:?} and closed {took:?} after the answer");
    assert!(goaway >= SECOND - Duration::from_millis(100), "{goaway:?}");
    assert!(took <= SECOND + SLACK, "{took:?}");
}

/// A request whose body stops arriving is answered `request_timeout` (408) at the request
/// timeout.
#[tokio::test]
async fn limits_a_trickled_body_is_answered_408_at_the_request_timeout() {
    let app = spawn(Limits {
        request_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let mut stream = tls(&app, b"http/1.1").await;
    stream
        .write_all(
            b"POST /v1/auth/challenge HTTP/1.1\r\nHost: localhost\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"account\":",
        )
        .await
        .expect("write");
    let start = Instant::now();
    let (status, body) = read_response(&mut stream).await;
    let took = start.elapsed();
    eprintln!("stalled body: {status} after {took:?}");
    assert_eq!(status, 408, "{body}");
    assert!(body.contains("\"request_timeout\""), "{body}");
    assert!(took >= SECOND - Duration::from_millis(100), "{took:?}");
    assert!(took <= SECOND + SLACK, "{took:?}");
}

/// With 8 slots and a client that keeps 8 connections open and reopens each one as soon as
/// the server closes it, a normal client still gets in within about one handshake timeout
/// (connections wait in the accept queue in arrival order), every time; and at once when the
/// flood stops.
#[tokio::test(flavor = "multi_thread")]
async fn limits_a_flood_of_idle_connections_does_not_keep_a_normal_client_out() {
    let app = spawn(Limits {
        max_connections: 8,
        handshake_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let target = addr(&app);
    let flood: Vec<_> = (0..8)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                for _ in 0..30 {
                    let Ok(mut tcp) = TcpStream::connect(&target).await else {
                        return;
                    };
                    let mut buf = [0u8; 64];
                    let _ = tokio::time::timeout(5 * SECOND, tcp.read(&mut buf)).await;
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let pin = trialog_client::tls::parse_pin(&app.cert_sha256).expect("pin");
    let mut waits = Vec::new();
    for round in 0..3 {
        // A new client each time, so each request needs a new connection and a free slot.
        let api = trialog_client::api::Api::new(&app.url, pin).expect("client");
        let start = Instant::now();
        let info = tokio::time::timeout(SECOND + SLACK + SECOND, api.server_info())
            .await
            .expect("let in within about a handshake timeout")
            .expect("server info");
        let took = start.elapsed();
        eprintln!("under a flood of 8 idle connections, request {round}: {took:?}");
        assert_eq!(info.service, "trialog");
        waits.push(took);
    }
    // The flood's first 8 connections were accepted 0.3 s before the first request and hold
    // every slot until their handshake timeout: that request waited, so the cap is in force.
    assert!(waits[0] >= Duration::from_millis(400), "{waits:?}");
    for f in &flood {
        f.abort();
    }
    // The flood's connections are gone once its tasks are: the next client gets in at once.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let api = trialog_client::api::Api::new(&app.url, pin).expect("client");
    let start = Instant::now();
    api.server_info().await.expect("server info");
    let took = start.elapsed();
    eprintln!("after the flood: {took:?}");
    assert!(took < SECOND, "{took:?}");
}

/// The inbox long poll waits its full 3 s past an idle timeout of 1 s and a request timeout of
/// 2 s: a request in flight keeps its connection, and the long poll has its own budget.
#[tokio::test(flavor = "multi_thread")]
async fn limits_a_long_poll_outlasts_the_idle_and_request_timeouts() {
    let app = spawn(Limits {
        idle_timeout: SECOND,
        request_timeout: 2 * SECOND,
        ..Default::default()
    })
    .await;
    let (mut occ, _) = app
        .physician(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    occ.inbox().await.expect("logged in");
    let start = Instant::now();
    let items = occ.inbox_wait(3).await.expect("long poll");
    let took = start.elapsed();
    eprintln!("long poll wait=3 with idle 1 s, request 2 s: answered after {took:?}");
    assert!(items.is_empty());
    assert!(took >= 3 * SECOND - Duration::from_millis(100), "{took:?}");
    assert!(took < 3 * SECOND + SLACK, "{took:?}");
}

/// Graceful shutdown is unchanged by the limits: a long poll in flight when the server is
/// told to stop still gets its answer, and the server stops as soon as it has.
#[tokio::test(flavor = "multi_thread")]
async fn limits_shutdown_lets_a_long_poll_in_flight_finish() {
    let mut app = spawn(Limits {
        idle_timeout: SECOND,
        ..Default::default()
    })
    .await;
    let (mut occ, _) = app
        .physician(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    occ.inbox().await.expect("logged in");
    let start = Instant::now();
    let poll = tokio::spawn(async move { occ.inbox_wait(3).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    tokio::time::timeout(10 * SECOND, app.stop())
        .await
        .expect("the server stops within its 10 s grace");
    let stopped = start.elapsed();
    let items = poll
        .await
        .expect("task")
        .expect("the long poll is answered");
    eprintln!("shutdown during a 3 s long poll: server stopped after {stopped:?}");
    assert!(items.is_empty());
    assert!(
        stopped >= 3 * SECOND - Duration::from_millis(100),
        "{stopped:?}"
    );
    assert!(
        TcpStream::connect(addr(&app)).await.is_err(),
        "the listener is closed"
    );
}
