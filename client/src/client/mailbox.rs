//! A physician's mailbox as a person thinks of it: every message they were sent, unread
//! (waiting on the server), read (kept by this client after verification) or gone
//! (destroyed on the server before it was read, with why), with the sender's name and role
//! and the case's name; and, for a read message, the fields of its kind that the patient's
//! consent did not let through to this recipient.
//!
//! The server's inbox lists only what has not been fetched, and forgets a destroyed
//! message. So this client keeps a small index (`inbox.json` in the home) of the messages
//! it has seen listed: a message that leaves the server's list without having been fetched
//! by this client was destroyed, and the server says why when asked for it.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use trialog_protocol::api::InboxItem;
use trialog_protocol::consent::{SendContext, Stripped, covers};
use trialog_protocol::envelope::EnvelopeHeader;
use trialog_protocol::{AccountId, CaseId, Code, MessageId, MessageKind, Role};

use super::messages::Stored;
use super::{Client, ReadMessage};
use crate::error::ClientError;
use crate::home::write_file;

/// Why a message is no longer on the server, as the server says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GoneReason {
    /// The patient revoked the consent before it was read.
    Revoked,
    /// The consent expired before it was read.
    Expired,
    /// A new version of the consent no longer covers it.
    NoLongerCovered,
    /// The patient removed the recipient from the case.
    MemberRemoved,
    /// Read and acknowledged (by this account, perhaps on another device).
    Acknowledged,
}

impl GoneReason {
    /// The reason of a `message_gone` refusal; `None` for any other error.
    pub fn of(e: &ClientError) -> Option<GoneReason> {
        match e {
            ClientError::Api {
                code: Code::MessageGone,
                reason,
                ..
            // A refusal with no destruction reason: it was read and acknowledged.
            } => Some(reason.as_deref().and_then(GoneReason::destroyed).unwrap_or(GoneReason::Acknowledged)),
            _ => None,
        }
    }

    /// Why the server destroyed a message unread (the reason of a `message_gone` refusal
    /// or of a `gone` live event); `None` for a reason this version does not know.
    pub fn destroyed(reason: &str) -> Option<GoneReason> {
        match reason {
            "revoked" => Some(GoneReason::Revoked),
            "expired" => Some(GoneReason::Expired),
            "no_longer_covered" => Some(GoneReason::NoLongerCovered),
            "member_removed" => Some(GoneReason::MemberRemoved),
            _ => None,
        }
    }
}

/// Where a message stands for this client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum MailState {
    /// Waiting on the server; opening it fetches, verifies, keeps and acknowledges it.
    Unread,
    /// Kept by this client since `received_at`, verified when it was fetched.
    Read { received_at: i64 },
    /// Destroyed on the server before this client fetched it.
    Gone { reason: GoneReason },
}

/// One line of the mailbox.
#[derive(Debug, Clone, Serialize)]
pub struct MailItem {
    pub message_id: MessageId,
    pub case_id: CaseId,
    /// The case's label where this account may read it, else its neutral reference.
    pub case_name: String,
    pub sender: AccountId,
    pub sender_name: Option<String>,
    /// The sender's role in the case, where the case could be fetched.
    pub sender_role: Option<Role>,
    pub kind: MessageKind,
    pub created_at: i64,
    #[serde(flatten)]
    pub state: MailState,
}

/// What the index keeps of a message seen in the server's inbox: only what the server
/// listed (no field value), and why it is gone once known.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Seen {
    item: InboxItem,
    #[serde(default)]
    gone: Option<GoneReason>,
}

/// The fields of a read message's kind that the consent it came under does not let through
/// to this recipient, each with why: what the sender's client stripped, if they wrote it.
#[derive(Debug, Clone, Serialize)]
pub struct Withheld {
    /// When the consent version the message was accepted under starts.
    pub consent_from: i64,
    pub stripped: Vec<Stripped>,
}

