//! Cases: opening, the patient's enrolment and confirmation, and membership. Who may add or
//! remove whom is `trialog_protocol::decide`'s; this file loads facts and stores.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    AddMemberRequest, CaseView, ConfirmPatientRequest, MemberStatus as ViewStatus, MemberView,
    OpenCaseRequest, OpenCaseResponse, RemoveMemberRequest, RemoveMemberResponse,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::binding::BindingError;
use trialog_protocol::consent::Revocation;
use trialog_protocol::decide::{Actor, MemberStatus, add_member as decide_add};
use trialog_protocol::encoding::B64;
use trialog_protocol::label::MAX_SEALED_LABEL;
use trialog_protocol::{AccountId, CaseId, Role};

use super::views::{account_view, verified_keys};
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::{self, cases::CaseRow, cases::MemberRow};
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
    let row = CaseRow {
        id: req.case_id.to_string(),
        sealed_label: Some(req.sealed_label.0),
        treating: s.account.to_string(),
        patient: None,
        binding: None,
        opened_at: now,
    };
    let mut tx = st.db.write().await?;
    if db::cases::get(&mut *tx, &row.id).await?.is_some() {
        return Err(ApiError::CaseExists);
    }
    db::cases::insert(&mut *tx, &row, &crate::codes::hash(&code), expires_at).await?;
    db::audit::append(
        &mut tx,
        &row.id,
        now,
        AuditEvent::CaseOpened,
        Some(&s.account),
        Some(&row.id),
        None,
    )
    .await?;
    tx.commit().await?;
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
    let mut tx = st.db.write().await?;
    db::cases::reissue_enrolment(&mut *tx, &case.id, &crate::codes::hash(&code), expires_at)
        .await?;
    db::audit::append(
        &mut tx,
        &case.id,
        now,
        AuditEvent::EnrolmentReissued,
        Some(&s.account),
        case.patient.as_deref(),
        Some(format!(
            "valid until {}; an earlier unused code no longer works",
            trialog_protocol::time::format_date(expires_at)
        )),
    )
    .await?;
    tx.commit().await?;
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

async fn account(st: &AppState, id: &str) -> Result<db::accounts::AccountRow, ApiError> {
    db::accounts::get(st.db.pool(), id)
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(id.into()))
}

/// The case as `viewer` may see it: the sealed label only for the treating physician and
/// the patient.
pub async fn case_view(
    st: &AppState,
    case: &CaseRow,
    viewer: &AccountId,
) -> Result<CaseView, ApiError> {
    let treating = account_view(&account(st, &case.treating).await?)?;
    let patient = match &case.patient {
        Some(p) => Some(account_view(&account(st, p).await?)?),
        None => None,
    };
    let mut members = Vec::new();
    for m in db::cases::members(st.db.pool(), &case.id).await? {
        members.push(MemberView {
            account: account_view(&account(st, &m.account).await?)?,
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
    let past_patient_keys = {
        let mut c = st.db.pool().acquire().await?;
        facts::past_patient_keys(&mut c, case).await?
    };
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
        treating,
        patient,
        binding: match &case.binding {
            Some(b) => Some(
                serde_json::from_str(b).map_err(|_| ApiError::Internal("stored binding".into()))?,
            ),
            None => None,
        },
        members,
        past_patient_keys,
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
    for case in db::cases::for_account(st.db.pool(), s.account.as_str()).await? {
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
    let patient_id = case.patient.clone().ok_or(ApiError::NoPatient)?;
    if case.binding.is_some() {
        return Err(ApiError::AlreadyConfirmed);
    }
    let treating = verified_keys(&account(&st, &case.treating).await?)?;
    let patient = account(&st, &patient_id).await?;
    let b = req
        .binding
        .open(&treating.signing)
        .map_err(|_| ApiError::Binding(BindingError::BadSignature))?;
    if b.case_id != id
        || b.patient.as_str() != patient_id
        || b.treating != s.account
        || b.patient_fingerprint.as_str() != patient.fingerprint
    {
        return Err(ApiError::BindingMismatch);
    }
    let now = now();
    let mut tx = st.db.write().await?;
    let json =
        serde_json::to_string(&req.binding).map_err(|e| ApiError::Internal(e.to_string()))?;
    db::cases::set_binding(&mut *tx, id.as_str(), &json, &req.sealed_label.0).await?;
    db::audit::append(
        &mut tx,
        id.as_str(),
        now,
        AuditEvent::PatientConfirmed,
        Some(&s.account),
        Some(&patient_id),
        Some(format!("key {}", patient.fingerprint)),
    )
    .await?;
    tx.commit().await?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    Ok(ApiJson(case_view(&st, &case, &s.account).await?))
}

fn actor(s: &Session, case: &CaseRow) -> Actor {
    if case.patient.as_deref() == Some(s.account.as_str()) {
        Actor::Patient
    } else if case.treating == s.account.as_str() {
        Actor::Treating
    } else {
        Actor::Other
    }
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
    let target = account(&st, req.account.as_str()).await?;
    let current = db::cases::member_status(st.db.pool(), id.as_str(), &target.id).await?;
    let mut c = st.db.pool().acquire().await?;
    let facts = facts::case_facts(&mut c, &case).await?;
    drop(c);
    let status = decide_add(actor(&s, &case), &facts, &req.account, target.role, current)
        .map_err(ApiError::Membership)?;
    let event = if status == MemberStatus::Active {
        AuditEvent::MemberAdded
    } else {
        AuditEvent::MemberInvited
    };
    let now = now();
    let mut tx = st.db.write().await?;
    let m = MemberRow {
        account: target.id.clone(),
        status,
        added_by: s.account.to_string(),
        added_at: now,
        removed_at: None,
    };
    db::cases::put_member(&mut *tx, id.as_str(), &m).await?;
    db::audit::append(
        &mut tx,
        id.as_str(),
        now,
        event,
        Some(&s.account),
        Some(&target.id),
        Some(format!("role {}; key {}", target.role, target.fingerprint)),
    )
    .await?;
    tx.commit().await?;
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
