//! Consents: granting a version (destroying what it no longer covers), revoking one
//! (destroying what its recipient has not acknowledged), and expiry, which acts like
//! revocation at the moment of expiry (DESIGN.md §6). Every rule is `trialog_protocol`'s
//! (`consent`, `chain`, `decide`); this file loads facts, asks, and stores.

use trialog_protocol::audit::AuditEvent;
use trialog_protocol::chain::{Chain, NewVersionRefusal, RevocationRefusal};
use trialog_protocol::consent::{Consent, Refusal, Revocation};
use trialog_protocol::decide::deliverable;
use trialog_protocol::envelope::EnvelopeHeader;
use trialog_protocol::keys::VerifiedKeys;
use trialog_protocol::{AccountId, ConsentId, Signed};

use super::{Store, facts, purge};
use crate::db::{self, Tx, cases::CaseRow, consents::ConsentRow, envelopes::PurgeReason};
use crate::error::ApiError;

/// What granting a version did: the version as stored, and how many unread messages to its
/// recipient the version it replaced covered that it no longer does (destroyed) or still
/// does (kept).
#[derive(Debug)]
pub struct Granted {
    pub row: ConsentRow,
    pub purged: u64,
    pub kept: u64,
}

/// What a revocation did: unread messages destroyed, and messages already delivered under
/// the revoked line of versions (which cannot be recalled).
#[derive(Debug)]
pub struct Revoked {
    pub purged: u64,
    pub already_delivered: u64,
}

impl Store {
    /// The case's patient keys, checked against the treating physician's signed binding.
    /// No consent counts before this succeeds (DESIGN.md §6).
    pub async fn confirmed_patient(&self, case: &CaseRow) -> Result<VerifiedKeys, ApiError> {
        let mut c = self.db.pool().acquire().await?;
        facts::confirmed_patient(&mut c, case).await
    }

    /// Every version of every consent of the case, oldest first.
    pub async fn consents_of(&self, case_id: &str) -> Result<Vec<ConsentRow>, ApiError> {
        Ok(db::consents::for_case(self.db.pool(), case_id).await?)
    }

    pub async fn consent(&self, id: &ConsentId) -> Result<Option<ConsentRow>, ApiError> {
        Ok(db::consents::get(self.db.pool(), id.as_str()).await?)
    }

    /// The signed headers of the unread messages to `recipient` in the case: ids, kinds and
    /// field ids, never a value.
    pub async fn pending_headers(
        &self,
        case_id: &str,
        recipient: &str,
    ) -> Result<Vec<Signed<EnvelopeHeader>>, ApiError> {
        db::envelopes::pending_for(self.db.pool(), case_id, recipient)
            .await?
            .iter()
            .map(|r| {
                serde_json::from_str(&r.header)
                    .map_err(|_| ApiError::Internal("stored header".into()))
            })
            .collect()
    }

