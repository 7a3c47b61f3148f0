//! Consents: the patient grants, lists and revokes them; physicians see those that concern
//! them. Every rule is `trialog_protocol::consent`'s; this file only fetches what it needs.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{ConsentView, RevokeRequest, RevokeResponse, SubmitConsentRequest};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::{Consent, Refusal, Standing, open_consent};
use trialog_protocol::{CaseId, ConsentId, Role};

use super::cases::{confirmed_patient, is_active_physician, load_visible};
use super::views::consent_view;
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::{self, consents::ConsentRow};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

pub async fn submit(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<SubmitConsentRequest>,
) -> ApiResult<(StatusCode, ApiJson<ConsentView>)> {
    s.require(&[Role::Patient], "patient")?;
    // Who claims what, to find the keys; nothing is trusted before `open_consent` below.
    let claimed: Consent = req
        .consent
        .parse_unverified()
        .map_err(|e| ApiError::MalformedJson(e.to_string()))?;
    let case = load_visible(&st, &s, claimed.case_id.as_str()).await?;
    if case.patient.as_deref() != Some(s.account.as_str()) || claimed.patient != s.account {
        return Err(ApiError::NotCasePatient);
    }
    let patient = confirmed_patient(&st, &case).await?;
    let c = open_consent(&req.consent, &patient.signing).map_err(|r| match r {
        Refusal::Malformed(m) => ApiError::MalformedConsent(m),
        other => ApiError::Refused(other),
    })?;
    if !is_active_physician(&st, &case, c.recipient.as_str()).await? {
        return Err(ApiError::NotAMember(c.recipient.to_string()));
    }
    if let Some(senders) = &c.senders {
        for sender in senders {
            if !is_active_physician(&st, &case, sender.as_str()).await? {
                return Err(ApiError::NotAMember(sender.to_string()));
            }
        }
    }
    let recipient = db::accounts::get(st.db.pool(), c.recipient.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(c.recipient.to_string()))?;
    if recipient.fingerprint != c.recipient_fingerprint.as_str() {
        return Err(ApiError::Refused(Refusal::RecipientKeyChanged));
    }
    // The patient read a name and a role: they must be the recipient's, as the operator
    // registered them, or the text they signed misled them.
    if recipient.name.as_deref() != Some(c.recipient_name.as_str())
        || recipient.role != c.recipient_role.as_str()
    {
        return Err(ApiError::RecipientMismatch);
    }
    let now = now();
    Standing::default()
        .live_at(c.valid_until, now)
        .map_err(ApiError::Refused)?;
    let mut tx = st.db.write().await?;
    if db::consents::get(&mut *tx, c.consent_id.as_str())
        .await?
        .is_some()
    {
        return Err(ApiError::ConsentExists);
    }
    let previous = db::consents::current(&mut *tx, case.id.as_str(), c.recipient.as_str()).await?;
    match (&previous, &c.supersedes) {
        (None, None) => {}
        (Some(p), Some(s)) if p.id == s.as_str() => {}
        (_, Some(s)) => return Err(ApiError::BadSupersedes(s.to_string())),
        (Some(p), None) => {
            return Err(ApiError::BadSupersedes(format!(
                "nothing (current is {})",
                p.id
            )));
        }
    }
    let row = ConsentRow {
        id: c.consent_id.to_string(),
        case_id: case.id.clone(),
        recipient: c.recipient.to_string(),
        signed: serde_json::to_string(&req.consent)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        valid_until: c.valid_until,
        created_at: now,
        revoked_at: None,
        revocation: None,
        superseded_by: None,
        superseded_at: None,
    };
    db::consents::insert(&mut *tx, &row).await?;
    if let Some(p) = &previous {
        db::consents::supersede(&mut *tx, &p.id, &row.id, now).await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::ConsentSuperseded,
            Some(&s.account),
            Some(&p.id),
            Some(format!("by {}", row.id)),
        )
        .await?;
    }
    let fields: Vec<&str> = c.fields.iter().map(|f| f.as_str()).collect();
    let detail = format!(
        "recipient {}; kinds {}; fields {}; until {}",
        c.recipient,
        c.kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        fields.join(","),
        trialog_protocol::time::format_date(c.valid_until)
    );
    db::audit::append(
        &mut tx,
        &case.id,
        now,
        AuditEvent::ConsentGranted,
        Some(&s.account),
        Some(&row.id),
        Some(detail),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, ApiJson(consent_view(&row)?)))
}

