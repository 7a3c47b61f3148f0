//! Following the account's live events across stream ends, server restarts and replicas:
//! the follower remembers the last event id and reconnects from it, logging in again when
//! the session expired.

use std::time::{Duration, Instant};
use trialog_protocol::Code;
use trialog_protocol::api::LiveEvent;

use super::Client;
use crate::error::ClientError;
use crate::live::EventStream;

/// Attempts in a row that may fail to reach the server before `next_event` gives up
/// (about half a minute: a restart or a replica's replacement takes less).
const RECONNECTS: u32 = 30;

/// Where a follower is: the last event it was given, and its open stream.
#[derive(Debug, Default)]
pub struct Follower {
    after: Option<i64>,
    stream: Option<EventStream>,
    /// When the open stream was opened, and whether it gave an event since.
    opened: Option<Instant>,
    given: bool,
    /// The last stream ended within `AT_ONCE` of opening without an event.
    ended_at_once: bool,
}

/// A stream that ends this soon after opening, having given nothing, was not a stream's
/// life running out but a server (or a proxy) ending every stream at once: it is reopened
/// after a pause, not in a tight loop.
const AT_ONCE: Duration = Duration::from_secs(1);

impl Follower {
    /// Follows from now on.
    pub fn new() -> Follower {
        Follower::default()
    }

    /// Follows from after event `id` (one given earlier).
    pub fn after(id: i64) -> Follower {
        Follower {
            after: Some(id),
            ..Follower::default()
        }
    }

    /// The last event given, to resume from later.
    pub fn last(&self) -> Option<i64> {
        self.after
    }

    /// Whether a stream is open: when not, `Client::resume` opens it again.
    pub fn is_open(&self) -> bool {
        self.stream.is_some()
    }

    /// Whether the last stream ended at once, having given nothing: wait before reopening.
    pub fn ended_at_once(&self) -> bool {
        self.ended_at_once
    }

    fn opened(&mut self, stream: EventStream) {
        self.stream = Some(stream);
        self.opened = Some(Instant::now());
        self.given = false;
    }

    /// The next event of the open stream, waiting for it, without the client. `None`: no
    /// stream is open, or the server ended it (its life is over); an error: it broke. Either
    /// way it is closed, and `Client::resume` opens it again from the last event given.
    pub async fn next_in_stream(&mut self) -> Result<Option<LiveEvent>, ClientError> {
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        match stream.next().await {
            Ok(Some(event)) => {
                // Without a cursor the server starts at "now": the first stream's start
                // is the follower's from then on.
                self.after = Some(event.id);
                self.given = true;
                Ok(Some(event))
            }
            Ok(None) => {
                self.ended_at_once =
                    !self.given && self.opened.is_some_and(|at| at.elapsed() < AT_ONCE);
                self.close();
                Ok(None)
            }
            Err(e) => {
                self.close();
                Err(e)
            }
        }
    }

    /// Drops the stream, keeping its cursor (its opening one if it gave no event).
    fn close(&mut self) {
        if let Some(s) = self.stream.take() {
            self.after = self.after.max(s.last_id());
        }
    }
}

impl Client {
    /// Starts following now: the stream is open when this returns, so what is committed
    /// from then on is given by `next_event`, even if it happens before the first call.
    pub async fn follow_now(&mut self) -> Result<Follower, ClientError> {
        let mut f = Follower::default();
        f.opened(self.open_events(None).await?);
        Ok(f)
    }

    /// The account's next live event, waiting for it. A stream the server ended, or lost
    /// with its server, is opened again from the last event given; nothing committed in
    /// between is missed.
    pub async fn next_event(&mut self, f: &mut Follower) -> Result<LiveEvent, ClientError> {
        let mut failures = 0;
        loop {
            match self.resume(f).await {
                Ok(()) => {}
                Err(e) if reachable_again(&e) && failures < RECONNECTS => {
                    failures += 1;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                Err(e) => return Err(e),
            }
            match f.next_in_stream().await {
                Ok(Some(event)) => return Ok(event),
                // The stream's life ended: at once from the last id, unless it ended as
                // soon as it opened.
                Ok(None) if f.ended_at_once() => {
                    failures += 1;
                    if failures > RECONNECTS {
                        return Err(ClientError::BadResponse(
                            "the live event stream keeps ending as soon as it opens".into(),
                        ));
                    }
                    tokio::time::sleep(AT_ONCE).await;
                }
                Ok(None) => {}
                Err(_) => {
                    failures += 1;
                    if failures > RECONNECTS {
                        return Err(ClientError::BadResponse(
                            "the live event stream keeps breaking".into(),
                        ));
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    /// Opens the follower's stream again from the last event it gave, unless one is open
    /// (once, logging in again if the session ran out): with `Follower::next_in_stream`,
    /// `next_event` for a caller that shares this client and must not hold it while it
    /// waits for an event (the web client, whose pages use the client meanwhile).
    pub async fn resume(&mut self, f: &mut Follower) -> Result<(), ClientError> {
        if f.stream.is_none() {
            let stream = self.open_events(f.after).await?;
            f.opened(stream);
        }
        Ok(())
    }

    async fn open_events(&mut self, after: Option<i64>) -> Result<EventStream, ClientError> {
        match self.api().await?.events(after).await {
            Err(e)
                if matches!(
                    e.api_code(),
                    Some(c) if c == Code::TokenExpired.as_str() || c == Code::InvalidToken.as_str()
                ) =>
            {
                // The session ran out while following: a new one, once.
                self.logged_in = false;
                self.api().await?.events(after).await
            }
            r => r,
        }
    }
}

/// Errors worth another attempt: the server (or the replica behind the address) could not
/// be reached or answered that it is not ready.
fn reachable_again(e: &ClientError) -> bool {
    match e {
        ClientError::Network(_) => true,
        _ => matches!(e.api_code(), Some(c) if c == Code::NotReady.as_str()),
    }
}
