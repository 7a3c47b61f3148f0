//! Consents: the patient grants, replaces, lists and revokes them; physicians see those that
//! concern them. Every rule is `trialog_protocol`'s (`consent`, `chain`, `decide`); this
//! file loads facts, asks, and stores.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    ConsentView, RevokeRequest, RevokeResponse, SubmitConsentRequest, SubmitConsentResponse,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::chain::{Chain, NewVersionRefusal, RevocationRefusal};
use trialog_protocol::consent::{Consent, Party, Refusal, Standing, open_consent, visible_to};
use trialog_protocol::decide::deliverable;
use trialog_protocol::envelope::EnvelopeHeader;
use trialog_protocol::{CaseId, ConsentId, Role, Signed};

use super::cases::load_visible;
use super::views::consent_view;
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::{self, consents::ConsentRow, envelopes::PurgeReason};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};
use crate::{facts, purge};

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Malformed(m) => ApiError::MalformedConsent(m),
        other => ApiError::Refused(other),
    }
}

/// The patient read a name and a role for every physician the consent names: they must be
/// the directory's, or the text they signed misled them.
async fn check_party(
    c: &mut sqlx::AnyConnection,
    p: &Party,
    facts: &trialog_protocol::decide::CaseFacts,
) -> Result<db::accounts::AccountRow, ApiError> {
    if !facts.is_active_physician(&p.account) {
        return Err(ApiError::NotAMember(p.account.to_string()));
    }
    let a = db::accounts::get(&mut *c, p.account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(p.account.to_string()))?;
    if a.name.as_deref() != Some(p.name.as_str()) || a.role != p.role {
        return Err(ApiError::RecipientMismatch);
    }
    Ok(a)
}

pub async fn submit(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<SubmitConsentRequest>,
) -> ApiResult<(StatusCode, ApiJson<SubmitConsentResponse>)> {
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
    let mut c = st.db.pool().acquire().await?;
    let patient = facts::confirmed_patient(&mut c, &case).await?;
    let consent = open_consent(&req.consent, &patient.signing).map_err(refused)?;
    let case_facts = facts::case_facts(&mut c, &case).await?;
    let recipient = check_party(
        &mut c,
        &Party {
            account: consent.recipient.clone(),
            name: consent.recipient_name.clone(),
            role: consent.recipient_role,
        },
        &case_facts,
    )
    .await?;
    if recipient.fingerprint != consent.recipient_fingerprint.as_str() {
        return Err(ApiError::Refused(Refusal::RecipientKeyChanged));
    }
    for p in &consent.senders {
        check_party(&mut c, p, &case_facts).await?;
    }
    drop(c);
    let now = now();
    Standing::default()
        .live_at(consent.valid_until, now)
        .map_err(ApiError::Refused)?;

    let mut tx = st.db.write().await?;
    let chain = facts::chain(&mut tx, &case).await?;
    let previous = chain
        .check_new(&consent)
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
        signed: serde_json::to_string(&req.consent)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
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
    // The history with the new version: what it no longer covers is destroyed now, what it
    // still covers stays readable.
    let next = chain
        .with_new_version(&consent, now)
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
            Some(&s.account),
            Some(p.as_str()),
            Some(format!(
                "by {}; {purged} unread messages no longer covered destroyed, {kept} kept",
                row.id
            )),
        )
        .await?;
    }
    let detail = format!(
        "recipient {}; kinds {}; fields {}; senders {}; until {}",
        consent.recipient,
        consent
            .kinds
            .iter()
            .map(|k| k.as_str())
            .collect::<Vec<_>>()
            .join(","),
        consent
            .fields
            .iter()
            .map(|f| f.as_str())
            .collect::<Vec<_>>()
            .join(","),
        consent
            .senders
            .iter()
            .map(|p| p.account.as_str())
            .collect::<Vec<_>>()
            .join(","),
        trialog_protocol::time::format_date(consent.valid_until)
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
    if purged > 0 {
        st.db.shred().await?;
    }
    tracing::info!(event = %"consent_granted", consent = %row.id, purged, kept, "consent granted");
    purge::committed(&st.metrics, &case.id, PurgeReason::NoLongerCovered, purged);
    Ok((
        StatusCode::CREATED,
        ApiJson(SubmitConsentResponse {
            consent: consent_view(&row)?,
            purged,
            kept,
        }),
    ))
}

/// May this caller see this consent? Protocol's need-to-know rule (the consent's patient
/// was checked to be the case's when it was accepted).
fn concerns(s: &Session, c: &Consent) -> bool {
    visible_to(c, &s.account)
}

