//! Cases: open, confirm the patient, add members, and fetch a case with every key verified.

use trialog_protocol::api::{
    AccountView, CaseView, ConfirmPatientRequest, MemberStatus, OpenCaseRequest, OpenCaseResponse,
    RemoveMemberRequest, RemoveMemberResponse,
};
use trialog_protocol::binding::{PatientBinding, PatientKeys, verify_patient_keys};
use trialog_protocol::consent::Revocation;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::{VerifiedKeys, open_key_record};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{AccountId, CaseId, MessageKind, Role, Signed};

use super::{Client, now};
use crate::error::ClientError;

/// A case as the server described it, with every key in it checked.
#[derive(Debug, Clone)]
pub struct VerifiedCase {
    pub view: CaseView,
    pub treating: VerifiedKeys,
    /// Present only once the treating physician's binding verifies.
    pub patient: Option<VerifiedKeys>,
    /// Every patient key the treating physician confirmed for this case, past (replaced by a
    /// re-enrolment) and current: what consents and revocations are verified against.
    pub patient_keys: PatientKeys,
    /// The label, for the treating physician and the patient (who can decrypt it); every
    /// other physician has `None` and shows `reference`.
    pub label: Option<String>,
    /// The neutral reference every client shows for this case.
    pub reference: String,
    /// Every member's keys as `check_view` verified them, devices included.
    members: std::collections::BTreeMap<AccountId, VerifiedKeys>,
}

impl VerifiedCase {
    /// The treating physician or an active member, with their verified keys: whom one may
    /// send to or name in a consent.
    pub fn physician(&self, account: &AccountId) -> Option<(&AccountView, VerifiedKeys)> {
        self.member_with(account, |s| s == MemberStatus::Active)
    }

    /// Also a physician the patient removed since: what they sent before stays verifiable.
    pub fn past_or_present_physician(
        &self,
        account: &AccountId,
    ) -> Option<(&AccountView, VerifiedKeys)> {
        self.member_with(account, |s| s != MemberStatus::Invited)
    }

    fn member_with(
        &self,
        account: &AccountId,
        status: impl Fn(MemberStatus) -> bool,
    ) -> Option<(&AccountView, VerifiedKeys)> {
        if &self.view.treating.account == account {
            return Some((&self.view.treating, self.treating.clone()));
        }
        self.view
            .members
            .iter()
            .filter(|m| status(m.status) && &m.account.account == account)
            .find_map(|m| {
                self.members
                    .get(&m.account.account)
                    .map(|k| (&m.account, k.clone()))
            })
    }

    /// Every active physician (treating first), with their verified keys.
    pub fn physicians(&self) -> Vec<(&AccountView, VerifiedKeys)> {
        let mut out = vec![(&self.view.treating, self.treating.clone())];
        for m in &self.view.members {
            if m.status == MemberStatus::Active
                && let Some(k) = self.members.get(&m.account.account)
            {
                out.push((&m.account, k.clone()));
            }
        }
        out
    }

    /// Whom `--to` names: an account id, a role of the case (`occupational`, `advising`,
    /// `treating`) or a RIZIV/INAMI number (any separators), resolved against the active
    /// physicians of this verified case. An account id is returned as given, so that the
    /// action's own checks name it; a role held by two physicians is refused as ambiguous.
    pub fn resolve(&self, to: &str) -> Result<AccountId, ClientError> {
        let to = to.trim();
        if let Ok(id) = AccountId::parse(to) {
            return Ok(id);
        }
        let unknown = || ClientError::UnknownRecipient { to: to.to_owned() };
        let found: Vec<&AccountView> = if let Ok(role) = to.to_ascii_lowercase().parse::<Role>() {
            if role == Role::Patient {
                return Err(unknown());
            }
            self.physicians()
                .into_iter()
                .map(|(v, _)| v)
                .filter(|v| v.role == role)
                .collect()
        } else if let Ok(riziv) = Riziv::parse(to) {
            self.physicians()
                .into_iter()
                .map(|(v, _)| v)
                .filter(|v| {
                    v.riziv
                        .as_deref()
                        .and_then(|r| Riziv::parse(r).ok())
                        .is_some_and(|r| r == riziv)
                })
                .collect()
        } else {
            return Err(unknown());
        };
        match found.as_slice() {
            [] => Err(unknown()),
            [one] => Ok(one.account.clone()),
            many => Err(ClientError::AmbiguousRecipient {
                to: to.to_owned(),
                candidates: many
                    .iter()
                    .map(|v| match &v.name {
                        Some(n) => format!("{n} ({})", v.account),
                        None => v.account.to_string(),
                    })
                    .collect(),
            }),
        }
    }

