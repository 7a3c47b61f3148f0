//! Envelopes: admit (verify against the facts, then a group commit), list the pending ones,
//! deliver (decided again against the consent history as it is now) and acknowledge
//! (the ciphertext is destroyed). The server sees ciphertext, hashes and ids, never a
//! value.

use trialog_protocol::api::{EnvelopeState, EnvelopeView, InboxItem};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::chain::Chain;
use trialog_protocol::consent::Refusal;
use trialog_protocol::decide::{AdmissionFacts, admit, deliverable};
use trialog_protocol::envelope::{EncryptedField, Envelope, EnvelopeHeader};
use trialog_protocol::keys::verifying_key;
use trialog_protocol::signed::Signed;
use trialog_protocol::{AccountId, CaseId, Fingerprint, MessageId};

use serde_json::value::RawValue;

use super::facts::{self, corrupt};
use super::{Admission, Store};
use crate::auth::Bearer;
use crate::db::{self, envelopes::EnvelopeRow, envelopes::PurgeReason};
use crate::error::ApiError;

/// A page of an inbox: after `after` (the `accepted_at` and id of the last item seen), at
/// most `limit` items; with nothing pending, wait up to `wait` for something.
#[derive(Debug, Clone)]
pub struct InboxQuery {
    pub after: Option<(i64, MessageId)>,
    pub limit: i64,
    pub wait: std::time::Duration,
}

/// An envelope as the sender's request carried it. `admit` checks the typed envelope parsed
/// from it, and stores the header's and fields' JSON text as received when that text is as
/// long as its compact form, as any client of this project writes it: serialising the
/// parsed envelope again (base64 and JSON escaping of some 8 KB of ciphertext) cost about 5%
/// of an admission's instructions. Text padded with whitespace or escapes is serialised
/// again, so what is stored never outgrows the ciphertext that the pending quotas count.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Submitted {
    header: Box<RawValue>,
    fields: Box<RawValue>,
}

impl Submitted {
    /// The typed envelope; a malformed header or field is a malformed body, as it would
    /// have been had the body been parsed as an `Envelope` at once.
    fn parse(&self) -> Result<Envelope, ApiError> {
        Ok(Envelope {
            header: parse_member("header", &self.header)?,
            fields: parse_member("fields", &self.fields)?,
        })
    }
}

/// One member of the body, parsed; an error names where in the body it is
/// (`fields[0].field: …`), as axum's `Json` does for a whole body. Its line and column
/// are left out: they would count from the member's start, not the body's.
fn parse_member<T: serde::de::DeserializeOwned>(
    member: &str,
    raw: &RawValue,
) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(&mut serde_json::Deserializer::from_str(raw.get())).map_err(
        |e: serde_path_to_error::Error<serde_json::Error>| {
            let at = match e.path().to_string() {
                p if p == "." => member.to_owned(),
                p if p.starts_with('[') => format!("{member}{p}"),
                p => format!("{member}.{p}"),
            };
            let inner = e.inner();
            let text = inner.to_string();
            let position = format!(" at line {} column {}", inner.line(), inner.column());
            let what = text.strip_suffix(&position).unwrap_or(&text);
            ApiError::MalformedJson(format!("{at}: {what}"))
        },
    )
}

/// The length of `header` as serde_json writes it, compact, if its key id needs no escape.
fn compact_header_len(h: &Signed<EnvelopeHeader>) -> Option<usize> {
    Some(
        r#"{"payload":"","sig":"","key":""}"#.len()
            + base64::encoded_len(h.payload.0.len(), true)?
            + base64::encoded_len(h.sig.0.len(), true)?
            + h.key.len(),
    )
}

/// The length of `fields` as serde_json writes them, compact; no escapes are needed in a
/// field id (the catalogue's) nor in base64.
fn compact_fields_len(fields: &[EncryptedField]) -> Option<usize> {
    let mut len = "[]".len() + fields.len().saturating_sub(1);
    for f in fields {
        len += r#"{"field":"","ciphertext":""}"#.len()
            + f.field.as_str().len()
            + base64::encoded_len(f.ciphertext.0.len(), true)?;
    }
    Some(len)
}

/// What to store of `value`: the text `received` if it is as long as `value` written
/// compact (`compact_len`; an undercount, when an escape is needed, only means a mismatch),
/// else `value` serialised again. Parsed from `received`, `value` is what it says, so only
/// padding or escapes could make the text longer.
fn stored<T: serde::Serialize>(
    received: &RawValue,
    compact_len: Option<usize>,
    value: &T,
) -> Result<String, ApiError> {
    let text = received.get();
    if compact_len == Some(text.len()) {
        return Ok(text.to_owned());
    }
    serde_json::to_string(value).map_err(|e| ApiError::Internal(e.to_string()))
}

