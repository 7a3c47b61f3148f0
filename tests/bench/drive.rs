//! Drives K connections, each one task sending one request at a time: closed loop (the
//! next request when the last is answered) or open loop at a fixed offered rate, with each
//! request's latency counted from when it was due, so a slow answer delays no measurement
//! (no coordinated omission: wrk2's scheme, each connection with its own share of the
//! schedule).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::time::Instant;

use crate::bilan::Pool;
use crate::conn::{Conn, Outcome, Token};
use crate::error::BenchError;
use crate::report::Recorder;

/// What each connection repeats.
#[derive(Clone)]
pub enum Work {
    /// `GET /healthz`: the floor.
    Healthz,
    /// `POST /v1/envelopes`: connection `c` sends the envelopes of pool `c mod pools`
    /// (its session is that pool's sender).
    Submit(Arc<Vec<Pool>>),
    /// `GET /v1/inbox`, first page of this many items.
    Inbox(u32),
}

#[derive(Debug, Clone, Copy)]
pub enum Load {
    Closed,
    /// Requests per second offered, over all connections.
    Open(f64),
}

#[derive(Debug, Clone, Copy)]
pub enum Stop {
    After(Duration),
    Count(u64),
}

/// After the end of an open-loop run, how long requests already due may still be sent;
/// those left are reported as not sent.
const GRACE: Duration = Duration::from_secs(5);

/// What the connections of one run saw.
pub struct Run {
    pub rec: Recorder,
    pub attempted: u64,
    pub wall: Duration,
    pub exhausted: bool,
    pub not_sent: u64,
}

/// Opens `n` connections (connection `c` with session `tokens[c mod tokens]`, if any), each
/// with one `GET /healthz` so that TLS handshakes are done before any clock starts. Returns
/// them and the HTTP version they negotiated.
pub async fn connect(
    n: usize,
    url: &str,
    pin: [u8; 32],
    tokens: &[Token],
) -> Result<(Vec<Conn>, Option<String>), BenchError> {
    let mut set = tokio::task::JoinSet::new();
    for c in 0..n {
        let token = (!tokens.is_empty()).then(|| tokens[c % tokens.len()].clone());
        let conn = Conn::new(url, pin, token)?;
        set.spawn(async move {
            let o = conn.healthz().await;
            (c, conn, o)
        });
    }
    let mut conns: Vec<Option<Conn>> = (0..n).map(|_| None).collect();
    let mut version = None;
    while let Some(joined) = set.join_next().await {
        let (c, conn, o) = joined.map_err(|e| BenchError::Setup(format!("connecting: {e}")))?;
        match o {
            Outcome::Ok(v) => version = Some(format!("{v:?}")),
            Outcome::Err(e) => {
                return Err(BenchError::Setup(format!(
                    "connection {c}: GET /healthz: {e}"
                )));
            }
        }
        conns[c] = Some(conn);
    }
    Ok((conns.into_iter().flatten().collect(), version))
}

pub async fn drive(conns: Vec<Conn>, work: Work, load: Load, stop: Stop) -> Run {
    let k = conns.len() as u64;
    let started = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for (c, conn) in conns.into_iter().enumerate() {
        let (work, started) = (work.clone(), started.clone());
        let c = c as u64;
        set.spawn(async move {
            let mut run = Run {
                rec: Recorder::default(),
                attempted: 0,
                wall: Duration::ZERO,
                exhausted: false,
                not_sent: 0,
            };
            // The j-th request of connection c is the (j·K + c)-th of the schedule.
            let due = |j: u64| match load {
                Load::Closed => None,
                Load::Open(rate) => Some(t0 + Duration::from_secs_f64((j * k + c) as f64 / rate)),
            };
            let mut j = 0u64;
            loop {
                let due_at = due(j);
                let go = match (stop, due_at) {
                    (Stop::After(d), Some(at)) => at < t0 + d,
                    (Stop::After(d), None) => Instant::now() < t0 + d,
                    (Stop::Count(n), Some(_)) => j * k + c < n,
                    (Stop::Count(n), None) => started.fetch_add(1, Ordering::Relaxed) < n,
                };
                if !go {
                    break;
                }
                if let Some(at) = due_at {
                    let end = match stop {
                        Stop::After(d) => t0 + d,
                        Stop::Count(_) => at,
                    };
                    if Instant::now() > end + GRACE {
                        run.not_sent = due_before_end(load, stop, k, c).saturating_sub(j);
                        break;
                    }
                    tokio::time::sleep_until(at).await;
                }
                let from = due_at.unwrap_or_else(Instant::now);
                let outcome = match &work {
                    Work::Healthz => conn.healthz().await,
                    Work::Inbox(limit) => conn.inbox(*limit).await,
                    Work::Submit(pools) => match pools[(c as usize) % pools.len()].take() {
                        Some(body) => conn.submit(body).await,
                        None => {
                            match stop {
                                // Pools are sized for the count: this sender's share is
                                // sent, and the turn taken goes back to the others.
                                Stop::Count(_) => {
                                    started.fetch_sub(1, Ordering::Relaxed);
                                }
                                Stop::After(_) => run.exhausted = true,
                            }
                            break;
                        }
                    },
                };
                run.attempted += 1;
                match outcome {
                    Outcome::Ok(_) => run.rec.ok(from.elapsed()),
                    Outcome::Err(e) => run.rec.error(e),
                }
                j += 1;
            }
            run
        });
    }
    let mut total = Run {
        rec: Recorder::default(),
        attempted: 0,
        wall: Duration::ZERO,
        exhausted: false,
        not_sent: 0,
    };
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok(r) => {
                total.rec.merge(r.rec);
                total.attempted += r.attempted;
                total.exhausted |= r.exhausted;
                total.not_sent += r.not_sent;
            }
            Err(e) => total.rec.error(format!("connection task failed: {e}")),
        }
    }
    total.wall = t0.elapsed();
    total
}

/// How many requests of connection `c` (of `k`) an open-loop schedule has before its end.
fn due_before_end(load: Load, stop: Stop, k: u64, c: u64) -> u64 {
    let total = match (load, stop) {
        (Load::Open(rate), Stop::After(d)) => (d.as_secs_f64() * rate).ceil() as u64,
        (_, Stop::Count(n)) => n,
        (Load::Closed, Stop::After(_)) => return 0,
    };
    // Requests c, c + k, c + 2k, … below `total`.
    if total > c {
        (total - c).div_ceil(k)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_schedule_is_shared_out_by_connection() {
        let open = Load::Open(100.0);
        let stop = Stop::After(Duration::from_secs(1));
        let per: Vec<u64> = (0..3).map(|c| due_before_end(open, stop, 3, c)).collect();
        assert_eq!(per, vec![34, 33, 33]);
        assert_eq!(due_before_end(open, Stop::Count(10), 4, 3), 2);
    }
}
