//! Cases: who may see one, opening, the patient's enrolment and confirmation, membership.

use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::Revocation;
use trialog_protocol::decide::{Actor, CaseFacts, MemberStatus, remove_member as decide_remove};
use trialog_protocol::{AccountId, ConsentId};

use super::{Store, consents::revoke_in, facts, purge};
use crate::db::{self, cases::CaseRow, envelopes::PurgeReason};
use crate::error::ApiError;

/// What removing a member did: the consents revoked and the unread messages destroyed.
#[derive(Debug)]
pub struct Removed {
    pub revoked: Vec<ConsentId>,
    pub purged: u64,
}

impl Store {
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
            let done = revoke_in(&mut tx, &chain, &case.id, r, json, now).await?;
            by_revocation += done.purged;
            db::audit::append(
                &mut tx,
                &case.id,
                now,
                AuditEvent::ConsentRevoked,
                Some(patient),
                Some(r.consent_id.as_str()),
                Some(format!(
                    "{} unread messages destroyed; {} already delivered; recipient removed from the case",
                    done.purged, done.already_delivered
                )),
            )
            .await?;
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
