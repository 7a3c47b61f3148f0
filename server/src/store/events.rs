//! Live events: what an account is told, in order, from any replica (`GET /v1/events`).

use trialog_protocol::AccountId;

use super::Store;
use crate::db::{self, events::EventRow};
use crate::error::ApiError;

/// How long live events are kept for a client to resume from; one away longer lists its
/// inbox, which holds everything still pending.
pub const EVENTS_KEPT: i64 = 7 * 24 * 3600;

impl Store {
    /// The id of `account`'s newest event (0 if none): where a stream without a resume
    /// point starts.
    pub async fn last_event(&self, account: &AccountId) -> Result<i64, ApiError> {
        Ok(db::events::last_id(self.db.pool(), account.as_str()).await?)
    }

    /// Up to `limit` of `account`'s events after `after`, oldest first.
    pub async fn events_after(
        &self,
        account: &AccountId,
        after: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>, ApiError> {
        Ok(db::events::after(self.db.pool(), account.as_str(), after, limit).await?)
    }

    /// Forgets live events older than `EVENTS_KEPT`; returns how many.
    pub async fn prune_events(&self, now: i64) -> Result<u64, ApiError> {
        let mut tx = self.db.write().await?;
        let n = db::events::prune(&mut *tx, now - EVENTS_KEPT).await?;
        tx.commit().await?;
        Ok(n)
    }
}
