//! The audit chains (see `trialog_protocol::audit` for the format).

use std::collections::HashMap;

use sqlx::{AnyConnection, AnyExecutor};

use super::Backend;
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
    let mut heads = Heads::default();
    let one = Append {
        chain,
        at,
        event,
        actor,
        subject,
        detail,
    };
    heads.append_all(c, vec![one]).await?;
    Ok(heads.0.get(chain).map_or(0, |(seq, _)| *seq))
}

/// The heads of the chains one write transaction appends to: each read once, then kept as
/// it is appended to, so a batch of envelopes in one case reads its chain's head once.
/// Valid only within that transaction, which holds the writers' turn (no one else
/// appends meanwhile); dropped with it.
#[derive(Debug, Default)]
pub struct Heads(HashMap<String, (u64, [u8; 32])>);

/// One entry to append to a chain.
#[derive(Debug, Clone)]
pub struct Append<'a> {
    pub chain: &'a str,
    pub at: i64,
    pub event: AuditEvent,
    pub actor: Option<&'a AccountId>,
    pub subject: Option<&'a str>,
    pub detail: Option<String>,
}

/// Rows per `INSERT` (4 values each).
const ROWS_PER_INSERT: usize = 256;

impl Heads {
    /// Reads the heads of `chains` not known yet, in one statement: a batch that appends to
    /// many chains reads them all at once instead of one statement per chain. A chain
    /// without entries starts at the genesis hash.
    async fn load(&mut self, c: &mut AnyConnection, chains: &[&str]) -> Result<(), sqlx::Error> {
        let mut wanted: Vec<&str> = chains
            .iter()
            .copied()
            .filter(|ch| !self.0.contains_key(*ch))
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.is_empty() {
            return Ok(());
        }
        // Driven from the wanted chains, each head found through the primary key: filtering
        // `audit` by chain instead would weigh every entry of every chain against its head.
        let sql = format!(
            "WITH wanted (chain) AS (VALUES {})
             SELECT a.chain, a.seq, a.hash FROM wanted w
             JOIN audit a ON a.chain = w.chain
              AND a.seq = (SELECT MAX(b.seq) FROM audit b WHERE b.chain = w.chain)",
            super::placeholders(Backend::of_connection(c), wanted.len(), 1)
        );
        let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
        for ch in &wanted {
            q = q.bind(*ch);
        }
        let found: Vec<(String, i64, String)> = q.fetch_all(&mut *c).await?;
        for ch in wanted {
            self.0.insert(ch.to_owned(), (0, GENESIS));
        }
        for (chain, seq, hash) in found {
            self.0.insert(chain, (seq as u64, decode_hash(&hash)?));
        }
        Ok(())
    }

    /// Appends `entries` in order, each after the last one of its chain: the heads not
    /// known yet read in one statement, the entries written in one statement.
    pub async fn append_all(
        &mut self,
        c: &mut AnyConnection,
        entries: Vec<Append<'_>>,
    ) -> Result<(), sqlx::Error> {
        // The new heads are kept apart until every entry is written, so a failed insert
        // leaves this cache as the database is.
        let chains: Vec<&str> = entries.iter().map(|a| a.chain).collect();
        self.load(&mut *c, &chains).await?;
        let mut heads: HashMap<String, (u64, [u8; 32])> = HashMap::new();
        let mut rows = Vec::with_capacity(entries.len());
        for a in entries {
            let (last, prev) = match heads.get(a.chain).or_else(|| self.0.get(a.chain)) {
                Some(head) => *head,
                None => {
                    return Err(sqlx::Error::Protocol(
                        "an audit chain's head was not read".into(),
                    ));
                }
            };
            let seq = last + 1;
            let entry = AuditEntry {
                chain: a.chain.to_owned(),
                seq,
                at: a.at,
                event: a.event,
                actor: a.actor.cloned(),
                subject: a.subject.map(str::to_owned),
                detail: a.detail,
            };
            let bytes = serde_json::to_vec(&entry).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
            let hash = chain_hash(&prev, &bytes);
            heads.insert(entry.chain.clone(), (seq, hash));
            rows.push((entry.chain, seq as i64, bytes, hex::encode(hash)));
        }
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO audit (chain, seq, entry, hash) VALUES {}",
                super::placeholders(Backend::of_connection(c), chunk.len(), 4)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (chain, seq, bytes, hash) in chunk {
                q = q.bind(chain).bind(*seq).bind(bytes).bind(hash);
            }
            q.execute(&mut *c).await?;
        }
        self.0.extend(heads);
        Ok(())
    }
}

/// A stored hash (hex) as bytes.
fn decode_hash(h: &str) -> Result<[u8; 32], sqlx::Error> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(h, &mut bytes).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
    Ok(bytes)
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
