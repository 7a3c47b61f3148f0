//! Consents: the case's verified history (`Chain`), grant a new version (with what changes
//! and what it would destroy shown first) and revoke (patient).

use serde::Serialize;
use trialog_protocol::api::{
    RevokeRequest, RevokeResponse, SubmitConsentRequest, SubmitConsentResponse,
};
use trialog_protocol::chain::{Chain, Version};
use trialog_protocol::consent::{
    Consent, ConsentDiff, Party, Purpose, Refusal, Revocation, consent_text, diff, open_consent,
    unshared_medical,
};
use trialog_protocol::decide::deliverable;
use trialog_protocol::encoding::sha256_hex;
use trialog_protocol::time::default_valid_until;
use trialog_protocol::{AccountId, CaseId, ConsentId, FieldId, Lang, MessageKind, Role, Signed};

use super::{Client, now};
use crate::error::ClientError;

/// What to grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub case: CaseId,
    pub to: AccountId,
    pub fields: Vec<FieldId>,
    /// Medical fields ticked one by one; each must also be in `fields`.
    pub share_medically: Vec<FieldId>,
    /// End of validity; default (and maximum) one calendar year.
    pub until: Option<i64>,
    /// Default: what the recipient's role receives.
    pub kinds: Option<Vec<MessageKind>>,
    /// Default: every other active physician of the case.
    pub senders: Option<Vec<AccountId>>,
    pub purpose: Purpose,
    pub lang: Lang,
}

/// One version of a consent as this client verified it, with what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct ConsentInfo {
    pub view_id: ConsentId,
    pub consent: Consent,
    pub revoked_at: Option<i64>,
    pub superseded_by: Option<ConsentId>,
    pub accepted_at: i64,
}

impl ConsentInfo {
    /// Neither revoked nor replaced, and in its period at `at`.
    pub fn is_current(&self, at: i64) -> bool {
        self.revoked_at.is_none()
            && self.superseded_by.is_none()
            && trialog_protocol::consent::in_period(&self.consent, at).is_ok()
    }
}

/// A new version, prepared and not yet signed: the text the patient will sign, and what
/// changes against the version it replaces.
#[derive(Debug, Clone, Serialize)]
pub struct Draft {
    pub consent: Consent,
    pub text: String,
    /// `None` for a first consent to this physician.
    pub changes: Option<ConsentDiff>,
    /// Unread messages to this physician the new version would destroy (it no longer
    /// covers them), and those it keeps.
    pub would_destroy: u64,
    pub would_keep: u64,
}

impl Client {
    /// The case's consent history: every version and revocation verified against the
    /// confirmed patient key, and checked to form one history. The patient and a recipient
    /// see every version of their lines (`Chain::new`); a sender sees only the versions
    /// that name them (`Chain::partial`). A server can withhold a version altogether, but
    /// cannot make a client take back a version it has seen replaced: the newer version
    /// signs what it replaces.
    pub async fn chain(&mut self, id: &CaseId) -> Result<Chain, ClientError> {
        let case = self.case(id).await?;
        // Consents signed before a re-enrolment stay valid: each is verified against the
        // confirmed key that signed it, past or current.
        let (false, Some(patient_view)) =
            (case.patient_keys.confirmed.is_empty(), &case.view.patient)
        else {
            return Err(ClientError::Invalid(
                "the patient's key is not confirmed yet, so there is no consent".into(),
            ));
        };
        let keys = &case.patient_keys;
        let unknown_signer = || {
            ClientError::Verification(
                "signed by a key the treating physician never confirmed for this patient".into(),
            )
        };
        let listed = self.api.consents(id).await?;
        let shown: Vec<ConsentId> = listed.iter().map(|v| v.consent_id.clone()).collect();
        let mut versions = Vec::new();
        for v in listed {
            let signer = keys.signer(&v.consent).ok_or_else(unknown_signer)?;
            let consent = open_consent(&v.consent, signer)
                .map_err(|e| ClientError::Verification(e.to_string()))?;
            if consent.consent_id != v.consent_id {
                return Err(ClientError::Verification(
                    "the server listed a consent under another id".into(),
                ));
            }
            let mut revoked_at = v.revoked_at;
            if let Some(r) = &v.revocation {
                let r = r
                    .open(keys.signer(r).ok_or_else(unknown_signer)?)
                    .map_err(|e| ClientError::Verification(e.to_string()))?;
                if r.consent_id != consent.consent_id {
                    return Err(ClientError::Verification(
                        "a revocation names another consent".into(),
                    ));
                }
                // The patient's signed word counts: the earlier of the two times, so a server
                // cannot push a revocation into the future.
                revoked_at = Some(revoked_at.map_or(r.revoked_at, |t| t.min(r.revoked_at)));
            }
            // Replaced by a version this account may not see: it allows nothing new.
            let replaced_unseen = v.superseded_by.as_ref().is_some_and(|s| !shown.contains(s));
            versions.push(Version {
                consent,
                revoked_at,
                accepted_at: v.accepted_at,
                replaced_unseen,
            });
        }
        if &patient_view.account == self.account()? {
            Chain::new(id, &patient_view.account, versions)
        } else {
            Chain::partial(id, &patient_view.account, versions)
        }
        .map_err(|e| ClientError::Verification(e.to_string()))
    }

