//! Expiry acts like revocation, at the moment of expiry (DESIGN.md §6): a background task
//! (and every inbox listing, so nothing expired is ever listed) destroys what is unread
//! under a consent whose period has ended, and audits it.

use std::time::Duration;
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::decide::deliverable;

use crate::db::{self, envelopes::PurgeReason};
use crate::error::ApiError;
use crate::purge;
use crate::state::{AppState, now};

/// Acts on every expiry due at `now`; returns how many envelopes were destroyed.
pub async fn expire_due(st: &AppState, now: i64) -> Result<u64, ApiError> {
    // Cheap when nothing is due: one indexed read, no write lock.
    if db::consents::due_for_expiry(st.db.pool(), now)
        .await?
        .is_empty()
    {
        return Ok(0);
    }
    let mut tx = st.db.write().await?;
    let mut purged = 0;
    for row in db::consents::due_for_expiry(&mut *tx, now).await? {
        let case = db::cases::get(&mut *tx, &row.case_id)
            .await?
            .ok_or_else(|| ApiError::Internal("consent without case".into()))?;
        let chain = crate::facts::chain(&mut tx, &case).await?;
        db::consents::mark_expired(&mut *tx, &row.id, now).await?;
        let n = purge::pending(
            &mut tx,
            &case.id,
            &row.recipient,
            now,
            |h| deliverable(&chain, h, now).is_err(),
            PurgeReason::Expired,
        )
        .await?;
        purged += n;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::ConsentExpired,
            None,
            Some(&row.id),
            Some(format!("{n} unread messages destroyed")),
        )
        .await?;
        tracing::info!(consent = %row.id, purged = n, "consent expired");
    }
    tx.commit().await?;
    if purged > 0 {
        st.db.shred().await?;
    }
    Ok(purged)
}

/// Runs `expire_due` every `every` until the process ends.
pub fn spawn(st: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = expire_due(&st, now()).await {
                tracing::warn!(error = %e, "expiry sweep failed; retried at the next tick");
            }
        }
    })
}
