//! The audit chains (see `trialog_protocol::audit` for the format).

use sqlx::{AnyConnection, AnyExecutor};
use trialog_protocol::audit::{AuditEntry, AuditEvent, GENESIS, chain_hash};
use trialog_protocol::ids::AccountId;

/// Appends an event to `chain` inside the caller's write transaction.
pub async fn append(
    c: &mut AnyConnection,
    chain: &str,
    at: i64,
    event: AuditEvent,
    actor: Option<&AccountId>,
    subject: Option<&str>,
    detail: Option<String>,
) -> Result<u64, sqlx::Error> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
            .bind(chain)
            .fetch_optional(&mut *c)
            .await?;
    let (seq, prev) = match head {
        Some((s, h)) => {
            let mut prev = [0u8; 32];
            hex::decode_to_slice(&h, &mut prev).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            (s as u64 + 1, prev)
        }
        None => (1, GENESIS),
    };
    let entry = AuditEntry {
        chain: chain.to_owned(),
        seq,
        at,
        event,
        actor: actor.cloned(),
        subject: subject.map(str::to_owned),
        detail,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let hash = hex::encode(chain_hash(&prev, &bytes));
    sqlx::query("INSERT INTO audit (chain, seq, entry, hash) VALUES ($1, $2, $3, $4)")
        .bind(chain)
        .bind(seq as i64)
        .bind(bytes)
        .bind(hash)
        .execute(&mut *c)
        .await?;
    Ok(seq)
}

/// The whole chain, oldest first: (entry bytes, hash).
pub async fn chain(
    e: impl AnyExecutor<'_>,
    chain: &str,
) -> Result<Vec<(Vec<u8>, String)>, sqlx::Error> {
    sqlx::query_as("SELECT entry, hash FROM audit WHERE chain = $1 ORDER BY seq")
        .bind(chain)
        .fetch_all(e)
        .await
}
