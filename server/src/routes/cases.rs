//! Cases: opening, the patient's enrolment and confirmation, and membership. Who may add or
//! remove whom is `trialog_protocol::decide`'s; this file parses, checks what the caller
//! may do, and hands the verbs to the store.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    AddMemberRequest, CaseView, ConfirmPatientRequest, MemberStatus as ViewStatus, MemberView,
    OpenCaseRequest, OpenCaseResponse, RemoveMemberRequest, RemoveMemberResponse,
};
use trialog_protocol::consent::Revocation;
use trialog_protocol::decide::MemberStatus;
use trialog_protocol::encoding::B64;
use trialog_protocol::label::MAX_SEALED_LABEL;
use trialog_protocol::{AccountId, CaseId, Role};

use super::views::account_view;
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::cases::CaseRow;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};
use crate::store::facts;

fn check_sealed_label(b: &B64) -> Result<(), ApiError> {
    if b.0.is_empty() || b.0.len() > MAX_SEALED_LABEL {
        return Err(ApiError::LabelTooLarge(MAX_SEALED_LABEL));
    }
    Ok(())
}

pub async fn open(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<OpenCaseRequest>,
) -> ApiResult<(StatusCode, ApiJson<OpenCaseResponse>)> {
    s.require(&[Role::Treating], "treating physician")?;
    check_sealed_label(&req.sealed_label)?;
    let now = now();
    let code = crate::codes::generate().map_err(|_| ApiError::Internal("randomness".into()))?;
    let expires_at = now + st.settings.enrolment_ttl;
    st.store
        .open_case(
            &s.account,
            &req.case_id,
            req.sealed_label.0,
            &code,
            expires_at,
            now,
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(OpenCaseResponse {
            case_id: req.case_id,
            enrolment_code: code,
            expires_at,
        }),
    ))
}

/// The treating physician issues a new enrolment code for an existing case: for a patient
/// who lost the sheet before joining, or who lost their device and re-enrols a new key for
/// the same account. An earlier unused code of the case stops working.
pub async fn reissue_enrolment(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<(StatusCode, ApiJson<OpenCaseResponse>)> {
    s.require(&[Role::Treating], "treating physician")?;
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    if case.treating != s.account.as_str() {
        return Err(ApiError::NotCaseTreating);
    }
    let now = now();
    let code = crate::codes::generate().map_err(|_| ApiError::Internal("randomness".into()))?;
    let expires_at = now + st.settings.enrolment_ttl;
    st.store
        .reissue_enrolment(&s.account, &case, &code, expires_at, now)
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(OpenCaseResponse {
            case_id: id,
            enrolment_code: code,
            expires_at,
        }),
    ))
}

/// Loads a case the caller may see (`Store::visible_case`).
pub async fn load_visible(st: &AppState, s: &Session, id: &str) -> Result<CaseRow, ApiError> {
    st.store.visible_case(&s.account, id).await
}

/// The case as `viewer` may see it: the sealed label only for the treating physician and
/// the patient.
pub async fn case_view(
    st: &AppState,
    case: &CaseRow,
    viewer: &AccountId,
) -> Result<CaseView, ApiError> {
    let d = st.store.case_detail(case).await?;
    let mut members = Vec::new();
    for (m, account) in &d.members {
        members.push(MemberView {
            account: account_view(account)?,
            status: match m.status {
                MemberStatus::Active => ViewStatus::Active,
                MemberStatus::Invited => ViewStatus::Invited,
                MemberStatus::Removed => ViewStatus::Removed,
            },
            added_by: AccountId::parse(&m.added_by)
                .map_err(|_| ApiError::Internal("stored id".into()))?,
            added_at: m.added_at,
            removed_at: m.removed_at,
        });
    }
    let may_read_label =
        case.treating == viewer.as_str() || case.patient.as_deref() == Some(viewer.as_str());
    Ok(CaseView {
        case_id: facts::case_id(case)?,
        sealed_label: case
            .sealed_label
            .clone()
            .filter(|_| may_read_label)
            .map(B64),
        opened_at: case.opened_at,
        treating: account_view(&d.treating)?,
        patient: d.patient.as_ref().map(account_view).transpose()?,
        binding: match &case.binding {
            Some(b) => Some(
                serde_json::from_str(b).map_err(|_| ApiError::Internal("stored binding".into()))?,
            ),
            None => None,
        },
        members,
        past_patient_keys: d.past_patient_keys,
    })
}

pub async fn show(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<CaseView>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    Ok(ApiJson(case_view(&st, &case, &s.account).await?))
}

pub async fn list(State(st): State<AppState>, s: Session) -> ApiResult<ApiJson<Vec<CaseView>>> {
    let mut out = Vec::new();
    for case in st.store.cases_of(&s.account).await? {
        out.push(case_view(&st, &case, &s.account).await?);
    }
    Ok(ApiJson(out))
}

/// The treating physician signs the binding of the patient's key to the case, after
/// comparing the fingerprint the patient read out, and seals the label to both of them.
pub async fn confirm_patient(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ConfirmPatientRequest>,
) -> ApiResult<ApiJson<CaseView>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    if case.treating != s.account.as_str() {
        return Err(ApiError::NotCaseTreating);
    }
    check_sealed_label(&req.sealed_label)?;
    st.store
        .confirm_patient(&s.account, &case, &req.binding, &req.sealed_label.0, now())
        .await?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    Ok(ApiJson(case_view(&st, &case, &s.account).await?))
}

/// The patient adds a physician (active at once); the treating physician invites one (who
/// becomes active when the patient adds them too).
pub async fn add_member(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<AddMemberRequest>,
) -> ApiResult<ApiJson<CaseView>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    st.store
        .add_member(&s.account, &case, &req.account, now())
        .await?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    Ok(ApiJson(case_view(&st, &case, &s.account).await?))
}

/// The patient removes a physician: in one transaction every standing consent to them is
/// revoked (the patient signed each revocation), everything they have not acknowledged is
/// destroyed, and they stop seeing the case.
pub async fn remove_member(
    State(st): State<AppState>,
    s: Session,
    ApiPath((id, member)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<RemoveMemberRequest>,
) -> ApiResult<ApiJson<RemoveMemberResponse>> {
    let id = parse_id(&id, CaseId::parse)?;
    let member = parse_id(&member, AccountId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    if case.patient.as_deref() != Some(s.account.as_str()) {
        return Err(ApiError::NotCasePatient);
    }
    let patient = st.store.confirmed_patient(&case).await?;
    let mut revocations: Vec<(Revocation, String)> = Vec::new();
    for signed in &req.revocations {
        let r = signed
            .open(&patient.signing)
            .map_err(|_| ApiError::BadRevocation)?;
        let json = serde_json::to_string(signed).map_err(|e| ApiError::Internal(e.to_string()))?;
        revocations.push((r, json));
    }
    let removed = st
        .store
        .remove_member(&s.account, &case, &member, &revocations, now())
        .await?;
    Ok(ApiJson(RemoveMemberResponse {
        account: member,
        revoked: removed.revoked,
        purged: removed.purged,
    }))
}
