//! The sweep: expiry acts like revocation, at the moment of expiry (DESIGN.md §6), so a
//! background task (and every inbox listing, so nothing expired is ever listed) has the
//! store act on expiries due (`Store::expire_due`); it also forgets old live events and
//! retries a held-back WAL truncation.

use std::time::Duration;

use crate::state::now;
use crate::store::Store;

/// How often old live events are looked for.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Runs `expire_due` every `every` until the process ends.
pub fn spawn(store: Store, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pruned = tokio::time::Instant::now();
        loop {
            tick.tick().await;
            if pruned.elapsed() >= PRUNE_EVERY {
                pruned = tokio::time::Instant::now();
                match store.prune_events(now()).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(event = %"events_pruned", count = n, "old live events forgotten")
                    }
                    Err(e) => tracing::warn!(error = %e, "pruning old live events failed"),
                }
            }
            if let Err(e) = store.expire_due(now()).await {
                tracing::warn!(error = %e, "expiry sweep failed; retried at the next tick");
            }
            if let Err(e) = store.shred_if_pending().await {
                tracing::warn!(error = %e, "wal truncation failed; retried at the next tick");
            }
        }
    })
}
