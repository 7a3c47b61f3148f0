//! Envelopes: signed headers and ciphertext, never plaintext.
//!
//! An envelope is *pending* while its ciphertext is on the server (`fields IS NOT NULL`):
//! accepted and not fetched, or fetched and not yet acknowledged. Acknowledgement and every
//! kind of destruction set `fields` to NULL; the row (and so its id) stays, so replays stay
//! refused.

use sqlx::{AnyConnection, AnyExecutor, FromRow};
use trialog_protocol::MessageKind;
use trialog_protocol::api::{EnvelopeState, LiveEventKind};

use super::accounts::AccountRow;
use super::cases::CaseRow;
use super::{Backend, events};

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

/// What admission reads about an envelope before verifying it, in one statement (each
/// statement is a round trip to SQLite's thread, and an admission's reads were five):
/// whether its id is stored already, the case it names with the version of that case's
/// facts (migration 0011), `None` if there is no such case, and the accounts among the
/// sender, the recipient and the case's two parties (the sender's standing included).
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id_seen: bool,
    pub case: Option<(CaseRow, i64)>,
    pub accounts: Vec<AccountRow>,
}

/// The claimed part of each row; its names cannot be an account column's.
#[derive(FromRow)]
struct ClaimedRow {
    id_seen: i64,
    case_id: Option<String>,
    case_sealed_label: Option<Vec<u8>>,
    case_treating: Option<String>,
    case_patient: Option<String>,
    case_binding: Option<String>,
    case_opened_at: Option<i64>,
    case_facts_version: Option<i64>,
}

/// `message_id` and `case_id` as the envelope claims them, `sender` the account the token
/// was issued to. No row at all means the sender has no account. The case's parties are
/// those of `store::facts::parties` (treating physician and patient), named here in SQL so
/// that one statement reads them; a party missing from this read is refused as corrupt by
/// the facts that need it, never skipped.
pub async fn claimed(
    e: impl AnyExecutor<'_>,
    message_id: &str,
    case_id: &str,
    sender: &str,
    recipient: &str,
) -> Result<Option<Claimed>, sqlx::Error> {
    // One row per account found, each with the claimed columns, which are NULL without
    // the case.
    let rows = sqlx::query(
        "SELECT a.*, x.* FROM
           (SELECT (SELECT COUNT(*) FROM envelopes WHERE id = $1) AS id_seen,
                   c.id AS case_id, c.sealed_label AS case_sealed_label,
                   c.treating AS case_treating, c.patient AS case_patient,
                   c.binding AS case_binding, c.opened_at AS case_opened_at,
                   c.facts_version AS case_facts_version
            FROM (SELECT 1 AS one) AS o LEFT JOIN cases c ON c.id = $2) AS x
         JOIN accounts a ON a.id IN ($3, $4, x.case_treating, x.case_patient)",
    )
    .bind(message_id)
    .bind(case_id)
    .bind(sender)
    .bind(recipient)
    .fetch_all(e)
    .await?;
    let Some(first) = rows.first() else {
        return Ok(None);
    };
    let r = ClaimedRow::from_row(first)?;
    let case = match (
        r.case_id,
        r.case_treating,
        r.case_opened_at,
        r.case_facts_version,
    ) {
        (Some(id), Some(treating), Some(opened_at), Some(version)) => Some((
            CaseRow {
                id,
                sealed_label: r.case_sealed_label,
                treating,
                patient: r.case_patient,
                binding: r.case_binding,
                opened_at,
            },
            version,
        )),
        _ => None,
    };
    let accounts = rows
        .iter()
        .map(AccountRow::from_row)
        .collect::<Result<_, _>>()?;
    Ok(Some(Claimed {
        id_seen: r.id_seen > 0,
        case,
        accounts,
    }))
}

