//! Consents: the patient grants, replaces, lists and revokes them; physicians see those that
//! concern them. Every rule is `trialog_protocol`'s (`consent`, `chain`, `decide`); this
//! file parses, checks what the caller may do, and hands the verbs to the store.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    ConsentView, RevokeRequest, RevokeResponse, SubmitConsentRequest, SubmitConsentResponse,
};
use trialog_protocol::consent::{Consent, Party, Refusal, Standing, open_consent, visible_to};
use trialog_protocol::envelope::EnvelopeHeader;
use trialog_protocol::{CaseId, ConsentId, Role, Signed};

use super::cases::load_visible;
use super::views::consent_view;
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::{accounts::AccountRow, cases::CaseRow, consents::ConsentRow};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Malformed(m) => ApiError::MalformedConsent(m),
        other => ApiError::Refused(other),
    }
}

/// The patient read a name and a role for every physician the consent names: they must be
/// the directory's, or the text they signed misled them.
async fn check_party(
    st: &AppState,
    p: &Party,
    facts: &trialog_protocol::decide::CaseFacts,
) -> Result<AccountRow, ApiError> {
    if !facts.is_active_physician(&p.account) {
        return Err(ApiError::NotAMember(p.account.to_string()));
    }
    let a = st.store.account(&p.account).await?;
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
    let patient = st.store.confirmed_patient(&case).await?;
    let consent = open_consent(&req.consent, &patient.signing).map_err(refused)?;
    let case_facts = st.store.case_facts(&case).await?;
    let recipient = check_party(
        &st,
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
        check_party(&st, p, &case_facts).await?;
    }
    let now = now();
    Standing::default()
        .live_at(consent.valid_until, now)
        .map_err(ApiError::Refused)?;
    let g = st
        .store
        .grant(&s.account, &case, &consent, &req.consent, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SubmitConsentResponse {
            consent: consent_view(&g.row)?,
            purged: g.purged,
            kept: g.kept,
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
    for row in st.store.consents_of(id.as_str()).await? {
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
) -> Result<(ConsentRow, CaseRow), ApiError> {
    let row = st
        .store
        .consent(id)
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
    Ok(ApiJson(
        st.store.pending_headers(&case.id, &row.recipient).await?,
    ))
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
    let patient = st.store.confirmed_patient(&case).await?;
    let r = req
        .revocation
        .open(&patient.signing)
        .map_err(|_| ApiError::BadRevocation)?;
    if r.consent_id != id {
        return Err(ApiError::BadRevocation);
    }
    let now = now();
    let done = st
        .store
        .revoke(&s.account, &case, &r, &req.revocation, now)
        .await?;
    Ok(ApiJson(RevokeResponse {
        consent_id: id,
        revoked_at: now,
        purged: done.purged,
        already_delivered: done.already_delivered,
    }))
}
