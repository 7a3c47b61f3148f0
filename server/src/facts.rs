//! Loading the facts `trialog_protocol::decide` decides on: a case and its active members,
//! the case's verified consent history, the confirmed patient key. Everything signed is
//! verified here before it becomes a fact; the decisions themselves are protocol's.

use sqlx::SqliteConnection;
use trialog_protocol::binding::verify_patient;
use trialog_protocol::chain::{Chain, Version};
use trialog_protocol::consent::{Revocation, open_consent};
use trialog_protocol::decide::{CaseFacts, MemberStatus};
use trialog_protocol::keys::VerifiedKeys;
use trialog_protocol::{AccountId, CaseId, Signed};

use crate::db::{self, cases::CaseRow};
use crate::error::ApiError;
use crate::routes::views::verified_keys;

fn corrupt(what: &str) -> ApiError {
    ApiError::Internal(format!("stored {what} does not parse"))
}

pub fn member_status(s: &str) -> Result<MemberStatus, ApiError> {
    match s {
        "active" => Ok(MemberStatus::Active),
        "invited" => Ok(MemberStatus::Invited),
        "removed" => Ok(MemberStatus::Removed),
        _ => Err(corrupt("member status")),
    }
}

pub fn member_status_str(s: MemberStatus) -> &'static str {
    match s {
        MemberStatus::Active => "active",
        MemberStatus::Invited => "invited",
        MemberStatus::Removed => "removed",
    }
}

pub fn case_id(case: &CaseRow) -> Result<CaseId, ApiError> {
    CaseId::parse(&case.id).map_err(|_| corrupt("case id"))
}

/// The case with its active physicians.
pub async fn case_facts(c: &mut SqliteConnection, case: &CaseRow) -> Result<CaseFacts, ApiError> {
    let mut active = Vec::new();
    for m in db::cases::members(&mut *c, &case.id).await? {
        if member_status(&m.status)? == MemberStatus::Active {
            active.push(AccountId::parse(&m.account).map_err(|_| corrupt("member id"))?);
        }
    }
    Ok(CaseFacts {
        case_id: case_id(case)?,
        treating: AccountId::parse(&case.treating).map_err(|_| corrupt("account id"))?,
        active,
    })
}

/// The case's patient keys, checked against the treating physician's signed binding. No
/// consent counts before this succeeds (DESIGN.md §6).
pub async fn confirmed_patient(
    c: &mut SqliteConnection,
    case: &CaseRow,
) -> Result<VerifiedKeys, ApiError> {
    let patient_id = case.patient.as_deref().ok_or(ApiError::NoPatient)?;
    let treating = db::accounts::get(&mut *c, &case.treating)
        .await?
        .ok_or_else(|| corrupt("treating account"))?;
    let treating = verified_keys(&treating)?;
    let patient = db::accounts::get(&mut *c, patient_id)
        .await?
        .ok_or_else(|| corrupt("patient account"))?;
    let record = serde_json::from_str(&patient.key_record).map_err(|_| corrupt("key record"))?;
    let binding = match &case.binding {
        Some(b) => Some(serde_json::from_str(b).map_err(|_| corrupt("binding"))?),
        None => None,
    };
    verify_patient(&case_id(case)?, &treating, binding.as_ref(), &record).map_err(ApiError::Binding)
}

/// The case's consent history, every version and revocation verified against the confirmed
/// patient key. A case without a confirmed patient has none.
pub async fn chain(c: &mut SqliteConnection, case: &CaseRow) -> Result<Chain, ApiError> {
    let id = case_id(case)?;
    let Some(patient_account) = case.patient.as_deref() else {
        return Ok(Chain::default());
    };
    if case.binding.is_none() {
        return Ok(Chain::default());
    }
    let patient = confirmed_patient(&mut *c, case).await?;
    let patient_account = AccountId::parse(patient_account).map_err(|_| corrupt("account id"))?;
    let mut versions = Vec::new();
    for row in db::consents::for_case(&mut *c, &case.id).await? {
        let signed = serde_json::from_str(&row.signed).map_err(|_| corrupt("consent"))?;
        let consent =
            open_consent(&signed, &patient.signing).map_err(|_| corrupt("consent signature"))?;
        let revoked_at = match &row.revocation {
            Some(r) => {
                let r: Signed<Revocation> =
                    serde_json::from_str(r).map_err(|_| corrupt("revocation"))?;
                r.verify(&patient.signing)
                    .map_err(|_| corrupt("revocation signature"))?;
                row.revoked_at
            }
            None => None,
        };
        versions.push(Version {
            consent,
            revoked_at,
            accepted_at: row.created_at,
            replaced_unseen: false,
        });
    }
    Chain::new(&id, &patient_account, versions).map_err(ApiError::Chain)
}
