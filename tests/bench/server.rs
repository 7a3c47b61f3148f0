//! The server under test, in a process of its own: the real `trialog-server` binary the
//! bench starts on a fresh data directory (the default), or one already running that the
//! bench is pointed at. Setup acts as the operator on its data directory, offline, as
//! `trialog-server invite` and `approve` do.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use tempfile::TempDir;
use trialog_server::Config;
use trialog_server::operator_key::OperatorKey;

use crate::error::BenchError;

/// Passphrase of the operator key the bench creates in a data directory of its own, when
/// TRIALOG_OPERATOR_PASSPHRASE does not give one. That directory is thrown away.
const OWN_OPERATOR_PASSPHRASE: &str = "trialog-bench throwaway operator key";

#[derive(Debug, clap::Args)]
pub struct TargetArgs {
    /// An already running server (https://HOST:PORT) instead of one started by the bench;
    /// needs --cert-sha256, and --data-dir for every mode that sets up accounts.
    #[arg(long, global = true, requires = "cert_sha256")]
    pub url: Option<String>,
    /// The SHA-256 of the running server's certificate, as `serve` prints it.
    #[arg(long, global = true)]
    pub cert_sha256: Option<String>,
    /// The running server's data directory: the bench invites and approves its physicians
    /// there as the operator (passphrase in TRIALOG_OPERATOR_PASSPHRASE).
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// The running server's process id, for its CPU time and peak memory (/proc).
    #[arg(long, global = true)]
    pub server_pid: Option<u32>,
    /// The database of the server (`sqlite://PATH`, or PostgreSQL's URL): passed to the
    /// server the bench starts, and used by its operator steps. Default: SQLite in the data
    /// directory.
    #[arg(long, global = true)]
    pub database_url: Option<String>,
    /// The `trialog-server` binary to start; default: the one beside this binary.
    #[arg(long, global = true)]
    pub server_bin: Option<PathBuf>,
    /// Where the started server writes its log (stderr); default: nowhere.
    #[arg(long, global = true)]
    pub server_log: Option<PathBuf>,
}

/// The server a run measures.
pub struct Target {
    pub url: String,
    pub pin: [u8; 32],
    pub pid: Option<u32>,
    /// Whether the bench started it (and so knows it is fresh).
    pub started: bool,
    data_dir: Option<PathBuf>,
    database_url: Option<String>,
    /// The started server, killed on drop.
    child: Option<Child>,
    /// Its data directory, removed after the child is gone.
    _dir: Option<TempDir>,
}

impl Target {
    pub fn open(args: &TargetArgs) -> Result<Target, BenchError> {
        match (&args.url, &args.cert_sha256) {
            (Some(url), Some(cert)) => {
                let pin = trialog_client::tls::parse_pin(cert).ok_or_else(|| {
                    BenchError::Usage("--cert-sha256 is not 64 hex digits".into())
                })?;
                Ok(Target {
                    url: url.trim_end_matches('/').to_owned(),
                    pin,
                    pid: args.server_pid,
                    started: false,
                    data_dir: args.data_dir.clone(),
                    database_url: args.database_url.clone(),
                    child: None,
                    _dir: None,
                })
            }
            _ => Self::start(args),
        }
    }

    /// Starts `trialog-server --data-dir TMP [--database-url URL] serve --listen
    /// 127.0.0.1:0` and reads the address and certificate hash it prints. The quotas are
    /// the defaults an operator runs with: setup spreads the load instead (see `setup`).
    fn start(args: &TargetArgs) -> Result<Target, BenchError> {
        let bin = match &args.server_bin {
            Some(b) => b.clone(),
            None => std::env::current_exe()?
                .parent()
                .map(|d| d.join("trialog-server"))
                .ok_or_else(|| BenchError::Server("no directory for this binary".into()))?,
        };
        if !bin.is_file() {
            return Err(BenchError::Server(format!(
                "{} not found: build it beside the bench (`cargo build --release -p trialog-server -p trialog-e2e`) or give --server-bin",
                bin.display()
            )));
        }
        let dir = tempfile::Builder::new()
            .prefix("trialog-bench-")
            .tempdir()?;
        let data = dir.path().join("server");
        let stderr = match &args.server_log {
            Some(p) => Stdio::from(std::fs::File::create(p)?),
            None => Stdio::null(),
        };
        let mut cmd = Command::new(&bin);
        cmd.arg("--data-dir").arg(&data);
        if let Some(u) = &args.database_url {
            cmd.arg("--database-url").arg(u);
        }
        let mut child = cmd
            .args(["serve", "--listen", "127.0.0.1:0"])
            // The log level an operator runs with, whatever this shell has set.
            .env_remove("RUST_LOG")
            .env_remove("TRIALOG_DATABASE_URL")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .map_err(|e| BenchError::Server(format!("{}: {e}", bin.display())))?;
        let pid = child.id();
        let (url, cert) = match read_banner(&mut child) {
            Ok(found) => found,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
        };
        let pin = trialog_client::tls::parse_pin(&cert)
            .ok_or_else(|| BenchError::Server(format!("bad certificate hash {cert}")))?;
        Ok(Target {
            url,
            pin,
            pid: Some(pid),
            started: true,
            data_dir: Some(data),
            database_url: args.database_url.clone(),
            child: Some(child),
            _dir: Some(dir),
        })
    }

