//! Messages: send (strip, leak guard, seal), inbox, and read with the recipient's checks.

use serde::Serialize;
use trialog_protocol::api::{EnvelopeView, InboxItem};
use trialog_protocol::consent::{Decision, SendContext, Stripped, evaluate};
use trialog_protocol::decide::{Receipt, ReceiveFacts, receive};
use trialog_protocol::envelope::{EnvelopeHeader, open_field, seal};
use trialog_protocol::leak_guard::{self, LeakHit, Reference};
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
    /// The case's label where this account may read it, else its neutral reference.
    pub case_name: String,
    pub kind: MessageKind,
    pub created_at: i64,
    pub sender: AccountId,
    pub sender_name: Option<String>,
    pub sender_role: Role,
    pub consent_id: ConsentId,
    pub leak_guard_override: bool,
    pub fields: Vec<(FieldId, serde_json::Value)>,
}

/// A fetched envelope as this client keeps it: what the server sent, and when this client
/// received and verified it.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Stored {
    pub view: EnvelopeView,
    pub received_at: i64,
    /// The server confirmed it deleted its copy.
    #[serde(default)]
    pub acknowledged: bool,
}

/// What one recipient would get: the same decision `send` takes, without sealing or
/// submitting anything (`trialog send --dry-run`).
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub recipient: AccountId,
    pub recipient_name: Option<String>,
    pub consent_id: ConsentId,
    pub sent: Vec<FieldId>,
    pub stripped: Vec<Stripped>,
    /// What the leak guard found in fields that would go: `send` refuses them unless
    /// overridden.
    pub leak_guard: Vec<LeakHit>,
}

/// The consent decision for one recipient, with what was looked up to take it.
struct Decided {
    case: super::VerifiedCase,
    recipient_name: Option<String>,
    keys: trialog_protocol::keys::VerifiedKeys,
    consent_id: ConsentId,
    decision: Decision,
    me: AccountId,
    now: i64,
}

/// A message decided and ready to seal: what `send` submits and `preview` shows.
struct Prepared {
    preview: Preview,
    header: EnvelopeHeader,
    /// Every current device of the recipient.
    recipient_keys: Vec<age::x25519::Recipient>,
    values: Vec<(FieldId, serde_json::Value)>,
}

impl Client {
    /// Strips what the consent does not cover, runs the leak guard against the whole case,
    /// encrypts each field to the recipient, signs and submits. The first of the three
    /// consent checks.
    pub async fn send(&mut self, out: Outgoing) -> Result<SendReport, ClientError> {
        let p = self.prepare(&out).await?;
        if !p.preview.leak_guard.is_empty() && !out.override_leak_guard {
            return Err(ClientError::LeakGuard {
                hits: p.preview.leak_guard,
            });
        }
        crate::case_memory::remember(&self.home, &self.identity, &out.case, &out.values)?;
        let env = seal(&self.identity, p.header, &p.recipient_keys, &p.values)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let resp = self.api.submit_envelope(&env).await?;
        Ok(SendReport {
            message_id: resp.message_id,
            recipient: p.preview.recipient,
            recipient_name: p.preview.recipient_name,
            consent_id: p.preview.consent_id,
            sent: p.preview.sent,
            stripped: p.preview.stripped,
            leak_guard_overridden: p.preview.leak_guard,
        })
    }

    /// What `send` would do with `out`, on the same code path, without sealing, submitting
    /// or remembering anything.
    pub async fn preview(&mut self, out: Outgoing) -> Result<Preview, ClientError> {
        Ok(self.prepare(&out).await?.preview)
    }