    /// The name of a person of this case (a physician past or present, or the patient), if
    /// the directory gives one; for the patient, the word is left to the caller.
    pub fn person_name(&self, account: &AccountId) -> Option<String> {
        if &self.view.treating.account == account {
            return self.view.treating.name.clone();
        }
        self.view
            .members
            .iter()
            .find(|m| &m.account.account == account)
            .and_then(|m| m.account.name.clone())
    }

    /// Who may send to `to` under a consent of `kinds` when the patient does not choose.
    /// Need to know: only the physicians of the TRIO flow toward this recipient (the
    /// treating physician for a bilan, the work side for feedback); if there are none,
    /// every other physician of the case. A patient who wants others to ask for updates
    /// names them.
    pub fn default_senders(&self, to: &AccountId, kinds: &[MessageKind]) -> Vec<&AccountView> {
        let others: Vec<&AccountView> = self
            .physicians()
            .into_iter()
            .map(|(v, _)| v)
            .filter(|v| &v.account != to)
            .collect();
        let flow: Vec<&AccountView> = others
            .iter()
            .copied()
            .filter(|v| {
                kinds
                    .iter()
                    .any(|k| *k != MessageKind::Request && v.role.may_send(*k))
            })
            .collect();
        if flow.is_empty() { others } else { flow }
    }

    /// Whether `account` is the patient of this case.
    pub fn is_patient(&self, account: &AccountId) -> bool {
        self.view
            .patient
            .as_ref()
            .is_some_and(|p| &p.account == account)
    }

    /// What to call the case: its label where this account may read it, else the reference.
    pub fn name(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.reference)
    }
}

