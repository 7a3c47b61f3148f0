//! The audit chains (see `trialog_protocol::audit` for the format).

use std::collections::HashMap;

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
    Heads::default()
        .append(c, chain, at, event, actor, subject, detail)
        .await
}

/// The heads of the chains one write transaction appends to: each read once, then kept as
/// it is appended to, so a batch of envelopes in one case reads its chain's head once.
/// Valid only within that transaction, which holds the writers' turn (no one else
/// appends meanwhile); dropped with it.
#[derive(Debug, Default)]
pub struct Heads(HashMap<String, (u64, [u8; 32])>);

impl Heads {
    #[allow(clippy::too_many_arguments)]
    pub async fn append(
        &mut self,
        c: &mut AnyConnection,
        chain: &str,
        at: i64,
        event: AuditEvent,
        actor: Option<&AccountId>,
        subject: Option<&str>,
        detail: Option<String>,
    ) -> Result<u64, sqlx::Error> {
        let (last, prev) = match self.0.get(chain) {
            Some(head) => *head,
            None => head(&mut *c, chain).await?,
        };
        let seq = last + 1;
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
        let hash = chain_hash(&prev, &bytes);
        sqlx::query("INSERT INTO audit (chain, seq, entry, hash) VALUES ($1, $2, $3, $4)")
            .bind(chain)
            .bind(seq as i64)
            .bind(bytes)
            .bind(hex::encode(hash))
            .execute(&mut *c)
            .await?;
        self.0.insert(chain.to_owned(), (seq, hash));
        Ok(seq)
    }
}

/// The last entry's sequence number and hash (0 and the genesis hash for a new chain).
async fn head(c: &mut AnyConnection, chain: &str) -> Result<(u64, [u8; 32]), sqlx::Error> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit WHERE chain = $1 ORDER BY seq DESC LIMIT 1")
            .bind(chain)
            .fetch_optional(&mut *c)
            .await?;
    match head {
        Some((seq, h)) => {
            let mut prev = [0u8; 32];
            hex::decode_to_slice(&h, &mut prev).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            Ok((seq as u64, prev))
        }
        None => Ok((0, GENESIS)),
    }
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
