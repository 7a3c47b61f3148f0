//! Messages: send (strip, leak guard, seal), inbox, and read with the recipient's checks.

use serde::Serialize;
use trialog_protocol::api::{EnvelopeView, InboxItem};
use trialog_protocol::consent::{SendContext, Standing, Stripped, evaluate, open_consent};
use trialog_protocol::envelope::{EnvelopeHeader, check_ciphertexts, open_field, seal};
use trialog_protocol::leak_guard::{self, LeakHit};
use trialog_protocol::{AccountId, CaseId, ConsentId, FieldId, MessageId, MessageKind, Role};

use super::{Client, now};
use crate::error::ClientError;

/// What to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub case: CaseId,
    pub to: AccountId,
    pub kind: MessageKind,
    pub values: Vec<(FieldId, serde_json::Value)>,
    /// The physician read the leak guard's findings and sends anyway (recorded in the header).
    pub override_leak_guard: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub message_id: MessageId,
    pub recipient: AccountId,
    pub recipient_name: Option<String>,
    pub consent_id: ConsentId,
    pub sent: Vec<FieldId>,
    pub stripped: Vec<Stripped>,
    pub leak_guard_overridden: Vec<LeakHit>,
}

/// A message that passed every check of DESIGN.md §7.
#[derive(Debug, Clone, Serialize)]
pub struct ReadMessage {
    pub message_id: MessageId,
    pub case_id: CaseId,
    pub kind: MessageKind,
    pub created_at: i64,
    pub sender: AccountId,
    pub sender_name: Option<String>,
    pub sender_role: Role,
    pub consent_id: ConsentId,
    pub leak_guard_override: bool,
    pub fields: Vec<(FieldId, serde_json::Value)>,
}

impl Client {
    /// Strips what the consent does not cover, runs the leak guard, encrypts each field to
    /// the recipient, signs and submits. The first of the three consent checks.
    pub async fn send(&mut self, out: Outgoing) -> Result<SendReport, ClientError> {
        let role = self.role()?;
        if !role.may_send(out.kind) {
            return Err(ClientError::WrongRole(match out.kind {
                MessageKind::Bilan => "treating physician",
                MessageKind::Feedback => "occupational or advising physician",
                MessageKind::Request => "physician",
            }));
        }
        if out.values.is_empty() {
            return Err(ClientError::Invalid("the message has no field".into()));
        }
        let case = self.case(&out.case).await?;
        let (view, keys) = case
            .physician(&out.to)
            .ok_or_else(|| ClientError::NotAMember {
                account: out.to.to_string(),
            })?;
        let recipient_name = view.name.clone();
        let me = self.account()?.clone();
        let now = now();
        let consents = self.consents(&out.case).await?;
        let current = consents
            .iter()
            .filter(|c| c.consent.recipient == out.to)
            .max_by_key(|c| {
                (
                    c.revoked_at.is_none() && c.superseded_by.is_none(),
                    c.consent.valid_from,
                )
            })
            .ok_or_else(|| ClientError::NoConsent {
                recipient: recipient_name.clone().unwrap_or_else(|| out.to.to_string()),
            })?;
        let standing = current.standing(now);
        let ctx = SendContext {
            case_id: &out.case,
            sender: &me,
            recipient: &out.to,
            recipient_fingerprint: &keys.fingerprint,
            kind: out.kind,
            at: now,
        };
        let ids: Vec<FieldId> = out.values.iter().map(|(f, _)| *f).collect();
        let decision = evaluate(&current.consent, &standing, &ctx, &ids)
            .map_err(ClientError::ConsentRefused)?;
        if decision.allowed.is_empty() {
            return Err(ClientError::NothingToSend {
                stripped: decision.stripped,
            });
        }
        // The leak guard reads every value of the message, medical ones as the reference,
        // and reports hits only in fields that would actually go.
        let texts: Vec<(FieldId, &str)> = out
            .values
            .iter()
            .filter_map(|(f, v)| v.as_str().map(|s| (*f, s)))
            .collect();
        let hits: Vec<LeakHit> = leak_guard::check(&texts)
            .into_iter()
            .filter(|h| decision.allowed.contains(&h.field))
            .collect();
        if !hits.is_empty() && !out.override_leak_guard {
            return Err(ClientError::LeakGuard { hits });
        }
        let values: Vec<(FieldId, serde_json::Value)> = out
            .values
            .iter()
            .filter(|(f, _)| decision.allowed.contains(f))
            .cloned()
            .collect();
        let header = EnvelopeHeader {
            message_id: MessageId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
            created_at: now,
            kind: out.kind,
            case_id: out.case.clone(),
            sender: me,
            recipient: out.to.clone(),
            recipient_fingerprint: keys.fingerprint.clone(),
            consent_id: current.consent.consent_id.clone(),
            manifest: Vec::new(),
            leak_guard_override: !hits.is_empty(),
        };
        let env = seal(&self.identity, header, &keys.recipient, &values)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let resp = self.api.submit_envelope(&env).await?;
        Ok(SendReport {
            message_id: resp.message_id,
            recipient: out.to,
            recipient_name,
            consent_id: current.consent.consent_id.clone(),
            sent: decision.allowed,
            stripped: decision.stripped,
            leak_guard_overridden: hits,
        })
    }