/// What may have changed since an envelope was verified, read again in the writer's turn:
/// whether its id was stored meanwhile, whether its consent is still current (none found,
/// or a retired one, is `consent_found == 0`) and its state (revoked, found expired by the
/// sweep, superseded), whether sender and recipient are still active physicians of the
/// consent's case, and what waits for the recipient.
#[derive(Debug, Clone, FromRow)]
pub struct Recheck {
    /// The envelope's position in the batch asked about.
    pub position: i64,
    pub id_seen: i64,
    pub consent_found: i64,
    pub revoked: i64,
    pub expired: i64,
    pub superseded: i64,
    pub sender_active: i64,
    pub recipient_active: i64,
    #[sqlx(flatten)]
    pub queue: Queue,
}

/// One envelope to recheck: its id, consent, sender and recipient.
pub struct RecheckOf<'a> {
    pub id: &'a str,
    pub consent_id: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
}

/// `Recheck` of each envelope of a batch (in no particular order), in one statement: the
/// writer's turn is serialised, and every statement in it is on every envelope's path.
/// The queues come from the counts kept by triggers (migration 0010), never from the
/// envelopes.
pub async fn recheck_all(
    c: &mut AnyConnection,
    batch: &[RecheckOf<'_>],
) -> Result<Vec<Recheck>, sqlx::Error> {
    if batch.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "WITH wanted (position, id, consent_id, sender, recipient) AS (VALUES {})
         SELECT w.position,
                CAST(CASE WHEN EXISTS (SELECT 1 FROM envelopes e WHERE e.id = w.id)
                     THEN 1 ELSE 0 END AS BIGINT) AS id_seen,
                CAST(CASE WHEN c.id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS consent_found,
                CAST(CASE WHEN c.revoked_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS revoked,
                CAST(CASE WHEN c.expired_at IS NULL THEN 0 ELSE 1 END AS BIGINT) AS expired,
                CAST(CASE WHEN c.superseded_by IS NULL THEN 0 ELSE 1 END AS BIGINT) AS superseded,
                CAST(CASE WHEN k.treating = w.sender OR EXISTS (SELECT 1 FROM members m
                     WHERE m.case_id = k.id AND m.account = w.sender AND m.status = 'active')
                     THEN 1 ELSE 0 END AS BIGINT) AS sender_active,
                CAST(CASE WHEN k.treating = w.recipient OR EXISTS (SELECT 1 FROM members m
                     WHERE m.case_id = k.id AND m.account = w.recipient AND m.status = 'active')
                     THEN 1 ELSE 0 END AS BIGINT) AS recipient_active,
                CAST(COALESCE((SELECT SUM(q.pending) FROM pending_queues q
                     WHERE q.recipient = w.recipient), 0) AS BIGINT) AS pending,
                CAST(COALESCE((SELECT SUM(q.bytes) FROM pending_queues q
                     WHERE q.recipient = w.recipient), 0) AS BIGINT) AS bytes,
                CAST(COALESCE((SELECT q.pending FROM pending_queues q
                     WHERE q.recipient = w.recipient AND q.sender = w.sender), 0) AS BIGINT) AS from_sender,
                CAST(COALESCE((SELECT q.bytes FROM pending_queues q
                     WHERE q.recipient = w.recipient AND q.sender = w.sender), 0) AS BIGINT) AS sender_bytes
         FROM wanted w
         LEFT JOIN consents c ON c.id = w.consent_id AND c.retired = 0
         LEFT JOIN cases k ON k.id = c.case_id",
        super::placeholders(Backend::of_connection(c), batch.len(), 5)
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for (position, r) in batch.iter().enumerate() {
        q = q
            .bind(position as i64)
            .bind(r.id)
            .bind(r.consent_id)
            .bind(r.sender)
            .bind(r.recipient);
    }
    q.fetch_all(c).await
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
            super::placeholders(tx.backend(), chunk.len(), 12)
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
#[derive(Debug, Clone, Copy, FromRow)]
pub struct Queue {
    pub pending: i64,
    pub bytes: i64,
    pub from_sender: i64,
    pub sender_bytes: i64,
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
