//! What every handler gets: the database, the server's keys and the settings. Passed
//! explicitly through axum's `State`, never global.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use crate::db::Db;
use crate::listener::Limits;
use crate::server_key::ServerKey;

#[derive(Clone, Debug)]
pub struct AppState {
    pub db: Db,
    pub key: Arc<ServerKey>,
    pub settings: Arc<Settings>,
    pub inboxes: Inboxes,
}

/// Wakes recipients waiting on their inbox (long poll) when an envelope for them is
/// accepted by this process. One `Notify` per account that is or was waiting.
#[derive(Clone, Debug, Default)]
pub struct Inboxes(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl Inboxes {
    pub fn of(&self, account: &str) -> Arc<Notify> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(account.to_owned()).or_default().clone()
    }

    pub fn notify(&self, account: &str) {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get(account) {
            n.notify_waiters();
        }
    }
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// Life of a session token, seconds.
    pub token_ttl: i64,
    /// Life of a patient enrolment code, seconds.
    pub enrolment_ttl: i64,
    /// What one client can hold of the server (connections, deadlines).
    pub limits: Limits,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            token_ttl: 15 * 60,
            enrolment_ttl: 14 * 24 * 3600,
            limits: Limits::default(),
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