    /// Stores `consent` (verified by the caller against the confirmed patient key; `signed`
    /// is what the patient signed) as a new version in the case's history. A version that
    /// replaces another destroys what its recipient has not read and it no longer covers.
    pub async fn grant(
        &self,
        patient: &AccountId,
        case: &CaseRow,
        consent: &Consent,
        signed: &Signed<Consent>,
        now: i64,
    ) -> Result<Granted, ApiError> {
        let mut tx = self.db.write().await?;
        let chain = self.verified.chain(&mut tx, case).await?;
        let previous = chain
            .check_new(consent)
            .map_err(|e| match e {
                NewVersionRefusal::Exists => ApiError::ConsentExists,
                NewVersionRefusal::TooManyVersions => ApiError::TooManyVersions,
                NewVersionRefusal::BadSupersedes { current } => ApiError::BadSupersedes(
                    current.map_or_else(|| "nothing".to_owned(), |c| c.to_string()),
                ),
            })?
            .map(|v| v.consent.consent_id.clone());
        let row = ConsentRow {
            id: consent.consent_id.to_string(),
            case_id: case.id.clone(),
            recipient: consent.recipient.to_string(),
            signed: serde_json::to_string(signed).map_err(|e| ApiError::Internal(e.to_string()))?,
            valid_until: consent.valid_until,
            created_at: now,
            revoked_at: None,
            revocation: None,
            superseded_by: None,
            superseded_at: None,
            expired_at: None,
            retired: 0,
        };
        db::consents::insert(&mut *tx, &row).await?;
        // The history with the new version: what it no longer covers is destroyed now, what
        // it still covers stays readable.
        let next = chain
            .with_new_version(consent, now)
            .map_err(ApiError::Chain)?;
        let (mut purged, mut kept) = (0, 0);
        if let Some(p) = &previous {
            db::consents::supersede(&mut *tx, p.as_str(), &row.id, now).await?;
            let pending = db::envelopes::pending_for(&mut *tx, &case.id, &row.recipient).await?;
            purged = purge::pending(
                &mut tx,
                &case.id,
                &row.recipient,
                now,
                |h| deliverable(&next, h, now).is_err(),
                PurgeReason::NoLongerCovered,
            )
            .await?;
            kept = pending.len() as u64 - purged;
            db::audit::append(
                &mut tx,
                &case.id,
                now,
                AuditEvent::ConsentSuperseded,
                Some(patient),
                Some(p.as_str()),
                Some(format!(
                    "by {}; {purged} unread messages no longer covered destroyed, {kept} kept",
                    row.id
                )),
            )
            .await?;
        }
        let names = |it: &mut dyn Iterator<Item = &str>| it.collect::<Vec<_>>().join(",");
        let detail = format!(
            "recipient {}; kinds {}; fields {}; senders {}; until {}",
            consent.recipient,
            names(&mut consent.kinds.iter().map(|k| k.as_str())),
            names(&mut consent.fields.iter().map(|f| f.as_str())),
            names(&mut consent.senders.iter().map(|p| p.account.as_str())),
            trialog_protocol::time::format_date(consent.valid_until)
        );
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::ConsentGranted,
            Some(patient),
            Some(&row.id),
            Some(detail),
        )
        .await?;
        tx.commit().await?;
        if purged > 0 {
            self.db.shred().await?;
        }
        tracing::info!(event = %"consent_granted", consent = %row.id, purged, kept, "consent granted");
        purge::committed(
            &self.metrics,
            &case.id,
            PurgeReason::NoLongerCovered,
            purged,
        );
        Ok(Granted { row, purged, kept })
    }

    /// Revocation takes effect on receipt: no new envelope is accepted under the consent,
    /// and every envelope to its recipient that they have not acknowledged is destroyed,
    /// fetched or not (DESIGN.md §2.6). `r` was verified by the caller against the
    /// confirmed patient key; `signed` is what the patient signed.
    pub async fn revoke(
        &self,
        patient: &AccountId,
        case: &CaseRow,
        r: &Revocation,
        signed: &Signed<Revocation>,
        now: i64,
    ) -> Result<Revoked, ApiError> {
        let mut tx = self.db.write().await?;
        let chain = self.verified.chain(&mut tx, case).await?;
        let json = serde_json::to_string(signed).map_err(|e| ApiError::Internal(e.to_string()))?;
        let revoking = Revoking {
            patient,
            revocation: r,
            signed_json: &json,
            why: "",
        };
        let done = revoke_in(&mut tx, &chain, &case.id, revoking, now).await?;
        tx.commit().await?;
        self.db.shred().await?;
        tracing::info!(event = %"consent_revoked", consent = %r.consent_id, purged = done.purged, "consent revoked");
        purge::committed(&self.metrics, &case.id, PurgeReason::Revoked, done.purged);
        Ok(done)
    }

    /// Acts on every expiry due at `now`; returns how many envelopes were destroyed. Each
    /// consent is one transaction: one that fails (logged) does not hold back the others.
    pub async fn expire_due(&self, now: i64) -> Result<u64, ApiError> {
        // Cheap when nothing is due: one indexed read, no write lock.
        let due = db::consents::due_for_expiry(self.db.pool(), now).await?;
        let mut purged = 0;
        for row in due {
            match self.expire_one(&row.id, now).await {
                Ok(n) => purged += n,
                Err(e) => {
                    tracing::warn!(consent = %row.id, error = %e, "expiry not acted on; retried at the next sweep")
                }
            }
        }
        if purged > 0 {
            self.db.shred().await?;
        }
        Ok(purged)
    }

    async fn expire_one(&self, id: &str, now: i64) -> Result<u64, ApiError> {
        let mut tx = self.db.write().await?;
        // Read again under the write lock: revoked or replaced meanwhile means nothing to do.
        let Some(row) = db::consents::get(&mut *tx, id).await? else {
            return Ok(0);
        };
        if row.revoked_at.is_some() || row.superseded_by.is_some() || row.expired_at.is_some() {
            return Ok(0);
        }
        let case = db::cases::get(&mut *tx, &row.case_id)
            .await?
            .ok_or_else(|| ApiError::Internal("consent without case".into()))?;
        let chain = self.verified.chain(&mut tx, &case).await?;
        db::consents::mark_expired(&mut *tx, &row.id, now).await?;
        let n = purge::pending(
            &mut tx,
            &case.id,
            &row.recipient,
            now,
            |h| deliverable(&chain, h, now).is_err(),
            PurgeReason::Expired,
        )
        .await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::ConsentExpired,
            None,
            Some(&row.id),
            Some(format!("{n} unread messages destroyed")),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(event = %"consent_expired", consent = %row.id, purged = n, "consent expired");
        purge::committed(&self.metrics, &case.id, PurgeReason::Expired, n);
        Ok(n)
    }
}

