//! What one client can hold of the server, and for how long: every connection has a deadline
//! in each of its states, and the number of open connections is capped below the process's
//! file-descriptor limit.
//!
//! | state of a connection | bounded by |
//! |---|---|
//! | waiting to be accepted | [`Limits::max_connections`]: beyond it, new connections wait in the kernel's accept queue (they hold no descriptor of ours) until a slot frees |
//! | TLS handshake | [`Limits::handshake_timeout`] (axum-server's `RustlsAcceptor`) |
//! | after the handshake, until the first request has arrived | [`Limits::header_timeout`] (axum-server's first-request timeout; HTTP/2 has no header timer of its own) |
//! | HTTP/1 request head | [`Limits::header_timeout`] (hyper's header timer, which also runs while an HTTP/1 connection waits for its next request, so an idle HTTP/1 connection closes after this too) |
//! | a request in flight (body read, handler) | [`Limits::request_timeout`], longer for the inbox long poll (see `routes`) |
//! | no request in flight (idle keep-alive, HTTP/1 or HTTP/2) | [`Limits::idle_timeout`], then a graceful close (HTTP/2 GOAWAY); a connection still open [`Limits::idle_timeout`] after that (a peer that does not read our last answer or ignores the GOAWAY) is dropped |
//!
//! Built on axum-server rather than beside it: its accept loop, graceful shutdown and
//! per-connection `ConnectionShutdown` are used as they are; this module adds only what it
//! lacks, a listener that accepts while a slot is free ([`CappedListener`]) and an idle
//! watchdog per connection ([`Tracked`]). It must never hold a connection open without one
//! of the deadlines above running.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum_server::ConnectionShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Deadlines and caps on what clients can hold; see the module documentation for where each
/// applies.
#[derive(Clone, Debug)]
pub struct Limits {
    /// From TCP accept to a finished TLS handshake.
    pub handshake_timeout: Duration,
    /// From the end of the handshake (or of the previous HTTP/1 request) to a complete request
    /// head.
    pub header_timeout: Duration,
    /// How long a connection may stay open with no request in flight.
    pub idle_timeout: Duration,
    /// How long one request may take to arrive (body included) and be answered. The inbox
    /// long poll gets its longest wait on top.
    pub request_timeout: Duration,
    /// Connections open at once; lowered at start to fit the process's descriptor limit.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // A handshake is two round trips; 10 s covers a slow mobile link many times over
            // and is what axum-server and nginx (`ssl_handshake_timeout` 60 s is the outlier)
            // use.
            handshake_timeout: Duration::from_secs(10),
            // A request head is one packet from a real client; 10 s leaves room for a bad link
            // while a slowloris that sends a header line every few seconds is cut off soon.
            header_timeout: Duration::from_secs(10),
            // Long enough that a client working through a case (a burst of requests with
            // reading in between) keeps its connection, short enough that idle connections do
            // not pile up (nginx's keepalive_timeout is 75 s, Apache's 5 s).
            idle_timeout: Duration::from_secs(30),
            // The largest body (an envelope, 6 MiB) at 1 Mbit/s takes about 50 s.
            request_timeout: Duration::from_secs(60),
            // Far above what a relay for physicians sees at once, far below what a Linux
            // service is usually allowed (and lowered to fit when it is not).
            max_connections: 1024,
        }
    }
}

/// Descriptors kept for everything but client connections: the listener, stdio, the
/// runtime, the SQLite pool (8 connections with their database, WAL and shared-memory files)
/// and the files the server opens at start.
const RESERVED_DESCRIPTORS: usize = 64;

/// `max_connections`, lowered if the process may not open that many descriptors besides the
/// ones it needs for itself: running out of descriptors stops the database too, not only new
/// connections.
pub fn connection_cap(limits: &Limits) -> usize {
    let wanted = limits.max_connections.max(1);
    let Some(soft) = open_files_limit() else {
        return wanted;
    };
    let fits = soft.saturating_sub(RESERVED_DESCRIPTORS).max(1);
    if fits < wanted {
        tracing::warn!(
            wanted,
            fits,
            open_files_limit = soft,
            "lowering the connection cap to fit the open-files limit; raise `ulimit -n` (LimitNOFILE) to allow more"
        );
    }
    wanted.min(fits)
}

/// The soft limit on open files, where the platform tells it without unsafe code.
fn open_files_limit() -> Option<usize> {
    if cfg!(target_os = "linux") {
        parse_open_files_limit(&std::fs::read_to_string("/proc/self/limits").ok()?)
    } else {
        None
    }
}

