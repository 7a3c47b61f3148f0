//! Accounts, operator invitations and login nonces.

use sqlx::{AnyConnection, AnyExecutor, FromRow};
use trialog_protocol::Role;

#[derive(Debug, Clone, FromRow)]
pub struct AccountRow {
    pub id: String,
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub name: Option<String>,
    pub riziv: Option<String>,
    pub key_record: String,
    pub sign_key: Vec<u8>,
    pub fingerprint: String,
    pub created_at: i64,
    /// The operator's signed attestation (JSON), once `approve` made it.
    pub attestation: Option<String>,
    /// After a recovery, until `approve`: the fingerprint of the key being replaced.
    pub recovered_from: Option<String>,
    /// The device list signed by the identity key (JSON), once a device was added.
    pub devices: Option<String>,
    /// When the operator suspended the account, if they did.
    pub suspended_at: Option<i64>,
}

#[derive(Debug, Clone, FromRow)]
pub struct InvitationRow {
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub riziv: String,
    pub name: String,
    /// A recovery invitation: the account whose key the registration replaces.
    pub recovers: Option<String>,
}

pub async fn insert_invitation(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
    inv: &InvitationRow,
    now: i64,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO invitations (code_hash, role, riziv, name, created_at, expires_at, recovers)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(code_hash)
    .bind(inv.role.as_str())
    .bind(&inv.riziv)
    .bind(&inv.name)
    .bind(now)
    .bind(expires_at)
    .bind(&inv.recovers)
    .execute(e)
    .await?;
    Ok(())
}

/// Marks an unused, unexpired invitation as used by `account` and returns it. A recovery
/// invitation is taken only by the account it recovers, a new one by any new account.
pub async fn take_invitation(
    c: &mut AnyConnection,
    code_hash: &str,
    account: &str,
    now: i64,
) -> Result<Option<InvitationRow>, sqlx::Error> {
    let row: Option<InvitationRow> = sqlx::query_as(
        "SELECT role, riziv, name, recovers FROM invitations
         WHERE code_hash = $1 AND used_by IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    let row = row.filter(|r| r.recovers.as_deref().is_none_or(|id| id == account));
    if row.is_some() {
        sqlx::query("UPDATE invitations SET used_by = $1, used_at = $2 WHERE code_hash = $3")
            .bind(account)
            .bind(now)
            .bind(code_hash)
            .execute(&mut *c)
            .await?;
    }
    Ok(row)
}

/// Who used an invitation, if anyone.
pub async fn invitation_used_by(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
) -> Result<Option<String>, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, Option<String>>(
        "SELECT used_by FROM invitations WHERE code_hash = $1",
    )
    .bind(code_hash)
    .fetch_optional(e)
    .await?
    .flatten())
}

/// An unused, unexpired invitation, without taking it.
pub async fn peek_invitation(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
    now: i64,
) -> Result<Option<(InvitationRow, i64)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Peeked {
        #[sqlx(flatten)]
        inv: InvitationRow,
        expires_at: i64,
    }
    let row: Option<Peeked> = sqlx::query_as(
        "SELECT role, riziv, name, recovers, expires_at FROM invitations
         WHERE code_hash = $1 AND used_by IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(e)
    .await?;
    Ok(row.map(|p| (p.inv, p.expires_at)))
}

pub async fn insert(e: impl AnyExecutor<'_>, a: &AccountRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO accounts (id, role, name, riziv, key_record, sign_key, fingerprint, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&a.id)
    .bind(a.role.as_str())
    .bind(&a.name)
    .bind(&a.riziv)
    .bind(&a.key_record)
    .bind(&a.sign_key)
    .bind(&a.fingerprint)
    .bind(a.created_at)
    .execute(e)
    .await?;
    Ok(())
}

/// A recovery: the account's published keys become the new ones, unattested (clients
/// refuse them) until `approve` attests them and revokes `a.recovered_from`.
pub async fn replace_key(e: impl AnyExecutor<'_>, a: &AccountRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET key_record = $1, sign_key = $2, fingerprint = $3,
             attestation = NULL, recovered_from = $4, devices = NULL, devices_version = 0
         WHERE id = $5",
    )
    .bind(&a.key_record)
    .bind(&a.sign_key)
    .bind(&a.fingerprint)
    .bind(&a.recovered_from)
    .bind(&a.id)
    .execute(e)
    .await?;
    Ok(())
}

/// Stores the operator's attestation of the account's current key.
pub async fn set_attestation(
    e: impl AnyExecutor<'_>,
    id: &str,
    attestation: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE accounts SET attestation = $1, recovered_from = NULL WHERE id = $2")
        .bind(attestation)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn get(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM accounts WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await
}

/// The accounts among `ids` that exist, in one statement.
pub async fn some(c: &mut AnyConnection, ids: &[&str]) -> Result<Vec<AccountRow>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT * FROM accounts WHERE id IN {}",
        super::placeholders(super::Backend::of_connection(c), 1, ids.len())
    );
    let mut q = sqlx::query_as(sqlx::AssertSqlSafe(sql));
    for id in ids {
        q = q.bind(*id);
    }
    q.fetch_all(c).await
}

pub async fn riziv_taken(e: impl AnyExecutor<'_>, riziv: &str) -> Result<bool, sqlx::Error> {
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts WHERE riziv = $1")
        .bind(riziv)
        .fetch_one(e)
        .await?;
    Ok(n > 0)
}

