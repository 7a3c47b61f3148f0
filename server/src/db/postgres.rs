//! PostgreSQL, for several stateless replicas over one database. Everything a request
//! needs is in the database (used login challenges, quotas counted from pending rows, the
//! audit chains), so any replica can answer any request.
//!
//! Writers of every replica take one transaction-scoped advisory lock before they read
//! what they will decide on: the same one-writer-at-a-time order SQLite gives, which keeps
//! each audit chain one chain and the exists-then-insert checks sound. Under it, READ
//! COMMITTED sees every transaction committed before the lock was granted.
//!
//! Destroyed ciphertext: the row's column is set to NULL at once; the old tuple is
//! reclaimed by (auto)vacuum, and the write-ahead log keeps it until recycled. Run
//! PostgreSQL on encrypted storage (README, "Several replicas on PostgreSQL").

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{Any, AnyPool, Transaction};
use std::str::FromStr;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The advisory lock every writer takes (any constant; "trialog" in ASCII).
const WRITE_LOCK: i64 = 0x0074_7269_616c_6f67;

pub async fn connect(url: &str, pool: AnyPoolOptions) -> Result<AnyPool, sqlx::Error> {
    let pool = pool
        .max_connections(16)
        .connect_with(AnyConnectOptions::from_str(url)?)
        .await?;
    // Replicas starting together each try to migrate: the migrator takes its own advisory
    // lock, so one runs them and the others find them done.
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

pub async fn begin_write(pool: &AnyPool) -> Result<Transaction<'static, Any>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT 1 FROM pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    Ok(tx)
}
