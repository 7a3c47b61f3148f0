//! Signed consents and revocations, stored as received.

use sqlx::{AnyExecutor, FromRow};

#[derive(Debug, Clone, FromRow)]
pub struct ConsentRow {
    pub id: String,
    pub case_id: String,
    pub recipient: String,
    pub signed: String,
    pub valid_until: i64,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    pub revocation: Option<String>,
    pub superseded_by: Option<String>,
    pub superseded_at: Option<i64>,
    pub expired_at: Option<i64>,
    /// Signed in a format this version no longer verifies (see migration 0002).
    pub retired: i64,
}

impl ConsentRow {
    /// What has happened to this consent since it was signed.
    pub fn standing(&self) -> trialog_protocol::consent::Standing {
        trialog_protocol::consent::Standing {
            revoked_at: self.revoked_at,
            superseded_at: self.superseded_at,
        }
    }
}

pub async fn insert(e: impl AnyExecutor<'_>, c: &ConsentRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO consents (id, case_id, recipient, signed, valid_until, created_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.id)
    .bind(&c.case_id)
    .bind(&c.recipient)
    .bind(&c.signed)
    .bind(c.valid_until)
    .bind(c.created_at)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn get(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<ConsentRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM consents WHERE id = $1 AND retired = 0")
        .bind(id)
        .fetch_optional(e)
        .await
}

pub async fn for_case(
    e: impl AnyExecutor<'_>,
    case_id: &str,
) -> Result<Vec<ConsentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM consents WHERE case_id = $1 AND retired = 0 ORDER BY created_at, id",
    )
    .bind(case_id)
    .fetch_all(e)
    .await
}

pub async fn supersede(
    e: impl AnyExecutor<'_>,
    id: &str,
    by: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE consents SET superseded_by = $1, superseded_at = $2 WHERE id = $3")
        .bind(by)
        .bind(at)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// Stores the patient's revocation of consent `id` (to `recipient` in `case_id`) and tells
/// the recipient.
pub async fn revoke(
    tx: &mut super::Tx,
    id: &str,
    revoked: super::events::Subject<'_>,
    recipient: &str,
    revocation: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    let n = sqlx::query(
        "UPDATE consents SET revoked_at = $1, revocation = $2 WHERE id = $3 AND revoked_at IS NULL",
    )
    .bind(at)
    .bind(revocation)
    .bind(id)
    .execute(&mut **tx)
    .await?
    .rows_affected();
    if n == 1 {
        use trialog_protocol::api::LiveEventKind;
        super::events::record(
            tx,
            recipient,
            LiveEventKind::ConsentRevoked,
            revoked,
            None,
            at,
        )
        .await?;
    }
    Ok(())
}

/// Current versions whose period ended by `now` and whose expiry has not been acted on.
pub async fn due_for_expiry(
    e: impl AnyExecutor<'_>,
    now: i64,
) -> Result<Vec<ConsentRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM consents WHERE valid_until < $1
           AND revoked_at IS NULL AND superseded_by IS NULL AND expired_at IS NULL AND retired = 0
         ORDER BY valid_until LIMIT 256",
    )
    .bind(now)
    .fetch_all(e)
    .await
}

pub async fn mark_expired(e: impl AnyExecutor<'_>, id: &str, at: i64) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE consents SET expired_at = $1 WHERE id = $2 AND expired_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}
