//! Envelopes: signed headers and ciphertext, never plaintext.
//!
//! An envelope is *pending* while its ciphertext is on the server (`fields IS NOT NULL`):
//! accepted and not fetched, or fetched and not yet acknowledged. Acknowledgement and every
//! kind of destruction set `fields` to NULL; the row (and so its id) stays, so replays stay
//! refused.

use std::collections::{HashMap, HashSet};

use sqlx::{AnyConnection, AnyExecutor, FromRow, Row};
use trialog_protocol::MessageKind;
use trialog_protocol::api::{EnvelopeState, LiveEventKind};

use super::events;

#[derive(Debug, Clone, FromRow)]
pub struct EnvelopeRow {
    pub id: String,
    pub case_id: String,
    pub sender: String,
    pub recipient: String,
    pub consent_id: String,
    #[sqlx(try_from = "String")]
    pub kind: MessageKind,
    pub created_at: i64,
    pub accepted_at: i64,
    #[sqlx(try_from = "String")]
    pub state: EnvelopeState,
    pub header: String,
    pub fields: Option<Vec<u8>>,
    pub size: i64,
    pub purge_reason: Option<String>,
}

/// Why ciphertext was destroyed before the recipient acknowledged it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeReason {
    Revoked,
    Expired,
    NoLongerCovered,
    MemberRemoved,
}

impl PurgeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            PurgeReason::Revoked => "revoked",
            PurgeReason::Expired => "expired",
            PurgeReason::NoLongerCovered => "no_longer_covered",
            PurgeReason::MemberRemoved => "member_removed",
        }
    }
}

pub async fn exists(e: impl AnyExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes WHERE id = $1")
        .bind(id)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}

/// What may have changed since an envelope was verified, read again in the writer's turn:
/// its consent's state (revoked, found expired by the sweep, superseded) and whether sender
/// and recipient are still active physicians of the consent's case.
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Recheck {
    pub revoked: i64,
    pub expired: i64,
    pub superseded: i64,
    pub sender_active: i64,
    pub recipient_active: i64,
}

/// An envelope's consent, sender and recipient: what `recheck_all` is asked about.
pub type RecheckKey = (String, String, String);

/// `Recheck` of each (consent, sender, recipient) in `keys`, in one statement: the
/// writer's turn is serialised, and every statement in it is on every envelope's path. A
/// key without a current consent (none, or retired) is absent from the answer.
pub async fn recheck_all(
    e: impl AnyExecutor<'_>,
    keys: &[RecheckKey],
) -> Result<HashMap<RecheckKey, Recheck>, sqlx::Error> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let sql = format!(
        "WITH wanted (consent_id, sender, recipient) AS (VALUES {})
         SELECT w.consent_id, w.sender, w.recipient,
                CAST(CASE WHEN c.revoked_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS revoked,
                CAST(CASE WHEN c.expired_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS expired,
                CAST(CASE WHEN c.superseded_by IS NULL THEN 0 ELSE 1 END AS BIGINT) AS superseded,
                CAST(CASE WHEN k.treating = w.sender OR EXISTS (SELECT 1 FROM members m
                     WHERE m.case_id = k.id AND m.account = w.sender AND m.status = 'active')
                     THEN 1 ELSE 0 END AS BIGINT) AS sender_active,
                CAST(CASE WHEN k.treating = w.recipient OR EXISTS (SELECT 1 FROM members m
                     WHERE m.case_id = k.id AND m.account = w.recipient AND m.status = 'active')
                     THEN 1 ELSE 0 END AS BIGINT) AS recipient_active
         FROM wanted w
         JOIN consents c ON c.id = w.consent_id AND c.retired = 0
         JOIN cases k ON k.id = c.case_id",
        super::placeholders(keys.len(), 3)
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for (consent, sender, recipient) in keys {
        q = q.bind(consent).bind(sender).bind(recipient);
    }
    let mut found = HashMap::with_capacity(keys.len());
    for row in q.fetch_all(e).await? {
        let key = (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
        found.insert(key, Recheck::from_row(&row)?);
    }
    Ok(found)
}

/// Which of `ids` are stored already (an id is accepted once and kept after its
/// ciphertext is destroyed), in one statement.
pub async fn seen(e: impl AnyExecutor<'_>, ids: &[&str]) -> Result<HashSet<String>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashSet::new());
    }
    let sql = format!(
        "SELECT id FROM envelopes WHERE id IN {}",
        super::placeholders(1, ids.len())
    );
    let mut q = sqlx::query_scalar(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    Ok(q.fetch_all(e).await?.into_iter().collect())
}

/// Rows per `INSERT`: far below either backend's limit on bound values (12 per row).
const ROWS_PER_INSERT: usize = 256;

/// Stores accepted envelopes, a batch in one statement, and tells their recipients. An id
/// stored already fails the whole statement (a unique violation): callers check `seen`
/// first, in the same write transaction.
pub async fn insert_all(tx: &mut super::Tx, rows: &[&EnvelopeRow]) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO envelopes (id, case_id, sender, recipient, consent_id, kind, created_at, accepted_at, state, header, fields, size)
             VALUES {}",
            super::placeholders(chunk.len(), 12)
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in chunk {
            q = q
                .bind(&r.id)
                .bind(&r.case_id)
                .bind(&r.sender)
                .bind(&r.recipient)
                .bind(&r.consent_id)
                .bind(r.kind.as_str())
                .bind(r.created_at)
                .bind(r.accepted_at)
                .bind(r.state.as_str())
                .bind(&r.header)
                .bind(&r.fields)
                .bind(r.size);
        }
        q.execute(&mut **tx).await?;
    }
    let told: Vec<events::Event<'_>> = rows
        .iter()
        .map(|r| events::Event {
            account: &r.recipient,
            kind: LiveEventKind::Message,
            subject: events::Subject {
                id: &r.id,
                case_id: &r.case_id,
            },
            reason: None,
            at: r.accepted_at,
        })
        .collect();
    events::record_all(tx, &told).await
}

pub async fn get(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<EnvelopeRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM envelopes WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await
}

/// One line of an inbox: the envelope's metadata and the sender's name, no ciphertext.
#[derive(Debug, Clone, FromRow)]
pub struct InboxRow {
    pub id: String,
    pub case_id: String,
    pub sender: String,
    pub sender_name: Option<String>,
    #[sqlx(try_from = "String")]
    pub kind: MessageKind,
    pub created_at: i64,
    pub accepted_at: i64,
    #[sqlx(try_from = "String")]
    pub state: EnvelopeState,
}

/// A page of the recipient's pending envelopes, oldest first, after `(accepted_at, id)`.
/// Nothing while the recipient is suspended: what waits for them is held, not delivered.
/// Walks only what is pending (a partial index), so its cost does not grow with history.
pub async fn inbox_page(
    e: impl AnyExecutor<'_>,
    recipient: &str,
    after: Option<(i64, &str)>,
    limit: i64,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    let (at, id) = after.unwrap_or((i64::MIN, ""));
    sqlx::query_as(
        "SELECT e.id, e.case_id, e.sender, a.name AS sender_name, e.kind, e.created_at, e.accepted_at, e.state
         FROM envelopes e LEFT JOIN accounts a ON a.id = e.sender
         WHERE e.recipient = $1 AND e.fields IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM accounts r WHERE r.id = e.recipient AND r.suspended_at IS NOT NULL)
           AND (e.accepted_at > $2 OR (e.accepted_at = $2 AND e.id > $3))
         ORDER BY e.accepted_at, e.id LIMIT $4",
    )
    .bind(recipient)
    .bind(at)
    .bind(id)
    .bind(limit)
    .fetch_all(e)
    .await
}

