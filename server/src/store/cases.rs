//! Cases: who may see one, opening, the patient's enrolment and confirmation, membership.

use trialog_protocol::audit::{AuditEvent, AuditRecord};
use trialog_protocol::binding::{BindingError, PastPatientKey, PatientBinding};
use trialog_protocol::consent::Revocation;
use trialog_protocol::decide::{
    Actor, CaseFacts, MemberStatus, add_member as decide_add, remove_member as decide_remove,
};
use trialog_protocol::encoding::B64;
use trialog_protocol::{AccountId, CaseId, ConsentId, Signed};

use super::accounts::verified_keys;
use super::{Store, consents::Revoking, consents::revoke_in, facts, purge};
use crate::db::{
    self, accounts::AccountRow, cases::CaseRow, cases::MemberRow, envelopes::PurgeReason,
};
use crate::error::ApiError;

/// What removing a member did: the consents revoked and the unread messages destroyed.
#[derive(Debug)]
pub struct Removed {
    pub revoked: Vec<ConsentId>,
    pub purged: u64,
}

/// A case with the accounts it names, as its views are built from.
#[derive(Debug)]
pub struct CaseDetail {
    pub treating: AccountRow,
    pub patient: Option<AccountRow>,
    /// Every member, invited, active or removed, with their account.
    pub members: Vec<(MemberRow, AccountRow)>,
    /// The patient keys a re-enrolment replaced, with their bindings, oldest first.
    pub past_patient_keys: Vec<PastPatientKey>,
}

/// Who `by` is in `case`, for `trialog_protocol::decide`.
fn actor(by: &AccountId, case: &CaseRow) -> Actor {
    if case.patient.as_deref() == Some(by.as_str()) {
        Actor::Patient
    } else if case.treating == by.as_str() {
        Actor::Treating
    } else {
        Actor::Other
    }
}

