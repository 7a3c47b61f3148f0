//! `GET /v1/events`: live delivery. A server-sent event stream of what happens to what the
//! account sent or may receive (`LiveEvent`): new envelopes, acknowledgements, envelopes
//! destroyed unread, revoked consents. Each event carries its id; a client that reconnects
//! with `Last-Event-ID` (or `?after=`) gets everything after it, from any replica, because
//! events are rows committed with what they announce (`db::events`).
//!
//! A stream lasts at most `STREAM_LIFE`, then ends cleanly: the client reconnects from its
//! last id. This bounds what a token outlives (it is checked at each connection) and keeps
//! every request under the client's and proxies' timeouts.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::Instant;
use trialog_protocol::api::{LiveEvent, LiveEventKind};
use trialog_protocol::{AccountId, CaseId};

use super::ApiQuery;
use crate::auth::Session;
use crate::db::events::EventRow;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// How long one stream stays open before the client is asked to reconnect.
pub const STREAM_LIFE: Duration = Duration::from_secs(55);
/// Events read per query; more follow at once.
const BATCH: i64 = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    /// Resume after this event id (the `Last-Event-ID` header wins when both are given).
    after: Option<i64>,
}

pub async fn stream(
    State(st): State<AppState>,
    s: Session,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let header = match headers.get("last-event-id") {
        None => None,
        Some(v) => Some(
            v.to_str()
                .ok()
                .and_then(|v| v.trim().parse::<i64>().ok())
                .filter(|n| *n >= 0)
                .ok_or_else(|| {
                    ApiError::BadParameter("Last-Event-ID is an event id (a number)".into())
                })?,
        ),
    };
    if q.after.is_some_and(|n| n < 0) {
        return Err(ApiError::BadParameter(
            "after is an event id (a number)".into(),
        ));
    }
    let account = s.account.clone();
    // Without a cursor the stream carries what happens from now on.
    let after = match header.or(q.after) {
        Some(n) => n,
        None => st.store.last_event(&account).await?,
    };
    let until = Instant::now() + STREAM_LIFE;
    let stream = futures_util::stream::unfold(
        Cursor {
            st,
            account,
            after,
            until,
            queued: Vec::new().into_iter(),
            greeted: false,
        },
        next_event,
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

struct Cursor {
    st: AppState,
    account: AccountId,
    after: i64,
    until: Instant,
    queued: std::vec::IntoIter<EventRow>,
    /// The stream opens with its cursor (an `id:` and no data), so a client that saw no
    /// event before the stream ended still resumes from where it started, not from "now".
    greeted: bool,
}

/// The next event of the stream, waiting for one if there is none yet; `None` ends the
/// stream (its life is over, or the database failed: the client reconnects either way).
async fn next_event(mut c: Cursor) -> Option<(Result<Event, Infallible>, Cursor)> {
    if !c.greeted {
        c.greeted = true;
        let hello = Event::default().id(c.after.to_string()).comment("from");
        return Some((Ok(hello), c));
    }
    loop {
        if let Some(row) = c.queued.next() {
            c.after = row.id;
            let Some(event) = to_event(row) else {
                continue;
            };
            return Some((Ok(event), c));
        }
        if Instant::now() >= c.until {
            return None;
        }
        // Interest first, then look: an event committed in between wakes the wait.
        let notify = c.st.store.waiters().of(c.account.as_str());
        let woken = notify.notified();
        let rows = match c.st.store.events_after(&c.account, c.after, BATCH).await {
            Ok(rows) => rows,
            Err(e) => {
                tracing::warn!(error = %e, "live events: reading the database failed");
                return None;
            }
        };
        if rows.is_empty() {
            let _ = tokio::time::timeout_at(c.until, woken).await;
        }
        c.queued = rows.into_iter();
    }
}

fn to_event(row: EventRow) -> Option<Event> {
    let live = LiveEvent {
        id: row.id,
        kind: LiveEventKind::parse(&row.kind)?,
        subject: row.subject,
        case_id: CaseId::parse(&row.case_id).ok()?,
        reason: row.reason,
        at: row.at,
    };
    let data = serde_json::to_string(&live).ok()?;
    Some(
        Event::default()
            .id(live.id.to_string())
            .event(live.kind.as_str())
            .data(data),
    )
}
