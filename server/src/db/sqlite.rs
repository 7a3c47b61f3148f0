//! SQLite, the embedded default: one file, WAL, `synchronous = FULL` so an answered 2xx
//! survives a crash, `secure_delete` so purged ciphertext is overwritten on disk, and a
//! truncating checkpoint after every destruction (`Db::shred`) so no copy of it stays in
//! the WAL either; otherwise the WAL is copied into the file in the background, never in
//! a commit, and rewritten from its start once it has grown (`spawn_checkpointer`). The
//! files are created readable by the owner only.

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Any, AnyExecutor, AnyPool, ConnectOptions, Executor, Transaction};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a connection waits for SQLite's lock that another process holds (the
/// operator's commands); set on every connection (`PRAGMAS`).
const BUSY_TIMEOUT: &str = "PRAGMA busy_timeout = 10000";

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
    BUSY_TIMEOUT,
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

/// How often the background checkpoint runs: under full load the WAL grows by tens of MB
/// a second, so it stays within a few MB.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);

/// WAL frames (about 4 KB each) past which the checkpointer makes the next writer rewrite
/// the WAL from its start.
const RESTART_PAST_FRAMES: i64 = 2048;

/// How long the restarting checkpoint waits for readers, the writers waiting behind it;
/// `BUSY_TIMEOUT` again after it.
const RESTART_WAIT: &str = "PRAGMA busy_timeout = 50";

/// Copies what the WAL holds into the database file, in the background, until the pool
/// closes. SQLite's own automatic checkpoint runs inside the commit that crosses its
/// threshold, and made one commit of the envelope writer in ten several times slower
/// (8.9 ms on average instead of 6.2 for a batch of 32); here no commit waits for it.
///
/// A passive checkpoint waits for nobody: readers and writers go on meanwhile, and what
/// it cannot copy yet, it copies the next time. But SQLite rewrites the WAL from its start
/// only when a writer begins while every frame is copied and no reader is in the WAL,
/// which under a steady load never happens: the WAL grew by 750 MB in 12 s of `submit -k
/// 64`, each commit appending to a longer file, with the kernel zeroing every new page
/// cache folio (8% of the server's CPU) and each fsync writing the file's new size too.
/// So once it has grown past `RESTART_PAST_FRAMES`, the checkpointer takes this
/// process's write turn (`writers`) and finishes with a restarting checkpoint, which copies
/// the few frames the passive one left and waits, in the busy handler, for the readers in
/// flight to leave the WAL: a short stall of the writers, after which the next commit
/// overwrites the WAL's first pages, which are in the page cache already.
pub fn spawn_checkpointer(readers: AnyPool, writer: AnyPool, writers: Arc<Mutex<()>>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if readers.is_closed() {
                return;
            }
            if let Err(e) = checkpoint_and_restart(&readers, &writer, &writers).await {
                if readers.is_closed() || writer.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "background wal checkpoint failed; retried");
            }
        }
    });
}

async fn checkpoint_and_restart(
    readers: &AnyPool,
    writer: &AnyPool,
    writers: &Mutex<()>,
) -> Result<(), sqlx::Error> {
    let (_, frames) = wal_checkpoint(readers, "PRAGMA wal_checkpoint(PASSIVE)").await?;
    if frames <= RESTART_PAST_FRAMES {
        return Ok(());
    }
    let _turn = writers.lock().await;
    let mut conn = writer.acquire().await?;
    // The writers wait meanwhile, so not for a long reader (a backup's `VACUUM INTO`): if
    // the readers are not out of the WAL within RESTART_WAIT, the next tick tries again.
    conn.execute(RESTART_WAIT).await?;
    let restarted = wal_checkpoint(&mut *conn, "PRAGMA wal_checkpoint(RESTART)").await;
    conn.execute(BUSY_TIMEOUT).await?;
    restarted.map(drop)
}

/// One checkpoint statement (`PRAGMA wal_checkpoint(…)`): whether it completed (no
/// reader held it back), and the number of frames the WAL held.
async fn wal_checkpoint(
    e: impl AnyExecutor<'_>,
    pragma: &'static str,
) -> Result<(bool, i64), sqlx::Error> {
    let (busy, frames, _copied): (i64, i64, i64) = sqlx::query_as(pragma).fetch_one(e).await?;
    Ok((busy == 0, frames))
}

/// A truncating WAL checkpoint; `false` when readers held it back.
pub async fn checkpoint(pool: &AnyPool) -> Result<bool, sqlx::Error> {
    Ok(wal_checkpoint(pool, "PRAGMA wal_checkpoint(TRUNCATE)")
        .await?
        .0)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Under load some reader is always in the WAL, so a passive checkpoint never copies
    /// every frame and SQLite never starts the WAL over: every commit appends.
    /// `checkpoint_and_restart` waits for the readers in flight and makes the next commit
    /// start the WAL over.
    #[tokio::test]
    async fn a_grown_wal_is_rewritten_from_its_start_despite_readers() {
        sqlx::any::install_default_drivers();
        let dir = tempfile::tempdir().unwrap();
        let url = dir.path().join("trialog.db");
        let (readers, writer) = connect(url.to_str().unwrap(), AnyPoolOptions::new())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE filler (b BLOB)")
            .execute(&writer)
            .await
            .unwrap();
        // About one 4 KB page per row, each in its own commit.
        let insert = || async {
            sqlx::query("INSERT INTO filler VALUES (zeroblob(4000))")
                .execute(&writer)
                .await
                .unwrap();
        };
        let passive = || async {
            wal_checkpoint(&readers, "PRAGMA wal_checkpoint(PASSIVE)")
                .await
                .unwrap()
                .1
        };
        // A reader in the WAL for a while, as a request is.
        let read_for = |ms: u64| {
            let readers = readers.clone();
            async move {
                let mut tx = readers.begin().await.unwrap();
                let _: (i64,) = sqlx::query_as("SELECT count(*) FROM filler")
                    .fetch_one(&mut *tx)
                    .await
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(ms)).await;
                tx.commit().await.unwrap();
            }
        };
        // More frames than the threshold, in one commit.
        sqlx::query(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2100) \
             INSERT INTO filler SELECT zeroblob(4000) FROM n",
        )
        .execute(&writer)
        .await
        .unwrap();

        // A reader is in the WAL, behind the last commit, while the checkpoint runs.
        let ((), ()) = tokio::join!(read_for(200), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            insert().await;
            passive().await;
        });
        insert().await;
        let grown = passive().await;
        assert!(grown > RESTART_PAST_FRAMES, "{grown} frames");

        let ((), restarted) = tokio::join!(read_for(200), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            insert().await;
            checkpoint_and_restart(&readers, &writer, &Mutex::new(())).await
        });
        restarted.unwrap();
        insert().await;
        let after = passive().await;
        assert!(
            after < 8,
            "the next commit starts the WAL over: {after} frames"
        );
    }
}
