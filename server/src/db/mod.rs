//! Storage: every SQL statement of the server lives under this module; handlers call these
//! functions and never write SQL themselves.
//!
//! Two backends behind one `sqlx::Any` pool, with one set of portable SQL (`$n`
//! placeholders, `BIGINT` times, `ON CONFLICT`): SQLite, the embedded default
//! (`sqlite.rs`), and PostgreSQL for several replicas (`postgres.rs`). Each has its own
//! migrations under `migrations/`, numbered alike.
//!
//! Writes are serialised, as the audit chains and the exists-then-insert checks need:
//! first in this process, in a fair queue (so a writer waits its turn instead of sleeping
//! in SQLite's busy handler and leaving the lock idle), then across processes by the
//! database (SQLite's one writer; a transaction-scoped advisory lock on PostgreSQL, which
//! every replica's writers take). Reads never wait for writers.

pub mod accounts;
pub mod audit;
pub mod cases;
pub mod certificates;
pub mod consents;
pub mod devices;
pub mod envelopes;
pub mod events;
mod postgres;
mod sqlite;
pub mod stats;

use sqlx::any::AnyPoolOptions;
use sqlx::{Any, AnyConnection, AnyPool, Transaction};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Which database a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The backend an open connection talks to.
    pub fn of_connection(c: &AnyConnection) -> Backend {
        if c.backend_name() == <sqlx::Postgres as sqlx::Database>::NAME {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }

    pub fn of(url: &str) -> Backend {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            Backend::Sqlite
        }
    }
}

#[derive(Clone, Debug)]
pub struct Db {
    pool: AnyPool,
    /// Where write transactions begin: SQLite's one writer connection (`sqlite::connect`);
    /// the same pool as `pool` on PostgreSQL.
    writer: AnyPool,
    backend: Backend,
    /// The queue of this process's writers: one write transaction at a time, in order of
    /// arrival.
    writers: Arc<Mutex<()>>,
    /// Whoever waits in this process for an account's news.
    waiters: crate::live::Waiters,
    /// SQLite: a destruction whose WAL truncation was held back by readers, retried by the
    /// sweep until it completes, so no copy stays in the WAL for long.
    shred_pending: Arc<AtomicBool>,
}

/// A write transaction, holding this process's turn until it is committed or dropped
/// (dropping rolls back). Derefs to the connection, so the `db::*` functions take it as
/// `&mut *tx`.
pub struct Tx {
    tx: Transaction<'static, Any>,
    _turn: OwnedMutexGuard<()>,
    waiters: crate::live::Waiters,
    /// Accounts with news in this transaction, woken once it is committed.
    wake: Vec<String>,
    backend: Backend,
}

impl std::fmt::Debug for Tx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tx")
    }
}

impl std::ops::Deref for Tx {
    type Target = AnyConnection;
    fn deref(&self) -> &AnyConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for Tx {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        &mut self.tx
    }
}

impl Tx {
    /// Makes the transaction durable (an fsync on both backends), hands the turn on, and
    /// wakes the accounts it has news for.
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        self.tx.commit().await?;
        for account in &self.wake {
            self.waiters.notify(account);
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Wakes `account`'s waiters once this transaction is committed (`db::events`). False
    /// if they were to be woken already.
    pub fn wake(&mut self, account: &str) -> bool {
        if self.wake.iter().any(|a| a == account) {
            return false;
        }
        self.wake.push(account.to_owned());
        true
    }

    /// Undoes the transaction now rather than at drop, and hands the turn on.
    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        self.tx.rollback().await
    }
}

/// `rows` groups of `cols` placeholders (`(…), (…)`) for `backend`, for statements whose
/// number of values is known only at run time (a batch's rows, a list of ids). Only
/// placeholders are formatted into SQL; every value is bound, in order. PostgreSQL takes
/// them numbered (`$1`); SQLite gets anonymous `?`: it finds a numbered parameter by a
/// linear search of the statement's names, when it parses the statement and again for
/// each value sqlx binds, so the writer's statements for a batch of 64 envelopes (768
/// values) cost hundreds of thousands of string comparisons.
pub fn placeholders(backend: Backend, rows: usize, cols: usize) -> String {
    let group = |r: usize| {
        let marks: Vec<String> = (1..=cols)
            .map(|c| match backend {
                Backend::Postgres => format!("${}", r * cols + c),
                Backend::Sqlite => "?".to_owned(),
            })
            .collect();
        format!("({})", marks.join(", "))
    };
    (0..rows).map(group).collect::<Vec<_>>().join(", ")
}

