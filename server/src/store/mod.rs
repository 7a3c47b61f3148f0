//! The server's state, through its verbs: admit an envelope, deliver it, acknowledge it,
//! grant and revoke a consent (purging what it no longer allows), open a case, add and
//! remove a member, register an account, and the rest. Each verb is one transaction that
//! also writes its audit entry (and its live event), committed before it returns; handlers
//! see typed rows and domain values, never a transaction or SQL. The SQL itself lives in
//! `crate::db`, one file per table, on SQLite or PostgreSQL alike.
//!
//! The store also keeps what was verified once and does not change between requests
//! (`facts::Verified`): a case's members, consent history and patient keys are read and
//! verified again only when the case's facts version (bumped by triggers at every change to
//! them), its row or its parties' key records changed.

mod accounts;
mod admission;
mod cases;
mod consents;
mod devices;
mod envelopes;
mod events;
pub(crate) mod facts;
mod purge;

use std::sync::Arc;

use crate::db::Db;
use crate::error::ApiError;
use crate::live::Waiters;
use crate::metrics::Metrics;
use crate::state::Settings;

pub use admission::Admission;
pub use envelopes::{Delivery, InboxQuery, Submitted};

#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    metrics: Metrics,
    /// Where verified envelopes go to be stored, in group commits.
    admissions: admission::Admissions,
    verified: Arc<facts::Verified>,
}

impl Store {
    /// The store over `db`; starts the envelope writer (an error if its thread cannot).
    pub fn new(db: Db, settings: Arc<Settings>, metrics: Metrics) -> std::io::Result<Store> {
        Ok(Store {
            admissions: admission::Admissions::start(
                db.clone(),
                settings.clone(),
                metrics.clone(),
            )?,
            verified: Arc::default(),
            db,
            metrics,
        })
    }

    /// Whether the database answers (`/readyz`).
    pub async fn ready(&self) -> Result<(), ApiError> {
        self.db.ping().await.map_err(|_| ApiError::NotReady)
    }

    /// Whoever waits in this process for an account's news (inbox long poll, live events).
    pub fn waiters(&self) -> &Waiters {
        self.db.waiters()
    }

    /// Retries a WAL truncation that readers held back (the sweep calls it).
    pub async fn shred_if_pending(&self) -> Result<(), ApiError> {
        Ok(self.db.shred_if_pending().await?)
    }
}
