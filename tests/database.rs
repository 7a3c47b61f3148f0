//! Which database the test servers use: SQLite in each data directory (the default), or,
//! when `TRIALOG_TEST_DATABASE_URL` names a PostgreSQL server (`.ci/postgres` starts a
//! throw-away one), a new database on that server for each data directory. The whole
//! end-to-end suite runs the same on both.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The PostgreSQL server to test against: a URL whose role may create databases.
pub const ENV: &str = "TRIALOG_TEST_DATABASE_URL";

/// The PostgreSQL server URL, if the suite runs against PostgreSQL.
pub fn postgres() -> Option<String> {
    std::env::var(ENV).ok().filter(|u| !u.is_empty())
}

pub fn is_postgres() -> bool {
    postgres().is_some()
}

/// The database of each data directory, made the first time it was asked for.
static MADE: Mutex<Option<HashMap<PathBuf, String>>> = Mutex::new(None);

/// The `--database-url` for a server whose data directory is `data`: `None` on SQLite
/// (the server's default, `trialog.db` in the data directory); on PostgreSQL a database
/// made for this data directory the first time it is asked for, the same one after (the
/// operator's commands and a restarted server find what the first start wrote).
pub fn url_for(data: &Path) -> Option<String> {
    let server = postgres()?;
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    let made = made.get_or_insert_with(HashMap::new);
    let url = made
        .entry(data.to_path_buf())
        .or_insert_with(|| create(&server));
    Some(url.clone())
}

/// Makes the server on `replica` use the database of the server on `data` (replicas of
/// one deployment share one PostgreSQL database). PostgreSQL only: `false` on SQLite.
pub fn share(data: &Path, replica: &Path) -> bool {
    let Some(url) = url_for(data) else {
        return false;
    };
    let mut made = MADE.lock().unwrap_or_else(|p| p.into_inner());
    made.get_or_insert_with(HashMap::new)
        .insert(replica.to_path_buf(), url);
    true
}

/// `CREATE DATABASE` on `server`, from a thread of its own: callers may be inside or
/// outside a runtime.
fn create(server: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let name = format!(
        "trialog_test_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let (host, _admin_db) = base
        .rsplit_once('/')
        .filter(|(h, _)| h.contains("://"))
        .unwrap_or((base, ""));
    let admin = server.to_owned();
    let statement = format!("CREATE DATABASE {name}");
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(async move {
                use sqlx::{Connection, Executor};
                let mut c = sqlx::postgres::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| panic!("{ENV}: cannot connect: {e}"));
                c.execute(sqlx::AssertSqlSafe(statement))
                    .await
                    .expect("create the test database");
                let _ = c.close().await;
            })
    })
    .join()
    .expect("create the test database");
    format!("{host}/{name}{query}")
}
