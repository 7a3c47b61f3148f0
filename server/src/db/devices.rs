//! Device lists and the links that add a device to an account.

use sqlx::{AnyConnection, AnyExecutor, FromRow};

/// Stores a device list if it is exactly one version above the stored one; false if not
/// (another change came first, or a replay).
pub async fn set_list(
    c: &mut AnyConnection,
    account: &str,
    version: u64,
    signed_json: &str,
) -> Result<bool, sqlx::Error> {
    let version = i64::try_from(version).unwrap_or(i64::MAX);
    let n = sqlx::query(
        "UPDATE accounts SET devices = $1, devices_version = $2
         WHERE id = $3 AND devices_version = $2 - 1",
    )
    .bind(signed_json)
    .bind(version)
    .bind(account)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn version(e: impl AnyExecutor<'_>, account: &str) -> Result<u64, sqlx::Error> {
    let v: i64 = sqlx::query_scalar("SELECT devices_version FROM accounts WHERE id = $1")
        .bind(account)
        .fetch_one(e)
        .await?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// Forgets links past their expiry, then counts the account's live ones.
pub async fn live_links(
    c: &mut AnyConnection,
    account: &str,
    now: i64,
) -> Result<usize, sqlx::Error> {
    sqlx::query("DELETE FROM device_links WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM device_links WHERE account = $1")
        .bind(account)
        .fetch_one(&mut *c)
        .await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

pub async fn insert_link(
    e: impl AnyExecutor<'_>,
    id: &str,
    account: &str,
    code_hash: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO device_links (id, account, code_hash, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(account)
    .bind(code_hash)
    .bind(now)
    .bind(expires_at)
    .execute(e)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow)]
pub struct LinkRow {
    pub id: String,
    pub account: String,
    pub expires_at: i64,
    pub age_recipient: Option<String>,
    pub name: Option<String>,
    pub sealed: Option<Vec<u8>>,
}

/// Whether a code can be claimed, read without the write lock: a flood of wrong codes
/// never queues behind (or holds up) the server's writes.
pub async fn claimable(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
    now: i64,
) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM device_links
         WHERE code_hash = $1 AND age_recipient IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_one(e)
    .await?;
    Ok(n > 0)
}

/// Forgets a link once the new device collected what was sealed to it.
pub async fn delete(e: impl AnyExecutor<'_>, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM device_links WHERE id = $1")
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// The new device claims an unclaimed, unexpired code with its key and name.
pub async fn claim(
    c: &mut AnyConnection,
    code_hash: &str,
    age_recipient: &str,
    name: &str,
    now: i64,
) -> Result<Option<LinkRow>, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE device_links SET age_recipient = $1, name = $2
         WHERE code_hash = $3 AND age_recipient IS NULL AND expires_at > $4",
    )
    .bind(age_recipient)
    .bind(name)
    .bind(code_hash)
    .bind(now)
    .execute(&mut *c)
    .await?
    .rows_affected();
    if n == 0 {
        return Ok(None);
    }
    sqlx::query_as("SELECT * FROM device_links WHERE code_hash = $1")
        .bind(code_hash)
        .fetch_optional(&mut *c)
        .await
}

/// The account's claimed links that wait for approval.
pub async fn waiting(
    e: impl AnyExecutor<'_>,
    account: &str,
    now: i64,
) -> Result<Vec<LinkRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT * FROM device_links
         WHERE account = $1 AND age_recipient IS NOT NULL AND sealed IS NULL AND expires_at > $2
         ORDER BY created_at",
    )
    .bind(account)
    .bind(now)
    .fetch_all(e)
    .await
}

pub async fn get(
    e: impl AnyExecutor<'_>,
    id: &str,
    now: i64,
) -> Result<Option<LinkRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM device_links WHERE id = $1 AND expires_at > $2")
        .bind(id)
        .bind(now)
        .fetch_optional(e)
        .await
}

pub async fn set_sealed(
    e: impl AnyExecutor<'_>,
    id: &str,
    sealed: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE device_links SET sealed = $1 WHERE id = $2")
        .bind(sealed)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}