impl Client {
    /// Opens a case. The label is checked and sealed here, to this physician's own key: the
    /// server never sees it.
    pub async fn open_case(&mut self, label: &str) -> Result<OpenCaseResponse, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        let case_id = CaseId::random().map_err(|e| ClientError::Invalid(e.to_string()))?;
        let me = self.identity.age_identity().to_public();
        let sealed = trialog_protocol::label::seal(&case_id, label, &self.identity, &[&me])
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.ensure_login().await?;
        self.api
            .open_case(&OpenCaseRequest {
                case_id,
                sealed_label: B64(sealed),
            })
            .await
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
        let mut members = std::collections::BTreeMap::new();
        for m in &view.members {
            members.insert(m.account.account.clone(), self.check_view(&m.account)?);
        }
        let patient_keys = match &view.patient {
            Some(p) => {
                let keys = verify_patient_keys(
                    id,
                    &p.account,
                    &treating,
                    &view.past_patient_keys,
                    view.binding.as_ref(),
                    &p.key_record,
                )
                .map_err(|e| ClientError::Verification(e.to_string()))?;
                if let Some(k) = &keys.current {
                    // A patient checks that the confirmed key is their own.
                    if self.config.account.as_ref() == Some(&p.account)
                        && k.fingerprint != self.fingerprint()
                    {
                        return Err(ClientError::Verification(
                            "the key confirmed for you on this case is not your key".into(),
                        ));
                    }
                    self.pin_patient(&p.account, &k.fingerprint, &keys)?;
                }
                keys
            }
            None if view.binding.is_some() || !view.past_patient_keys.is_empty() => {
                return Err(ClientError::Verification(
                    "the case has patient keys but no patient".into(),
                ));
            }
            None => PatientKeys {
                current: None,
                confirmed: Vec::new(),
            },
        };
        let patient = patient_keys.current.clone();
        // Sealed to this account only once the treating physician has confirmed it (for a
        // patient); a label that opens but names another case is a server's swap.
        let label = match &view.sealed_label {
            Some(sealed) => {
                use trialog_protocol::label::LabelError;
                match trialog_protocol::label::open(
                    id,
                    &sealed.0,
                    &self.identity,
                    &treating.signing,
                ) {
                    Ok(l) => Some(l),
                    Err(e @ (LabelError::WrongCase | LabelError::BadSignature)) => {
                        return Err(ClientError::Verification(e.to_string()));
                    }
                    Err(_) => None,
                }
            }
            None => None,
        };
        Ok(VerifiedCase {
            reference: trialog_protocol::label::reference(id),
            view,
            treating,
            patient,
            patient_keys,
            label,
            members,
        })
    }

    /// A patient's key pin follows the treating physician's word: a changed key is accepted
    /// only when the treating physician's binding confirms the new key AND the pinned one is
    /// among the keys they confirmed before (a re-enrolment). Any other change is refused as
    /// for every key.
    fn pin_patient(
        &self,
        account: &AccountId,
        fp: &trialog_protocol::Fingerprint,
        keys: &PatientKeys,
    ) -> Result<(), ClientError> {
        let mut pins = self.home.load_pins()?;
        match pins.keys.get(account.as_str()) {
            Some(p)
                if p != fp.as_str()
                    && trialog_protocol::Fingerprint::parse(p)
                        .is_ok_and(|old| keys.was_confirmed(&old)) =>
            {
                pins.keys.insert(account.to_string(), fp.to_string());
                self.home.save_pins(&pins)
            }
            _ => self.pin(account, fp, None),
        }
    }

    /// The treating physician issues a new enrolment code for a case: the patient joins with
    /// it on a new device (same account, new key, to confirm again) or, if they never joined,
    /// as the first time. An earlier unused code of the case stops working.
    pub async fn reissue_enrolment(
        &mut self,
        id: &CaseId,
    ) -> Result<OpenCaseResponse, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        self.ensure_login().await?;
        self.api.reissue_enrolment(id).await
    }

    /// Whom `to` names in a case (see `VerifiedCase::resolve`).
    pub async fn resolve(&mut self, case: &CaseId, to: &str) -> Result<AccountId, ClientError> {
        self.case(case).await?.resolve(to)
    }

    /// What to call a case listed by the server: its label where this account can decrypt
    /// it, else its neutral reference.
    pub fn case_name(&self, v: &CaseView) -> String {
        let treating = open_key_record(&v.treating.key_record).ok();
        v.sealed_label
            .as_ref()
            .zip(treating)
            .and_then(|(s, t)| {
                trialog_protocol::label::open(&v.case_id, &s.0, &self.identity, &t.signing).ok()
            })
            .unwrap_or_else(|| trialog_protocol::label::reference(&v.case_id))
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
        // Not pinned here: a re-enrolled patient's new key is what is being confirmed; the
        // pin follows from the binding (`pin_patient`) when the case is fetched again.
        let keys = self.check_view_unpinned(patient)?;
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
        // The label, sealed anew to this physician and the patient they just confirmed.
        let label = case.label.as_deref().ok_or_else(|| {
            ClientError::Verification("the case's label is not readable with your key".into())
        })?;
        let sealed = trialog_protocol::label::seal(
            id,
            label,
            &self.identity,
            &[&self.identity.age_identity().to_public(), &keys.recipient],
        )
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .confirm_patient(
                id,
                &ConfirmPatientRequest {
                    binding,
                    sealed_label: B64(sealed),
                },
            )
            .await?;
        self.case(id).await
    }

    /// The patient removes a physician from the case: every standing consent to them is
    /// revoked in the same step (signed here), their unread messages are destroyed, and they
    /// no longer see the case.
    pub async fn remove_member(
        &mut self,
        id: &CaseId,
        member: &AccountId,
    ) -> Result<RemoveMemberResponse, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        let chain = self.chain(id).await?;
        let mut revocations = Vec::new();
        if let Some(current) = chain.current(member) {
            let r = Revocation {
                consent_id: current.consent.consent_id.clone(),
                case_id: id.clone(),
                patient: self.account()?.clone(),
                revoked_at: now(),
            };
            revocations.push(
                Signed::sign(&r, self.identity.signing_key())
                    .map_err(|e| ClientError::Invalid(e.to_string()))?,
            );
        }
        self.api
            .remove_member(id, member, &RemoveMemberRequest { revocations })
            .await
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