    /// Messages waiting (or all, with `all`).
    pub async fn inbox(&mut self, all: bool) -> Result<Vec<InboxItem>, ClientError> {
        self.inbox_wait(all, 0).await
    }

    /// With `wait` > 0 and nothing waiting, the server holds the request until a message
    /// arrives or `wait` seconds pass (long poll).
    pub async fn inbox_wait(
        &mut self,
        all: bool,
        wait: u64,
    ) -> Result<Vec<InboxItem>, ClientError> {
        self.require_role(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )?;
        self.ensure_login().await?;
        self.api.inbox_wait(all, wait).await
    }

    /// Fetches (or reads the local copy of) a message, verifies everything of DESIGN.md §7
    /// on the recipient's side, decrypts, stores the envelope locally and acknowledges it.
    pub async fn read(&mut self, id: &MessageId) -> Result<ReadMessage, ClientError> {
        self.require_role(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )?;
        self.ensure_login().await?;
        let local = self.home.messages_dir().join(format!("{id}.json"));
        let (view, fetched) = match std::fs::read(&local) {
            Ok(bytes) => (
                serde_json::from_slice::<EnvelopeView>(&bytes).map_err(|e| {
                    ClientError::Corrupt(local.display().to_string(), e.to_string())
                })?,
                false,
            ),
            Err(_) => (self.api.envelope(id).await?, true),
        };
        let msg = self.verify_envelope(id, &view).await?;
        if fetched {
            let bytes =
                serde_json::to_vec(&view).map_err(|e| ClientError::Invalid(e.to_string()))?;
            crate::home::write_file(&local, &bytes, true)?;
            self.api.acknowledge(id).await?;
        }
        Ok(msg)
    }

    async fn verify_envelope(
        &mut self,
        id: &MessageId,
        view: &EnvelopeView,
    ) -> Result<ReadMessage, ClientError> {
        let bad = |s: String| ClientError::Verification(s);
        let env = &view.envelope;
        let claimed: EnvelopeHeader = env
            .header
            .parse_unverified()
            .map_err(|e| bad(e.to_string()))?;
        let case = self.case(&claimed.case_id).await?;
        let (sender_view, sender_keys) = case
            .physician(&claimed.sender)
            .ok_or_else(|| bad("the sender is not a physician of this case".into()))?;
        let (sender_name, sender_role) = (sender_view.name.clone(), sender_view.role);
        let h = env
            .header
            .open(&sender_keys.signing)
            .map_err(|_| bad("the sender's signature does not verify".into()))?;
        if &h.message_id != id {
            return Err(bad("the envelope is not the message asked for".into()));
        }
        if !sender_role.may_send(h.kind) {
            return Err(bad(format!(
                "a {sender_role} physician may not send a {}",
                h.kind
            )));
        }
        let me = self.account()?.clone();
        if h.recipient != me || h.recipient_fingerprint != self.identity.fingerprint() {
            return Err(bad(
                "the message was addressed to another recipient or key".into()
            ));
        }
        let patient = case
            .patient
            .as_ref()
            .ok_or_else(|| bad("the patient's key is not confirmed on this case".into()))?;
        let cv = self.api.consent(&h.consent_id).await?;
        let consent =
            open_consent(&cv.consent, &patient.signing).map_err(|e| bad(e.to_string()))?;
        if consent.consent_id != h.consent_id {
            return Err(bad("the server returned another consent".into()));
        }
        // Times are whole seconds: a revocation in the very second the message was created
        // cannot be ordered against it here. The server refused everything after the
        // revocation committed, so only a strictly earlier revocation disqualifies it.
        let before = |t: &i64| *t < h.created_at;
        let standing = Standing {
            revoked_at: cv.revoked_at.filter(before),
            superseded_at: cv.superseded_at.filter(before),
        };
        let ctx = SendContext {
            case_id: &h.case_id,
            sender: &h.sender,
            recipient: &me,
            recipient_fingerprint: &h.recipient_fingerprint,
            kind: h.kind,
            at: h.created_at,
        };
        let decision =
            evaluate(&consent, &standing, &ctx, &h.fields()).map_err(|e| bad(e.to_string()))?;
        if !decision.stripped.is_empty() {
            let f: Vec<&str> = decision.stripped.iter().map(|s| s.field.as_str()).collect();
            return Err(bad(format!(
                "the message carries fields the patient did not consent to: {}",
                f.join(", ")
            )));
        }
        check_ciphertexts(&h, &env.fields).map_err(|e| bad(e.to_string()))?;
        let mut fields = Vec::with_capacity(env.fields.len());
        for f in &env.fields {
            fields.push((
                f.field,
                open_field(&self.identity, &h, f).map_err(|e| bad(e.to_string()))?,
            ));
        }
        Ok(ReadMessage {
            message_id: h.message_id,
            case_id: h.case_id,
            kind: h.kind,
            created_at: h.created_at,
            sender: h.sender,
            sender_name,
            sender_role,
            consent_id: h.consent_id,
            leak_guard_override: h.leak_guard_override,
            fields,
        })
    }
}
