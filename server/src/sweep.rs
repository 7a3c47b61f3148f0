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

/// Acts on every expiry due at `now`; returns how many envelopes were destroyed. Each
/// consent is one transaction: one that fails (logged) does not hold back the others.
pub async fn expire_due(st: &AppState, now: i64) -> Result<u64, ApiError> {
    // Cheap when nothing is due: one indexed read, no write lock.
    let due = db::consents::due_for_expiry(st.db.pool(), now).await?;
    let mut purged = 0;
    for row in due {
        match expire_one(st, &row.id, now).await {
            Ok(n) => purged += n,
            Err(e) => {
                tracing::warn!(consent = %row.id, error = %e, "expiry not acted on; retried at the next sweep")
            }
        }
    }
    if purged > 0 {
        st.db.shred().await?;
    }
    Ok(purged)
}

async fn expire_one(st: &AppState, id: &str, now: i64) -> Result<u64, ApiError> {
    let mut tx = st.db.write().await?;
    // Read again under the write lock: revoked or replaced meanwhile means nothing to do.
    let Some(row) = db::consents::get(&mut *tx, id).await? else {
        return Ok(0);
    };
    if row.revoked_at.is_some() || row.superseded_by.is_some() || row.expired_at.is_some() {
        return Ok(0);
    }
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
    tx.commit().await?;
    tracing::info!(event = %"consent_expired", consent = %row.id, purged = n, "consent expired");
    purge::committed(&st.metrics, &case.id, PurgeReason::Expired, n);
    Ok(n)
}

/// How long live events are kept for a client to resume from (`GET /v1/events`); one
/// away longer lists its inbox, which holds everything still pending.
pub const EVENTS_KEPT: i64 = 7 * 24 * 3600;
/// How often old live events are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Forgets live events older than `EVENTS_KEPT`.
async fn prune_events(st: &AppState, now: i64) -> Result<(), sqlx::Error> {
    let mut tx = st.db.write().await?;
    let n = db::events::prune(&mut *tx, now - EVENTS_KEPT).await?;
    tx.commit().await?;
    if n > 0 {
        tracing::info!(event = %"events_pruned", count = n, "old live events forgotten");
    }
    Ok(())
}

/// Runs `expire_due` every `every` until the process ends.
pub fn spawn(st: AppState, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                if let Err(e) = prune_events(&st, now()).await {
                    tracing::warn!(error = %e, "pruning old live events failed");
                }
            }
            if let Err(e) = expire_due(&st, now()).await {
                tracing::warn!(error = %e, "expiry sweep failed; retried at the next tick");
            }
            if let Err(e) = st.db.shred_if_pending().await {
                tracing::warn!(error = %e, "wal truncation failed; retried at the next tick");
            }
        }
    })
}
