//! `GET /inbox/events`: the inbox page's live refresh. The browser opens a server-sent
//! event stream to this process, which follows the Trialog server's `GET /v1/events` for
//! the unlocked account with the library's own follower (`Client::follow_now`,
//! `Client::resume`, `Follower::next_in_stream`) and tells the page, for each event, only
//! that something changed:
//!
//! ```text
//! event: inbox        something happened to the inbox: fetch /inbox/rows again
//! data: changed
//!
//! event: locked       the keystore was locked: the stream ends, load /inbox again
//! data: locked
//! ```
//!
//! Nothing of the event itself (message ids, cases, reasons) reaches the page this way; the
//! rows it then fetches show what they always show.
//!
//! The shared client is held only to open (or reopen) the server's stream, never while
//! waiting for an event: the pages keep working meanwhile. A stream never outlives the
//! unlock it started under: locking (by hand or when idle) ends every one of them, and a
//! stream that must be reopened checks again that the keystore is still unlocked. A closed
//! tab drops the response body, and with it the follower and its connection to the server.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::App;
use super::i18n::Text;
use super::pages::{self, Failure, unlocked};
use crate::client::Follower;

/// Streams open at once. Browsers open at most six connections to one host over HTTP/1.1
/// and an event stream keeps one busy: past four open inbox pages, the others refresh on
/// their slow timer, and pages still load.
pub const MAX_STREAMS: usize = 4;

/// A comment line this often: a closed tab whose connection close went unnoticed is found
/// at the next write at the latest.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /inbox/events`
pub async fn events(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/inbox";
    // Before looking at the keystore: a lock from now on is seen by the stream.
    let locks = app.locks.subscribe();
    let Ok(permit) = app.streams.clone().try_acquire_owned() else {
        return pages::refusal(StatusCode::SERVICE_UNAVAILABLE, lang, Text::TooManyStreams);
    };
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, path),
    };
    if let Some(r) = pages::inbox::patients_have_no_inbox(lang, &me, path) {
        return r;
    }
    let follower = match client.follow_now().await {
        Ok(f) => f,
        Err(e) => return Failure::from(e).render(lang, Some(&me), path),
    };
    drop(vault);
    let live = Live {
        app,
        follower,
        locks,
        ended: false,
        _permit: permit,
    };
    let stream = futures_util::stream::unfold(live, next);
    Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response()
}

/// One browser's stream: the follower, and what ends it.
struct Live {
    app: Arc<App>,
    follower: Follower,
    /// Changes when the keystore is locked.
    locks: watch::Receiver<u64>,
    /// The last event (`locked`) was sent.
    ended: bool,
    /// One of `MAX_STREAMS`, given back when the stream is dropped.
    _permit: OwnedSemaphorePermit,
}

/// What the page is told; never anything of the event itself.
fn changed() -> Event {
    Event::default().event("inbox").data("changed")
}

fn locked() -> Event {
    Event::default().event("locked").data("locked")
}

/// The next event for the page, waiting for one; `None` ends the stream (the browser
/// reconnects by itself, and refreshes the rows when it has).
async fn next(mut s: Live) -> Option<(Result<Event, Infallible>, Live)> {
    if s.ended {
        return None;
    }
    loop {
        if !s.follower.is_open() {
            match reopen(&s.app, &mut s.follower, &s.locks).await {
                Reopen::Open => {}
                Reopen::Locked => {
                    s.ended = true;
                    return Some((Ok(locked()), s));
                }
                Reopen::Failed => return None,
            }
        }
        tokio::select! {
            // Locking wins over an event that arrives at the same moment.
            biased;
            _ = s.locks.changed() => {
                s.ended = true;
                return Some((Ok(locked()), s));
            }
            got = s.follower.next_in_stream() => match got {
                Ok(Some(_)) => return Some((Ok(changed()), s)),
                // Ended as soon as it opened: not in a tight loop holding the client; end,
                // and the page's slow refresh and retry take over.
                Ok(None) if s.follower.ended_at_once() => return None,
                // The server ended its stream (it does after a while): reopen from the
                // last event, so nothing committed in between is missed.
                Ok(None) => {}
                // It broke: end, and let the browser reconnect.
                Err(_) => return None,
            },
        }
    }
}

enum Reopen {
    Open,
    Locked,
    Failed,
}

/// Opens the server's stream again with the shared client, if the keystore is still
/// unlocked by the same unlock.
async fn reopen(app: &App, follower: &mut Follower, locks: &watch::Receiver<u64>) -> Reopen {
    let mut vault = app.vault.lock().await;
    if locks.has_changed().unwrap_or(true) {
        return Reopen::Locked;
    }
    let Some(client) = vault.client.as_mut() else {
        return Reopen::Locked;
    };
    match client.resume(follower).await {
        Ok(()) => Reopen::Open,
        Err(_) => Reopen::Failed,
    }
}
