//! Cases: open, confirm the patient, add members, and fetch a case with every key verified.

use trialog_protocol::api::{
    AccountView, CaseView, ConfirmPatientRequest, MemberStatus, OpenCaseResponse,
};
use trialog_protocol::binding::{PatientBinding, verify_patient};
use trialog_protocol::keys::{VerifiedKeys, open_key_record};
use trialog_protocol::{AccountId, CaseId, Role, Signed};

use super::{Client, now};
use crate::error::ClientError;

/// A case as the server described it, with every key in it checked.
#[derive(Debug, Clone)]
pub struct VerifiedCase {
    pub view: CaseView,
    pub treating: VerifiedKeys,
    /// Present only once the treating physician's binding verifies.
    pub patient: Option<VerifiedKeys>,
}

impl VerifiedCase {
    /// The treating physician or an active member, with their verified keys.
    pub fn physician(&self, account: &AccountId) -> Option<(&AccountView, VerifiedKeys)> {
        if &self.view.treating.account == account {
            return Some((&self.view.treating, self.treating.clone()));
        }
        self.view
            .members
            .iter()
            .filter(|m| m.status == MemberStatus::Active && &m.account.account == account)
            .find_map(|m| {
                open_key_record(&m.account.key_record)
                    .ok()
                    .map(|k| (&m.account, k))
            })
    }
}

impl Client {
    pub async fn open_case(&mut self, label: &str) -> Result<OpenCaseResponse, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        self.ensure_login().await?;
        self.api.open_case(label).await
    }

    /// Fetches a case and verifies every key in it, including the patient binding.
    pub async fn case(&mut self, id: &CaseId) -> Result<VerifiedCase, ClientError> {
        self.ensure_login().await?;
        let view = self.api.case(id).await?;
        if &view.case_id != id {
            return Err(ClientError::Verification(
                "the server answered with another case".into(),
            ));
        }
        let treating = self.check_view(&view.treating)?;
        if treating.record.role != Role::Treating {
            return Err(ClientError::Verification(
                "the case's treating physician has another role".into(),
            ));
        }
        for m in &view.members {
            self.check_view(&m.account)?;
        }
        let patient = match (&view.patient, &view.binding) {
            (Some(p), Some(_)) => {
                let k = verify_patient(id, &treating, view.binding.as_ref(), &p.key_record)
                    .map_err(|e| ClientError::Verification(e.to_string()))?;
                if k.record.account != p.account {
                    return Err(ClientError::Verification(
                        "the patient binding names another account".into(),
                    ));
                }
                // A patient checks that the confirmed key is their own.
                if self.config.account.as_ref() == Some(&p.account)
                    && k.fingerprint != self.identity.fingerprint()
                {
                    return Err(ClientError::Verification(
                        "the key confirmed for you on this case is not your key".into(),
                    ));
                }
                self.pin(&p.account, &k.fingerprint)?;
                Some(k)
            }
            _ => None,
        };
        Ok(VerifiedCase {
            view,
            treating,
            patient,
        })
    }

    pub async fn cases(&mut self) -> Result<Vec<CaseView>, ClientError> {
        self.ensure_login().await?;
        self.api.cases().await
    }

    /// The treating physician confirms the patient's key after comparing the fingerprint
    /// the patient read out (`typed`: full, or the 32 digits shown by `trialog join`).
    pub async fn confirm_patient(
        &mut self,
        id: &CaseId,
        typed: &str,
    ) -> Result<VerifiedCase, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        let case = self.case(id).await?;
        let patient = case.view.patient.as_ref().ok_or_else(|| {
            ClientError::Invalid(
                "the patient has not joined this case yet: give them the enrolment code".into(),
            )
        })?;
        let keys = self.check_view(patient)?;
        if keys.record.role != Role::Patient {
            return Err(ClientError::Verification(
                "the case's patient account is not a patient".into(),
            ));
        }
        if !keys.fingerprint.matches_typed(typed) {
            return Err(ClientError::FingerprintMismatch {
                actual: keys.fingerprint.short(),
            });
        }
        let binding = PatientBinding {
            case_id: id.clone(),
            patient: patient.account.clone(),
            patient_fingerprint: keys.fingerprint.clone(),
            treating: self.account()?.clone(),
            confirmed_at: now(),
        };
        let binding = Signed::sign(&binding, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .confirm_patient(id, &ConfirmPatientRequest { binding })
            .await?;
        self.case(id).await
    }

    pub async fn add_member(
        &mut self,
        id: &CaseId,
        member: &AccountId,
    ) -> Result<VerifiedCase, ClientError> {
        self.ensure_login().await?;
        self.api.add_member(id, member).await?;
        self.case(id).await
    }
}