fn parsed(row: &ConsentRow) -> Result<Consent, ApiError> {
    let signed: Signed<Consent> = serde_json::from_str(&row.signed)
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
    load_visible(&st, &s, id.as_str()).await?;
    let mut out = Vec::new();
    for row in db::consents::for_case(st.db.pool(), id.as_str()).await? {
        if concerns(&s, &parsed(&row)?) {
            out.push(consent_view(&row)?);
        }
    }
    Ok(ApiJson(out))
}

async fn visible_consent(
    st: &AppState,
    s: &Session,
    id: &ConsentId,
) -> Result<(ConsentRow, db::cases::CaseRow), ApiError> {
    let row = db::consents::get(st.db.pool(), id.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownConsent(id.to_string()))?;
    let case = load_visible(st, s, &row.case_id)
        .await
        .map_err(|_| ApiError::UnknownConsent(id.to_string()))?;
    if !concerns(s, &parsed(&row)?) {
        return Err(ApiError::UnknownConsent(id.to_string()));
    }
    Ok((row, case))
}

pub async fn get_one(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<ConsentView>> {
    let id = parse_id(&id, ConsentId::parse)?;
    let (row, _) = visible_consent(&st, &s, &id).await?;
    Ok(ApiJson(consent_view(&row)?))
}

/// The signed headers of the unread messages to this consent's recipient in its case: the
/// patient's client shows, before signing a new version, how many it would destroy. Headers
/// hold ids, kinds and field ids, never a value.
pub async fn pending(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<Vec<Signed<EnvelopeHeader>>>> {
    s.require(&[Role::Patient], "patient")?;
    let id = parse_id(&id, ConsentId::parse)?;
    let (row, case) = visible_consent(&st, &s, &id).await?;
    if case.patient.as_deref() != Some(s.account.as_str()) {
        return Err(ApiError::NotCasePatient);
    }
    let mut out = Vec::new();
    for r in db::envelopes::pending_for(st.db.pool(), &case.id, &row.recipient).await? {
        out.push(
            serde_json::from_str(&r.header)
                .map_err(|_| ApiError::Internal("stored header".into()))?,
        );
    }
    Ok(ApiJson(out))
}

/// Revocation takes effect on receipt: no new envelope is accepted under the consent, and
/// every envelope to its recipient that they have not acknowledged is destroyed, fetched or
/// not (DESIGN.md §2.6).
pub async fn revoke(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<ApiJson<RevokeResponse>> {
    s.require(&[Role::Patient], "patient")?;
    let id = parse_id(&id, ConsentId::parse)?;
    let (_, case) = visible_consent(&st, &s, &id).await?;
    if case.patient.as_deref() != Some(s.account.as_str()) {
        return Err(ApiError::NotCasePatient);
    }
    let mut c = st.db.pool().acquire().await?;
    let patient = facts::confirmed_patient(&mut c, &case).await?;
    drop(c);
    let r = req
        .revocation
        .open(&patient.signing)
        .map_err(|_| ApiError::BadRevocation)?;
    if r.consent_id != id {
        return Err(ApiError::BadRevocation);
    }
    let now = now();
    let mut tx = st.db.write().await?;
    let chain = facts::chain(&mut tx, &case).await?;
    let json =
        serde_json::to_string(&req.revocation).map_err(|e| ApiError::Internal(e.to_string()))?;
    let (purged, already_delivered) = revoke_in(&mut tx, &chain, &case.id, &r, &json, now).await?;
    db::audit::append(
        &mut tx,
        &case.id,
        now,
        AuditEvent::ConsentRevoked,
        Some(&s.account),
        Some(id.as_str()),
        Some(format!(
            "{purged} unread messages destroyed; {already_delivered} already delivered"
        )),
    )
    .await?;
    tx.commit().await?;
    st.db.shred().await?;
    tracing::info!(event = %"consent_revoked", consent = %id, purged, "consent revoked");
    purge::committed(&st.metrics, &case.id, PurgeReason::Revoked, purged);
    Ok(ApiJson(RevokeResponse {
        consent_id: id,
        revoked_at: now,
        purged,
        already_delivered,
    }))
}

/// Revokes one version inside the caller's transaction and destroys everything its
/// recipient has not acknowledged in the case. Returns (destroyed, already delivered).
pub async fn revoke_in(
    tx: &mut db::Tx,
    chain: &Chain,
    case_id: &str,
    r: &trialog_protocol::consent::Revocation,
    signed_json: &str,
    now: i64,
) -> Result<(u64, u64), ApiError> {
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
    let already_delivered = db::envelopes::delivered_count(&mut *tx, &line).await?;
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
    Ok((purged, already_delivered))
}
