//! Events an account is waiting to hear of (`GET /v1/events`), written in the transaction
//! of what they announce, so an event exists exactly when its cause was committed. On
//! PostgreSQL the same transaction notifies every replica (`NOTIFY`, delivered at commit),
//! whose listener wakes the streams waiting there (`crate::live`).

use sqlx::{AnyExecutor, FromRow};

use super::{Backend, Tx};
use trialog_protocol::api::LiveEventKind;

/// The PostgreSQL notification channel; the payload is the account id.
pub const CHANNEL: &str = "trialog_events";

#[derive(Debug, Clone, FromRow)]
pub struct EventRow {
    pub id: i64,
    pub kind: String,
    pub subject: String,
    pub case_id: String,
    pub reason: Option<String>,
    pub at: i64,
}

/// What an event is about.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub id: &'a str,
    pub case_id: &'a str,
}

/// One event to record.
#[derive(Debug, Clone, Copy)]
pub struct Event<'a> {
    pub account: &'a str,
    pub kind: LiveEventKind,
    pub subject: Subject<'a>,
    pub reason: Option<&'a str>,
    pub at: i64,
}

/// Records an event for `account`, woken at commit.
pub async fn record(
    tx: &mut Tx,
    account: &str,
    kind: LiveEventKind,
    subject: Subject<'_>,
    reason: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    record_all(
        tx,
        &[Event {
            account,
            kind,
            subject,
            reason,
            at,
        }],
    )
    .await
}

/// Rows per `INSERT` (6 values each).
const ROWS_PER_INSERT: usize = 256;

/// Records events, a batch in one statement; each account concerned is woken at commit.
pub async fn record_all(tx: &mut Tx, events: &[Event<'_>]) -> Result<(), sqlx::Error> {
    for chunk in events.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO events (account, kind, subject, case_id, reason, at) VALUES {}",
            super::placeholders(tx.backend(), chunk.len(), 6)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for e in chunk {
            q = q
                .bind(e.account)
                .bind(e.kind.as_str())
                .bind(e.subject.id)
                .bind(e.subject.case_id)
                .bind(e.reason)
                .bind(e.at);
        }
        q.execute(&mut **tx).await?;
    }
    // Every replica listening hears of it too, at commit; once per account and transaction
    // (a listener reads every event after its cursor, however many), all in one statement:
    // a batch of envelopes to twenty recipients is one round trip, not twenty.
    let new: Vec<&str> = events
        .iter()
        .filter(|e| tx.wake(e.account))
        .map(|e| e.account)
        .collect();
    if tx.backend() == Backend::Postgres {
        for chunk in new.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "SELECT pg_notify('{CHANNEL}', account) FROM (VALUES {}) AS w(account)",
                super::placeholders(Backend::Postgres, chunk.len(), 1)
            );
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for account in chunk {
                q = q.bind(*account);
            }
            q.execute(&mut **tx).await?;
        }
    }
    Ok(())
}

/// Up to `limit` events of `account` after the event `after`, oldest first.
pub async fn after(
    e: impl AnyExecutor<'_>,
    account: &str,
    after: i64,
    limit: i64,
) -> Result<Vec<EventRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, kind, subject, case_id, reason, at FROM events
         WHERE account = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(account)
    .bind(after)
    .bind(limit)
    .fetch_all(e)
    .await
}

/// The last event id of `account` (0 if none): where a stream opened without a cursor
/// starts, so it carries what happens from now on.
pub async fn last_id(e: impl AnyExecutor<'_>, account: &str) -> Result<i64, sqlx::Error> {
    let id: Option<i64> = sqlx::query_scalar("SELECT MAX(id) FROM events WHERE account = $1")
        .bind(account)
        .fetch_one(e)
        .await?;
    Ok(id.unwrap_or(0))
}

/// Forgets events older than `before`: a client away longer lists its inbox instead.
pub async fn prune(e: impl AnyExecutor<'_>, before: i64) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query("DELETE FROM events WHERE at < $1")
        .bind(before)
        .execute(e)
        .await?
        .rows_affected())
}