impl Client {
    /// Every message of this physician, newest first: unread ones from the server's inbox,
    /// read ones kept by this client, and gone ones with why. Never fetches an unread
    /// message (listing has no effect on the server beyond the listing itself).
    pub async fn mailbox(&mut self) -> Result<Vec<MailItem>, ClientError> {
        let waiting = self.inbox().await?;
        let kept = self.kept()?;
        let mut seen = self.load_seen()?;
        let listed: Vec<MessageId> = waiting.iter().map(|i| i.message_id.clone()).collect();
        for i in &waiting {
            seen.insert(
                i.message_id.to_string(),
                Seen {
                    item: i.clone(),
                    gone: None,
                },
            );
        }
        // Seen listed before, no longer listed, never fetched here: destroyed on the
        // server. A message no longer listed has no content left there, so asking for it
        // delivers nothing: the server only says why it is gone.
        let mut changed = !waiting.is_empty();
        for s in seen.values_mut() {
            let id = &s.item.message_id;
            if s.gone.is_some() || listed.contains(id) || kept.contains_key(id) {
                continue;
            }
            if let Err(e) = self.api.envelope(id).await
                && let Some(r) = GoneReason::of(&e)
            {
                s.gone = Some(r);
                changed = true;
            }
        }
        if changed {
            self.save_seen(&seen)?;
        }

        let mut items = Vec::new();
        let mut cases: BTreeMap<CaseId, Option<super::VerifiedCase>> = BTreeMap::new();
        for (id, (header, received_at)) in &kept {
            let state = MailState::Read {
                received_at: *received_at,
            };
            items.push((
                id.clone(),
                header.case_id.clone(),
                header.sender.clone(),
                None,
                header.kind,
                header.created_at,
                state,
            ));
        }
        for s in seen.values() {
            let i = &s.item;
            if kept.contains_key(&i.message_id) {
                continue;
            }
            // Not listed and the server did not say why (e.g. unreachable): unread until
            // the server says otherwise.
            let state = match s.gone {
                Some(reason) => MailState::Gone { reason },
                None => MailState::Unread,
            };
            items.push((
                i.message_id.clone(),
                i.case_id.clone(),
                i.sender.clone(),
                i.sender_name.clone(),
                i.kind,
                i.created_at,
                state,
            ));
        }
        let mut out = Vec::with_capacity(items.len());
        for (message_id, case_id, sender, listed_name, kind, created_at, state) in items {
            if !cases.contains_key(&case_id) {
                let c = self.case(&case_id).await.ok();
                cases.insert(case_id.clone(), c);
            }
            let case = cases.get(&case_id).and_then(Option::as_ref);
            let physician = case.and_then(|c| c.past_or_present_physician(&sender));
            out.push(MailItem {
                case_name: case
                    .map(|c| c.name().to_owned())
                    .unwrap_or_else(|| trialog_protocol::label::reference(&case_id)),
                sender_name: physician
                    .as_ref()
                    .and_then(|(v, _)| v.name.clone())
                    .or(listed_name),
                sender_role: physician.as_ref().map(|(v, _)| v.role),
                message_id,
                case_id,
                sender,
                kind,
                created_at,
                state,
            });
        }
        out.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| a.message_id.as_str().cmp(b.message_id.as_str()))
        });
        Ok(out)
    }

    /// Whether this client keeps `id` (it was fetched, verified and stored here).
    pub fn is_kept(&self, id: &MessageId) -> bool {
        self.home
            .messages_dir()
            .join(format!("{id}.json"))
            .is_file()
    }

    /// When this client received `id`, if it keeps it.
    pub fn received_at(&self, id: &MessageId) -> Result<Option<i64>, ClientError> {
        let path = self.home.messages_dir().join(format!("{id}.json"));
        if !path.is_file() {
            return Ok(None);
        }
        Ok(Some(read_kept(&path)?.1))
    }

    /// Why `id` is gone, if this client saw it listed and the server since said so.
    pub fn gone_reason(&self, id: &MessageId) -> Result<Option<GoneReason>, ClientError> {
        Ok(self.load_seen()?.get(id.as_str()).and_then(|s| s.gone))
    }

    /// Records that `id` is gone and why, as learned when trying to read it.
    pub fn note_gone(&self, id: &MessageId, reason: GoneReason) -> Result<(), ClientError> {
        let mut seen = self.load_seen()?;
        if let Some(s) = seen.get_mut(id.as_str()) {
            s.gone = Some(reason);
            self.save_seen(&seen)?;
        }
        Ok(())
    }

    /// The fields of `m`'s kind that the consent it came under did not let through to this
    /// recipient, with why (the same rule the sender's client applied: `covers`).
    pub async fn withheld(&mut self, m: &ReadMessage) -> Result<Withheld, ClientError> {
        let chain = self.chain(&m.case_id).await?;
        let v = chain.get(&m.consent_id).ok_or_else(|| {
            ClientError::Verification("the message's consent is not in the case".into())
        })?;
        let me = self.account()?.clone();
        let fingerprint = v.consent.recipient_fingerprint.clone();
        let of_kind: Vec<_> = trialog_protocol::catalogue::catalogue()
            .iter()
            .filter(|d| d.kinds.contains(&m.kind))
            .filter_map(|d| trialog_protocol::FieldId::parse(d.id).ok())
            .filter(|f| !m.fields.iter().any(|(g, _)| g == f))
            .collect();
        let ctx = SendContext {
            case_id: &m.case_id,
            sender: &m.sender,
            recipient: &me,
            recipient_fingerprint: &fingerprint,
            kind: m.kind,
            at: m.created_at,
        };
        let d = covers(&v.consent, &ctx, &of_kind)
            .map_err(|e| ClientError::Verification(e.to_string()))?;
        Ok(Withheld {
            consent_from: v.consent.valid_from,
            stripped: d.stripped,
        })
    }

    /// The messages kept by this client: their header (verified when fetched) and when
    /// they were received.
    fn kept(&self) -> Result<BTreeMap<MessageId, (EnvelopeHeader, i64)>, ClientError> {
        let dir = self.home.messages_dir();
        let mut out = BTreeMap::new();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(ClientError::Io(dir.display().to_string(), e)),
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_suffix(".json"))
                .and_then(|n| MessageId::parse(n).ok())
            else {
                continue;
            };
            out.insert(id, read_kept(&path)?);
        }
        Ok(out)
    }

    fn load_seen(&self) -> Result<BTreeMap<String, Seen>, ClientError> {
        let p = self.home.inbox_index_path();
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| ClientError::Corrupt(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(ClientError::Io(p.display().to_string(), e)),
        }
    }

    fn save_seen(&self, seen: &BTreeMap<String, Seen>) -> Result<(), ClientError> {
        let bytes = serde_json::to_vec(seen).map_err(|e| ClientError::Invalid(e.to_string()))?;
        write_file(&self.home.inbox_index_path(), &bytes, true)
    }
}

