//! Cases and their members.

use sqlx::{AnyConnection, AnyExecutor, FromRow};
use trialog_protocol::decide::MemberStatus;

#[derive(Debug, Clone, FromRow)]
pub struct CaseRow {
    pub id: String,
    /// The label, age-encrypted by the treating physician's client to themself and (once
    /// confirmed) the patient. Never in clear on the server.
    pub sealed_label: Option<Vec<u8>>,
    pub treating: String,
    pub patient: Option<String>,
    pub binding: Option<String>,
    pub opened_at: i64,
}

#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub account: String,
    #[sqlx(try_from = "String")]
    pub status: MemberStatus,
    pub added_by: String,
    pub added_at: i64,
    pub removed_at: Option<i64>,
}

pub async fn insert(
    e: impl AnyExecutor<'_>,
    c: &CaseRow,
    enrol_code_hash: &str,
    enrol_expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO cases (id, sealed_label, treating, enrol_code_hash, enrol_expires_at, opened_at)
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(&c.id)
    .bind(&c.sealed_label)
    .bind(&c.treating)
    .bind(enrol_code_hash)
    .bind(enrol_expires_at)
    .bind(c.opened_at)
    .execute(e)
    .await?;
    Ok(())
}

pub async fn get(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<CaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sealed_label, treating, patient, binding, opened_at FROM cases WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(e)
    .await
}

/// The version of the case's facts (its members, consents and past patient keys), bumped
/// by triggers at every change to them (migration 0011); `None` without the case.
pub async fn facts_version(e: impl AnyExecutor<'_>, id: &str) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT facts_version FROM cases WHERE id = $1")
        .bind(id)
        .fetch_optional(e)
        .await
}

/// Consumes a valid enrolment code, attaching `patient` to its case; returns the case id.
pub async fn take_enrolment(
    c: &mut AnyConnection,
    code_hash: &str,
    patient: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM cases WHERE enrol_code_hash = $1 AND enrol_expires_at > $2 AND patient IS NULL",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(id) = &id {
        // The hash of the spent code stays, so a repeated registration of the same patient
        // (its answer lost) can be recognised; the code itself cannot be used again.
        sqlx::query("UPDATE cases SET patient = $1, enrol_expires_at = NULL WHERE id = $2")
            .bind(patient)
            .bind(id)
            .execute(&mut *c)
            .await?;
    }
    Ok(id)
}

/// The case a spent enrolment code attached `patient` to.
pub async fn enrolled_case(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
    patient: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM cases WHERE enrol_code_hash = $1 AND patient = $2")
        .bind(code_hash)
        .bind(patient)
        .fetch_optional(e)
        .await
}

/// The treating physician's signed binding of the patient key, and the label sealed anew
/// to both of them.
pub async fn set_binding(
    e: impl AnyExecutor<'_>,
    id: &str,
    binding: &str,
    sealed_label: &[u8],
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET binding = $1, sealed_label = $2 WHERE id = $3")
        .bind(binding)
        .bind(sealed_label)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

pub async fn members(
    e: impl AnyExecutor<'_>,
    case_id: &str,
) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT account, status, added_by, added_at, removed_at FROM members WHERE case_id = $1 ORDER BY added_at, account",
    )
    .bind(case_id)
    .fetch_all(e)
    .await
}

pub async fn member_status(
    e: impl AnyExecutor<'_>,
    case_id: &str,
    account: &str,
) -> Result<Option<MemberStatus>, sqlx::Error> {
    let status: Option<String> =
        sqlx::query_scalar("SELECT status FROM members WHERE case_id = $1 AND account = $2")
            .bind(case_id)
            .bind(account)
            .fetch_optional(e)
            .await?;
    status
        .map(|s| s.parse().map_err(|e: String| sqlx::Error::Decode(e.into())))
        .transpose()
}