/// The soft "Max open files" of a `/proc/<pid>/limits` text; `None` if unlimited or absent.
fn parse_open_files_limit(limits: &str) -> Option<usize> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The address type of a [`CappedListener`] for axum-server: the peer's address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Peer(pub SocketAddr);

impl axum_server::Address for Peer {
    type Stream = Admitted;
    type Listener = CappedListener;
}

/// A TCP listener that accepts a connection only while one of `max_connections` slots is
/// free.
///
/// When all slots are taken it stops accepting: new connections wait in the kernel's accept
/// queue, costing the server no descriptor, and are taken in arrival order as slots free
/// (every slot frees within the deadlines of [`Limits`]). Refusing them at once instead
/// would cost a descriptor per attempt and hand the freed slot to whoever reconnects fastest
/// — the client flooding us — while a waiting legitimate client is served before the
/// flood's next connection.
#[derive(Debug)]
pub(crate) struct CappedListener {
    inner: TcpListener,
    slots: Arc<Semaphore>,
}

impl CappedListener {
    pub(crate) fn new(listener: std::net::TcpListener, max_connections: usize) -> io::Result<Self> {
        listener.set_nonblocking(true)?;
        Ok(CappedListener {
            inner: TcpListener::from_std(listener)?,
            slots: Arc::new(Semaphore::new(max_connections.max(1))),
        })
    }
}

impl axum_server::AddrListener<Admitted, Peer> for CappedListener {
    async fn bind_to(_addr: Peer) -> io::Result<Self> {
        // The app binds its own socket (to report the port before serving); nothing binds
        // through axum-server.
        Err(io::Error::other(
            "a CappedListener is made from a bound socket",
        ))
    }

    async fn accept_stream(&self) -> io::Result<(Admitted, Peer)> {
        // Slot first, then accept: while we wait here, the connection stays in the kernel.
        let slot = self
            .slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        let (tcp, peer) = self.inner.accept().await?;
        Ok((Admitted { tcp, _slot: slot }, Peer(peer)))
    }

    fn get_local_addr(&self) -> io::Result<Peer> {
        self.inner.local_addr().map(Peer)
    }
}

/// An accepted TCP connection holding its slot until it is dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    tcp: TcpStream,
    _slot: OwnedSemaphorePermit,
}

impl AsyncRead for Admitted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for Admitted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// Makes one [`Tracked`] service per accepted connection (axum-server's `MakeService`).
#[derive(Clone, Debug)]
pub(crate) struct PerConnection<S> {
    inner: S,
    idle_timeout: Duration,
}

impl<S> PerConnection<S> {
    pub(crate) fn new(inner: S, idle_timeout: Duration) -> Self {
        PerConnection {
            inner,
            idle_timeout,
        }
    }
}

impl<S: Clone> tower_service::Service<Peer> for PerConnection<S> {
    type Response = Tracked<S>;
    type Error = Infallible;
    type Future = std::future::Ready<Result<Tracked<S>, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, peer: Peer) -> Self::Future {
        std::future::ready(Ok(Tracked {
            inner: self.inner.clone(),
            conn: Arc::new(Conn {
                peer: peer.0,
                activity: Arc::new(Activity::new()),
                idle_timeout: self.idle_timeout,
                watched: AtomicBool::new(false),
            }),
        }))
    }
}

/// The service of one connection: counts its requests in flight and, from its first request
/// on (when axum-server hands us the connection's `ConnectionShutdown`), runs the idle
/// watchdog. Before the first request, axum-server's first-request timeout applies.
#[derive(Clone, Debug)]
pub(crate) struct Tracked<S> {
    inner: S,
    conn: Arc<Conn>,
}

/// Shared by the clones of one connection's service; dropped when the connection is gone.
#[derive(Debug)]
struct Conn {
    peer: SocketAddr,
    activity: Arc<Activity>,
    idle_timeout: Duration,
    watched: AtomicBool,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.activity.update(|s| s.closed = true);
    }
}

impl<S, B> tower_service::Service<Request<B>> for Tracked<S>
where
    S: tower_service::Service<Request<B>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let in_flight = InFlight::start(self.conn.activity.clone());
        if let Some(shutdown) = req.extensions().get::<ConnectionShutdown>()
            && !self.conn.watched.swap(true, Ordering::Relaxed)
        {
            tokio::spawn(watchdog(
                self.conn.peer,
                self.conn.activity.clone(),
                shutdown.clone(),
                self.conn.idle_timeout,
            ));
        }
        let answer = self.inner.call(req);
        Box::pin(async move {
            let answer = answer.await;
            // Until here the request counts as in flight, whether it ends or is dropped.
            drop(in_flight);
            answer
        })
    }
}

