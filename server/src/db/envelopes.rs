//! Envelopes: signed headers and ciphertext, never plaintext.

use sqlx::{FromRow, SqliteConnection, SqliteExecutor};

#[derive(Debug, Clone, FromRow)]
pub struct EnvelopeRow {
    pub id: String,
    pub case_id: String,
    pub sender: String,
    pub recipient: String,
    pub consent_id: String,
    pub kind: String,
    pub created_at: i64,
    pub accepted_at: i64,
    pub state: String,
    pub header: String,
    pub fields: Option<Vec<u8>>,
}

pub async fn exists(e: impl SqliteExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM envelopes WHERE id = $1")
        .bind(id)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}

pub async fn insert(e: impl SqliteExecutor<'_>, r: &EnvelopeRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO envelopes (id, case_id, sender, recipient, consent_id, kind, created_at, accepted_at, state, header, fields)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&r.id)
    .bind(&r.case_id)
    .bind(&r.sender)
    .bind(&r.recipient)
    .bind(&r.consent_id)
    .bind(&r.kind)
    .bind(r.created_at)
    .bind(r.accepted_at)
    .bind(&r.state)
    .bind(&r.header)
    .bind(&r.fields)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn get(e: impl SqliteExecutor<'_>, id: &str) -> Result<Option<EnvelopeRow>, sqlx::Error> {
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
    pub kind: String,
    pub created_at: i64,
    pub accepted_at: i64,
    pub state: String,
}

/// The recipient's envelopes, newest first, in one query.
pub async fn inbox(
    e: impl SqliteExecutor<'_>,
    recipient: &str,
    include_done: bool,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.id, e.case_id, e.sender, a.name AS sender_name, e.kind, e.created_at, e.accepted_at, e.state
         FROM envelopes e LEFT JOIN accounts a ON a.id = e.sender
         WHERE e.recipient = $1 AND ($2 OR e.state IN ('accepted', 'delivered'))
         ORDER BY e.accepted_at DESC, e.id",
    )
    .bind(recipient)
    .bind(include_done)
    .fetch_all(e)
    .await
}

pub async fn set_state(
    e: impl SqliteExecutor<'_>,
    id: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE envelopes SET state = $1 WHERE id = $2")
        .bind(state)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// Destroys the ciphertext of one envelope and sets its state (`purged` when destroyed
/// unread, `acknowledged` when the recipient has it). The row, and so its id, stays:
/// replays stay refused.
pub async fn drop_ciphertext(
    e: impl SqliteExecutor<'_>,
    id: &str,
    state: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE envelopes SET fields = NULL, state = $1 WHERE id = $2")
        .bind(state)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// Ids of the envelopes under a consent not fetched yet, and the count already delivered.
pub async fn under_consent(
    c: &mut SqliteConnection,
    consent_id: &str,
) -> Result<(Vec<String>, u64), sqlx::Error> {
    let waiting: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM envelopes WHERE consent_id = $1 AND state = 'accepted' ORDER BY id",
    )
    .bind(consent_id)
    .fetch_all(&mut *c)
    .await?;
    let delivered: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM envelopes WHERE consent_id = $1 AND state IN ('delivered', 'acknowledged')",
    )
    .bind(consent_id)
    .fetch_one(&mut *c)
    .await?;
    Ok((waiting, delivered as u64))
}