    /// Every consent of the case this account may see, verified.
    pub async fn consents(&mut self, id: &CaseId) -> Result<Vec<ConsentInfo>, ClientError> {
        let chain = self.chain(id).await?;
        Ok(chain
            .versions()
            .iter()
            .map(|v| ConsentInfo {
                view_id: v.consent.consent_id.clone(),
                consent: v.consent.clone(),
                revoked_at: v.revoked_at,
                superseded_by: chain
                    .successor(&v.consent.consent_id)
                    .map(|s| s.consent.consent_id.clone()),
                accepted_at: v.accepted_at,
            })
            .collect())
    }

    /// The patient signs a consent for one recipient (superseding their current one).
    /// Prepares, signs and submits in one step; a person should see the text first
    /// (`prepare_grant`, then `sign_grant`), as `trialog consent grant` does.
    pub async fn grant(&mut self, g: Grant) -> Result<(Consent, String), ClientError> {
        let draft = self.prepare_grant(g).await?;
        let (consent, text) = (draft.consent.clone(), draft.text.clone());
        self.sign_grant(draft).await?;
        Ok((consent, text))
    }

    /// Builds the consent, the text the patient will sign and what it changes, without
    /// signing anything.
    pub async fn prepare_grant(&mut self, g: Grant) -> Result<Draft, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        // Before any network call: the rule is protocol's, the early answer is the patient's.
        if let Some(f) = unshared_medical(&g.fields, &g.share_medically) {
            return Err(ClientError::MedicalNotShared(f));
        }
        let case = self.case(&g.case).await?;
        if case.patient.is_none() {
            return Err(ClientError::Invalid(
                "your key is not confirmed by your treating physician yet: read them your fingerprint".into(),
            ));
        }
        let (view, keys) = case
            .physician(&g.to)
            .ok_or_else(|| ClientError::NotAMember {
                account: g.to.to_string(),
            })?;
        let recipient_role = view.role;
        let recipient_name = view.name.clone().unwrap_or_else(|| g.to.to_string());
        let recipient_fingerprint = keys.fingerprint.clone();
        let party = |v: &trialog_protocol::api::AccountView| Party {
            account: v.account.clone(),
            name: v.name.clone().unwrap_or_else(|| v.account.to_string()),
            role: v.role,
        };
        let kinds = g
            .kinds
            .clone()
            .unwrap_or_else(|| recipient_role.receivable_kinds());
        let senders: Vec<Party> = match &g.senders {
            None => case
                .default_senders(&g.to, &kinds)
                .into_iter()
                .map(party)
                .collect(),
            Some(list) => {
                let mut out = Vec::new();
                for a in list {
                    let (v, _) = case.physician(a).ok_or_else(|| ClientError::NotAMember {
                        account: a.to_string(),
                    })?;
                    out.push(party(v));
                }
                out
            }
        };
        let now = now();
        let chain = self.chain(&g.case).await?;
        let previous = chain.current(&g.to).cloned();
        let mut fields = g.fields.clone();
        for f in &g.share_medically {
            if !fields.contains(f) {
                fields.push(*f);
            }
        }
        let valid_from = now - 60;
        let valid_until = g.until.unwrap_or_else(|| default_valid_until(valid_from));
        let mut consent = Consent {
            consent_id: ConsentId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
            supersedes: previous.as_ref().map(|p| p.consent.consent_id.clone()),
            case_id: g.case.clone(),
            patient: self.account()?.clone(),
            recipient: g.to.clone(),
            recipient_fingerprint,
            recipient_name,
            recipient_role,
            senders,
            kinds,
            fields,
            share_medically: g.share_medically.clone(),
            purpose: g.purpose,
            valid_from,
            valid_until,
            lang: g.lang,
            text_sha256: String::new(),
        };
        let text = consent_text(&consent);
        consent.text_sha256 = sha256_hex(&[text.as_bytes()]);
        consent
            .check_well_formed()
            .map_err(|m| ClientError::ConsentRefused(Refusal::Malformed(m)))?;
        // What the new version would destroy: the server's unread messages to this
        // physician, judged by the same rule the server applies when it accepts the version.
        let (mut would_destroy, mut would_keep) = (0, 0);
        if let Some(p) = &previous {
            let next = chain
                .with_new_version(&consent, now)
                .map_err(|e| ClientError::Invalid(e.to_string()))?;
            for h in self.api.consent_pending(&p.consent.consent_id).await? {
                let h = h
                    .parse_unverified()
                    .map_err(|e| ClientError::BadResponse(e.to_string()))?;
                if deliverable(&next, &h, now).is_ok() {
                    would_keep += 1;
                } else {
                    would_destroy += 1;
                }
            }
        }
        Ok(Draft {
            changes: previous.map(|p| diff(&p.consent, &consent)),
            consent,
            text,
            would_destroy,
            would_keep,
        })
    }

    /// Signs a prepared consent (the patient has read its text and changes) and submits it.
    pub async fn sign_grant(&mut self, draft: Draft) -> Result<SubmitConsentResponse, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        let signed = Signed::sign(&draft.consent, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .submit_consent(&SubmitConsentRequest { consent: signed })
            .await
    }

    /// The patient revokes a consent: prospective and immediate.
    pub async fn revoke(&mut self, id: &ConsentId) -> Result<RevokeResponse, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        self.ensure_login().await?;
        let v = self.api.consent(id).await?;
        let c: Consent = v
            .consent
            .parse_unverified()
            .map_err(|e| ClientError::BadResponse(e.to_string()))?;
        let r = Revocation {
            consent_id: id.clone(),
            case_id: c.case_id,
            patient: self.account()?.clone(),
            revoked_at: now(),
        };
        let revocation = Signed::sign(&r, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api.revoke(id, &RevokeRequest { revocation }).await
    }
}
