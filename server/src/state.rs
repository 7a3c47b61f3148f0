//! What every handler gets: the store, the server's keys and the settings. Passed
//! explicitly through axum's `State`, never global.

use std::sync::Arc;

use crate::listener::Limits;
use crate::metrics::Metrics;
use crate::server_key::ServerKey;
use crate::store::Store;

#[derive(Clone, Debug)]
pub struct AppState {
    /// The server's state, through its verbs.
    pub store: Store,
    pub key: Arc<ServerKey>,
    /// Session tokens whose signature was verified already (`auth::Tokens`).
    pub tokens: Arc<crate::auth::Tokens>,
    pub settings: Arc<Settings>,
    /// The data directory: `serve` reads the operator's public key there (never its secret).
    pub data_dir: Arc<std::path::Path>,
    /// The server key's statement for the TLS certificate being served (`GET /v1/certificate`).
    pub certificate: Arc<trialog_protocol::certificate::CertificateView>,
    /// This server's counters, exposed on the metrics listener if there is one.
    pub metrics: Metrics,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Life of a session token, seconds.
    pub token_ttl: i64,
    /// Life of a patient enrolment code, seconds.
    pub enrolment_ttl: i64,
    /// Unread envelopes one recipient may have waiting; past it, `recipient_quota_exceeded`.
    pub max_pending_per_recipient: i64,
    /// Unread ciphertext bytes one recipient may have waiting.
    pub max_pending_bytes_per_recipient: i64,
    /// The same, from any one sender: one sender cannot fill a recipient's queue for all.
    pub max_pending_per_sender: i64,
    pub max_pending_bytes_per_sender: i64,
    /// How often expiries are looked for (they are also acted on at every inbox listing).
    pub sweep_interval: std::time::Duration,
    /// What one client can hold of the server (connections, deadlines).
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl: 15 * 60,
            enrolment_ttl: 14 * 24 * 3600,
            // A busy occupational physician has tens of cases, a few messages each; a
            // thousand unread is far beyond use and bounds a flood at about 256 MiB.
            max_pending_per_recipient: 1000,
            max_pending_bytes_per_recipient: 256 * 1024 * 1024,
            max_pending_per_sender: 250,
            max_pending_bytes_per_sender: 64 * 1024 * 1024,
            sweep_interval: std::time::Duration::from_secs(1),
            limits: Limits::default(),
        }
    }
}

pub use trialog_protocol::time::now;