impl Store {
    /// `treating` opens case `id` with its sealed label; the patient joins it with `code`
    /// until `expires_at`. One transaction with its audit entry.
    pub async fn open_case(
        &self,
        treating: &AccountId,
        id: &CaseId,
        sealed_label: Vec<u8>,
        code: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), ApiError> {
        let row = CaseRow {
            id: id.to_string(),
            sealed_label: Some(sealed_label),
            treating: treating.to_string(),
            patient: None,
            binding: None,
            opened_at: now,
        };
        let mut tx = self.db.write().await?;
        if db::cases::get(&mut *tx, &row.id).await?.is_some() {
            return Err(ApiError::CaseExists);
        }
        db::cases::insert(&mut *tx, &row, &crate::codes::hash(code), expires_at).await?;
        db::audit::append(
            &mut tx,
            &row.id,
            now,
            AuditEvent::CaseOpened,
            Some(treating),
            Some(&row.id),
            None,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A new enrolment code for `case`, valid until `expires_at`: an earlier unused code of
    /// the case stops working. `treating` is the case's treating physician (checked by the
    /// caller).
    pub async fn reissue_enrolment(
        &self,
        treating: &AccountId,
        case: &CaseRow,
        code: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut tx = self.db.write().await?;
        db::cases::reissue_enrolment(&mut *tx, &case.id, &crate::codes::hash(code), expires_at)
            .await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::EnrolmentReissued,
            Some(treating),
            case.patient.as_deref(),
            Some(format!(
                "valid until {}; an earlier unused code no longer works",
                trialog_protocol::time::format_date(expires_at)
            )),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Cases where `account` is the treating physician, the patient or an active member,
    /// newest first.
    pub async fn cases_of(&self, account: &AccountId) -> Result<Vec<CaseRow>, ApiError> {
        Ok(db::cases::for_account(self.db.pool(), account.as_str()).await?)
    }

    /// The accounts `case` names: its treating physician, its patient, its members, and the
    /// patient keys a re-enrolment replaced.
    pub async fn case_detail(&self, case: &CaseRow) -> Result<CaseDetail, ApiError> {
        let treating = self.account_row(&case.treating).await?;
        let patient = match &case.patient {
            Some(p) => Some(self.account_row(p).await?),
            None => None,
        };
        let mut members = Vec::new();
        for m in db::cases::members(self.db.pool(), &case.id).await? {
            let account = self.account_row(&m.account).await?;
            members.push((m, account));
        }
        let past_patient_keys = {
            let mut c = self.db.pool().acquire().await?;
            facts::past_patient_keys(&mut c, case).await?
        };
        Ok(CaseDetail {
            treating,
            patient,
            members,
            past_patient_keys,
        })
    }

    /// `treating` confirms the case's patient: `binding` is their signature over the
    /// patient's key as the patient read its fingerprint out, and `sealed_label` the label
    /// sealed anew to both of them. One transaction with its audit entry.
    pub async fn confirm_patient(
        &self,
        treating: &AccountId,
        case: &CaseRow,
        binding: &Signed<PatientBinding>,
        sealed_label: &[u8],
        now: i64,
    ) -> Result<(), ApiError> {
        let mut tx = self.db.write().await?;
        // Read again in the writer's turn: a second confirmation, or a re-enrolment of the
        // patient since the caller read the case, must be seen here, not overwritten.
        let case = db::cases::get(&mut *tx, &case.id)
            .await?
            .ok_or_else(|| ApiError::UnknownCase(case.id.clone()))?;
        let patient_id = case.patient.clone().ok_or(ApiError::NoPatient)?;
        if case.binding.is_some() {
            return Err(ApiError::AlreadyConfirmed);
        }
        let stored_account = |row: Option<AccountRow>, id: &str| {
            row.ok_or_else(|| ApiError::UnknownAccount(id.into()))
        };
        let treating_row = db::accounts::get(&mut *tx, &case.treating).await?;
        let treating_keys = verified_keys(&stored_account(treating_row, &case.treating)?)?;
        let patient_row = db::accounts::get(&mut *tx, &patient_id).await?;
        let patient = stored_account(patient_row, &patient_id)?;
        let b = binding
            .open(&treating_keys.signing)
            .map_err(|_| ApiError::Binding(BindingError::BadSignature))?;
        if b.case_id.as_str() != case.id
            || b.patient.as_str() != patient_id
            || b.treating != *treating
            || b.patient_fingerprint.as_str() != patient.fingerprint
        {
            return Err(ApiError::BindingMismatch);
        }
        let json = serde_json::to_string(binding).map_err(|e| ApiError::Internal(e.to_string()))?;
        db::cases::set_binding(&mut *tx, &case.id, &json, sealed_label).await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::PatientConfirmed,
            Some(treating),
            Some(&patient_id),
            Some(format!("key {}", patient.fingerprint)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `by` adds `member` to `case`: the patient adds a physician (active at once); the
    /// treating physician invites one (who becomes active when the patient adds them too).
    /// Who may add whom is `trialog_protocol::decide::add_member`'s, decided on the
    /// transaction's view. One transaction with its audit entry.
    pub async fn add_member(
        &self,
        by: &AccountId,
        case: &CaseRow,
        member: &AccountId,
        now: i64,
    ) -> Result<(), ApiError> {
        let target = self.account(member).await?;
        let mut tx = self.db.write().await?;
        let current = db::cases::member_status(&mut *tx, &case.id, &target.id).await?;
        let facts = facts::case_facts(&mut tx, case).await?;
        let status = decide_add(actor(by, case), &facts, member, target.role, current)
            .map_err(ApiError::Membership)?;
        let event = if status == MemberStatus::Active {
            AuditEvent::MemberAdded
        } else {
            AuditEvent::MemberInvited
        };
        let m = MemberRow {
            account: target.id.clone(),
            status,
            added_by: by.to_string(),
            added_at: now,
            removed_at: None,
        };
        db::cases::put_member(&mut *tx, &case.id, &m).await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            event,
            Some(by),
            Some(&target.id),
            Some(format!("role {}; key {}", target.role, target.fingerprint)),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every record of audit chain `chain` (a case's, or the directory's), oldest first.
    pub async fn audit_chain(&self, chain: &str) -> Result<Vec<AuditRecord>, ApiError> {
        Ok(db::audit::chain(self.db.pool(), chain)
            .await?
            .into_iter()
            .map(|(entry, hash)| AuditRecord {
                entry: B64(entry),
                hash,
            })
            .collect())
    }

    /// Case `id` if `viewer` may see it: its treating physician, its patient, or an active
    /// member. Invited and removed physicians see nothing: not the members, not the
    /// consents, not which fields are shared with whom.
    pub async fn visible_case(&self, viewer: &AccountId, id: &str) -> Result<CaseRow, ApiError> {
        let case = db::cases::get(self.db.pool(), id)
            .await?
            .ok_or_else(|| ApiError::UnknownCase(id.into()))?;
        let me = viewer.as_str();
        let visible = case.treating == me
            || case.patient.as_deref() == Some(me)
            || db::cases::member_status(self.db.pool(), id, me).await?
                == Some(MemberStatus::Active);
        if visible {
            Ok(case)
        } else {
            Err(ApiError::UnknownCase(id.into()))
        }
    }

    /// The case with its active physicians.
    pub async fn case_facts(&self, case: &CaseRow) -> Result<CaseFacts, ApiError> {
        let mut c = self.db.pool().acquire().await?;
        facts::case_facts(&mut c, case).await
    }

    /// The patient removes `member`: in one transaction every standing consent to them is
    /// revoked (the patient signed each revocation in `revocations`, verified by the
    /// caller, with what was signed), everything they have not acknowledged is destroyed,
    /// and they stop seeing the case.
    pub async fn remove_member(
        &self,
        patient: &AccountId,
        case: &CaseRow,
        member: &AccountId,
        revocations: &[(Revocation, String)],
        now: i64,
    ) -> Result<Removed, ApiError> {
        let mut tx = self.db.write().await?;
        let facts = facts::case_facts(&mut tx, case).await?;
        let chain = self.verified.chain(&mut tx, case).await?;
        let current = db::cases::member_status(&mut *tx, &case.id, member.as_str()).await?;
        let plain: Vec<Revocation> = revocations.iter().map(|(r, _)| r.clone()).collect();
        let revoked = decide_remove(Actor::Patient, &facts, member, current, &chain, &plain)
            .map_err(ApiError::Membership)?;
        let mut by_revocation = 0;
        for (r, json) in revocations {
            let revoked = Revoking {
                patient,
                revocation: r,
                signed_json: json,
                why: "; recipient removed from the case",
            };
            by_revocation += revoke_in(&mut tx, &chain, &case.id, revoked, now)
                .await?
                .purged;
        }
        // Anything still pending to them (under versions revoked before) goes too.
        let left = purge::pending(
            &mut tx,
            &case.id,
            member.as_str(),
            now,
            |_| true,
            PurgeReason::MemberRemoved,
        )
        .await?;
        let purged = by_revocation + left;
        db::cases::remove_member(&mut *tx, &case.id, member.as_str(), now).await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::MemberRemoved,
            Some(patient),
            Some(member.as_str()),
            Some(format!(
                "{} consents revoked; {purged} unread messages destroyed",
                revoked.len()
            )),
        )
        .await?;
        tx.commit().await?;
        self.db.shred().await?;
        for consent in &revoked {
            tracing::info!(event = %"consent_revoked", consent = %consent, "consent revoked");
        }
        tracing::info!(event = %"member_removed", case = %case.id, purged, "member removed");
        purge::committed(&self.metrics, &case.id, PurgeReason::Revoked, by_revocation);
        purge::committed(&self.metrics, &case.id, PurgeReason::MemberRemoved, left);
        Ok(Removed { revoked, purged })
    }
}