/// What a recipient gets when they fetch an envelope.
pub type Delivery = EnvelopeView;

fn gone(r: &EnvelopeRow) -> ApiError {
    ApiError::MessageGone {
        id: r.id.clone(),
        reason: r.purge_reason.clone(),
    }
}

impl Store {
    /// Admits the envelope `submitted` by the bearer of a token, once their account is
    /// found to stand (checked here, on the accounts the admission reads, before anything
    /// else is told): every check of DESIGN.md §7 is `trialog_protocol::decide::admit`'s,
    /// on facts loaded here; the envelope is then stored with whatever else is waiting, in
    /// one commit, and this returns once that commit is durable. Returns the header as
    /// verified.
    pub async fn admit(
        &self,
        bearer: Bearer,
        submitted: &Submitted,
        now: i64,
    ) -> Result<EnvelopeHeader, ApiError> {
        let env = &submitted.parse()?;
        // Who claims what, to know which facts to load; `admit` verifies everything.
        let claimed: EnvelopeHeader = env
            .header
            .parse_unverified()
            .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let mut c = self.db.pool().acquire().await?;
        let read = db::envelopes::claimed(
            &mut *c,
            claimed.message_id.as_str(),
            claimed.case_id.as_str(),
            bearer.account().as_str(),
            claimed.recipient.as_str(),
        )
        .await?
        .ok_or(ApiError::InvalidToken)?;
        let accounts = facts::Accounts::from(read.accounts);
        let account = accounts
            .get(bearer.account().as_str())
            .ok_or(ApiError::InvalidToken)?;
        let session = bearer.stands(account.suspended_at.is_some(), &account.fingerprint)?;
        let sender = (&session.account, session.role);
        let sender_key = verifying_key(&account.sign_key).map_err(|_| corrupt("key"))?;
        let snapshot = match &read.case {
            Some((case, version)) => Some(
                self.verified
                    .snapshot(&mut c, case, *version, &accounts)
                    .await?,
            ),
            None => None,
        };
        let recipient_fp = accounts
            .get(claimed.recipient.as_str())
            .and_then(|a| Fingerprint::parse(&a.fingerprint).ok());
        drop(c);
        let no_chain = Chain::default();
        let h = admit(
            &AdmissionFacts {
                session: sender,
                sender_key: &sender_key,
                id_seen: read.id_seen,
                now,
                case: snapshot.as_ref().map(|s| &s.facts),
                recipient_fingerprint: recipient_fp.as_ref(),
                chain: snapshot.as_ref().map_or(&no_chain, |s| &s.chain),
            },
            env,
        )
        .map_err(|r| {
            tracing::info!(code = %r.code(), "envelope refused");
            ApiError::Admit(r)
        })?;
        let size: usize = env.fields.iter().map(|f| f.ciphertext.0.len()).sum();
        let row = EnvelopeRow {
            id: h.message_id.to_string(),
            case_id: h.case_id.to_string(),
            sender: h.sender.to_string(),
            recipient: h.recipient.to_string(),
            consent_id: h.consent_id.to_string(),
            kind: h.kind,
            created_at: h.created_at,
            accepted_at: now,
            state: EnvelopeState::Accepted,
            header: stored(
                &submitted.header,
                compact_header_len(&env.header),
                &env.header,
            )?,
            fields: Some(
                stored(
                    &submitted.fields,
                    compact_fields_len(&env.fields),
                    &env.fields,
                )?
                .into_bytes(),
            ),
            size: size as i64,
            purge_reason: None,
        };
        self.admissions
            .admit(Admission {
                row,
                header: h.clone(),
            })
            .await?;
        Ok(h)
    }

    /// A page of `recipient`'s pending envelopes, oldest first, and whether more follow.
    /// Expiries due are acted on first, so the inbox never lists a message that can no
    /// longer be read.
    pub async fn inbox(
        &self,
        recipient: &AccountId,
        q: &InboxQuery,
        now: i64,
    ) -> Result<(Vec<InboxItem>, bool), ApiError> {
        // A failure here is logged by the sweep and must not cost the physician their inbox.
        if let Err(e) = self.expire_due(now).await {
            tracing::warn!(error = %e, "expiry sweep before an inbox listing failed");
        }
        let after = q.after.as_ref().map(|(at, id)| (*at, id.as_str()));
        // Register interest before looking, so a message accepted in between is not missed.
        let notify = self.db.waiters().of(recipient.as_str());
        let woken = notify.notified();
        let page =
            || db::envelopes::inbox_page(self.db.pool(), recipient.as_str(), after, q.limit + 1);
        let mut rows = page().await?;
        if rows.is_empty() && !q.wait.is_zero() {
            let _ = tokio::time::timeout(q.wait, woken).await;
            rows = page().await?;
        }
        let more = rows.len() as i64 > q.limit;
        rows.truncate(q.limit as usize);
        let bad = |_| corrupt("id");
        let mut items = Vec::with_capacity(rows.len());
        for r in rows {
            items.push(InboxItem {
                message_id: MessageId::parse(&r.id).map_err(bad)?,
                case_id: CaseId::parse(&r.case_id).map_err(bad)?,
                sender: AccountId::parse(&r.sender).map_err(bad)?,
                sender_name: r.sender_name,
                kind: r.kind,
                created_at: r.created_at,
                accepted_at: r.accepted_at,
                state: r.state,
            });
        }
        Ok((items, more))
    }

