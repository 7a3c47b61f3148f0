//! Cases: opening, the patient's enrolment and confirmation, and membership.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    AddMemberRequest, CaseView, ConfirmPatientRequest, MemberStatus, MemberView, OpenCaseRequest,
    OpenCaseResponse,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::binding::{BindingError, verify_patient};
use trialog_protocol::keys::VerifiedKeys;
use trialog_protocol::{AccountId, CaseId, Role};

use super::views::{account_view, role_of, verified_keys};
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::db::{self, cases::CaseRow, cases::MemberRow};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

const MAX_LABEL_CHARS: usize = 120;

/// Refuses labels that would put an identity on the server: the label is pseudonymous.
fn check_label(label: &str) -> Result<String, ApiError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(ApiError::BadRequest(format!(
            "the case label must be 1 to {MAX_LABEL_CHARS} characters"
        )));
    }
    if label.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "the case label may not contain control characters".into(),
        ));
    }
    let digits: String = label.chars().filter(char::is_ascii_digit).collect();
    if digits.len() >= 11 {
        return Err(ApiError::BadRequest(
            "the case label looks like it holds a national register number; use a pseudonymous label".into(),
        ));
    }
    Ok(label.to_owned())
}

pub async fn open(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<OpenCaseRequest>,
) -> ApiResult<(StatusCode, ApiJson<OpenCaseResponse>)> {
    s.require(&[Role::Treating], "treating physician")?;
    let label = check_label(&req.label)?;
    let now = now();
    let case_id = CaseId::random().map_err(|_| ApiError::Internal("randomness".into()))?;
    let code = crate::codes::generate().map_err(|_| ApiError::Internal("randomness".into()))?;
    let expires_at = now + st.settings.enrolment_ttl;
    let row = CaseRow {
        id: case_id.to_string(),
        label,
        treating: s.account.to_string(),
        patient: None,
        binding: None,
        opened_at: now,
    };
    let mut tx = st.db.write().await?;
    db::cases::insert(&mut *tx, &row, &crate::codes::hash(&code), expires_at).await?;
    db::audit::append(
        &mut tx,
        case_id.as_str(),
        now,
        AuditEvent::CaseOpened,
        Some(&s.account),
        Some(case_id.as_str()),
        None,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(OpenCaseResponse {
            case_id,
            enrolment_code: code,
            expires_at,
        }),
    ))
}

/// Loads a case the caller may see: its treating physician, its patient, or a member.
pub async fn load_visible(st: &AppState, s: &Session, id: &str) -> Result<CaseRow, ApiError> {
    let case = db::cases::get(st.db.pool(), id)
        .await?
        .ok_or_else(|| ApiError::UnknownCase(id.into()))?;
    let me = s.account.as_str();
    // An invited physician sees nothing until the patient accepts them: not the members,
    // not the consents, not which fields are shared with whom.
    let visible = case.treating == me
        || case.patient.as_deref() == Some(me)
        || db::cases::member_status(st.db.pool(), id, me)
            .await?
            .as_deref()
            == Some("active");
    if visible {
        Ok(case)
    } else {
        Err(ApiError::UnknownCase(id.into()))
    }
}

async fn account(st: &AppState, id: &str) -> Result<db::accounts::AccountRow, ApiError> {
    db::accounts::get(st.db.pool(), id)
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(id.into()))
}

pub async fn case_view(st: &AppState, case: &CaseRow) -> Result<CaseView, ApiError> {
    let treating = account_view(&account(st, &case.treating).await?)?;
    let patient = match &case.patient {
        Some(p) => Some(account_view(&account(st, p).await?)?),
        None => None,
    };
    let mut members = Vec::new();
    for m in db::cases::members(st.db.pool(), &case.id).await? {
        members.push(MemberView {
            account: account_view(&account(st, &m.account).await?)?,
            status: if m.status == "active" {
                MemberStatus::Active
            } else {
                MemberStatus::Invited
            },
            added_by: AccountId::parse(&m.added_by)
                .map_err(|_| ApiError::Internal("stored id".into()))?,
            added_at: m.added_at,
        });
    }
    Ok(CaseView {
        case_id: CaseId::parse(&case.id).map_err(|_| ApiError::Internal("stored id".into()))?,
        label: case.label.clone(),
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
    })
}

pub async fn show(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<CaseView>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    Ok(ApiJson(case_view(&st, &case).await?))
}

pub async fn list(State(st): State<AppState>, s: Session) -> ApiResult<ApiJson<Vec<CaseView>>> {
    let mut out = Vec::new();
    for case in db::cases::for_account(st.db.pool(), s.account.as_str()).await? {
        out.push(case_view(&st, &case).await?);
    }
    Ok(ApiJson(out))
}

/// The treating physician signs the binding of the patient's key to the case, after
/// comparing the fingerprint the patient read out.
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
    db::cases::set_binding(&mut *tx, id.as_str(), &json).await?;
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
    Ok(ApiJson(case_view(&st, &case).await?))
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
    if !role_of(&target)?.is_physician() {
        return Err(ApiError::NotAPhysician);
    }
    if target.id == case.treating {
        return Err(ApiError::AlreadyMember(target.id));
    }
    let current = db::cases::member_status(st.db.pool(), id.as_str(), &target.id).await?;
    let me = s.account.as_str();
    let (status, event) = if case.patient.as_deref() == Some(me) {
        if current.as_deref() == Some("active") {
            return Err(ApiError::AlreadyMember(target.id));
        }
        ("active", AuditEvent::MemberAdded)
    } else if case.treating == me {
        if current.is_some() {
            return Err(ApiError::AlreadyMember(target.id));
        }
        ("invited", AuditEvent::MemberInvited)
    } else {
        return Err(ApiError::NotCasePatient);
    };
    let now = now();
    let mut tx = st.db.write().await?;
    let m = MemberRow {
        account: target.id.clone(),
        status: status.into(),
        added_by: me.into(),
        added_at: now,
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
    Ok(ApiJson(case_view(&st, &case).await?))
}

/// The case's patient keys, checked against the treating physician's signed binding. No
/// consent is accepted before this succeeds (DESIGN.md §6).
pub async fn confirmed_patient(st: &AppState, case: &CaseRow) -> Result<VerifiedKeys, ApiError> {
    let patient_id = case.patient.as_deref().ok_or(ApiError::NoPatient)?;
    let treating = verified_keys(&account(st, &case.treating).await?)?;
    let patient = account(st, patient_id).await?;
    let record = serde_json::from_str(&patient.key_record)
        .map_err(|_| ApiError::Internal("stored key record".into()))?;
    let binding = match &case.binding {
        Some(b) => {
            Some(serde_json::from_str(b).map_err(|_| ApiError::Internal("stored binding".into()))?)
        }
        None => None,
    };
    let case_id = CaseId::parse(&case.id).map_err(|_| ApiError::Internal("stored id".into()))?;
    verify_patient(&case_id, &treating, binding.as_ref(), &record).map_err(ApiError::Binding)
}

/// Is `account` the treating physician or an active member of the case?
pub async fn is_active_physician(
    st: &AppState,
    case: &CaseRow,
    account: &str,
) -> Result<bool, ApiError> {
    Ok(case.treating == account
        || db::cases::member_status(st.db.pool(), &case.id, account)
            .await?
            .as_deref()
            == Some("active"))
}