/// What the watchdog of one connection needs to know.
#[derive(Debug)]
struct Activity {
    state: Mutex<ActivityState>,
    changed: Notify,
}

#[derive(Debug, Clone, Copy)]
struct ActivityState {
    in_flight: usize,
    /// When the last request in flight ended (or the connection was made).
    idle_since: Instant,
    closed: bool,
}

impl Activity {
    fn new() -> Self {
        Activity {
            state: Mutex::new(ActivityState {
                in_flight: 0,
                idle_since: Instant::now(),
                closed: false,
            }),
            changed: Notify::new(),
        }
    }

    fn update(&self, f: impl FnOnce(&mut ActivityState)) {
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut s);
        }
        self.changed.notify_waiters();
    }

    fn get(&self) -> ActivityState {
        *self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until no request has been in flight for `idle`, counting from `from` at the
    /// earliest; false if the connection closed first.
    async fn quiet_for(&self, idle: Duration, from: Instant) -> bool {
        loop {
            // Registered before reading the state, so a change in between is not missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            let s = self.get();
            if s.closed {
                return false;
            }
            if s.in_flight > 0 {
                changed.await;
                continue;
            }
            let deadline = s.idle_since.max(from) + idle;
            if deadline <= Instant::now() {
                return true;
            }
            tokio::select! {
                _ = changed => {}
                _ = tokio::time::sleep_until(deadline) => {}
            }
        }
    }
}

/// Marks one request in flight for as long as it lives.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.update(|s| s.in_flight += 1);
        InFlight(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.update(|s| {
            s.in_flight -= 1;
            if s.in_flight == 0 {
                s.idle_since = Instant::now();
            }
        });
    }
}

/// Closes the connection once it has been idle for `idle`: gracefully first (an HTTP/1
/// connection closes, an HTTP/2 one sends GOAWAY and finishes its streams), then, if it is
/// still open after another quiet `idle`, at once. Ends when the connection does.
async fn watchdog(
    peer: SocketAddr,
    activity: Arc<Activity>,
    shutdown: ConnectionShutdown,
    idle: Duration,
) {
    if !activity.quiet_for(idle, Instant::now()).await {
        return;
    }
    tracing::debug!(%peer, "closing an idle connection");
    shutdown.graceful_shutdown();
    // What can still hold it: our last answer not taken by the peer, or a peer that does
    // not answer the GOAWAY. A request that raced the close still gets its full time.
    if activity.quiet_for(idle, Instant::now()).await {
        tracing::debug!(%peer, "dropping a connection that did not close after going idle");
        shutdown.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_soft_open_files_limit() {
        let text = "Limit                     Soft Limit           Hard Limit           Units     \n\
                    Max processes             63704                63704                processes \n\
                    Max open files            256                  524288               files     \n";
        assert_eq!(parse_open_files_limit(text), Some(256));
        let unlimited =
            "Max open files            unlimited            unlimited            files\n";
        assert_eq!(parse_open_files_limit(unlimited), None);
        assert_eq!(parse_open_files_limit(""), None);
    }

    /// The watchdog's clock: quiet only once nothing has been in flight for the whole idle
    /// time, and never once the connection is gone.
    #[tokio::test]
    async fn quiet_means_nothing_in_flight_for_the_idle_time() {
        let idle = Duration::from_millis(200);
        let activity = Arc::new(Activity::new());
        let start = Instant::now();
        assert!(activity.quiet_for(idle, start).await);
        assert!(start.elapsed() >= idle);

        let busy = InFlight::start(activity.clone());
        let release = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            drop(busy);
        });
        let start = Instant::now();
        assert!(activity.quiet_for(idle, start).await);
        assert!(
            start.elapsed() >= Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        release.await.expect("task");

        let _busy = InFlight::start(activity.clone());
        let closing = activity.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            closing.update(|s| s.closed = true);
        });
        let waited = tokio::time::timeout(
            Duration::from_secs(2),
            activity.quiet_for(idle, Instant::now()),
        );
        assert_eq!(waited.await.ok(), Some(false));
    }

    #[test]
    fn the_cap_leaves_room_for_the_database() {
        let soft = open_files_limit();
        let cap = connection_cap(&Limits::default());
        assert!((1..=1024).contains(&cap));
        if let Some(soft) = soft {
            assert!(cap <= soft.saturating_sub(RESERVED_DESCRIPTORS).max(1));
        }
    }
}
