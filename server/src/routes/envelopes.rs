//! Envelopes: parse, load the facts, let `trialog_protocol::decide::admit` decide every
//! check of DESIGN.md §7, then commit with the audit entry and answer. The server sees
//! ciphertext, hashes and ids, never a value.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trialog_protocol::api::{
    EnvelopeState, EnvelopeView, InboxItem, InboxPage, SubmitEnvelopeResponse,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::Refusal;
use trialog_protocol::decide::{AdmissionFacts, admit, deliverable};
use trialog_protocol::encoding::B64;
use trialog_protocol::envelope::{EncryptedField, Envelope, EnvelopeHeader};
use trialog_protocol::keys::verifying_key;
use trialog_protocol::{AccountId, CaseId, Fingerprint, MessageId};

use super::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::admission::Admission;
use crate::auth::Session;
use crate::db::{self, envelopes::EnvelopeRow, envelopes::PurgeReason};
use crate::error::{ApiError, ApiResult};
use crate::facts;
use crate::state::{AppState, now};

pub async fn submit(
    State(st): State<AppState>,
    s: Session,
    ApiJson(env): ApiJson<Envelope>,
) -> ApiResult<(StatusCode, ApiJson<SubmitEnvelopeResponse>)> {
    // Who claims what, to know which facts to load; `admit` verifies everything.
    let claimed: EnvelopeHeader = env
        .header
        .parse_unverified()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let mut c = st.db.pool().acquire().await?;
    let sender = db::accounts::get(&mut *c, s.account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(s.account.to_string()))?;
    let sender_key =
        verifying_key(&sender.sign_key).map_err(|_| ApiError::Internal("stored key".into()))?;
    let id_seen = db::envelopes::exists(&mut *c, claimed.message_id.as_str()).await?;
    let case = db::cases::get(&mut *c, claimed.case_id.as_str()).await?;
    let (case_facts, chain) = match &case {
        Some(case) => (
            Some(facts::case_facts(&mut c, case).await?),
            facts::chain(&mut c, case).await?,
        ),
        None => (None, Default::default()),
    };
    let recipient_fp = db::accounts::get(&mut *c, claimed.recipient.as_str())
        .await?
        .and_then(|a| Fingerprint::parse(&a.fingerprint).ok());
    drop(c);
    let now = now();
    let h = admit(
        &AdmissionFacts {
            session: (&s.account, s.role),
            sender_key: &sender_key,
            id_seen,
            now,
            case: case_facts.as_ref(),
            recipient_fingerprint: recipient_fp.as_ref(),
            chain: &chain,
        },
        &env,
    )
    .map_err(|r| {
        tracing::info!(code = %r.code(), "envelope refused");
        ApiError::Admit(r)
    })?;
    let fields = serde_json::to_vec(&env.fields).map_err(|e| ApiError::Internal(e.to_string()))?;
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
        header: serde_json::to_string(&env.header)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        fields: Some(fields),
        size: size as i64,
        purge_reason: None,
    };
    // Stored with whatever else is waiting, in one commit; answered once committed.
    st.admissions
        .admit(Admission {
            row,
            header: h.clone(),
            case,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SubmitEnvelopeResponse {
            message_id: h.message_id,
            accepted_at: now,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Long poll: with an empty inbox, wait up to this many seconds for a message.
    #[serde(default)]
    wait: u64,
    /// Items per page (default 100, at most 500).
    #[serde(default)]
    limit: Option<i64>,
    /// The `next` of the previous page.
    #[serde(default)]
    after: Option<String>,
}

/// Longest long poll, seconds.
pub const MAX_WAIT: u64 = 60;
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// A cursor is the position of the last item shown: `accepted_at` and message id.
fn cursor(r: &db::envelopes::InboxRow) -> String {
    B64::encode(format!("{}/{}", r.accepted_at, r.id).as_bytes())
}

fn parse_cursor(s: &str) -> Result<(i64, String), ApiError> {
    let bytes = B64::decode(s).map_err(|_| ApiError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::BadCursor)?;
    let (at, id) = text.split_once('/').ok_or(ApiError::BadCursor)?;
    let at = at.parse().map_err(|_| ApiError::BadCursor)?;
    let id = MessageId::parse(id).map_err(|_| ApiError::BadCursor)?;
    Ok((at, id.to_string()))
}

/// The recipient's pending messages, a page at a time. Expiries due are acted on first, so
/// the inbox never lists a message that can no longer be read.
pub async fn inbox(
    State(st): State<AppState>,
    s: Session,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<ApiJson<InboxPage>> {
    s.require_physician()?;
    if q.wait > MAX_WAIT {
        return Err(ApiError::BadParameter(format!(
            "wait is at most {MAX_WAIT} seconds"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadParameter(format!("limit is 1 to {MAX_PAGE}")));
    }
    let after = q.after.as_deref().map(parse_cursor).transpose()?;
    let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
    // A failure here is logged by the sweep and must not cost the physician their inbox.
    if let Err(e) = crate::sweep::expire_due(&st, now()).await {
        tracing::warn!(error = %e, "expiry sweep before an inbox listing failed");
    }
    // Register interest before looking, so a message accepted in between is not missed.
    let notify = st.db.waiters().of(s.account.as_str());
    let woken = notify.notified();
    let mut rows =
        db::envelopes::inbox_page(st.db.pool(), s.account.as_str(), after, limit + 1).await?;
    if rows.is_empty() && q.wait > 0 {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(q.wait), woken).await;
        rows =
            db::envelopes::inbox_page(st.db.pool(), s.account.as_str(), after, limit + 1).await?;
    }
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next = if more { rows.last().map(cursor) } else { None };
    let bad = |_| ApiError::Internal("stored id".into());
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
    Ok(ApiJson(InboxPage { items, next }))
}

async fn own_envelope(st: &AppState, s: &Session, id: &str) -> Result<EnvelopeRow, ApiError> {
    let id = parse_id(id, MessageId::parse)?;
    db::envelopes::get(st.db.pool(), id.as_str())
        .await?
        .filter(|r| r.recipient == s.account.as_str())
        .ok_or_else(|| ApiError::UnknownMessage(id.to_string()))
}

fn gone(r: &EnvelopeRow) -> ApiError {
    ApiError::MessageGone {
        id: r.id.clone(),
        reason: r.purge_reason.clone(),
    }
}

pub async fn fetch(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<EnvelopeView>> {
    let r = own_envelope(&st, &s, &id).await?;
    if r.fields.is_none() {
        return Err(gone(&r));
    }
    // Every fetch (first or repeated before acknowledgement) is decided inside one write
    // transaction against the consent history as it is now: a new version that no longer
    // covers it, an expiry or a revocation since it was accepted destroy it instead.
    let now = now();
    let mut tx = st.db.write().await?;
    let r = db::envelopes::get(&mut *tx, &r.id)
        .await?
        .ok_or_else(|| ApiError::UnknownMessage(r.id.clone()))?;
    if r.fields.is_none() {
        return Err(gone(&r));
    }
    let case = db::cases::get(&mut *tx, &r.case_id)
        .await?
        .ok_or_else(|| ApiError::Internal("envelope without case".into()))?;
    let chain = facts::chain(&mut tx, &case).await?;
    let signed: trialog_protocol::Signed<EnvelopeHeader> =
        serde_json::from_str(&r.header).map_err(|_| ApiError::Internal("stored header".into()))?;
    let header = signed
        .parse_unverified()
        .map_err(|_| ApiError::Internal("stored header".into()))?;
    let facts = facts::case_facts(&mut tx, &case).await?;
    let member = facts.is_active_physician(&s.account);
    // A physician the patient removed receives nothing more, whatever the consent says.
    let stands = if member {
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
        db::envelopes::purge(&mut tx, &r, reason, now).await?;
        db::audit::append(
            &mut tx,
            &r.case_id,
            now,
            AuditEvent::EnvelopePurged,
            None,
            Some(&r.id),
            Some(format!("destroyed unread: {}", reason.as_str())),
        )
        .await?;
        tx.commit().await?;
        st.db.shred().await?;
        crate::purge::committed(&st.metrics, &r.case_id, reason, 1);
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
            Some(&s.account),
            Some(&r.id),
            None,
        )
        .await?;
        tx.commit().await?;
        st.metrics.envelope_delivered();
    } else {
        tx.rollback().await?;
    }
    envelope_view(&r)
}

fn envelope_view(r: &EnvelopeRow) -> ApiResult<ApiJson<EnvelopeView>> {
    let fields: Vec<EncryptedField> = match &r.fields {
        Some(f) => {
            serde_json::from_slice(f).map_err(|_| ApiError::Internal("stored fields".into()))?
        }
        None => return Err(gone(r)),
    };
    let header =
        serde_json::from_str(&r.header).map_err(|_| ApiError::Internal("stored header".into()))?;
    Ok(ApiJson(EnvelopeView {
        envelope: Envelope { header, fields },
        accepted_at: r.accepted_at,
    }))
}

/// The recipient has verified and stored the message: the server deletes its ciphertext,
/// from the WAL too, before answering.
pub async fn acknowledge(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let r = own_envelope(&st, &s, &id).await?;
    match r.state {
        EnvelopeState::Acknowledged => return Ok(StatusCode::NO_CONTENT),
        EnvelopeState::Purged => return Err(gone(&r)),
        EnvelopeState::Accepted => {
            return Err(ApiError::BadRequest(
                "fetch the message before acknowledging it".into(),
            ));
        }
        EnvelopeState::Delivered => {}
    }
    let mut tx = st.db.write().await?;
    // Only what is still delivered: a revocation may have destroyed it since it was read.
    if !db::envelopes::acknowledge(&mut tx, &r, now()).await? {
        let now = db::envelopes::get(&mut *tx, &r.id).await?;
        return match now {
            Some(n) if n.state == EnvelopeState::Acknowledged => Ok(StatusCode::NO_CONTENT),
            Some(n) => Err(gone(&n)),
            None => Err(ApiError::UnknownMessage(r.id)),
        };
    }
    db::audit::append(
        &mut tx,
        &r.case_id,
        now(),
        AuditEvent::EnvelopeAcknowledged,
        Some(&s.account),
        Some(&r.id),
        Some("ciphertext deleted from the server".into()),
    )
    .await?;
    tx.commit().await?;
    st.metrics.envelope_acknowledged();
    st.db.shred().await?;
    Ok(StatusCode::NO_CONTENT)
}