pub async fn put_member(
    e: impl AnyExecutor<'_>,
    case_id: &str,
    m: &MemberRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO members (case_id, account, status, added_by, added_at) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (case_id, account) DO UPDATE SET status = excluded.status, removed_at = NULL",
    )
    .bind(case_id)
    .bind(&m.account)
    .bind(m.status.as_str())
    .bind(&m.added_by)
    .bind(m.added_at)
    .execute(e)
    .await?;
    Ok(())
}

/// The patient removed `account`: it keeps its row (the audit and old messages name it).
pub async fn remove_member(
    e: impl AnyExecutor<'_>,
    case_id: &str,
    account: &str,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE members SET status = 'removed', removed_at = $1 WHERE case_id = $2 AND account = $3")
        .bind(at)
        .bind(case_id)
        .bind(account)
        .execute(e)
        .await?;
    Ok(())
}

/// Cases where `account` is the treating physician, the patient or an active member.
pub async fn for_account(
    e: impl AnyExecutor<'_>,
    account: &str,
) -> Result<Vec<CaseRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, sealed_label, treating, patient, binding, opened_at FROM cases
         WHERE treating = $1 OR patient = $1
            OR id IN (SELECT case_id FROM members WHERE account = $1 AND status = 'active')
         ORDER BY opened_at DESC",
    )
    .bind(account)
    .fetch_all(e)
    .await
}

/// A new enrolment code for the case: its hash replaces the earlier one, so an earlier
/// unused code no longer works.
pub async fn reissue_enrolment(
    e: impl AnyExecutor<'_>,
    id: &str,
    code_hash: &str,
    expires_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE cases SET enrol_code_hash = $1, enrol_expires_at = $2 WHERE id = $3")
        .bind(code_hash)
        .bind(expires_at)
        .bind(id)
        .execute(e)
        .await?;
    Ok(())
}

/// What a valid, unspent enrolment code stands for: (case id, its patient if it has one,
/// expiry).
pub async fn peek_enrolment(
    e: impl AnyExecutor<'_>,
    code_hash: &str,
    now: i64,
) -> Result<Option<(String, Option<String>, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT id, patient, enrol_expires_at FROM cases WHERE enrol_code_hash = $1 AND enrol_expires_at > $2",
    )
    .bind(code_hash)
    .bind(now)
    .fetch_optional(e)
    .await
}

/// Consumes a valid re-issued code of the case whose patient is `patient`: the code is
/// spent and the case's binding cleared (the new key waits for the treating physician's
/// confirmation). Returns the case id.
pub async fn take_reenrolment(
    c: &mut AnyConnection,
    code_hash: &str,
    patient: &str,
    now: i64,
) -> Result<Option<String>, sqlx::Error> {
    let id: Option<String> = sqlx::query_scalar(
        "SELECT id FROM cases WHERE enrol_code_hash = $1 AND enrol_expires_at > $2 AND patient = $3",
    )
    .bind(code_hash)
    .bind(now)
    .bind(patient)
    .fetch_optional(&mut *c)
    .await?;
    if let Some(id) = &id {
        // The hash stays, as for a first enrolment: a repeated registration (answer lost)
        // is recognised by it.
        sqlx::query("UPDATE cases SET binding = NULL, enrol_expires_at = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *c)
            .await?;
    }
    Ok(id)
}

/// Keeps a replaced patient key with its binding.
pub async fn push_key_history(
    e: impl AnyExecutor<'_>,
    case_id: &str,
    account: &str,
    key_record: &str,
    binding: &str,
    replaced_at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO patient_key_history (case_id, account, key_record, binding, replaced_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(case_id)
    .bind(account)
    .bind(key_record)
    .bind(binding)
    .bind(replaced_at)
    .execute(e)
    .await?;
    Ok(())
}

/// The case's replaced patient keys, oldest first: (key record, binding, replaced at).
pub async fn key_history(
    e: impl AnyExecutor<'_>,
    case_id: &str,
) -> Result<Vec<(String, String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT key_record, binding, replaced_at FROM patient_key_history WHERE case_id = $1 ORDER BY replaced_at, rowid",
    )
    .bind(case_id)
    .fetch_all(e)
    .await
}