    /// Delivers envelope `id` to `recipient`. Every fetch (first or repeated before
    /// acknowledgement) is decided inside one write transaction against the consent history
    /// as it is now: a new version that no longer covers it, an expiry, a revocation since
    /// it was accepted, or the recipient's removal from the case destroy it instead.
    pub async fn deliver(
        &self,
        recipient: &AccountId,
        id: &MessageId,
        now: i64,
    ) -> Result<Delivery, ApiError> {
        let r = self.own_envelope(recipient, id).await?;
        if r.fields.is_none() {
            return Err(gone(&r));
        }
        let mut tx = self.db.write().await?;
        let r = db::envelopes::get(&mut *tx, &r.id)
            .await?
            .ok_or_else(|| ApiError::UnknownMessage(r.id.clone()))?;
        if r.fields.is_none() {
            return Err(gone(&r));
        }
        let case = db::cases::get(&mut *tx, &r.case_id)
            .await?
            .ok_or_else(|| ApiError::Internal("envelope without case".into()))?;
        let chain = self.verified.chain(&mut tx, &case).await?;
        let signed: trialog_protocol::Signed<EnvelopeHeader> =
            serde_json::from_str(&r.header).map_err(|_| corrupt("header"))?;
        let header = signed.parse_unverified().map_err(|_| corrupt("header"))?;
        let facts = facts::case_facts(&mut tx, &case).await?;
        // A physician the patient removed receives nothing more, whatever the consent says.
        let stands = if facts.is_active_physician(recipient) {
            deliverable(&chain, &header, now)
        } else {
            Err(Refusal::WrongRecipient)
        };
        if let Err(why) = stands {
            let reason = match why {
                Refusal::Revoked => PurgeReason::Revoked,
                Refusal::Expired => PurgeReason::Expired,
                Refusal::WrongRecipient => PurgeReason::MemberRemoved,
                _ => PurgeReason::NoLongerCovered,
            };
            super::purge::one(&mut tx, &r, reason, now).await?;
            tx.commit().await?;
            self.db.shred().await?;
            super::purge::committed(&self.metrics, &r.case_id, reason, 1);
            return Err(ApiError::MessageGone {
                id: r.id,
                reason: Some(reason.as_str().into()),
            });
        }
        if r.state == EnvelopeState::Accepted {
            db::envelopes::set_state(&mut *tx, &r.id, EnvelopeState::Delivered).await?;
            db::audit::append(
                &mut tx,
                &r.case_id,
                now,
                AuditEvent::EnvelopeDelivered,
                Some(recipient),
                Some(&r.id),
                None,
            )
            .await?;
            tx.commit().await?;
            self.metrics.envelope_delivered();
        } else {
            tx.rollback().await?;
        }
        let fields: Vec<EncryptedField> = match &r.fields {
            Some(f) => serde_json::from_slice(f).map_err(|_| corrupt("fields"))?,
            None => return Err(gone(&r)),
        };
        Ok(EnvelopeView {
            envelope: Envelope {
                header: signed,
                fields,
            },
            accepted_at: r.accepted_at,
        })
    }