/// Physicians only; patients are never listed in the directory.
pub async fn search(
    e: impl AnyExecutor<'_>,
    role: Option<Role>,
    query: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountRow>, sqlx::Error> {
    let pattern = query.map(|q| format!("%{}%", q.to_lowercase().replace(['%', '_'], "")));
    sqlx::query_as(
        "SELECT * FROM accounts
         WHERE role != 'patient'
           AND ($1 IS NULL OR role = $1)
           AND ($2 IS NULL OR lower(name) LIKE $2 OR riziv LIKE $2 OR id LIKE $2)
         ORDER BY name, id LIMIT $3",
    )
    .bind(role.map(Role::as_str))
    .bind(pattern)
    .bind(limit)
    .fetch_all(e)
    .await
}

/// Records a login challenge as used; false if it was used before. Expired records of
/// everyone are swept at the same time (they can no longer be replayed anyway).
pub async fn use_challenge(
    c: &mut AnyConnection,
    digest: &str,
    expires_at: i64,
    now: i64,
) -> Result<bool, sqlx::Error> {
    sqlx::query("DELETE FROM used_challenges WHERE expires_at <= $1")
        .bind(now)
        .execute(&mut *c)
        .await?;
    let n = sqlx::query(
        "INSERT INTO used_challenges (digest, expires_at) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING",
    )
    .bind(digest)
    .bind(expires_at)
    .execute(&mut *c)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// One invitation as the operator sees it: never its code (only the hash is stored, and it
/// is not shown either).
#[derive(Debug, Clone, FromRow)]
pub struct InvitationListRow {
    #[sqlx(try_from = "String")]
    pub role: Role,
    pub riziv: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_by: Option<String>,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Every invitation, oldest first.
pub async fn list_invitations(
    e: impl AnyExecutor<'_>,
) -> Result<Vec<InvitationListRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT role, riziv, name, created_at, expires_at, used_by, used_at, revoked_at
         FROM invitations ORDER BY created_at, rowid",
    )
    .fetch_all(e)
    .await
}

/// Invitations for `riziv` that could still be used: unused, unrevoked, unexpired.
pub async fn pending_invitations(
    e: impl AnyExecutor<'_>,
    riziv: &str,
    now: i64,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations
         WHERE riziv = $1 AND used_by IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(riziv)
    .bind(now)
    .fetch_one(e)
    .await
}

/// Revokes the invitations for `riziv` that could still be used; returns how many.
pub async fn revoke_invitations(
    e: impl AnyExecutor<'_>,
    riziv: &str,
    now: i64,
) -> Result<u64, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE invitations SET revoked_at = $2
         WHERE riziv = $1 AND used_by IS NULL AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(riziv)
    .bind(now)
    .execute(e)
    .await?
    .rows_affected())
}

/// The account registered with `riziv`, if any.
pub async fn by_riziv(
    e: impl AnyExecutor<'_>,
    riziv: &str,
) -> Result<Option<AccountRow>, sqlx::Error> {
    sqlx::query_as("SELECT * FROM accounts WHERE riziv = $1")
        .bind(riziv)
        .fetch_optional(e)
        .await
}

/// Whether the operator suspended `id` (false for an unknown account).
pub async fn is_suspended(e: impl AnyExecutor<'_>, id: &str) -> Result<bool, sqlx::Error> {
    Ok(standing(e, id).await?.is_some_and(|s| s.suspended))
}

/// What every authenticated request checks about its account: whether the operator
/// suspended it, and which key it holds now (a token issued to a replaced key is void).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Standing {
    pub suspended: bool,
    pub fingerprint: String,
}

pub async fn standing(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<Standing>, sqlx::Error> {
    let row: Option<(Option<i64>, String)> =
        sqlx::query_as("SELECT suspended_at, fingerprint FROM accounts WHERE id = $1")
            .bind(id)
            .fetch_optional(e)
            .await?;
    Ok(row.map(|(at, fingerprint)| Standing {
        suspended: at.is_some(),
        fingerprint,
    }))
}

/// Suspends (`Some(now)`) or lifts the suspension (`None`) of `id`; false if it was already
/// in that state.
pub async fn set_suspended(
    e: impl AnyExecutor<'_>,
    id: &str,
    at: Option<i64>,
) -> Result<bool, sqlx::Error> {
    let n = sqlx::query(
        "UPDATE accounts SET suspended_at = $2
         WHERE id = $1 AND (suspended_at IS NULL) <> ($2 IS NULL)",
    )
    .bind(id)
    .bind(at)
    .execute(e)
    .await?
    .rows_affected();
    Ok(n == 1)
}

/// A re-enrolled patient's new key replaces the old one for the same account (the old one
/// goes to `cases::push_key_history` first): login and the directory use the new key, and
/// the new key starts on its one device.
pub async fn replace_patient_key(
    e: impl AnyExecutor<'_>,
    id: &str,
    key_record: &str,
    sign_key: &[u8],
    fingerprint: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE accounts SET key_record = $1, sign_key = $2, fingerprint = $3, key_replaced_at = $4,
             devices = NULL, devices_version = 0
         WHERE id = $5",
    )
    .bind(key_record)
    .bind(sign_key)
    .bind(fingerprint)
    .bind(at)
    .bind(id)
    .execute(e)
    .await?;
    Ok(())
}
