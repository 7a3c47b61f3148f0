//! Consents: list them verified against the patient's key, grant and revoke (patient).

use serde::Serialize;
use trialog_protocol::api::{RevokeRequest, RevokeResponse, SubmitConsentRequest};
use trialog_protocol::consent::unshared_medical;
use trialog_protocol::consent::{
    Consent, Purpose, Revocation, Standing, consent_text, open_consent,
};
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
    /// End of validity; default one year from now.
    pub until: Option<i64>,
    /// Default: what the recipient's role receives.
    pub kinds: Option<Vec<MessageKind>>,
    pub senders: Option<Vec<AccountId>>,
    pub purpose: Purpose,
    pub lang: Lang,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentInfo {
    pub view_id: ConsentId,
    pub consent: Consent,
    pub revoked_at: Option<i64>,
    pub superseded_by: Option<ConsentId>,
}

impl ConsentInfo {
    /// What this client knows has happened to the consent, as of `at`. A revocation or
    /// replacement it knows of counts by `at` at the latest, whatever the server's clock
    /// said: the patient's word stands at once.
    pub fn standing(&self, at: i64) -> Standing {
        Standing {
            revoked_at: self.revoked_at.map(|t| t.min(at)),
            superseded_at: self.superseded_by.as_ref().map(|_| at),
        }
    }

    pub fn is_current(&self, at: i64) -> bool {
        self.standing(at)
            .live_at(self.consent.valid_until, at)
            .is_ok()
    }
}

impl Client {
    /// Every consent of the case this account may see, each verified against the confirmed
    /// patient key.
    pub async fn consents(&mut self, id: &CaseId) -> Result<Vec<ConsentInfo>, ClientError> {
        let case = self.case(id).await?;
        let patient = case.patient.as_ref().ok_or_else(|| {
            ClientError::Invalid(
                "the patient's key is not confirmed yet, so there is no consent".into(),
            )
        })?;
        let mut out = Vec::new();
        for v in self.api.consents(id).await? {
            let consent = open_consent(&v.consent, &patient.signing)
                .map_err(|e| ClientError::Verification(e.to_string()))?;
            if &consent.case_id != id || consent.consent_id != v.consent_id {
                return Err(ClientError::Verification(
                    "a consent of another case was listed".into(),
                ));
            }
            let mut revoked_at = v.revoked_at;
            if let Some(r) = &v.revocation {
                let r = r
                    .open(&patient.signing)
                    .map_err(|e| ClientError::Verification(e.to_string()))?;
                if r.consent_id != consent.consent_id {
                    return Err(ClientError::Verification(
                        "a revocation names another consent".into(),
                    ));
                }
                // The patient's signed word counts, whatever the server's column says.
                revoked_at.get_or_insert(r.revoked_at);
            }
            out.push(ConsentInfo {
                view_id: v.consent_id,
                consent,
                revoked_at,
                superseded_by: v.superseded_by,
            });
        }
        // A consent that a later signed consent names as replaced is replaced, even if the
        // server does not say so: a server cannot roll a patient back to a broader version.
        let replaced: Vec<(ConsentId, ConsentId)> = out
            .iter()
            .filter_map(|c| {
                c.consent
                    .supersedes
                    .clone()
                    .map(|old| (old, c.consent.consent_id.clone()))
            })
            .collect();
        for (old, new) in replaced {
            if let Some(c) = out.iter_mut().find(|c| c.consent.consent_id == old) {
                c.superseded_by.get_or_insert(new);
            }
        }
        Ok(out)
    }

    /// The patient signs a consent for one recipient (superseding their current one).
    /// Prepares, signs and submits in one step; a person should see the text first
    /// (`prepare_grant`, then `sign_grant`), as `trialog consent grant` does.
    pub async fn grant(&mut self, g: Grant) -> Result<(Consent, String), ClientError> {
        let draft = self.prepare_grant(g).await?;
        self.sign_grant(draft).await
    }

    /// Builds the consent and the text the patient will sign, without signing anything.
    pub async fn prepare_grant(&mut self, g: Grant) -> Result<(Consent, String), ClientError> {
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
        let now = now();
        let previous = self
            .consents(&g.case)
            .await?
            .into_iter()
            .find(|c| {
                c.consent.recipient == g.to && c.revoked_at.is_none() && c.superseded_by.is_none()
            })
            .map(|c| c.consent.consent_id);
        let mut fields = g.fields.clone();
        for f in &g.share_medically {
            if !fields.contains(f) {
                fields.push(*f);
            }
        }
        let kinds = g.kinds.clone().unwrap_or_else(|| match recipient_role {
            Role::Treating => vec![MessageKind::Feedback, MessageKind::Request],
            _ => vec![MessageKind::Bilan, MessageKind::Request],
        });
        let valid_from = now - 60;
        let valid_until = g.until.unwrap_or_else(|| default_valid_until(valid_from));
        let mut consent = Consent {
            consent_id: ConsentId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
            supersedes: previous,
            case_id: g.case.clone(),
            patient: self.account()?.clone(),
            recipient: g.to.clone(),
            recipient_fingerprint: keys.fingerprint.clone(),
            recipient_name,
            recipient_role,
            senders: g.senders.clone(),
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
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok((consent, text))
    }

    /// Signs a prepared consent (the patient has read its text) and submits it.
    pub async fn sign_grant(
        &mut self,
        (consent, text): (Consent, String),
    ) -> Result<(Consent, String), ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        let signed = Signed::sign(&consent, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .submit_consent(&SubmitConsentRequest { consent: signed })
            .await?;
        Ok((consent, text))
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