    /// The database, as the report names it: its kind, never its URL (which may carry a
    /// password).
    pub fn database(&self) -> &'static str {
        match self.database_url.as_deref() {
            Some(u) if u.starts_with("postgres") => "postgresql",
            Some(_) | None => "sqlite",
        }
    }

    /// The operator of the server's data directory, with the operator key unlocked once:
    /// TRIALOG_OPERATOR_PASSPHRASE, or on a data directory of the bench's own a throwaway
    /// passphrase. A directory with no operator key yet gets one, as the first `invite`
    /// makes it.
    pub fn operator(&self) -> Result<Operator, BenchError> {
        let data = self.data_dir.as_ref().ok_or_else(|| {
            BenchError::Usage("setting up accounts on a running server needs its --data-dir".into())
        })?;
        let passphrase = match std::env::var("TRIALOG_OPERATOR_PASSPHRASE") {
            Ok(p) => p,
            Err(_) if self.started => OWN_OPERATOR_PASSPHRASE.to_owned(),
            Err(_) => {
                return Err(BenchError::Usage(
                    "set TRIALOG_OPERATOR_PASSPHRASE to the operator key's passphrase".into(),
                ));
            }
        };
        let mut config = Config::new(
            data.clone(),
            "127.0.0.1:0"
                .parse()
                .map_err(|_| BenchError::Setup("listen address".into()))?,
        );
        config.database_url = self.database_url.clone();
        trialog_server::operator::check_data_dir(&config)?;
        let key = if OperatorKey::exists(data) {
            OperatorKey::unlock(data, &passphrase)?
        } else {
            OperatorKey::create(data, &passphrase)?
        };
        Ok(Operator {
            config,
            key: Arc::new(key),
        })
    }

    /// Whether the started server is still running (a crash shows as errors, and here).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The operator's offline access to the data directory.
#[derive(Clone)]
pub struct Operator {
    pub config: Config,
    pub key: Arc<OperatorKey>,
}

/// The two lines `serve` prints once it listens; stdout is then drained on a thread, so the
/// server never writes into a full pipe.
fn read_banner(child: &mut Child) -> Result<(String, String), BenchError> {
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| BenchError::Server("no stdout".into()))?;
    let mut lines = BufReader::new(stdout).lines();
    let mut url = None;
    for line in lines.by_ref() {
        let line = line?;
        if let Some(u) = line.strip_prefix("Trialog server listening on ") {
            url = Some(u.trim().to_owned());
        }
        if let Some(h) = line.strip_prefix("TLS certificate SHA-256: ") {
            let cert = h.trim().to_owned();
            std::thread::spawn(move || for _ in lines {});
            return url
                .map(|u| (u, cert))
                .ok_or_else(|| BenchError::Server("no address printed".into()));
        }
    }
    Err(BenchError::Server(
        "it exited before listening (see --server-log)".into(),
    ))
}

/// Where a started server's data lives, for the report.
pub fn describe(t: &Target) -> String {
    match (&t.started, &t.data_dir) {
        (true, _) => format!("started by the bench at {} ({})", t.url, t.database()),
        (false, Some(d)) => format!("running at {} (data {})", t.url, show(d)),
        (false, None) => format!("running at {}", t.url),
    }
}

fn show(p: &Path) -> String {
    p.display().to_string()
}
