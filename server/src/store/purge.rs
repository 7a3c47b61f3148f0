//! Destroying pending ciphertext inside the caller's write transaction, one audit entry per
//! envelope. The caller commits, then calls `Db::shred` before returning, and `committed`
//! for the operator's log line and counter.

use trialog_protocol::audit::AuditEvent;
use trialog_protocol::envelope::EnvelopeHeader;

use crate::db::{self, Tx, envelopes::EnvelopeRow, envelopes::PurgeReason};
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Destroys every pending envelope to `recipient` in `case_id` for which `doomed` says so;
/// returns how many.
pub async fn pending(
    tx: &mut Tx,
    case_id: &str,
    recipient: &str,
    now: i64,
    doomed: impl Fn(&EnvelopeHeader) -> bool,
    reason: PurgeReason,
) -> Result<u64, ApiError> {
    let mut n = 0;
    for r in db::envelopes::pending_for(&mut **tx, case_id, recipient).await? {
        let signed: trialog_protocol::Signed<EnvelopeHeader> = serde_json::from_str(&r.header)
            .map_err(|_| ApiError::Internal("stored header".into()))?;
        let h = signed
            .parse_unverified()
            .map_err(|_| ApiError::Internal("stored header".into()))?;
        if !doomed(&h) {
            continue;
        }
        one(tx, &r, reason, now).await?;
        n += 1;
    }
    Ok(n)
}

/// Destroys envelope `r`'s ciphertext, with its audit entry and the live event that tells
/// its recipient.
pub async fn one(
    tx: &mut Tx,
    r: &EnvelopeRow,
    reason: PurgeReason,
    now: i64,
) -> Result<(), ApiError> {
    db::envelopes::purge(tx, r, reason, now).await?;
    db::audit::append(
        tx,
        &r.case_id,
        now,
        AuditEvent::EnvelopePurged,
        None,
        Some(&r.id),
        Some(format!("destroyed unread: {}", reason.as_str())),
    )
    .await?;
    Ok(())
}

/// After the commit of a destruction of `n` envelopes in `case_id`: one log line with the
/// reason's code and the count, and the counter. Nothing when nothing was destroyed.
pub fn committed(metrics: &Metrics, case_id: &str, reason: PurgeReason, n: u64) {
    if n == 0 {
        return;
    }
    metrics.envelopes_purged(reason, n);
    tracing::info!(
        event = %"envelopes_purged",
        reason = %reason.as_str(),
        count = n,
        case = %case_id,
        "envelopes purged"
    );
}