/// One revocation the patient signed, verified by the caller: what `revoke_in` acts on.
pub(super) struct Revoking<'a> {
    pub patient: &'a AccountId,
    pub revocation: &'a Revocation,
    /// What the patient signed, as stored.
    pub signed_json: &'a str,
    /// Added to the audit entry's detail (why, when it is part of something larger).
    pub why: &'a str,
}

/// Revokes one version inside the caller's transaction, destroys everything its recipient
/// has not acknowledged in the case, and writes the audit entry.
pub(super) async fn revoke_in(
    tx: &mut Tx,
    chain: &Chain,
    case_id: &str,
    revoking: Revoking<'_>,
    now: i64,
) -> Result<Revoked, ApiError> {
    let Revoking {
        patient,
        revocation: r,
        signed_json,
        why,
    } = revoking;
    let v = chain.check_revocation(r).map_err(|e| match e {
        RevocationRefusal::AlreadyRevoked => ApiError::AlreadyRevoked,
        RevocationRefusal::Superseded => ApiError::Refused(Refusal::Superseded),
        RevocationRefusal::UnknownConsent | RevocationRefusal::Mismatch => ApiError::BadRevocation,
    })?;
    let recipient = v.consent.recipient.to_string();
    // The whole line of versions: what was delivered under any of them cannot be recalled.
    let line: Vec<String> = chain
        .versions()
        .iter()
        .filter(|w| {
            chain
                .head(&w.consent.consent_id)
                .map(|h| &h.consent.consent_id)
                == Some(&r.consent_id)
        })
        .map(|w| w.consent.consent_id.to_string())
        .collect();
    let already_delivered = db::envelopes::delivered_count(tx, &line).await?;
    let revoked = db::events::Subject {
        id: r.consent_id.as_str(),
        case_id,
    };
    db::consents::revoke(
        tx,
        r.consent_id.as_str(),
        revoked,
        &recipient,
        signed_json,
        now,
    )
    .await?;
    let purged = purge::pending(
        tx,
        case_id,
        &recipient,
        now,
        |h| line.iter().any(|id| id == h.consent_id.as_str()),
        PurgeReason::Revoked,
    )
    .await?;
    db::audit::append(
        tx,
        case_id,
        now,
        AuditEvent::ConsentRevoked,
        Some(patient),
        Some(r.consent_id.as_str()),
        Some(format!(
            "{purged} unread messages destroyed; {already_delivered} already delivered{why}"
        )),
    )
    .await?;
    Ok(Revoked {
        purged,
        already_delivered,
    })
}
