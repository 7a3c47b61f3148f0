//! The local web client (`trialog ui`): a small web server on 127.0.0.1 inside the
//! person's own client process, showing server-rendered pages over the same [`Client`]
//! the command line uses.
//!
//! The browser holds no key and runs no cryptography: it only ever sees HTML, one
//! stylesheet and form posts. Every check (the consent checks, the key pins, the
//! verification of what the server returns) stays in the library. The keystore is
//! unlocked in this process and locked again (the `Client` dropped, its keys zeroized)
//! after an idle period.
//!
//! Layout: `security` (host, origin, session, headers, login), `i18n` (page text and
//! dates), `pages` (one file per page, and the layout), `live` (the inbox's event stream
//! to the browser), `assets` (embedded with the binary).

mod assets;
mod i18n;
mod live;
mod pages;
mod security;

use axum::Router;
use axum::http::HeaderMap;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use trialog_protocol::Lang;
use trialog_protocol::api::AccountView;

use crate::{Client, Home};
use security::{Auth, Secret};

pub use i18n::date;

/// The language cookie; not a secret, shared by every `trialog ui` on the machine.
const LANG_COOKIE: &str = "trialog-lang";

/// How `trialog ui` runs.
#[derive(Debug, Clone)]
pub struct Options {
    /// Lock the keystore after this long without a request from the browser.
    pub idle_lock: Duration,
    /// The language of the pages until the person picks one.
    pub lang: Lang,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            idle_lock: Duration::from_secs(15 * 60),
            lang: Lang::default(),
        }
    }
}

/// The unlocked keystore: the client, and who it is (fetched once per unlock).
#[derive(Debug, Default)]
pub(crate) struct Vault {
    pub client: Option<Client>,
    pub me: Option<AccountView>,
}

/// What every request handler shares.
#[derive(Debug)]
pub(crate) struct App {
    home: Home,
    /// `127.0.0.1:PORT` and `localhost:PORT`: the only `Host` values answered.
    hosts: [String; 2],
    cookie_name: String,
    options: Options,
    auth: std::sync::Mutex<Auth>,
    /// Held across a call to the server: one action at a time, as in the terminal.
    vault: tokio::sync::Mutex<Vault>,
    last_seen: std::sync::Mutex<Instant>,
    /// How many times the keystore was locked: every inbox event stream ends at the next.
    locks: tokio::sync::watch::Sender<u64>,
    /// The inbox event streams that may be open at once (`live::MAX_STREAMS`).
    streams: Arc<tokio::sync::Semaphore>,
}

impl App {
    fn lang_of(&self, headers: &HeaderMap) -> Lang {
        security::lang_cookie(headers).unwrap_or(self.options.lang)
    }

    /// A request from the browser: lock first if it comes after the idle period, so the
    /// person is asked for the passphrase again, then count it as activity.
    async fn touch(&self) {
        self.lock_if_idle().await;
        self.seen();
    }

    fn seen(&self) {
        if let Ok(mut t) = self.last_seen.lock() {
            *t = Instant::now();
        }
    }

    async fn lock_if_idle(&self) {
        let idle = self
            .last_seen
            .lock()
            .map(|t| t.elapsed() >= self.options.idle_lock)
            .unwrap_or(true);
        if idle {
            self.lock().await;
        }
    }