/// A kept message's header (verified when it was fetched) and when it was received.
fn read_kept(path: &std::path::Path) -> Result<(EnvelopeHeader, i64), ClientError> {
    let corrupt = |e: String| ClientError::Corrupt(path.display().to_string(), e);
    let bytes = std::fs::read(path).map_err(|e| ClientError::Io(path.display().to_string(), e))?;
    let stored: Stored = serde_json::from_slice(&bytes).map_err(|e| corrupt(e.to_string()))?;
    let header: EnvelopeHeader = stored
        .view
        .envelope
        .header
        .parse_unverified()
        .map_err(|e| corrupt(e.to_string()))?;
    Ok((header, stored.received_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trialog_protocol::Lang;

    fn gone(reason: Option<&str>) -> ClientError {
        ClientError::Api {
            status: 410,
            code: Code::MessageGone,
            message: "message msg_x is no longer on the server".into(),
            reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn the_server_reason_of_a_gone_message_is_read_and_said_in_words() {
        assert_eq!(
            GoneReason::of(&gone(Some("revoked"))),
            Some(GoneReason::Revoked)
        );
        assert_eq!(
            GoneReason::of(&gone(Some("member_removed"))),
            Some(GoneReason::MemberRemoved)
        );
        assert_eq!(GoneReason::of(&gone(None)), Some(GoneReason::Acknowledged));
        let other = ClientError::Api {
            status: 404,
            code: Code::UnknownMessage,
            message: "unknown".into(),
            reason: None,
        };
        assert_eq!(GoneReason::of(&other), None);
        let fr = crate::i18n::explain(&gone(Some("expired")), Lang::Fr);
        assert!(fr.contains("Le consentement du patient a expiré"), "{fr}");
    }
}
