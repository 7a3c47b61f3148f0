//! The HTTP API under `/v1`. Handlers parse, check the session, call one of the store's
//! verbs (`crate::store`, where `protocol` decides every rule) and answer; they see no
//! transaction, no SQL and no consent logic of their own.

mod accounts;
mod audit;
mod cases;
mod consents;
mod devices;
mod envelopes;
mod events;
mod health;
pub(crate) mod views;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use std::time::Duration;

use crate::error::ApiError;
use crate::state::AppState;

/// Bodies larger than this are refused with `body_too_large` (envelopes have their own).
pub const MAX_BODY: usize = 64 * 1024;
/// An envelope of the maximum number of maximum-size fields, base64-encoded, with room.
pub const MAX_ENVELOPE_BODY: usize = 6 * 1024 * 1024;

/// `axum::Json` with our error answer when the body is not what the route expects.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> axum::response::IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

pub fn router(state: AppState) -> Router {
    let budget = state.settings.limits.request_timeout;
    let api = Router::new()
        .route("/server", get(accounts::server_info))
        .route("/certificate", get(accounts::certificate))
        .route("/accounts", post(accounts::register))
        .route("/accounts/me", get(accounts::me))
        .route("/accounts/{id}", get(accounts::get_account))
        .route("/accounts/me/devices", put(devices::put))
        .route(
            "/accounts/me/device-links",
            post(devices::create_link).get(devices::waiting),
        )
        .route(
            "/accounts/me/device-links/{id}/approve",
            post(devices::approve),
        )
        .route("/device-links", post(devices::claim))
        .route("/device-links/{id}", get(devices::collect))
        .route("/invitations/lookup", post(accounts::lookup_invitation))
        .route("/auth/challenge", post(accounts::challenge))
        .route("/auth/login", post(accounts::login))
        .route("/directory", get(accounts::directory))
        .route("/directory/audit", get(audit::directory))
        .route("/cases", post(cases::open).get(cases::list))
        .route("/cases/{id}", get(cases::show))
        .route("/cases/{id}/confirm", post(cases::confirm_patient))
        .route("/cases/{id}/enrolment", post(cases::reissue_enrolment))
        .route("/enrolments/lookup", post(accounts::lookup_enrolment))
        .route("/cases/{id}/members", post(cases::add_member))
        .route(
            "/cases/{id}/members/{account}/remove",
            post(cases::remove_member),
        )
        .route("/cases/{id}/consents", get(consents::for_case))
        .route("/cases/{id}/audit", get(audit::for_case))
        .route("/consents", post(consents::submit))
        .route("/consents/{id}", get(consents::get_one))
        .route("/consents/{id}/revoke", post(consents::revoke))
        .route("/consents/{id}/pending", get(consents::pending))
        .route(
            "/envelopes",
            post(envelopes::submit).layer(DefaultBodyLimit::max(MAX_ENVELOPE_BODY)),
        )
        .route("/envelopes/{id}", get(envelopes::fetch))
        .route("/envelopes/{id}/ack", post(envelopes::acknowledge))
        // Answers at once; the stream that follows bounds its own life (`STREAM_LIFE`).
        .route("/events", get(events::stream))
        // Every route above: the body must arrive and the answer be ready within the budget,
        // so a client trickling a body holds its connection for that long at most.
        .route_layer(from_fn_with_state(budget, within))
        // The long poll waits up to MAX_WAIT by design; it gets that on top.
        .route(
            "/inbox",
            get(envelopes::inbox).layer(from_fn_with_state(
                budget + Duration::from_secs(envelopes::MAX_WAIT),
                within,
            )),
        );
    Router::new()
        .nest("/v1", api)
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready))
        .fallback(|| async { ApiError::NotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        // Counted by route template (axum's `MatchedPath`), never by the path as sent.
        .layer(from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        // Request logs carry method, path (ids only) and status; never headers or bodies.
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

/// Answers `request_timeout` if reading the request and answering it takes longer than
/// `budget`. The handler is dropped: a transaction not yet committed rolls back (one caught
/// mid-commit may still land, and a retry then meets the usual `message_replayed`).
async fn within(
    State(budget): State<Duration>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    match tokio::time::timeout(budget, next.run(req)).await {
        Ok(answer) => answer,
        Err(_) => ApiError::RequestTimeout.into_response(),
    }
}

/// Parses an id from the path, with a clear error naming what was expected.
pub fn parse_id<T>(
    s: &str,
    f: impl Fn(&str) -> Result<T, trialog_protocol::ids::BadId>,
) -> Result<T, ApiError> {
    f(s).map_err(|e| ApiError::BadParameter(e.to_string()))
}
