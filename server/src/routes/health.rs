//! Liveness and readiness on the API listener, for a load balancer or an orchestrator:
//! `/healthz` answers while the process serves; `/readyz` only while the database answers
//! too. Neither needs a session nor says anything about accounts or content.

use axum::extract::State;
use trialog_protocol::api::Health;

use super::ApiJson;
use crate::error::ApiResult;
use crate::state::AppState;

/// `GET /healthz`
pub async fn alive() -> ApiJson<Health> {
    ApiJson(Health {
        status: "alive".into(),
    })
}

/// `GET /readyz`: one trivial query; a database that does not answer is `503 not_ready`.
pub async fn ready(State(st): State<AppState>) -> ApiResult<ApiJson<Health>> {
    st.store.ready().await?;
    Ok(ApiJson(Health {
        status: "ready".into(),
    }))
}