    /// Drops the client: its identity (and so every private key) is zeroized. Every inbox
    /// event stream ends: none follows the server for a locked keystore.
    async fn lock(&self) {
        let mut v = self.vault.lock().await;
        v.client = None;
        v.me = None;
        self.locks.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Starts the web client on `listener`, which must be bound to a loopback address, with
/// `client` already unlocked (or `None`: the first page asks for the passphrase).
///
/// Returns the URL to open, with its one-time login token (show it only to the person,
/// never log it), and the task serving requests.
pub async fn serve(
    home: Home,
    client: Option<Client>,
    listener: TcpListener,
    options: Options,
) -> std::io::Result<(String, JoinHandle<()>)> {
    let addr: SocketAddr = listener.local_addr()?;
    if !addr.ip().is_loopback() || !addr.is_ipv4() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the web client listens on 127.0.0.1 only",
        ));
    }
    let port = addr.port();
    let token = Secret::random()?;
    let url = format!("http://127.0.0.1:{port}/login?token={}", token.expose());
    let app = Arc::new(App {
        home,
        hosts: [format!("127.0.0.1:{port}"), format!("localhost:{port}")],
        cookie_name: format!("trialog-session-{port}"),
        auth: std::sync::Mutex::new(Auth {
            token: Some(token),
            sessions: Vec::new(),
        }),
        vault: tokio::sync::Mutex::new(Vault { client, me: None }),
        last_seen: std::sync::Mutex::new(Instant::now()),
        options,
        locks: tokio::sync::watch::Sender::new(0),
        streams: Arc::new(tokio::sync::Semaphore::new(live::MAX_STREAMS)),
    });
    let router = router(app.clone());
    let idle = tokio::spawn(idle_locker(app));
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
        idle.abort();
    });
    Ok((url, handle))
}

/// Locks the keystore once the idle period has passed, even if no request comes: the
/// keys do not stay in memory while the person is away.
async fn idle_locker(app: Arc<App>) {
    let every =
        (app.options.idle_lock / 4).clamp(Duration::from_millis(100), Duration::from_secs(30));
    let mut tick = tokio::time::interval(every);
    loop {
        tick.tick().await;
        app.lock_if_idle().await;
    }
}

fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/", get(pages::home::page))
        .route(
            "/cases",
            get(pages::cases::list).post(pages::enrolment::open),
        )
        .route("/cases/{id}", get(pages::cases::one))
        .route("/cases/{id}/confirm", post(pages::members::confirm))
        .route("/cases/{id}/enrolment", post(pages::enrolment::reissue))
        .route("/cases/{id}/members", post(pages::members::add))
        .route(
            "/cases/{id}/members/{account}/remove",
            get(pages::members::remove_page).post(pages::members::remove),
        )
        .route(
            "/unlock",
            get(pages::unlock::page).post(pages::unlock::submit),
        )
        .route("/lock", post(pages::unlock::lock))
        .route("/setup", get(pages::setup::show).post(pages::setup::submit))
        .route("/lang", post(pages::lang::set))
        .route("/welcome", get(pages::unlock::welcome))
        .route("/login", get(security::login))
        // Consents and audit: the patient grants, changes and revokes; the verified log.
        .route("/cases/{id}/consents", get(pages::consents::overview))
        .route("/cases/{id}/consents/new", get(pages::consents::new))
        .route("/cases/{id}/consents/review", post(pages::consents::review))
        .route("/cases/{id}/consents/sign", post(pages::consents::sign))
        .route(
            "/cases/{id}/consents/{consent}/revoke",
            get(pages::consents::revoke_page).post(pages::consents::revoke),
        )
        .route("/cases/{id}/audit", get(pages::audit::page))
        .route("/assets/style.css", get(assets::style))
        // Inbox and messages (physicians): the inbox, its rows and the event stream that
        // says when to fetch them again, opening (a POST: it fetches and acknowledges), one
        // message, its print view, the inbox's script.
        .route("/inbox", get(pages::inbox::list))
        .route("/inbox/rows", get(pages::inbox::rows))
        .route("/inbox/events", get(live::events))
        .route("/messages/{id}", get(pages::inbox::show))
        .route("/messages/{id}/open", post(pages::inbox::open))
        .route("/messages/{id}/print", get(pages::inbox::print))
        .route("/assets/inbox.js", get(assets::inbox_js))
        // Compose: a message from a physician to the physicians of a case.
        .route(
            "/cases/{id}/compose",
            get(pages::compose::page).post(pages::compose::submit),
        )
        .route("/assets/compose.js", get(assets::compose_js))
        .fallback(pages::not_found)
        // Layers run bottom-up on the way in: host, then origin, then session; the
        // headers are added to every response, refusals included.
        .layer(from_fn_with_state(app.clone(), security::session))
        .layer(from_fn_with_state(app.clone(), security::origin))
        .layer(from_fn_with_state(app.clone(), security::host))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(app)
}
