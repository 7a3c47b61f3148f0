//! What every handler gets: the database, the server's keys and the settings. Passed
//! explicitly through axum's `State`, never global.

use std::sync::Arc;

use crate::db::Db;
use crate::server_key::ServerKey;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub key: Arc<ServerKey>,
    pub settings: Arc<Settings>,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Life of a session token, seconds.
    pub token_ttl: i64,
    /// Life of a patient enrolment code, seconds.
    pub enrolment_ttl: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl: 15 * 60,
            enrolment_ttl: 14 * 24 * 3600,
        }
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
