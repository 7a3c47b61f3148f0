//! Envelopes: the server's checks of DESIGN.md §7, in order, each with its own code; then
//! commit, audit, answer. The server sees ciphertext, hashes and ids, never a value.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trialog_protocol::api::{EnvelopeState, EnvelopeView, InboxItem, SubmitEnvelopeResponse};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::{Refusal, SendContext, evaluate, open_consent};
use trialog_protocol::envelope::{
    EncryptedField, Envelope, EnvelopeHeader, MAX_CLOCK_SKEW, check_ciphertexts, check_manifest,
};
use trialog_protocol::keys::verifying_key;
use trialog_protocol::{AccountId, CaseId, MessageId};

use super::cases::{confirmed_patient, is_active_physician};
use super::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::auth::Session;
use crate::db::{self, envelopes::EnvelopeRow};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

pub async fn submit(
    State(st): State<AppState>,
    s: Session,
    ApiJson(env): ApiJson<Envelope>,
) -> ApiResult<(StatusCode, ApiJson<SubmitEnvelopeResponse>)> {
    // 1. Token valid (the extractor) and role allowed to send this kind.
    let claimed: EnvelopeHeader = env
        .header
        .parse_unverified()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    if !s.role.may_send(claimed.kind) {
        return Err(ApiError::KindForbidden {
            role: s.role.as_str(),
            kind: claimed.kind.as_str(),
        });
    }
    if claimed.sender != s.account {
        return Err(ApiError::SenderMismatch);
    }
    // 2. Signature valid for the sender's registered key.
    let sender = db::accounts::get(st.db.pool(), s.account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(s.account.to_string()))?;
    let sender_key =
        verifying_key(&sender.sign_key).map_err(|_| ApiError::Internal("stored key".into()))?;
    let h = env
        .header
        .open(&sender_key)
        .map_err(|_| ApiError::BadEnvelopeSignature)?;
    check_manifest(&h).map_err(ApiError::Envelope)?;
    // 3. Message id new.
    if db::envelopes::exists(st.db.pool(), h.message_id.as_str()).await? {
        return Err(ApiError::Replay(h.message_id.to_string()));
    }
    // 4. Created-at within the allowed skew.
    let now = now();
    // abs_diff: created_at comes from the network and may be i64::MIN.
    if h.created_at.abs_diff(now) > MAX_CLOCK_SKEW.unsigned_abs() {
        return Err(ApiError::ClockSkew);
    }
    // 5. Case exists; sender and recipient are its physicians.
    let case = db::cases::get(st.db.pool(), h.case_id.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownCase(h.case_id.to_string()))?;
    if !is_active_physician(&st, &case, s.account.as_str()).await? {
        return Err(ApiError::UnknownCase(h.case_id.to_string()));
    }
    if h.recipient == h.sender || !is_active_physician(&st, &case, h.recipient.as_str()).await? {
        return Err(ApiError::NotAMember(h.recipient.to_string()));
    }
    let recipient = db::accounts::get(st.db.pool(), h.recipient.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(h.recipient.to_string()))?;
    if recipient.fingerprint != h.recipient_fingerprint.as_str() {
        return Err(ApiError::RecipientKeyMismatch);
    }
    // 6. Consent valid: signed by the confirmed patient key, live, for this recipient and
    //    sender and kind; 7. manifest ⊆ consented fields. Both decided by `evaluate`.
    let row = db::consents::get(st.db.pool(), h.consent_id.as_str())
        .await?
        .filter(|c| c.case_id == case.id)
        .ok_or_else(|| ApiError::ConsentNotFound(h.consent_id.to_string()))?;
    let patient = confirmed_patient(&st, &case).await?;
    let signed = serde_json::from_str(&row.signed)
        .map_err(|_| ApiError::Internal("stored consent".into()))?;
    let consent = open_consent(&signed, &patient.signing).map_err(ApiError::Refused)?;
    let standing = row.standing();
    // Evaluated at the server's clock, so a backdated header cannot slip under a consent
    // that has since been revoked or has expired; and at the header's created-at, which is
    // when the recipient's client will evaluate it, so nothing accepted here is refused there.
    let mut decision = None;
    for at in [now, h.created_at] {
        let ctx = SendContext {
            case_id: &h.case_id,
            sender: &h.sender,
            recipient: &h.recipient,
            recipient_fingerprint: &h.recipient_fingerprint,
            kind: h.kind,
            at,
        };
        let d = evaluate(&consent, &standing, &ctx, &h.fields()).map_err(|r| match r {
            Refusal::Malformed(m) => ApiError::MalformedConsent(m),
            other => ApiError::Refused(other),
        })?;
        decision.get_or_insert(d);
    }
    let decision = decision.unwrap_or_default();
    if !decision.stripped.is_empty() {
        let fields = decision
            .stripped
            .iter()
            .map(|s| s.field.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ApiError::FieldsNotConsented { fields });
    }
    // 8. Ciphertext hashes match the signed manifest; sizes within limits.
    check_ciphertexts(&h, &env.fields).map_err(ApiError::Envelope)?;

    let fields = serde_json::to_vec(&env.fields).map_err(|e| ApiError::Internal(e.to_string()))?;
    let row = EnvelopeRow {
        id: h.message_id.to_string(),
        case_id: case.id.clone(),
        sender: h.sender.to_string(),
        recipient: h.recipient.to_string(),
        consent_id: h.consent_id.to_string(),
        kind: h.kind.as_str().into(),
        created_at: h.created_at,
        accepted_at: now,
        state: "accepted".into(),
        header: serde_json::to_string(&env.header)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        fields: Some(fields),
    };
    let mut tx = st.db.write().await?;
    // Checked again inside the write transaction: two racing submissions of one id, and a
    // revocation or a new version of the consent committed since it was read above (a
    // revocation purges only what it sees, so this envelope must not slip in after it).
    if db::envelopes::exists(&mut *tx, &row.id).await? {
        return Err(ApiError::Replay(row.id));
    }
    match db::consents::get(&mut *tx, &row.consent_id).await? {
        Some(c) => c.standing().check(now).map_err(ApiError::Refused)?,
        None => return Err(ApiError::ConsentNotFound(row.consent_id)),
    }
    db::envelopes::insert(&mut *tx, &row).await?;
    let detail = format!(
        "{} to {}; consent {}; fields {}{}",
        h.kind,
        h.recipient,
        h.consent_id,
        h.manifest
            .iter()
            .map(|m| m.field.as_str())
            .collect::<Vec<_>>()
            .join(","),
        if h.leak_guard_override {
            "; leak guard overridden by sender"
        } else {
            ""
        }
    );
    db::audit::append(
        &mut tx,
        &case.id,
        now,
        AuditEvent::EnvelopeAccepted,
        Some(&s.account),
        Some(&row.id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    st.inboxes.notify(h.recipient.as_str());
    tracing::info!(message = %h.message_id, kind = %h.kind, "envelope accepted");
    Ok((
        StatusCode::CREATED,
        ApiJson(SubmitEnvelopeResponse {
            message_id: h.message_id,
            accepted_at: now,
        }),
    ))
}

fn state_of(s: &str) -> EnvelopeState {
    match s {
        "accepted" => EnvelopeState::Accepted,
        "delivered" => EnvelopeState::Delivered,
        "acknowledged" => EnvelopeState::Acknowledged,
        _ => EnvelopeState::Purged,
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    #[serde(default)]
    all: bool,
    /// Long poll: with an empty inbox, wait up to this many seconds for a message.
    #[serde(default)]
    wait: u64,
}

/// Longest long poll, seconds.
pub const MAX_WAIT: u64 = 60;

pub async fn inbox(
    State(st): State<AppState>,
    s: Session,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<ApiJson<Vec<InboxItem>>> {
    s.require_physician()?;
    if q.wait > MAX_WAIT {
        return Err(ApiError::BadParameter(format!(
            "wait is at most {MAX_WAIT} seconds"
        )));
    }
    // Register interest before looking, so a message accepted in between is not missed.
    let notify = st.inboxes.of(s.account.as_str());
    let woken = notify.notified();
    let mut rows = db::envelopes::inbox(st.db.pool(), s.account.as_str(), q.all).await?;
    if rows.is_empty() && q.wait > 0 {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(q.wait), woken).await;
        rows = db::envelopes::inbox(st.db.pool(), s.account.as_str(), q.all).await?;
    }
    let bad = |_| ApiError::Internal("stored id".into());
    let mut out = Vec::new();
    for r in rows {
        out.push(InboxItem {
            message_id: MessageId::parse(&r.id).map_err(bad)?,
            case_id: CaseId::parse(&r.case_id).map_err(bad)?,
            sender: AccountId::parse(&r.sender).map_err(bad)?,
            sender_name: r.sender_name,
            kind: r
                .kind
                .parse()
                .map_err(|_| ApiError::Internal("stored kind".into()))?,
            created_at: r.created_at,
            accepted_at: r.accepted_at,
            state: state_of(&r.state),
        });
    }
    Ok(ApiJson(out))
}

async fn own_envelope(st: &AppState, s: &Session, id: &str) -> Result<EnvelopeRow, ApiError> {
    let id = parse_id(id, MessageId::parse)?;
    db::envelopes::get(st.db.pool(), id.as_str())
        .await?
        .filter(|r| r.recipient == s.account.as_str())
        .ok_or_else(|| ApiError::UnknownMessage(id.to_string()))
}

pub async fn fetch(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<EnvelopeView>> {
    let r = own_envelope(&st, &s, &id).await?;
    if r.state != "accepted" {
        // Delivered before (fetched again before acknowledging), or gone.
        return envelope_view(&r);
    }
    // First delivery: decided inside one write transaction, so a revocation cannot purge
    // the row between our read and our answer.
    let now = now();
    let mut tx = st.db.write().await?;
    let r = db::envelopes::get(&mut *tx, &r.id)
        .await?
        .ok_or_else(|| ApiError::UnknownMessage(r.id.clone()))?;
    if r.state != "accepted" {
        return envelope_view(&r);
    }
    // Expiry and a newer version act like revocation for what was not delivered yet.
    let consent = db::consents::get(&mut *tx, &r.consent_id).await?;
    let stands = consent
        .as_ref()
        .is_some_and(|c| c.standing().live_at(c.valid_until, now).is_ok());
    if !stands {
        db::envelopes::drop_ciphertext(&mut *tx, &r.id, "purged").await?;
        db::audit::append(
            &mut tx,
            &r.case_id,
            now,
            AuditEvent::EnvelopePurged,
            None,
            Some(&r.id),
            Some(format!(
                "consent {} no longer stands (expired or replaced)",
                r.consent_id
            )),
        )
        .await?;
        tx.commit().await?;
        return Err(ApiError::MessageGone(r.id));
    }
    db::envelopes::set_state(&mut *tx, &r.id, "delivered").await?;
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
    envelope_view(&r)
}

fn envelope_view(r: &EnvelopeRow) -> ApiResult<ApiJson<EnvelopeView>> {
    let fields: Vec<EncryptedField> = match &r.fields {
        Some(f) => {
            serde_json::from_slice(f).map_err(|_| ApiError::Internal("stored fields".into()))?
        }
        None => return Err(ApiError::MessageGone(r.id.clone())),
    };
    let header =
        serde_json::from_str(&r.header).map_err(|_| ApiError::Internal("stored header".into()))?;
    Ok(ApiJson(EnvelopeView {
        envelope: Envelope { header, fields },
        accepted_at: r.accepted_at,
    }))
}

/// The recipient has verified and stored the message: the server deletes its ciphertext.
pub async fn acknowledge(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let r = own_envelope(&st, &s, &id).await?;
    match r.state.as_str() {
        "acknowledged" => return Ok(StatusCode::NO_CONTENT),
        "purged" => return Err(ApiError::MessageGone(r.id)),
        "accepted" => {
            return Err(ApiError::BadRequest(
                "fetch the message before acknowledging it".into(),
            ));
        }
        _ => {}
    }
    let mut tx = st.db.write().await?;
    db::envelopes::drop_ciphertext(&mut *tx, &r.id, "acknowledged").await?;
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
    Ok(StatusCode::NO_CONTENT)
}
