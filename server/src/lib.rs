//! The Trialog relay server: accounts, cases, consents and encrypted envelopes over
//! HTTPS (TLS 1.3 only).
//!
//! It stores and forwards ciphertext under the patient's signed consent and must never see,
//! store or log a field value in clear. `App::build` makes the whole app from a `Config`;
//! `main.rs` only parses the command line, and the tests start the same `App` on port 0.

pub mod auth;
pub mod certificates;
pub mod codes;
pub mod db;
pub mod error;
mod files;
pub mod listener;
mod live;
pub mod metrics;
pub mod operator;
pub mod operator_key;
pub mod priority;
mod routes;
pub mod server_key;
pub mod state;
pub mod store;
mod sweep;
pub mod tls;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use db::Db;
use metrics::Metrics;
use server_key::ServerKey;
use state::{AppState, Settings};

pub use operator::{OperatorError, invite};
pub use routes::{MAX_BODY, MAX_ENVELOPE_BODY};

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Holds the database (by default), the server key and the self-signed certificate.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `sqlite://…`, a path, or `postgres://…`; default `<data_dir>/trialog.db`.
    pub database_url: Option<String>,
    /// A given certificate chain and key (PEM); default: self-signed in the data dir.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Where to serve `GET /metrics` (plain HTTP, for localhost or a private network); no
    /// metrics listener when `None`.
    pub metrics_listen: Option<SocketAddr>,
    pub settings: Settings,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>, listen: SocketAddr) -> Self {
        Config {
            data_dir: data_dir.into(),
            listen,
            database_url: None,
            tls_cert: None,
            tls_key: None,
            metrics_listen: None,
            settings: Settings::default(),
        }
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| self.data_dir.join("trialog.db").display().to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(String, std::io::Error),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error(transparent)]
    Key(#[from] server_key::ServerKeyError),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error("give both --tls-cert and --tls-key, or neither")]
    HalfTls,
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("cannot start the envelope writer: {0}")]
    Writer(std::io::Error),
}

/// A server ready to run: bound, with its database open and migrated.
pub struct App {
    listener: std::net::TcpListener,
    router: axum::Router,
    tls: Arc<rustls::ServerConfig>,
    limits: listener::Limits,
    db: Db,
    metrics: Metrics,
    metrics_listener: Option<std::net::TcpListener>,
    pub local_addr: SocketAddr,
    /// Where `GET /metrics` is served, if `Config::metrics_listen` asked for it.
    pub metrics_addr: Option<SocketAddr>,
    /// Hex SHA-256 of the TLS certificate: what clients pin.
    pub cert_sha256: String,
    pub cert_path: PathBuf,
    /// The server's Ed25519 public key, hex.
    pub server_key: String,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

/// Opens the data directory's database and server key (creating both on first use).
pub async fn open_data_dir(config: &Config) -> Result<(Db, ServerKey), StartError> {
    files::create_private_dir(&config.data_dir)
        .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    let db = Db::open(&config.database_url()).await?;
    let key = ServerKey::load_or_create(&config.data_dir.join("server-key.pem"))?;
    // Files an older version (or a hand copy) left readable to others are narrowed too.
    for name in ["server-key.pem", "tls-cert.pem", "tls-key.pem"] {
        files::narrow_to_owner(&config.data_dir.join(name))
            .map_err(|e| StartError::DataDir(config.data_dir.display().to_string(), e))?;
    }
    Ok((db, key))
}

impl App {
    pub async fn build(config: Config) -> Result<App, StartError> {
        let (db, key) = open_data_dir(&config).await?;
        let given = match (&config.tls_cert, &config.tls_key) {
            (Some(c), Some(k)) => Some((c.as_path(), k.as_path())),
            (None, None) => None,
            _ => return Err(StartError::HalfTls),
        };
        let tls = tls::load(given, &config.data_dir)?;
        // A certificate given with --tls-cert (or placed by hand) that the server key has not
        // vouched for yet gets its statement now: `serve` holds the server key.
        let (statement, _) =
            certificates::vouch(&db, &key, &tls.cert_sha256, state::now(), "at start-up").await?;
        let (listener, local_addr) = bind(config.listen)?;
        let (metrics_listener, metrics_addr) = match config.metrics_listen {
            Some(addr) => {
                let (l, a) = bind(addr)?;
                (Some(l), Some(a))
            }
            None => (None, None),
        };
        let metrics = Metrics::new();
        let server_key = hex::encode(key.public().as_bytes());
        let limits = config.settings.limits.clone();
        let settings = Arc::new(config.settings);
        let state = AppState {
            store: store::Store::new(db.clone(), settings.clone(), metrics.clone())
                .map_err(StartError::Writer)?,
            key: Arc::new(key),
            tokens: Arc::default(),
            settings,
            data_dir: config.data_dir.clone().into(),
            certificate: Arc::new(trialog_protocol::certificate::CertificateView { statement }),
            metrics: metrics.clone(),
        };
        // Expiry acts at the moment of expiry, not at the next fetch.
        sweep::spawn(state.store.clone(), state.settings.sweep_interval);
        Ok(App {
            listener,
            router: routes::router(state),
            tls: tls.config,
            limits,
            db,
            metrics,
            metrics_listener,
            local_addr,
            metrics_addr,
            cert_sha256: tls.cert_sha256,
            cert_path: tls.cert_path,
            server_key,
        })
    }

