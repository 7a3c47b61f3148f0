//! Envelopes over HTTP: parse, then the store's verbs (`admit`, `inbox`, `deliver`,
//! `acknowledge`), where `trialog_protocol::decide` decides every check of DESIGN.md §7.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trialog_protocol::MessageId;
use trialog_protocol::api::{EnvelopeView, InboxItem, InboxPage, SubmitEnvelopeResponse};
use trialog_protocol::encoding::B64;

use super::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::auth::{Bearer, Session};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};
use crate::store;

pub async fn submit(
    State(st): State<AppState>,
    bearer: Bearer,
    ApiJson(env): ApiJson<store::Submitted>,
) -> ApiResult<(StatusCode, ApiJson<SubmitEnvelopeResponse>)> {
    let now = now();
    // The account's standing is checked by the admission, on the accounts it reads.
    let h = st.store.admit(bearer, &env, now).await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(SubmitEnvelopeResponse {
            message_id: h.message_id,
            accepted_at: now,
        }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboxQuery {
    /// Long poll: with an empty inbox, wait up to this many seconds for a message.
    #[serde(default)]
    wait: u64,
    /// Items per page (default 100, at most 500).
    #[serde(default)]
    limit: Option<i64>,
    /// The `next` of the previous page.
    #[serde(default)]
    after: Option<String>,
}

/// Longest long poll, seconds.
pub const MAX_WAIT: u64 = 60;
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 500;

/// A cursor is the position of the last item shown: `accepted_at` and message id.
fn cursor(i: &InboxItem) -> String {
    B64::encode(format!("{}/{}", i.accepted_at, i.message_id).as_bytes())
}

fn parse_cursor(s: &str) -> Result<(i64, MessageId), ApiError> {
    let bytes = B64::decode(s).map_err(|_| ApiError::BadCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| ApiError::BadCursor)?;
    let (at, id) = text.split_once('/').ok_or(ApiError::BadCursor)?;
    let at = at.parse().map_err(|_| ApiError::BadCursor)?;
    let id = MessageId::parse(id).map_err(|_| ApiError::BadCursor)?;
    Ok((at, id))
}

/// The recipient's pending messages, a page at a time (`Store::inbox`).
pub async fn inbox(
    State(st): State<AppState>,
    s: Session,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> ApiResult<ApiJson<InboxPage>> {
    s.require_physician()?;
    if q.wait > MAX_WAIT {
        return Err(ApiError::BadParameter(format!(
            "wait is at most {MAX_WAIT} seconds"
        )));
    }
    let limit = q.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadParameter(format!("limit is 1 to {MAX_PAGE}")));
    }
    let page = store::InboxQuery {
        after: q.after.as_deref().map(parse_cursor).transpose()?,
        limit,
        wait: std::time::Duration::from_secs(q.wait),
    };
    let (items, more) = st.store.inbox(&s.account, &page, now()).await?;
    let next = if more { items.last().map(cursor) } else { None };
    Ok(ApiJson(InboxPage { items, next }))
}

pub async fn fetch(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<EnvelopeView>> {
    let id = parse_id(&id, MessageId::parse)?;
    Ok(ApiJson(st.store.deliver(&s.account, &id, now()).await?))
}

/// The recipient has verified and stored the message: the server deletes its ciphertext,
/// from the WAL too, before answering.
pub async fn acknowledge(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, MessageId::parse)?;
    st.store.acknowledge(&s.account, &id, now()).await?;
    Ok(StatusCode::NO_CONTENT)
}
