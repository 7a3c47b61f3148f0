//! Storage: every SQL statement of the server lives under this module; handlers call these
//! functions and never write SQL themselves.
//!
//! SQLite is the embedded default: one file, WAL, `synchronous = FULL` so an answered 2xx
//! survives a crash, `secure_delete` so purged ciphertext is overwritten on disk, and a
//! truncating checkpoint after every destruction (`shred`) so no copy of it stays in the
//! WAL either. The files are created readable by the owner only. Writes
//! run in `BEGIN IMMEDIATE` transactions, which serialises writers (SQLite allows one at a
//! time anyway) and so keeps every audit chain strictly sequential.

pub mod accounts;
pub mod audit;
pub mod cases;
pub mod certificates;
pub mod consents;
pub mod devices;
pub mod envelopes;
pub mod stats;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

pub type Tx = Transaction<'static, Sqlite>;

#[derive(Clone, Debug)]
pub struct Db {
    pool: SqlitePool,
    /// A destruction whose WAL truncation was held back by readers: retried by the sweep
    /// until it completes, so no copy stays in the WAL for long.
    shred_pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

fn options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)?
    } else {
        SqliteConnectOptions::new().filename(Path::new(url))
    })
}

/// The database file `url` names (`:memory:` for an in-memory database).
pub fn file_of(url: &str) -> Result<std::path::PathBuf, sqlx::Error> {
    Ok(options(url)?.get_filename().to_path_buf())
}

impl Db {
    /// Opens (creating if needed) the database at `url` (`sqlite://…` or a file path) and
    /// runs the migrations.
    pub async fn open(url: &str) -> Result<Db, sqlx::Error> {
        let opts = options(url)?;
        let file = opts.get_filename().to_path_buf();
        if file.as_os_str() != ":memory:" {
            crate::files::own_only_database(&file).map_err(sqlx::Error::Io)?;
        }
        let opts = opts
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10))
            .pragma("secure_delete", "ON");
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(opts)
            .await?;
        MIGRATOR.run(&pool).await?;
        let db = Db {
            pool,
            shred_pending: Default::default(),
        };
        // Migrations may have destroyed data (0002 drops clear case labels): out of the WAL.
        db.shred().await?;
        Ok(db)
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// A write transaction; commit it before answering 2xx.
    pub async fn write(&self) -> Result<Tx, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }

    /// Makes destroyed ciphertext unrecoverable from the files: copies every page (already
    /// zeroed by `secure_delete`) back into the database file and truncates the WAL, which
    /// still holds the frames written when the ciphertext arrived. Call after committing a
    /// destruction and before answering it. Readers in flight can hold the checkpoint back;
    /// it is retried until it completes (bounded).
    pub async fn shred(&self) -> Result<(), sqlx::Error> {
        use std::sync::atomic::Ordering;
        for attempt in 0..50u64 {
            let (busy, _log, _done): (i64, i64, i64) =
                sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                    .fetch_one(&self.pool)
                    .await?;
            if busy == 0 {
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
        if self
            .shred_pending
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            self.shred().await?;
        }
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// One trivial query: whether the database answers (`/readyz`).
    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    /// A consistent copy of the whole database into the new file `to` (`VACUUM INTO`: one
    /// read transaction, so writers go on meanwhile), made readable by the owner only.
    /// Destroyed ciphertext is not in it: `secure_delete` zeroed it and the copy is rebuilt
    /// from live rows.
    pub async fn backup_to(&self, to: &Path) -> Result<(), sqlx::Error> {
        let path = to
            .to_str()
            .ok_or_else(|| sqlx::Error::Protocol("the backup path is not valid UTF-8".into()))?;
        // Created empty and owner-only first: VACUUM INTO fills an empty file as it is.
        crate::files::own_only_database(to).map_err(sqlx::Error::Io)?;
        sqlx::query("VACUUM INTO $1")
            .bind(path)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