    /// Serves until `shutdown` completes, then lets requests in flight finish (10 s at most)
    /// and closes the database. Every connection is bounded as `listener` describes.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
        let limits = self.limits;
        let listener =
            listener::CappedListener::new(self.listener, listener::connection_cap(&limits))?;
        let handle = axum_server::Handle::<listener::Peer>::new();
        let h = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            h.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let tls = RustlsAcceptor::new(RustlsConfig::from_config(self.tls))
            .handshake_timeout(limits.handshake_timeout);
        let mut server = axum_server::Server::<listener::Peer>::from_listener(listener)
            .acceptor(tls)
            // Covers the time between the handshake and the first request, which neither
            // hyper's protocol detection nor HTTP/2 bounds by itself.
            .first_request_timeout(limits.header_timeout)
            .handle(handle);
        server
            .http_builder()
            .http1()
            .header_read_timeout(limits.header_timeout);
        // Pings find HTTP/2 peers that vanished mid-request (a long poll); idle ones are
        // closed by the watchdog whether they answer pings or not.
        server
            .http_builder()
            .http2()
            .keep_alive_interval(limits.idle_timeout)
            .keep_alive_timeout(limits.idle_timeout);
        // The metrics listener stops after the API's last request, so a final scrape still
        // sees it counted.
        let (stop_metrics, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        let exposition = self.metrics_listener.map(|l| {
            tokio::spawn(metrics::serve(l, self.metrics, self.db.clone(), async {
                let _ = metrics_stopped.await;
            }))
        });
        let served = server
            .serve(listener::PerConnection::new(
                self.router,
                limits.idle_timeout,
            ))
            .await;
        let _ = stop_metrics.send(());
        if let Some(mut task) = exposition {
            // A scraper that keeps its connection open does not hold the process up.
            match tokio::time::timeout(Duration::from_secs(5), &mut task).await {
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "metrics listener failed"),
                Ok(_) => {}
                Err(_) => task.abort(),
            }
        }
        served?;
        self.db.close().await;
        Ok(())
    }
}

/// Binds `addr` for tokio (non-blocking); returns the listener and the address it got (the
/// port chosen, for port 0).
fn bind(addr: SocketAddr) -> Result<(std::net::TcpListener, SocketAddr), StartError> {
    let bound = |e| StartError::Bind(addr, e);
    let listener = std::net::TcpListener::bind(addr).map_err(bound)?;
    listener.set_nonblocking(true).map_err(bound)?;
    let local = listener.local_addr().map_err(bound)?;
    Ok((listener, local))
}
