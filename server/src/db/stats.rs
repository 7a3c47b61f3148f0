//! Figures over the whole database for the operator's metrics: counts and sums, never a
//! row's content nor an id.

use sqlx::AnyExecutor;

/// What waits for recipients right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pending {
    /// Envelopes accepted and neither acknowledged nor destroyed.
    pub envelopes: i64,
    /// Their ciphertext bytes.
    pub bytes: i64,
}

/// One read of the pending envelopes' partial index (`fields IS NOT NULL`): its cost grows
/// with what is pending, which the quotas bound, not with history. The sum is cast because
/// PostgreSQL's `SUM` of a `BIGINT` is a `NUMERIC`.
pub async fn pending(e: impl AnyExecutor<'_>) -> Result<Pending, sqlx::Error> {
    let (envelopes, bytes): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM envelopes
         WHERE fields IS NOT NULL",
    )
    .fetch_one(e)
    .await?;
    Ok(Pending { envelopes, bytes })
}