/// What waits for one recipient: pending envelopes and ciphertext bytes in all, and from
/// one sender.
#[derive(Debug, Clone, Copy)]
pub struct Queue {
    pub pending: i64,
    pub bytes: i64,
    pub from_sender: i64,
    pub sender_bytes: i64,
}

/// What waits for each of `recipients`, by sender: (recipient, sender, envelopes,
/// bytes), from the counts kept by triggers (migration 0010), one row per recipient and
/// sender, never the envelopes themselves; in one statement.
pub async fn queues(
    e: impl AnyExecutor<'_>,
    recipients: &[&str],
) -> Result<Vec<(String, String, i64, i64)>, sqlx::Error> {
    if recipients.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT recipient, sender, pending, bytes FROM pending_queues WHERE recipient IN {}",
        super::placeholders(1, recipients.len())
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for r in recipients {
        q = q.bind(*r);
    }
    q.fetch_all(e).await
}

/// Pending envelopes to `recipient` in `case_id`: what a change of their consent acts on.
pub async fn pending_for(
    e: impl AnyExecutor<'_>,
    case_id: &str,
    recipient: &str,
) -> Result<Vec<EnvelopeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM envelopes WHERE case_id = $1 AND recipient = $2 AND fields IS NOT NULL ORDER BY accepted_at, id",
    )
    .bind(case_id)
    .bind(recipient)
    .fetch_all(e)
    .await
}

pub async fn set_state(
    e: impl AnyExecutor<'_>,
    id: &str,
    state: EnvelopeState,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE envelopes SET state = $1 WHERE id = $2")
        .bind(state.as_str())
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// An event about envelope `r` for `account` (its recipient or its sender).
async fn tell(
    tx: &mut super::Tx,
    account: &str,
    r: &EnvelopeRow,
    kind: LiveEventKind,
    reason: Option<&str>,
    at: i64,
) -> Result<(), sqlx::Error> {
    let subject = events::Subject {
        id: &r.id,
        case_id: &r.case_id,
    };
    events::record(tx, account, kind, subject, reason, at).await
}

/// The recipient has the message: its ciphertext is deleted and its sender told. False if
/// it was not in the `delivered` state (acknowledged already, or destroyed meanwhile).
pub async fn acknowledge(
    tx: &mut super::Tx,
    r: &EnvelopeRow,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE envelopes SET fields = NULL, state = 'acknowledged' WHERE id = $1 AND state = 'delivered'",
    )
    .bind(&r.id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 1 {
        tell(tx, &r.sender, r, LiveEventKind::Acknowledged, None, now).await?;
    }
    Ok(n == 1)
}

/// Destroys the ciphertext of one envelope that was never acknowledged and tells its
/// recipient why.
pub async fn purge(
    tx: &mut super::Tx,
    r: &EnvelopeRow,
    reason: PurgeReason,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE envelopes SET fields = NULL, state = 'purged', purge_reason = $1 WHERE id = $2",
    )
    .bind(reason.as_str())
    .bind(&r.id)
    .execute(&mut **tx)
    .await?;
    tell(
        tx,
        &r.recipient,
        r,
        LiveEventKind::Gone,
        Some(reason.as_str()),
        now,
    )
    .await
}

/// Envelopes under `consent_id` ever delivered (fetched at least once).
pub async fn delivered_count(
    c: &mut AnyConnection,
    consent_ids: &[String],
) -> Result<u64, sqlx::Error> {
    let mut n = 0;
    for id in consent_ids {
        let k: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM envelopes WHERE consent_id = $1 AND state IN ('delivered', 'acknowledged')",
        )
        .bind(id)
        .fetch_one(&mut *c)
        .await?;
        n += k as u64;
    }
    Ok(n)
}