    /// Every decision of a send: the role, the recipient's membership and keys, the
    /// consent's evaluation and the leak guard, and the header to sign.
    async fn prepare(&mut self, out: &Outgoing) -> Result<Prepared, ClientError> {
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
        let ids: Vec<FieldId> = out.values.iter().map(|(f, _)| *f).collect();
        let Decided {
            case,
            recipient_name,
            keys,
            consent_id,
            decision,
            me,
            now,
        } = self.decide(&out.case, &out.to, out.kind, &ids).await?;
        let case_label = case.label.clone();
        if decision.allowed.is_empty() {
            return Err(ClientError::NothingToSend {
                stripped: decision.stripped,
            });
        }
        // The leak guard reads every value of the message, medical ones as the reference,
        // with every medical value this client has sent or received in the case and the
        // case's label; it reports hits only in fields that would actually go. This
        // message's own medical values join the reference here in memory; `send` stores
        // them, a preview does not.
        let mut medical = crate::case_memory::load(&self.home, &self.identity, &out.case)?;
        for v in out
            .values
            .iter()
            .filter(|(f, _)| f.is_medical())
            .filter_map(|(f, v)| v.as_str().map(|s| (*f, s.to_owned())))
        {
            if !medical.contains(&v) {
                medical.push(v);
            }
        }
        let reference = Reference {
            medical,
            case_label,
        };
        let texts: Vec<(FieldId, &str)> = out
            .values
            .iter()
            .filter_map(|(f, v)| v.as_str().map(|s| (*f, s)))
            .collect();
        let hits: Vec<LeakHit> = leak_guard::check(&texts, &reference)
            .into_iter()
            .filter(|h| decision.allowed.contains(&h.field))
            .collect();
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
            consent_id: consent_id.clone(),
            manifest: Vec::new(),
            leak_guard_override: !hits.is_empty(),
        };
        Ok(Prepared {
            preview: Preview {
                recipient: out.to.clone(),
                recipient_name,
                consent_id,
                sent: decision.allowed,
                stripped: decision.stripped,
                leak_guard: hits,
            },
            header,
            recipient_keys: keys.devices.clone(),
            values,
        })
    }

    /// Which fields of a message of `kind` the patient's current consent lets `to` receive
    /// from this account, and why each other one would be stripped: the same decision as
    /// `send`, over every catalogue field the kind can carry, before anything is written
    /// (the web client's compose form greys out what would not go).
    pub async fn coverage(
        &mut self,
        case: &CaseId,
        to: &AccountId,
        kind: MessageKind,
    ) -> Result<Decision, ClientError> {
        let ids: Vec<FieldId> = trialog_protocol::catalogue::catalogue()
            .iter()
            .filter(|f| f.kinds.contains(&kind))
            .filter_map(|f| FieldId::parse(f.id).ok())
            .collect();
        Ok(self.decide(case, to, kind, &ids).await?.decision)
    }

    /// The consent decision for `fields` from this account to `to`: the recipient's
    /// membership and keys, the current consent (else the newest, so that a revoked or
    /// expired one is refused by name) and its evaluation now.
    async fn decide(
        &mut self,
        case_id: &CaseId,
        to: &AccountId,
        kind: MessageKind,
        fields: &[FieldId],
    ) -> Result<Decided, ClientError> {
        let case = self.case(case_id).await?;
        let (view, keys) = case.physician(to).ok_or_else(|| ClientError::NotAMember {
            account: to.to_string(),
        })?;
        let recipient_name = view.name.clone();
        let me = self.account()?.clone();
        let now = now();
        let chain = self.chain(case_id).await?;
        let current = chain
            .current(to)
            .or_else(|| chain.latest(to))
            .ok_or_else(|| ClientError::NoConsent {
                recipient: recipient_name.clone().unwrap_or_else(|| to.to_string()),
            })?;
        let ctx = SendContext {
            case_id,
            sender: &me,
            recipient: to,
            recipient_fingerprint: &keys.fingerprint,
            kind,
            at: now,
        };
        let decision = evaluate(
            &current.consent,
            &chain.standing(&current.consent.consent_id),
            &ctx,
            fields,
        )
        .map_err(ClientError::ConsentRefused)?;
        let consent_id = current.consent.consent_id.clone();
        Ok(Decided {
            case,
            recipient_name,
            keys,
            consent_id,
            decision,
            me,
            now,
        })
    }

    /// Messages waiting (every page).
    pub async fn inbox(&mut self) -> Result<Vec<InboxItem>, ClientError> {
        self.inbox_wait(0).await
    }

    /// With `wait` > 0 and nothing waiting, the server holds the request until a message
    /// arrives or `wait` seconds pass (long poll).
    pub async fn inbox_wait(&mut self, wait: u64) -> Result<Vec<InboxItem>, ClientError> {
        self.require_role(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )?;
        self.ensure_login().await?;
        self.api.inbox_wait(wait).await
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
        let (stored, fetched) = match std::fs::read(&local) {
            Ok(bytes) => (
                serde_json::from_slice::<Stored>(&bytes).map_err(|e| {
                    ClientError::Corrupt(local.display().to_string(), e.to_string())
                })?,
                false,
            ),
            Err(_) => (
                Stored {
                    view: self.api.envelope(id).await?,
                    received_at: now(),
                    acknowledged: false,
                },
                true,
            ),
        };
        let receipt = if fetched {
            Receipt::Fetched {
                at: stored.received_at,
            }
        } else {
            Receipt::Kept
        };
        let mut stored = stored;
        let msg = self.verify_envelope(id, &stored, receipt).await?;
        let save = |s: &Stored| -> Result<(), ClientError> {
            let bytes = serde_json::to_vec(s).map_err(|e| ClientError::Invalid(e.to_string()))?;
            crate::home::write_file(&local, &bytes, true)
        };
        if fetched {
            // Kept first, acknowledged second: a crash in between loses nothing, and the
            // acknowledgement is sent again at the next reading.
            save(&stored)?;
        }
        if !stored.acknowledged {
            match self.api.acknowledge(id).await {
                Ok(()) => {}
                // Destroyed on the server meanwhile: nothing is left there to delete.
                Err(e) if e.code() == trialog_protocol::Code::MessageGone => {}
                Err(e) if fetched => return Err(e),
                Err(_) => return Ok(msg),
            }
            stored.acknowledged = true;
            save(&stored)?;
        }
        crate::case_memory::remember(&self.home, &self.identity, &msg.case_id, &msg.fields)?;
        Ok(msg)
    }

    /// Verifies and decrypts an envelope as just received from the server, without storing
    /// or acknowledging it: every check of the recipient (DESIGN.md §7).
    pub async fn open_envelope(
        &mut self,
        id: &MessageId,
        view: &EnvelopeView,
    ) -> Result<ReadMessage, ClientError> {
        let stored = Stored {
            view: view.clone(),
            received_at: now(),
            acknowledged: false,
        };
        let at = stored.received_at;
        self.verify_envelope(id, &stored, Receipt::Fetched { at })
            .await
    }

    async fn verify_envelope(
        &mut self,
        id: &MessageId,
        stored: &Stored,
        receipt: Receipt,
    ) -> Result<ReadMessage, ClientError> {
        let bad = |s: String| ClientError::Verification(s);
        let env = &stored.view.envelope;
        let claimed: EnvelopeHeader = env
            .header
            .parse_unverified()
            .map_err(|e| bad(e.to_string()))?;
        let case = self.case(&claimed.case_id).await?;
        let (sender_view, sender_keys) = case
            .past_or_present_physician(&claimed.sender)
            .ok_or_else(|| bad("the sender is not a physician of this case".into()))?;
        let (sender_name, sender_role) = (sender_view.name.clone(), sender_view.role);
        // A re-enrolled patient's new key may wait for confirmation: consents signed with a
        // key confirmed before still count.
        if case.patient_keys.confirmed.is_empty() {
            return Err(bad("the patient's key is not confirmed on this case".into()));
        }
        let case_name = case.name().to_owned();
        let chain = self.chain(&claimed.case_id).await?;
        let me = self.account()?.clone();
        let h = receive(
            &ReceiveFacts {
                me: &me,
                my_fingerprint: &self.fingerprint(),
                message_id: id,
                sender_key: &sender_keys.signing,
                sender_role,
                chain: &chain,
                receipt,
            },
            env,
        )
        .map_err(|e| bad(e.to_string()))?;
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
            case_name,
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