/// May this caller see this consent? The patient sees all; a physician those addressed to
/// them and those they may send under.
fn concerns(s: &Session, c: &Consent, patient: Option<&str>) -> bool {
    patient == Some(s.account.as_str())
        || c.recipient == s.account
        || (s.role.is_physician() && c.senders.as_ref().is_none_or(|v| v.contains(&s.account)))
}

fn parsed(row: &ConsentRow) -> Result<Consent, ApiError> {
    let signed: trialog_protocol::Signed<Consent> = serde_json::from_str(&row.signed)
        .map_err(|_| ApiError::Internal("stored consent".into()))?;
    signed
        .parse_unverified()
        .map_err(|_| ApiError::Internal("stored consent".into()))
}

pub async fn for_case(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<ConsentView>>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    let mut out = Vec::new();
    for row in db::consents::for_case(st.db.pool(), id.as_str()).await? {
        if concerns(&s, &parsed(&row)?, case.patient.as_deref()) {
            out.push(consent_view(&row)?);
        }
    }
    Ok(ApiJson(out))
}

pub async fn get_one(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ConsentView>> {
    let id = parse_id(&id, ConsentId::parse)?;
    let row = db::consents::get(st.db.pool(), id.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownConsent(id.to_string()))?;
    let case = load_visible(&st, &s, &row.case_id)
        .await
        .map_err(|_| ApiError::UnknownConsent(id.to_string()))?;
    if !concerns(&s, &parsed(&row)?, case.patient.as_deref()) {
        return Err(ApiError::UnknownConsent(id.to_string()));
    }
    Ok(ApiJson(consent_view(&row)?))
}

/// Revocation takes effect on receipt: no new envelope is accepted under the consent, and
/// every envelope under it that nobody fetched yet is destroyed (DESIGN.md §2.6).
pub async fn revoke(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<ApiJson<RevokeResponse>> {
    s.require(&[Role::Patient], "patient")?;
    let id = parse_id(&id, ConsentId::parse)?;
    let row = db::consents::get(st.db.pool(), id.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownConsent(id.to_string()))?;
    let case = load_visible(&st, &s, &row.case_id)
        .await
        .map_err(|_| ApiError::UnknownConsent(id.to_string()))?;
    if case.patient.as_deref() != Some(s.account.as_str()) {
        return Err(ApiError::NotCasePatient);
    }
    if row.revoked_at.is_some() {
        return Err(ApiError::AlreadyRevoked);
    }
    let patient = confirmed_patient(&st, &case).await?;
    let r = req
        .revocation
        .open(&patient.signing)
        .map_err(|_| ApiError::BadRevocation)?;
    if r.consent_id != id || r.case_id.as_str() != case.id || r.patient != s.account {
        return Err(ApiError::BadRevocation);
    }
    let now = now();
    let mut tx = st.db.write().await?;
    let json =
        serde_json::to_string(&req.revocation).map_err(|e| ApiError::Internal(e.to_string()))?;
    db::consents::revoke(&mut *tx, id.as_str(), &json, now).await?;
    let (waiting, already_delivered) = db::envelopes::under_consent(&mut tx, id.as_str()).await?;
    for msg in &waiting {
        db::envelopes::drop_ciphertext(&mut *tx, msg, "purged").await?;
        db::audit::append(
            &mut tx,
            &case.id,
            now,
            AuditEvent::EnvelopePurged,
            Some(&s.account),
            Some(msg),
            Some(format!("consent {id} revoked before delivery")),
        )
        .await?;
    }
    db::audit::append(
        &mut tx,
        &case.id,
        now,
        AuditEvent::ConsentRevoked,
        Some(&s.account),
        Some(id.as_str()),
        Some(format!(
            "{} purged unread; {already_delivered} already delivered",
            waiting.len()
        )),
    )
    .await?;
    tx.commit().await?;
    Ok(ApiJson(RevokeResponse {
        consent_id: id,
        revoked_at: now,
        purged: waiting.len() as u64,
        already_delivered,
    }))
}
