//! Loading the facts `trialog_protocol::decide` decides on: a case and its active members,
//! the case's verified consent history, the confirmed patient key. Everything signed is
//! verified here before it becomes a fact; the decisions themselves are protocol's.

use sqlx::AnyConnection;
use trialog_protocol::binding::{
    PastPatientKey, PatientBinding, PatientKeys, verify_patient, verify_patient_keys,
};
use trialog_protocol::chain::{Chain, Version};
use trialog_protocol::consent::{Revocation, open_consent};
use trialog_protocol::decide::{CaseFacts, MemberStatus};
use trialog_protocol::keys::{KeyRecord, VerifiedKeys};
use trialog_protocol::{AccountId, CaseId, Signed};

use crate::db::{self, cases::CaseRow};
use crate::error::ApiError;
use crate::routes::views::verified_keys;

fn corrupt(what: &str) -> ApiError {
    ApiError::Internal(format!("stored {what} does not parse"))
}

pub fn case_id(case: &CaseRow) -> Result<CaseId, ApiError> {
    CaseId::parse(&case.id).map_err(|_| corrupt("case id"))
}

/// The case with its active physicians.
pub async fn case_facts(c: &mut AnyConnection, case: &CaseRow) -> Result<CaseFacts, ApiError> {
    let mut active = Vec::new();
    for m in db::cases::members(&mut *c, &case.id).await? {
        if m.status == MemberStatus::Active {
            active.push(AccountId::parse(&m.account).map_err(|_| corrupt("member id"))?);
        }
    }
    Ok(CaseFacts {
        case_id: case_id(case)?,
        treating: AccountId::parse(&case.treating).map_err(|_| corrupt("account id"))?,
        active,
    })
}

/// What a case's patient keys are checked with: the treating physician's verified keys,
/// the patient's current key record and the binding, as stored.
struct Stored {
    treating: VerifiedKeys,
    patient: String,
    record: Signed<KeyRecord>,
    binding: Option<Signed<PatientBinding>>,
}

async fn stored(c: &mut AnyConnection, case: &CaseRow) -> Result<Stored, ApiError> {
    let patient_id = case.patient.as_deref().ok_or(ApiError::NoPatient)?;
    let treating = db::accounts::get(&mut *c, &case.treating)
        .await?
        .ok_or_else(|| corrupt("treating account"))?;
    let patient = db::accounts::get(&mut *c, patient_id)
        .await?
        .ok_or_else(|| corrupt("patient account"))?;
    Ok(Stored {
        treating: verified_keys(&treating)?,
        record: serde_json::from_str(&patient.key_record).map_err(|_| corrupt("key record"))?,
        binding: case
            .binding
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("binding"))?,
        patient: patient.id,
    })
}

/// The case's patient keys, checked against the treating physician's signed binding. No
/// consent counts before this succeeds (DESIGN.md §6).
pub async fn confirmed_patient(
    c: &mut AnyConnection,
    case: &CaseRow,
) -> Result<VerifiedKeys, ApiError> {
    let s = stored(c, case).await?;
    verify_patient(&case_id(case)?, &s.treating, s.binding.as_ref(), &s.record)
        .map_err(ApiError::Binding)
}

/// The patient keys a re-enrolment replaced, with their bindings, oldest first.
pub async fn past_patient_keys(
    c: &mut AnyConnection,
    case: &CaseRow,
) -> Result<Vec<PastPatientKey>, ApiError> {
    let mut out = Vec::new();
    for (record, binding, replaced_at) in db::cases::key_history(&mut *c, &case.id).await? {
        out.push(PastPatientKey {
            key_record: serde_json::from_str(&record).map_err(|_| corrupt("past key record"))?,
            binding: serde_json::from_str(&binding).map_err(|_| corrupt("past binding"))?,
            replaced_at,
        });
    }
    Ok(out)
}

/// Every patient key confirmed for the case, past and current, each checked against its
/// binding by the treating physician: what the consent history is verified against.
pub async fn patient_keys(c: &mut AnyConnection, case: &CaseRow) -> Result<PatientKeys, ApiError> {
    let s = stored(c, case).await?;
    let past = past_patient_keys(&mut *c, case).await?;
    let account = AccountId::parse(&s.patient).map_err(|_| corrupt("account id"))?;
    verify_patient_keys(
        &case_id(case)?,
        &account,
        &s.treating,
        &past,
        s.binding.as_ref(),
        &s.record,
    )
    .map_err(ApiError::Binding)
}

/// The case's consent history, every version and revocation verified against the
/// confirmed patient key that signed it (past keys included: a consent signed before a
/// re-enrolment stays valid until revoked or expired). A case with no confirmed patient key
/// has none.
pub async fn chain(c: &mut AnyConnection, case: &CaseRow) -> Result<Chain, ApiError> {
    let id = case_id(case)?;
    let Some(patient_account) = case.patient.as_deref() else {
        return Ok(Chain::default());
    };
    let keys = patient_keys(&mut *c, case).await?;
    if keys.confirmed.is_empty() {
        return Ok(Chain::default());
    }
    let patient_account = AccountId::parse(patient_account).map_err(|_| corrupt("account id"))?;
    let mut versions = Vec::new();
    for row in db::consents::for_case(&mut *c, &case.id).await? {
        let signed: Signed<trialog_protocol::consent::Consent> =
            serde_json::from_str(&row.signed).map_err(|_| corrupt("consent"))?;
        let signer = keys
            .signer(&signed)
            .ok_or_else(|| corrupt("consent signer"))?;
        let consent = open_consent(&signed, signer).map_err(|_| corrupt("consent signature"))?;
        let revoked_at = match &row.revocation {
            Some(r) => {
                let r: Signed<Revocation> =
                    serde_json::from_str(r).map_err(|_| corrupt("revocation"))?;
                let signer = keys
                    .signer(&r)
                    .ok_or_else(|| corrupt("revocation signer"))?;
                r.verify(signer)
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