    /// `recipient` has verified and stored envelope `id`: its ciphertext is destroyed, from
    /// SQLite's WAL too, before this returns. Acknowledging twice is not an error.
    pub async fn acknowledge(
        &self,
        recipient: &AccountId,
        id: &MessageId,
        now: i64,
    ) -> Result<(), ApiError> {
        let r = self.own_envelope(recipient, id).await?;
        match r.state {
            EnvelopeState::Acknowledged => return Ok(()),
            EnvelopeState::Purged => return Err(gone(&r)),
            EnvelopeState::Accepted => {
                return Err(ApiError::BadRequest(
                    "fetch the message before acknowledging it".into(),
                ));
            }
            EnvelopeState::Delivered => {}
        }
        let mut tx = self.db.write().await?;
        // Only what is still delivered: a revocation may have destroyed it since it was read.
        if !db::envelopes::acknowledge(&mut tx, &r, now).await? {
            return match db::envelopes::get(&mut *tx, &r.id).await? {
                Some(n) if n.state == EnvelopeState::Acknowledged => Ok(()),
                Some(n) => Err(gone(&n)),
                None => Err(ApiError::UnknownMessage(r.id)),
            };
        }
        db::audit::append(
            &mut tx,
            &r.case_id,
            now,
            AuditEvent::EnvelopeAcknowledged,
            Some(recipient),
            Some(&r.id),
            Some("ciphertext deleted from the server".into()),
        )
        .await?;
        tx.commit().await?;
        self.metrics.envelope_acknowledged();
        self.db.shred().await?;
        Ok(())
    }

    /// Envelope `id` if `recipient` is its recipient; to anyone else it does not exist.
    async fn own_envelope(
        &self,
        recipient: &AccountId,
        id: &MessageId,
    ) -> Result<EnvelopeRow, ApiError> {
        db::envelopes::get(self.db.pool(), id.as_str())
            .await?
            .filter(|r| r.recipient == recipient.as_str())
            .ok_or_else(|| ApiError::UnknownMessage(id.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trialog_protocol::catalogue::{FieldId, catalogue};
    use trialog_protocol::encoding::B64;

    /// Every field of the catalogue, with ciphertexts of every length modulo 3.
    fn fields() -> Vec<EncryptedField> {
        catalogue()
            .iter()
            .enumerate()
            .map(|(i, def)| EncryptedField {
                field: FieldId::parse(def.id).unwrap(),
                ciphertext: B64(vec![0xfb; i * 100 + i % 3]),
            })
            .collect()
    }

    fn header() -> Signed<EnvelopeHeader> {
        serde_json::from_value(serde_json::json!({
            "payload": B64(vec![0xfb; 1301]),
            "sig": B64(vec![0xfb; 64]),
            "key": "ed25519:0a1b",
        }))
        .unwrap()
    }

    /// Each value written compact, padded with whitespace, with a character escaped, and
    /// with every slash escaped, as some JSON writers do.
    fn spellings(compact: &str) -> [String; 4] {
        [
            compact.to_owned(),
            compact.replace(',', " ,\n "),
            compact.replacen('+', "\\u002b", 1),
            compact.replace('/', "\\/"),
        ]
    }

    #[test]
    fn compact_lengths_are_serde_json_s() {
        let (fields, header) = (fields(), header());
        let compact = serde_json::to_string(&fields).unwrap();
        assert_eq!(compact_fields_len(&fields), Some(compact.len()));
        assert_eq!(compact_fields_len(&[]), Some("[]".len()));
        let compact = serde_json::to_string(&header).unwrap();
        assert_eq!(compact_header_len(&header), Some(compact.len()));
    }

    #[test]
    fn only_compact_text_is_stored_as_received() {
        let (fields, header) = (fields(), header());
        let compact = serde_json::to_string(&fields).unwrap();
        for text in spellings(&compact) {
            let parsed: Vec<EncryptedField> = serde_json::from_str(&text).unwrap();
            assert_eq!(parsed, fields, "{text}");
            let received = RawValue::from_string(text).unwrap();
            let kept = stored(&received, compact_fields_len(&parsed), &parsed).unwrap();
            assert_eq!(kept, compact);
        }
        let compact = serde_json::to_string(&header).unwrap();
        for text in spellings(&compact) {
            let parsed: Signed<EnvelopeHeader> = serde_json::from_str(&text).unwrap();
            let received = RawValue::from_string(text).unwrap();
            let kept = stored(&received, compact_header_len(&parsed), &parsed).unwrap();
            assert_eq!(kept, compact);
        }
    }

    #[test]
    fn a_malformed_member_names_where_it_is() {
        for (body, says) in [
            (
                r#"{"header":{"payload":"","sig":"","key":""},"fields":[{"field":1}]}"#,
                "fields[0].field: invalid type: integer `1`, expected a string",
            ),
            (
                r#"{"header":{"payload":"%%","sig":"","key":""},"fields":[]}"#,
                "header.payload: bad base64",
            ),
            (
                r#"{"header":{"payload":"","sig":"","key":""},"fields":{}}"#,
                "fields: invalid type: map, expected a sequence",
            ),
        ] {
            let submitted: Submitted = serde_json::from_str(body).unwrap();
            let Err(ApiError::MalformedJson(m)) = submitted.parse() else {
                panic!("{body} parsed");
            };
            assert!(m.starts_with(says), "{m}");
            assert!(!m.contains(" at line "), "{m}");
        }
    }
}
