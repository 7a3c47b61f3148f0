//! SQLite, the embedded default: one file, WAL, `synchronous = FULL` so an answered 2xx
//! survives a crash, `secure_delete` so purged ciphertext is overwritten on disk, and a
//! truncating checkpoint after every destruction (`Db::shred`) so no copy of it stays in
//! the WAL either; otherwise the WAL is copied into the file in the background, never in
//! a commit (`spawn_checkpointer`). The files are created readable by the owner only.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyPool, ConnectOptions, Executor, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// Per connection: these pragmas are not stored in the file. The busy timeout is only a
/// backstop for other processes (the operator's commands): this process's writers queue
/// in `Db::write` before they reach SQLite's lock. No automatic checkpoint: it would run
/// inside the commit that crosses its threshold (`spawn_checkpointer`). Temporary files in
/// memory: the envelope writer's multi-row inserts spilled their statement journals (page
/// images, ciphertext among them) into an unlinked file in /var/tmp, outside the data
/// directory and out of `secure_delete`'s reach.
const PRAGMAS: [&str; 7] = [
    "PRAGMA wal_autocheckpoint = 0",
    "PRAGMA temp_store = MEMORY",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = FULL",
    "PRAGMA foreign_keys = ON",
    "PRAGMA busy_timeout = 10000",
    "PRAGMA secure_delete = ON",
];

fn options(url: &str) -> Result<SqliteConnectOptions, sqlx::Error> {
    Ok(if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)?
    } else {
        SqliteConnectOptions::new().filename(Path::new(url))
    })
}

pub fn file_of(url: &str) -> Result<Option<PathBuf>, sqlx::Error> {
    let file = options(url)?.get_filename().to_path_buf();
    Ok((file.as_os_str() != ":memory:").then_some(file))
}

/// The readers' pool and the writer's own connection. Writes are serialised anyway (one
/// at a time in `Db::write`), so one connection serves them all; it is apart from the
/// readers' so that a write never waits for a reader to give a connection back. Under
/// load, the envelope writer waited about 2 ms per batch for one when they shared a pool.
pub async fn connect(url: &str, pool: AnyPoolOptions) -> Result<(AnyPool, AnyPool), sqlx::Error> {
    let mut opts = options(url)?.create_if_missing(true);
    if let Some(file) = file_of(url)? {
        crate::files::own_only_database(&file).map_err(sqlx::Error::Io)?;
        // The pool reaches SQLite through a URL, which must not depend on the directory
        // the process runs in.
        opts = opts.filename(std::path::absolute(&file).map_err(sqlx::Error::Io)?);
    }
    let any = AnyConnectOptions::from_url(&opts.to_url_lossy())?;
    let with_pragmas = |pool: AnyPoolOptions| {
        pool.after_connect(|conn, _| {
            Box::pin(async move {
                for pragma in PRAGMAS {
                    conn.execute(pragma).await?;
                }
                Ok(())
            })
        })
    };
    // Opened here, once, and never closed while the server runs (no idle timeout, no
    // lifetime, no minimum that a background task would keep): its SQLite thread is
    // spawned by the thread that builds the app, and keeps that thread's priority
    // (`priority.rs`). Should it fail and be reopened, the new one's thread is spawned by
    // whichever thread asked, maybe a lowered one: slower under load, nothing worse.
    let writer = with_pragmas(pool.clone())
        .max_connections(1)
        .idle_timeout(None)
        .max_lifetime(None)
        .connect_with(any.clone())
        .await?;
    MIGRATOR.run(&writer).await?;
    let readers = with_pragmas(pool)
        .max_connections(8)
        .connect_with(any)
        .await?;
    Ok((readers, writer))
}

/// `BEGIN IMMEDIATE` takes SQLite's write lock at once, so a transaction that reads before
/// it writes cannot be overtaken by another process between the two.
pub async fn begin_write(pool: &AnyPool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// How often the background checkpoint runs: under full load the WAL grows by about 10 MB
/// a second, so it stays within a few MB.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// Copies what the WAL holds into the database file, in the background, until the pool
/// closes. SQLite's own automatic checkpoint runs inside the commit that crosses its
/// threshold, and made one commit of the envelope writer in ten several times slower
/// (8.9 ms on average instead of 6.2 for a batch of 32); here no commit waits for it. A
/// passive checkpoint waits for nobody: readers and the writer go on meanwhile, and what
/// it cannot copy yet, it copies the next time. The WAL is rewritten from its start once
/// everything in it was copied.
pub fn spawn_checkpointer(pool: AnyPool) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if pool.is_closed() {
                return;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&pool)
                .await
            {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "background wal checkpoint failed; retried");
            }
        }
    });
}

/// A truncating WAL checkpoint; `false` when readers held it back.
pub async fn checkpoint(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    let (busy, _log, _done): (i64, i64, i64) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
        .fetch_one(pool)
        .await?;
    Ok(busy == 0)
}

/// A consistent copy of the whole database into the new file `to` (`VACUUM INTO`: one
/// read transaction, so writers go on meanwhile), made readable by the owner only.
/// Destroyed ciphertext is not in it: `secure_delete` zeroed it and the copy is rebuilt
/// from live rows.
pub async fn backup_to(pool: &AnyPool, to: &Path) -> Result<(), sqlx::Error> {
    let path = to
        .to_str()
        .ok_or_else(|| sqlx::Error::Protocol("the backup path is not valid UTF-8".into()))?;
    // Created empty and owner-only first: VACUUM INTO fills an empty file as it is.
    crate::files::own_only_database(to).map_err(sqlx::Error::Io)?;
    sqlx::query("VACUUM INTO $1")
        .bind(path)
        .execute(pool)
        .await?;
    Ok(())
}
