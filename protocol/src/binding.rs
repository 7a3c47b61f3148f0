//! The treating physician's confirmation that a patient key belongs to the case's patient.
//!
//! The one-time enrolment code ties the patient's key to the case on the server; this signed
//! binding ties it in a way the server cannot forge: the physician compared the fingerprint
//! the patient read out. Every client checks it before trusting a consent (DESIGN.md §2.2).

use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, CaseId, Fingerprint};
use crate::keys::{VerifiedKeys, open_key_record};
use crate::signed::{Signed, SignedKind};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatientBinding {
    pub case_id: CaseId,
    pub patient: AccountId,
    pub patient_fingerprint: Fingerprint,
    pub treating: AccountId,
    pub confirmed_at: i64,
}

impl SignedKind for PatientBinding {
    const DOMAIN: &'static str = "trialog/v1/binding";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindingError {
    #[error("the patient's key has not been confirmed by the treating physician yet")]
    Missing,
    #[error("the patient key confirmation is not signed by the case's treating physician")]
    BadSignature,
    #[error("the patient key confirmation is for another case or another patient")]
    Mismatch,
    #[error("the patient's key is not the one the treating physician confirmed")]
    KeySubstituted,
    #[error("the patient's key record is invalid")]
    BadKeyRecord,
}

impl BindingError {
    pub fn code(&self) -> crate::error::Code {
        match self {
            BindingError::Missing => crate::error::Code::PatientNotConfirmed,
            BindingError::BadSignature => crate::error::Code::BindingBadSignature,
            BindingError::Mismatch => crate::error::Code::BindingMismatch,
            BindingError::KeySubstituted => crate::error::Code::PatientKeySubstituted,
            BindingError::BadKeyRecord => crate::error::Code::BadKeyRecord,
        }
    }
}

/// Checks that `patient_record` is the patient key the treating physician confirmed for
/// `case_id`, and returns its verified keys.
pub fn verify_patient(
    case_id: &CaseId,
    treating: &VerifiedKeys,
    binding: Option<&Signed<PatientBinding>>,
    patient_record: &Signed<crate::keys::KeyRecord>,
) -> Result<VerifiedKeys, BindingError> {
    let binding = binding.ok_or(BindingError::Missing)?;
    let b = binding
        .open(&treating.signing)
        .map_err(|_| BindingError::BadSignature)?;
    if &b.case_id != case_id || b.treating != treating.record.account {
        return Err(BindingError::Mismatch);
    }
    let patient = open_key_record(patient_record).map_err(|_| BindingError::BadKeyRecord)?;
    if patient.record.account != b.patient {
        return Err(BindingError::Mismatch);
    }
    if patient.fingerprint != b.patient_fingerprint {
        return Err(BindingError::KeySubstituted);
    }
    Ok(patient)
}

/// A key the case's patient had before re-enrolling on a new device, with the treating
/// physician's binding of it. Kept so that what that key signed (consents, revocations)
/// stays verifiable against the key that signed it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PastPatientKey {
    pub key_record: Signed<crate::keys::KeyRecord>,
    pub binding: Signed<PatientBinding>,
    /// When a re-enrolment replaced it.
    pub replaced_at: i64,
}

/// Every patient key the treating physician confirmed for a case: the past ones (replaced
/// by re-enrolments), oldest first, then the current one if it is confirmed.
#[derive(Debug, Clone)]
pub struct PatientKeys {
    /// The current key, once the treating physician confirmed it. Only this key may sign
    /// anything new; until then the patient is unconfirmed.
    pub current: Option<VerifiedKeys>,
    /// Past and current confirmed keys: what consents and revocations are checked against.
    pub confirmed: Vec<VerifiedKeys>,
}

impl PatientKeys {
    /// The confirmed key that made `signed` (by the key id it carries), if any. The caller
    /// still verifies the signature with it (`Signed::open`).
    pub fn signer<T>(&self, signed: &Signed<T>) -> Option<&ed25519_dalek::VerifyingKey> {
        self.confirmed
            .iter()
            .map(|k| &k.signing)
            .find(|k| crate::signed::key_id(k) == signed.key)
    }

    /// Whether `fp` is one of the confirmed keys, past or current.
    pub fn was_confirmed(&self, fp: &Fingerprint) -> bool {
        self.confirmed.iter().any(|k| &k.fingerprint == fp)
    }
}

/// Checks the patient keys of `case_id`: each past key against its own binding, the
/// current one against the current binding (if any). All must name `patient`; any that
/// does not verify is an error, never silently dropped, since a server that shows a forged
/// history is attacking.
pub fn verify_patient_keys(
    case_id: &CaseId,
    patient: &AccountId,
    treating: &VerifiedKeys,
    past: &[PastPatientKey],
    binding: Option<&Signed<PatientBinding>>,
    current: &Signed<crate::keys::KeyRecord>,
) -> Result<PatientKeys, BindingError> {
    let mut confirmed = Vec::with_capacity(past.len() + 1);
    for p in past {
        let k = verify_patient(case_id, treating, Some(&p.binding), &p.key_record)?;
        if &k.record.account != patient {
            return Err(BindingError::Mismatch);
        }
        confirmed.push(k);
    }
    let current = match binding {
        Some(b) => {
            let k = verify_patient(case_id, treating, Some(b), current)?;
            if &k.record.account != patient {
                return Err(BindingError::Mismatch);
            }
            confirmed.push(k.clone());
            Some(k)
        }
        None => None,
    };
    Ok(PatientKeys { current, confirmed })
}