/// The database file a SQLite URL names (`None` for PostgreSQL or an in-memory database).
pub fn file_of(url: &str) -> Result<Option<PathBuf>, sqlx::Error> {
    match Backend::of(url) {
        Backend::Postgres => Ok(None),
        Backend::Sqlite => sqlite::file_of(url),
    }
}

impl Db {
    /// Opens (creating if needed) the database at `url` (`postgres://…`, `sqlite://…` or a
    /// file path) and runs its migrations.
    pub async fn open(url: &str) -> Result<Db, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = Backend::of(url);
        // Connections are not pinged before each use: a broken one fails its query, which
        // fails the request cleanly, and the pool replaces it.
        let options = AnyPoolOptions::new().test_before_acquire(false);
        let (pool, writer) = match backend {
            Backend::Sqlite => sqlite::connect(url, options).await?,
            Backend::Postgres => {
                let pool = postgres::connect(url, options).await?;
                (pool.clone(), pool)
            }
        };
        let waiters = crate::live::Waiters::default();
        let writers = Arc::new(Mutex::new(()));
        match backend {
            // What other replicas commit wakes the waiters here too.
            Backend::Postgres => crate::live::spawn_listener(url.to_owned(), waiters.clone()),
            Backend::Sqlite => {
                sqlite::spawn_checkpointer(pool.clone(), writer.clone(), writers.clone())
            }
        }
        let db = Db {
            pool,
            writer,
            backend,
            writers,
            waiters,
            shred_pending: Default::default(),
        };
        // Migrations may have destroyed data (0002 drops clear case labels): out of the WAL.
        db.shred().await?;
        Ok(db)
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// A write transaction; commit it before answering 2xx.
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        let turn = self.writers.clone().lock_owned().await;
        let tx = match self.backend {
            Backend::Sqlite => sqlite::begin_write(&self.writer).await?,
            Backend::Postgres => postgres::begin_write(&self.writer).await?,
        };
        Ok(Tx {
            tx,
            _turn: turn,
            waiters: self.waiters.clone(),
            wake: Vec::new(),
            backend: self.backend,
        })
    }

    /// Whoever waits in this process for an account's news (inbox long poll, live events).
    pub fn waiters(&self) -> &crate::live::Waiters {
        &self.waiters
    }

    /// Makes destroyed ciphertext unrecoverable from SQLite's files: copies every page
    /// (already zeroed by `secure_delete`) back into the database file and truncates the
    /// WAL, which still holds the frames written when the ciphertext arrived. Call after
    /// committing a destruction and before answering it. Readers in flight can hold the
    /// checkpoint back; it is retried until it completes (bounded). Nothing to do on
    /// PostgreSQL (see `postgres.rs`).
    pub async fn shred(&self) -> Result<(), sqlx::Error> {
        if self.backend != Backend::Sqlite {
            return Ok(());
        }
        for attempt in 0..50u64 {
            if sqlite::checkpoint(&self.pool).await? {
                self.shred_pending.store(false, Ordering::Relaxed);
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(2 + attempt * 2)).await;
        }
        self.shred_pending.store(true, Ordering::Relaxed);
        tracing::warn!("wal checkpoint held back by readers; retried at the next sweep");
        Ok(())
    }

    /// Retries a truncation that readers held back earlier.
    pub async fn shred_if_pending(&self) -> Result<(), sqlx::Error> {
        if self.shred_pending.load(Ordering::Relaxed) {
            self.shred().await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
        self.writer.close().await;
    }

    /// One trivial query: whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// SQLite: a consistent copy of the whole database into the new file `to`. PostgreSQL
    /// is backed up with its own tools (`pg_dump`), which the error says.
    pub async fn backup_to(&self, to: &Path) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => sqlite::backup_to(&self.pool, to).await,
            Backend::Postgres => Err(sqlx::Error::Configuration(
                "a PostgreSQL database is backed up with pg_dump (see the README)".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholders_are_numbered_across_rows_on_postgres_only() {
        use super::{Backend::*, placeholders};
        assert_eq!(placeholders(Postgres, 1, 3), "($1, $2, $3)");
        assert_eq!(placeholders(Postgres, 2, 2), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(Postgres, 0, 2), "");
        assert_eq!(placeholders(Sqlite, 2, 2), "(?, ?), (?, ?)");
        assert_eq!(placeholders(Sqlite, 0, 2), "");
    }
}
