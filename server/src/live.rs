//! Waking whoever waits for an account (the inbox long poll, `GET /v1/events`) when
//! something for it is committed. In one process the handler that committed wakes them
//! (`Inboxes::notify`); across replicas on PostgreSQL, each replica listens on the events
//! channel and wakes its own waiters for the account a notification names.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

use crate::db::events::CHANNEL;

/// Whoever waits for an account in this process. One `Notify` per account that is or was
/// waiting. Held by `Db`: a write transaction wakes, at commit, the accounts it recorded
/// events for.
#[derive(Clone, Debug, Default)]
pub struct Waiters(Arc<Mutex<HashMap<String, Arc<Notify>>>>);

impl Waiters {
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

    /// Wakes every waiter, to look again for itself.
    pub fn notify_all(&self) {
        let map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for n in map.values() {
            n.notify_waiters();
        }
    }
}

/// Listens on PostgreSQL for the events of every replica, for as long as the process
/// runs. After a lost connection (notifications sent meanwhile are lost), every waiter is
/// woken to look for itself: they read from the database, so nothing is missed.
pub fn spawn_listener(url: String, waiters: Waiters) {
    tokio::spawn(async move {
        loop {
            match listen(&url, &waiters).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "live events: listener lost the database; retrying");
                    waiters.notify_all();
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    });
}

async fn listen(url: &str, waiters: &Waiters) -> Result<(), sqlx::Error> {
    let mut listener = sqlx::postgres::PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Anything committed before LISTEN took effect is found by the waiters' own reads.
    waiters.notify_all();
    loop {
        match listener.try_recv().await? {
            Some(n) => waiters.notify(n.payload()),
            // The connection was lost and re-established: notifications may be lost.
            None => waiters.notify_all(),
        }
    }
}
