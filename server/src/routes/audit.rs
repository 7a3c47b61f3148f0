//! Audit chains with a signed checkpoint: the patient's view of everything that happened
//! on their case, and the directory's chain of key registrations, open to every account.

use axum::extract::State;
use trialog_protocol::api::AuditView;
use trialog_protocol::audit::Checkpoint;
use trialog_protocol::{CaseId, Signed};

use super::cases::load_visible;
use super::{ApiJson, ApiPath, parse_id};
use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

pub async fn for_case(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<AuditView>> {
    let id = parse_id(&id, CaseId::parse)?;
    let case = load_visible(&st, &s, id.as_str()).await?;
    if case.patient.as_deref() != Some(s.account.as_str()) {
        return Err(ApiError::NotCasePatient);
    }
    Ok(ApiJson(chain_view(&st, id.as_str()).await?))
}

/// Every key registration (DESIGN.md §2.5), for any signed-in account to verify.
pub async fn directory(State(st): State<AppState>, _s: Session) -> ApiResult<ApiJson<AuditView>> {
    Ok(ApiJson(
        chain_view(&st, trialog_protocol::audit::DIRECTORY_CHAIN).await?,
    ))
}

/// A whole chain and a checkpoint over its head, signed now.
async fn chain_view(st: &AppState, chain: &str) -> Result<AuditView, ApiError> {
    let records = st.store.audit_chain(chain).await?;
    let cp = Checkpoint {
        chain: chain.to_owned(),
        seq: records.len() as u64,
        head: records
            .last()
            .map(|r| r.hash.clone())
            .unwrap_or_else(|| hex::encode([0u8; 32])),
        at: now(),
    };
    let checkpoint =
        Signed::sign(&cp, &st.key.signing).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(AuditView {
        records,
        checkpoint,
    })
}
