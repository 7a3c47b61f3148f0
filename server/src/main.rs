//! `trialog-server`: parses the command line and hands over to the library.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{AccountId, Role};
use trialog_server::operator::{self, AccountRef, InvitationInfo};
use trialog_server::operator_key::OperatorKey;
use trialog_server::{App, Config};
use zeroize::Zeroizing;

/// jemalloc, not glibc's malloc: under load glibc's spent about 11% of the server's CPU in
/// malloc, free and the consolidation of its free lists. mimalloc saved as much but
/// stalled some requests by about 100 ms at 1,000/s (README, Performance).
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(
    name = "trialog-server",
    version,
    about = "Trialog relay server: end-to-end encrypted, consent-gated messages between the physicians around a worker on sick leave"
)]
struct Cli {
    /// Data directory: database, server key, self-signed certificate.
    #[arg(
        long,
        global = true,
        env = "TRIALOG_DATA_DIR",
        default_value = "./trialog-data"
    )]
    data_dir: PathBuf,
    /// Database URL: `sqlite://PATH` or `postgres://…` (several replicas share one);
    /// default: trialog.db in the data directory.
    #[arg(long, global = true, env = "TRIALOG_DATABASE_URL")]
    database_url: Option<String>,
    /// Log lines on stderr as text (colour only on a terminal) or as JSON, one object a line.
    #[arg(
        long,
        global = true,
        env = "TRIALOG_LOG_FORMAT",
        value_enum,
        default_value = "text"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API over HTTPS (TLS 1.3).
    Serve {
        /// Address and port to listen on (port 0 picks a free one).
        #[arg(long, env = "TRIALOG_LISTEN", default_value = "127.0.0.1:8443")]
        listen: SocketAddr,
        /// PEM certificate chain to use instead of the self-signed one.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
        /// Life of a session token, in seconds.
        #[arg(long, default_value_t = 900)]
        token_ttl: i64,
        /// Most client connections open at once (default 1024, lowered to fit `ulimit -n`);
        /// more wait to be accepted until one closes.
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        max_connections: Option<u64>,
        /// Seconds a TLS handshake may take (default 10).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        handshake_timeout: Option<u64>,
        /// Seconds for a request head to arrive after the handshake or the previous request (default 10).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        header_timeout: Option<u64>,
        /// Seconds a connection may stay open with no request in flight (default 30).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        idle_timeout: Option<u64>,
        /// Seconds a request may take to arrive and be answered (default 60; the inbox long
        /// poll gets its wait on top).
        #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
        request_timeout: Option<u64>,
        /// Serve Prometheus metrics at http://ADDR/metrics (off by default). Plain HTTP with
        /// no login: give a localhost or private-network address, never a public one. It
        /// shows counts by route template and error code, never an id.
        #[arg(long, value_name = "ADDR", env = "TRIALOG_METRICS_LISTEN")]
        metrics_listen: Option<SocketAddr>,
    },
    /// Create a one-time invitation for a physician (role and RIZIV/INAMI number are bound
    /// to it), or with --recovery one that replaces a registered physician's lost key.
    Invite(InviteArgs),
    /// Attest a physician's registered key with the operator key, after comparing the
    /// fingerprint they read out; clients accept only attested physician keys. After a
    /// recovery, this also revokes the old key.
    Approve {
        #[command(flatten)]
        who: Who,
        /// The fingerprint the physician reads out from their own screen (`trialog whoami`
        /// or the web client's home): at least 32 hex digits.
        #[arg(long)]
        fingerprint: String,
        /// The key replaces a lost one (after `invite --recovery`): the attestation revokes
        /// the old key, and clients that knew it move to the new one.
        #[arg(long)]
        recovery: bool,
    },
    /// List or revoke invitations (offline on the data directory).
    #[command(subcommand)]
    Invitations(InvitationsCommand),
    /// Suspend an account: its tokens and login stop working, it can neither send nor
    /// receive, and what is sent to it is held until `unsuspend`.
    Suspend(Who),
    /// Lift a suspension: the account works again and what was held for it is delivered.
    Unsuspend(Who),
    /// A consistent copy of the database, made while the server runs (SQLite).
    Backup {
        /// The new file to write; an existing, non-empty one is refused.
        #[arg(long)]
        to: PathBuf,
    },
    /// Replace the TLS certificate (offline on the data directory): a new self-signed one, or
    /// copies of --tls-cert/--tls-key, vouched for by the server key so clients follow it.
    RotateCert {
        /// PEM certificate chain to copy into the data directory instead of a new self-signed one.
        #[arg(long, requires = "tls_key")]
        tls_cert: Option<PathBuf>,
        /// PEM private key of --tls-cert.
        #[arg(long, requires = "tls_cert")]
        tls_key: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum InvitationsCommand {
    /// Every invitation with its state: pending, used, expired or revoked (never a code).
    List {
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke the pending invitation for a RIZIV/INAMI number: its code no longer registers.
    Revoke {
        /// RIZIV/INAMI number the invitation was made for.
        #[arg(long, value_parser = |s: &str| Riziv::parse(s).map_err(|e| e.to_string()))]
        riziv: Riziv,
    },
}

/// The account an operator command acts on: by id or by RIZIV/INAMI number.
#[derive(clap::Args)]
#[group(required = true, multiple = false)]
struct Who {
    /// Account id, as `trialog whoami` shows it.
    #[arg(long, value_parser = |s: &str| AccountId::parse(s).map_err(|e| e.to_string()))]
    account: Option<AccountId>,
    /// RIZIV/INAMI number of a physician's account.
    #[arg(long, value_parser = |s: &str| Riziv::parse(s).map_err(|e| e.to_string()))]
    riziv: Option<Riziv>,
}

impl Who {
    fn account_ref(self) -> Option<AccountRef> {
        match (self.account, self.riziv) {
            (Some(id), _) => Some(AccountRef::Id(id)),
            (None, Some(r)) => Some(AccountRef::Riziv(r)),
            (None, None) => None,
        }
    }
}

#[derive(clap::Args)]
struct InviteArgs {
    #[arg(long, value_parser = parse_physician_role, required_unless_present = "recovery")]
    role: Option<Role>,
    /// RIZIV/INAMI number, e.g. 1-23456-25-580.
    #[arg(long, value_parser = |s: &str| Riziv::parse(s).map_err(|e| e.to_string()))]
    riziv: Riziv,
    /// Name as shown in the directory and in consent texts, e.g. "Dr. An Peeters".
    #[arg(long, required_unless_present = "recovery")]
    name: Option<String>,
    /// For a registered physician who lost every device: the invitation registers a new
    /// key for their account (same role and name), which `approve` must then attest.
    #[arg(long, conflicts_with_all = ["role", "name"])]
    recovery: bool,
    /// Days before the invitation expires (1 to 90).
    #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(i64).range(1..=90))]
    valid_days: i64,
    /// Revoke a pending invitation for the same RIZIV/INAMI number instead of refusing.
    #[arg(long)]
    replace: bool,
    /// The address physicians' clients reach the server at, for the onboarding string
    /// printed under the code (default: https:// and the default listen address).
    #[arg(long, default_value = "https://127.0.0.1:8443")]
    server_url: String,
}

fn parse_physician_role(s: &str) -> Result<Role, String> {
    match s.parse::<Role>()? {
        Role::Patient => Err(
            "patients join with an enrolment code from their physician, not an invitation".into(),
        ),
        r => Ok(r),
    }
}

fn main() -> ExitCode {
    // The request handlers' threads run below the envelope writer's (`priority.rs`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(trialog_server::priority::lower_this_thread)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    // One TLS provider for the whole process (ring); rustls panics later without it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    init_logs(cli.log_format);
    let mut config = Config::new(
        cli.data_dir,
        "127.0.0.1:8443"
            .parse()
            .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8443))),
    );
    config.database_url = cli.database_url;
    match cli.command {
        Command::Serve {
            listen,
            tls_cert,
            tls_key,
            token_ttl,
            max_connections,
            handshake_timeout,
            header_timeout,
            idle_timeout,
            request_timeout,
            metrics_listen,
        } => {
            config.listen = listen;
            config.metrics_listen = metrics_listen;
            config.tls_cert = tls_cert;
            config.tls_key = tls_key;
            config.settings.token_ttl = token_ttl;
            // Unset flags keep the defaults of `Limits`, the one place they are chosen.
            let limits = &mut config.settings.limits;
            let secs = std::time::Duration::from_secs;
            if let Some(n) = max_connections {
                limits.max_connections = usize::try_from(n).unwrap_or(usize::MAX);
            }
            if let Some(s) = handshake_timeout {
                limits.handshake_timeout = secs(s);
            }
            if let Some(s) = header_timeout {
                limits.header_timeout = secs(s);
            }
            if let Some(s) = idle_timeout {
                limits.idle_timeout = secs(s);
            }
            if let Some(s) = request_timeout {
                limits.request_timeout = secs(s);
            }
            let app = match App::build(config).await {
                Ok(app) => app,
                Err(e) => {
                    eprintln!("trialog-server: {e}");
                    return ExitCode::FAILURE;
                }
            };
            // Written, not `println!`: if whoever started us stops reading our stdout, the
            // server must keep serving rather than die on a broken pipe.
            {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(
                    out,
                    "Trialog server listening on https://{}",
                    app.local_addr
                );
                if let Some(addr) = app.metrics_addr {
                    let _ = writeln!(out, "Metrics on http://{addr}/metrics");
                }
                let _ = writeln!(out, "TLS certificate SHA-256: {}", app.cert_sha256);
                let _ = writeln!(
                    out,
                    "Clients connect with:  trialog init --server https://{} --cert-sha256 {}",
                    app.local_addr, app.cert_sha256
                );
                let _ = out.flush();
            }
            let shutdown = shutdown_signal();
            if let Err(e) = app.run(shutdown).await {
                eprintln!("trialog-server: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        Command::Invite(args) => invite(&config, args).await,
        Command::Approve {
            who,
            fingerprint,
            recovery,
        } => {
            // clap requires one of the two; this answers if it ever did not.
            let Some(who) = who.account_ref() else {
                eprintln!("trialog-server: give --account or --riziv");
                return ExitCode::from(2);
            };
            let key = match operator_key(&config) {
                Ok(k) => k,
                Err(code) => return code,
            };
            match operator::approve(&config, &who, &fingerprint, &key, recovery).await {
                Ok(a) => {
                    let a = a.attestation;
                    println!(
                        "Key of {} ({}, RIZIV/INAMI {}) attested on {}: clients now accept it.",
                        a.name,
                        a.role,
                        Riziv::parse(&a.riziv)
                            .map(|r| r.to_string())
                            .unwrap_or(a.riziv.clone()),
                        trialog_protocol::time::format_date(a.attested_at)
                    );
                    if let Some(old) = &a.replaces {
                        println!(
                            "The old key ({}) is revoked: clients that knew it show the change as attested by the operator.",
                            old.short()
                        );
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Invitations(InvitationsCommand::List { json }) => {
            match operator::list_invitations(&config).await {
                Ok(list) => print_invitations(&list, json),
                Err(e) => fail(e),
            }
        }
        Command::Invitations(InvitationsCommand::Revoke { riziv }) => {
            match operator::revoke_invitation(&config, &riziv).await {
                Ok(_) => {
                    println!(
                        "Invitation for RIZIV/INAMI {riziv} revoked: its code no longer registers."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Suspend(who) => {
            // clap requires one of the two; this answers if it ever did not.
            let Some(who) = who.account_ref() else {
                eprintln!("trialog-server: give --account or --riziv");
                return ExitCode::from(2);
            };
            match operator::suspend(&config, &who).await {
                Ok(id) => {
                    println!(
                        "Account {id} suspended: its sessions, login, sending and receiving are refused; messages for it are held until `trialog-server unsuspend --account {id}`."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Backup { to } => match operator::backup(&config, &to).await {
            Ok(()) => {
                println!(
                    "Backup written to {} (owner-only): accounts, public keys, cases, consents, audit chains and the ciphertext not yet destroyed; no key and nothing in clear. Keep it with the data directory's keys (server-key.pem, operator-key.age, tls-*.pem) to restore.",
                    to.display()
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Unsuspend(who) => {
            // clap requires one of the two; this answers if it ever did not.
            let Some(who) = who.account_ref() else {
                eprintln!("trialog-server: give --account or --riziv");
                return ExitCode::from(2);
            };
            match operator::unsuspend(&config, &who).await {
                Ok(id) => {
                    println!(
                        "Account {id} no longer suspended: it can log in again, and what was held for it is delivered."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::RotateCert { tls_cert, tls_key } => {
            let given = tls_cert.as_deref().zip(tls_key.as_deref());
            match operator::rotate_cert(&config, given).await {
                Ok(r) => {
                    println!("New TLS certificate SHA-256: {}", r.cert_sha256);
                    println!(
                        "Vouched for by the server key on {} and recorded in the directory's audit log; saved as {}.",
                        trialog_protocol::time::format_date(r.issued_at),
                        r.cert_path.display()
                    );
                    println!(
                        "A running server keeps its old certificate: restart `trialog-server serve` (without --tls-cert/--tls-key) to present the new one. Clients follow the change by themselves; nothing to edit on their side."
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}

/// `invite`: checks what it can before anything is written, unlocks (or on first use
/// creates) the operator key, stores the invitation and prints the code and the onboarding
/// string that carries the server, its certificate and the operator's public key.
async fn invite(config: &Config, args: InviteArgs) -> ExitCode {
    if let Some(name) = &args.name
        && let Err(e) = trialog_protocol::text::check_display_name(name)
    {
        // One line, shown as typed: no control, bidi or invisible characters.
        eprintln!("trialog-server: --name: {e}");
        return ExitCode::from(2);
    }
    // Checked before the invitation is stored: a refused address writes nothing.
    let server_url = args.server_url.trim();
    if !server_url.starts_with("https://") || server_url.len() <= 8 {
        eprintln!("trialog-server: --server-url must start with https://");
        return ExitCode::from(2);
    }
    let key = match operator_key(config) {
        Ok(k) => k,
        Err(code) => return code,
    };
    let issued = match (args.recovery, args.role, args.name) {
        (true, _, _) => {
            operator::invite_recovery(config, &args.riziv, args.valid_days, args.replace).await
        }
        (false, Some(role), Some(name)) => operator::invite_with(
            config,
            role,
            &args.riziv,
            &name,
            args.valid_days,
            args.replace,
        )
        .await
        .map(|(code, expires_at)| operator::Issued {
            code,
            expires_at,
            role,
            name,
            recovers: None,
        }),
        // clap requires both without --recovery; this answers if it ever did not.
        _ => {
            eprintln!("trialog-server: give --role and --name, or --recovery");
            return ExitCode::from(2);
        }
    };
    let issued = match issued {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    // The certificate `serve` will present from this data directory (`serve` created it),
    // so that the onboarding string pins it, with the operator key clients pin.
    let onboarding = trialog_server::tls::load(None, &config.data_dir)
        .map_err(|e| e.to_string())
        .and_then(|tls| {
            trialog_protocol::onboarding::Onboarding::new(
                server_url,
                &tls.cert_sha256,
                &issued.code,
            )
            .and_then(|o| o.with_operator_key(&key.public_hex()))
            .map_err(|e| e.to_string())
        });
    let onboarding = match onboarding {
        Ok(o) => o.encode(),
        Err(e) => {
            eprintln!("trialog-server: --server-url: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Line 1: the plain code; line 2: the one string that also carries the server, its
    // certificate and the operator key (`trialog register --onboarding …`).
    println!("{}", issued.code);
    println!("{onboarding}");
    let what = if issued.recovers.is_some() {
        "Recovery invitation"
    } else {
        "Invitation"
    };
    eprintln!(
        "{what} for {} ({}, RIZIV/INAMI {}), valid until {}. Hand it over in person; it works once.",
        issued.name,
        issued.role,
        args.riziv,
        trialog_protocol::time::format_date(issued.expires_at)
    );
    eprintln!(
        "Then approve the key: the physician reads out the fingerprint their client shows, and you run\n  trialog-server approve --riziv {} --fingerprint \"<what they read>\"",
        args.riziv
    );
    ExitCode::SUCCESS
}

/// Unlocks the operator key with `TRIALOG_OPERATOR_PASSPHRASE` or a prompt; on first use
/// (no key in the data directory yet) creates it, asking for the new passphrase twice.
fn operator_key(config: &Config) -> Result<OperatorKey, ExitCode> {
    if let Err(e) = operator::check_data_dir(config) {
        return Err(fail(e));
    }
    let exists = OperatorKey::exists(&config.data_dir);
    let passphrase = match std::env::var("TRIALOG_OPERATOR_PASSPHRASE") {
        Ok(p) => Zeroizing::new(p),
        Err(_) => {
            let ask = |prompt: &str| rpassword::prompt_password(prompt).map(Zeroizing::new);
            let prompt = if exists {
                "Operator key passphrase: "
            } else {
                "No operator key yet; choose its passphrase (at least 10 characters): "
            };
            let first = ask(prompt);
            let again = if exists { None } else { Some(ask("Again: ")) };
            match (first, again) {
                (Ok(p), None) => p,
                (Ok(p), Some(Ok(q))) if *p == *q => p,
                (Ok(_), Some(Ok(_))) => {
                    eprintln!("trialog-server: the passphrases differ; nothing was created");
                    return Err(ExitCode::from(2));
                }
                _ => {
                    eprintln!(
                        "trialog-server: no terminal to ask the operator key's passphrase; set TRIALOG_OPERATOR_PASSPHRASE"
                    );
                    return Err(ExitCode::from(2));
                }
            }
        }
    };
    let key = if exists {
        OperatorKey::unlock(&config.data_dir, &passphrase)
    } else {
        OperatorKey::create(&config.data_dir, &passphrase).inspect(|_| {
            eprintln!(
                "Created the operator key in {}: its public half travels in every invitation and enrolment string. Keep the passphrase offline; a lost passphrase means new invitations for everyone.",
                config.data_dir.display(),
            );
        })
    };
    key.map_err(|e| fail(e.into()))
}

/// Logs on stderr: text with colour only when stderr is a terminal (never escape codes in
/// a file or a pipe), or JSON lines for a log collector. Fields carry codes and ids, never
/// a value, a key or a token.
fn init_logs(format: LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "trialog_server=info,warn".into());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
        LogFormat::Json => logs.json().init(),
    }
}

fn fail(e: operator::OperatorError) -> ExitCode {
    eprintln!("trialog-server: {e}");
    ExitCode::FAILURE
}

/// The list as a table, or as JSON. Never a code: none is stored.
fn print_invitations(list: &[InvitationInfo], json: bool) -> ExitCode {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let written = if json {
        match serde_json::to_string_pretty(list) {
            Ok(s) => writeln!(out, "{s}"),
            Err(e) => {
                eprintln!("trialog-server: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        let date = trialog_protocol::time::format_date;
        let mut r = writeln!(
            out,
            "{:<13} {:<15} {:<28} {:<10} {:<10} STATE",
            "ROLE", "RIZIV/INAMI", "NAME", "CREATED", "EXPIRES"
        );
        for i in list {
            r = r.and_then(|_| {
                writeln!(
                    out,
                    "{:<13} {:<15} {:<28} {:<10} {:<10} {}{}",
                    i.role,
                    i.riziv,
                    i.name,
                    date(i.created_at),
                    date(i.expires_at),
                    i.state.as_str(),
                    i.used_by
                        .as_deref()
                        .map(|a| format!(" by {a}"))
                        .unwrap_or_default()
                )
            });
        }
        r
    };
    match written.and_then(|_| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}

/// Ctrl-C, or SIGTERM from a service manager: stop accepting, finish requests in flight.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
