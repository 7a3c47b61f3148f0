//! `trialog-bench`: measures a Trialog server from a separate process.
//!
//! By default it starts the real `trialog-server` binary (the one beside it) on a fresh
//! data directory on 127.0.0.1, and knows its process id; or it is pointed at a server
//! already running (`--url --cert-sha256 --data-dir --server-pid`). It sets up treating
//! physicians, patients, cases and consents through the real client, pre-seals 4–8 KB
//! bilans, and drives them over K connections of their own (TLS 1.3, pinned certificate,
//! HTTP/2) for a fixed time or count. It reports accepted envelopes per second,
//! latency percentiles, errors by code, the server's CPU seconds (user + system, per
//! accepted envelope too) and peak memory, and its own CPU, since both share the machine.
//!
//! Modes: `submit` (closed loop, or open loop with `--rate`), `floor` (`GET /healthz` over
//! the same kind of connections: the bare HTTPS rate), `all` (floor, then submit, and the
//! relay's rate as a fraction of the floor's), `inbox` (listing time with N envelopes
//! pending), `crypto` (the client's seal and open cost per bilan, no server).
//!
//! A benchmark, not a test: it asserts no figure. It exits non-zero when a request failed
//! or a phase had no success, so a script notices a broken run.

mod bilan;
mod conn;
mod crypto;
mod drive;
mod error;
mod procstat;
mod report;
mod server;
mod setup;

use clap::{Args, Parser, Subcommand};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::bilan::{Order, Sizer, seal_pools};
use crate::conn::{Conn, Token, login};
use crate::drive::{Load, Stop, Work};
use crate::error::BenchError;
use crate::procstat::Proc;
use crate::report::{Latency, Phase, Report, ServerCost};
use crate::server::{Target, TargetArgs};
use crate::setup::{Plan, World};

/// Sizes of the bilans follow this seed: every run sends the same sequence of sizes.
const SIZE_SEED: u64 = 2026;
/// Envelopes sealed at a time while filling the server for `inbox`.
const FILL_CHUNK: usize = 10_000;
/// The server refuses envelopes created more than this long ago (MAX_CLOCK_SKEW, 300 s),
/// less a margin: a pre-sealed pool must be sent within it.
const SEALED_LIFE: Duration = Duration::from_secs(280);

#[derive(Debug, Parser)]
#[command(
    name = "trialog-bench",
    about = "Benchmark of a Trialog server, started as a separate process (or already running)"
)]
struct Cli {
    #[command(subcommand)]
    mode: Mode,
    #[command(flatten)]
    target: TargetArgs,
    /// Print one JSON object instead of the table.
    #[arg(long, global = true)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum Mode {
    /// Submit pre-sealed bilans: closed loop over K connections, or open loop with --rate.
    Submit(SubmitArgs),
    /// GET /healthz over the same kind of connections: the bare HTTPS rate.
    Floor(RunArgs),
    /// floor, then submit (closed loop), and the relay rate as a fraction of the floor's.
    All(AllArgs),
    /// Inbox listing time with N envelopes pending on the server.
    Inbox(InboxArgs),
    /// The client's seal and open cost per bilan (one core, no server).
    Crypto(CryptoArgs),
}

#[derive(Debug, Clone, Args)]
struct RunArgs {
    /// Connections, each one task sending one request at a time.
    #[arg(long, short = 'k', default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1024))]
    connections: u32,
    /// Seconds to run.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    duration: u64,
    /// Requests to send instead of running for --duration.
    #[arg(long, conflicts_with = "duration", value_parser = clap::value_parser!(u64).range(1..=200_000))]
    count: Option<u64>,
}

impl RunArgs {
    fn stop(&self) -> Stop {
        match self.count {
            Some(n) => Stop::Count(n),
            None => Stop::After(Duration::from_secs(self.duration)),
        }
    }
}

#[derive(Debug, Clone, Args)]
struct PlanArgs {
    /// With --duration and no --rate: envelopes pre-sealed per second of the run (the pool
    /// is duration × this; a faster server empties it, and the report says so).
    #[arg(long, default_value_t = 2500, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    max_rate: u32,
    /// Pending envelopes one recipient holds at most by the end of the run (1000 is the
    /// server's quota): fewer means more recipients, cases and patients to set up.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(4..=1000))]
    per_recipient: u32,
}

#[derive(Debug, Clone, Args)]
struct SubmitArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    plan: PlanArgs,
    /// Open loop: offer this many envelopes per second over the connections; latency is
    /// counted from when each envelope was due.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    rate: Option<u32>,
}

#[derive(Debug, Clone, Args)]
struct AllArgs {
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    plan: PlanArgs,
}

#[derive(Debug, Clone, Args)]
struct InboxArgs {
    #[command(flatten)]
    run: RunArgs,
    /// Envelopes pending on the server while the inboxes are listed.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    stored: u64,
    /// Items per inbox page (the server's default page is 100; at most 500).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=500))]
    page: u32,
    /// Pending envelopes per recipient (1000 is the server's quota).
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(4..=1000))]
    per_recipient: u32,
}

#[derive(Debug, Clone, Args)]
struct CryptoArgs {
    /// Bilans to seal and open.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u64).range(1..=200_000))]
    count: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    trialog_e2e::install_tls_provider();
    let cli = Cli::parse();
    let json = cli.json;
    match run(cli).await {
        Ok(report) => {
            if json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("trialog-bench: cannot write the report: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                report::print_table(&report);
            }
            if report.failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(BenchError::Usage(m)) => {
            eprintln!("trialog-bench: {m}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("trialog-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<Report, BenchError> {
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut report = Report {
        tool: "trialog-bench",
        mode: mode_name(&cli.mode).to_owned(),
        release_build: !cfg!(debug_assertions),
        nproc,
        server: None,
        database: None,
        server_pid_known: false,
        setup: None,
        seal: None,
        phases: Vec::new(),
        relay_fraction_of_floor: None,
        crypto: None,
        failed: false,
    };
    if let Mode::Crypto(a) = &cli.mode {
        report.crypto = Some(crypto::run(a.count as usize, SIZE_SEED)?);
        return Ok(report);
    }
    let mut target = Target::open(&cli.target)?;
    report.server = Some(server::describe(&target));
    report.database = Some(target.database());
    report.server_pid_known = target.pid.is_some();
    let homes = tempfile::Builder::new()
        .prefix("trialog-bench-homes-")
        .tempdir()?;
    match &cli.mode {
        Mode::Floor(a) => {
            let p = floor(&target, a).await?;
            report.phases.push(p);
        }
        Mode::Submit(a) => {
            let load = match a.rate {
                Some(r) => Load::Open(f64::from(r)),
                None => Load::Closed,
            };
            let n = pool_size(&a.run, &a.plan, a.rate);
            let world = set_up(&target, &a.run, a.plan.per_recipient, n, homes.path()).await?;
            report.setup = Some(world.report.clone());
            let p = submit(&target, &world, &a.run, load, n, &mut report).await?;
            report.phases.push(p);
        }
        Mode::All(a) => {
            let n = pool_size(&a.run, &a.plan, None);
            let world = set_up(&target, &a.run, a.plan.per_recipient, n, homes.path()).await?;
            report.setup = Some(world.report.clone());
            let f = floor(&target, &a.run).await?;
            let s = submit(&target, &world, &a.run, Load::Closed, n, &mut report).await?;
            if f.ok_per_s > 0.0 {
                report.relay_fraction_of_floor = Some(s.ok_per_s / f.ok_per_s);
            }
            report.phases.push(f);
            report.phases.push(s);
        }
        Mode::Inbox(a) => {
            let n = a.stored as usize;
            let world = set_up(&target, &a.run, a.per_recipient, n, homes.path()).await?;
            report.setup = Some(world.report.clone());
            let (fill, listing) = inbox(&target, &world, a, n, &mut report).await?;
            report.phases.push(fill);
            report.phases.push(listing);
        }
        Mode::Crypto(_) => {}
    }
    if let Some(status) = target.exited() {
        return Err(BenchError::Server(format!(
            "the server exited during the run: {status}"
        )));
    }
    report.failed = report.phases.iter().any(Phase::failed);
    Ok(report)
}

fn mode_name(m: &Mode) -> &'static str {
    match m {
        Mode::Submit(a) if a.rate.is_some() => "submit (open loop)",
        Mode::Submit(_) => "submit",
        Mode::Floor(_) => "floor",
        Mode::All(_) => "all",
        Mode::Inbox(_) => "inbox",
        Mode::Crypto(_) => "crypto",
    }
}

/// Envelopes to seal: the count, or the duration at the offered rate (open loop) or at
/// --max-rate (closed loop).
fn pool_size(run: &RunArgs, plan: &PlanArgs, rate: Option<u32>) -> usize {
    match run.count {
        Some(n) => n as usize,
        None => (run.duration * u64::from(rate.unwrap_or(plan.max_rate))) as usize,
    }
}

async fn set_up(
    target: &Target,
    run: &RunArgs,
    per_recipient: u32,
    envelopes: usize,
    homes: &std::path::Path,
) -> Result<World, BenchError> {
    let plan = Plan::new(envelopes, run.connections as usize, per_recipient as usize);
    let op = target.operator()?;
    setup::build(&op, &target.url, &hex(target.pin), plan, homes).await
}

fn hex(pin: [u8; 32]) -> String {
    pin.iter().map(|b| format!("{b:02x}")).collect()
}

async fn floor(target: &Target, run: &RunArgs) -> Result<Phase, BenchError> {
    let k = run.connections as usize;
    let (conns, http) = drive::connect(k, &target.url, target.pin, &[]).await?;
    eprintln!("floor: {k} connections");
    let mut p = measure(
        "floor",
        "GET /healthz (no session, no database)",
        target,
        conns,
        Work::Healthz,
        Load::Closed,
        run.stop(),
    )
    .await;
    p.http = http;
    Ok(p)
}

/// Seals the senders' pools and sends them; the seal figures go in the report.
async fn submit(
    target: &Target,
    world: &World,
    run: &RunArgs,
    load: Load,
    n: usize,
    report: &mut Report,
) -> Result<Phase, BenchError> {
    let plan_senders = world.senders.len();
    let per_sender = n.div_ceil(plan_senders);
    eprintln!("sealing {} bilans", per_sender * plan_senders);
    let sizer = Sizer::new()?;
    let orders: Vec<Order<'_>> = world
        .senders
        .iter()
        .map(|s| Order {
            identity: s.me.client.identity(),
            slots: &s.slots,
            count: per_sender,
        })
        .collect();
    let (pools, stats) = seal_pools(&orders, &sizer, SIZE_SEED)?;
    let sealed_at = std::time::Instant::now() - Duration::from_secs_f64(stats.wall_s);
    report.seal = Some(stats);
    let run_time = match run.stop() {
        Stop::After(d) => d,
        Stop::Count(_) => Duration::ZERO,
    };
    if sealed_at.elapsed() + run_time > SEALED_LIFE {
        return Err(BenchError::Usage(format!(
            "sealing took {:.0} s: with the run, the first envelopes would be older than the server accepts (300 s); lower --max-rate or --duration",
            sealed_at.elapsed().as_secs_f64()
        )));
    }
    let tokens = sender_tokens(target, world).await?;
    let k = run.connections as usize;
    let (conns, http) = drive::connect(k, &target.url, target.pin, &tokens).await?;
    eprintln!("submit: {k} connections");
    let mut p = measure(
        "submit",
        "POST /v1/envelopes (a pre-sealed bilan; 201 = accepted, on disk)",
        target,
        conns,
        Work::Submit(Arc::new(pools)),
        load,
        run.stop(),
    )
    .await;
    p.http = http;
    let recipients = world.report.recipients.max(1);
    p.notes.push(format!(
        "pending per recipient at the end: about {} ({} recipients)",
        p.ok as usize / recipients,
        recipients
    ));
    if let Load::Open(_) = load {
        p.notes.push(
            "open loop: latency counted from when each envelope was due, not when it was sent"
                .into(),
        );
    }
    Ok(p)
}

async fn sender_tokens(target: &Target, world: &World) -> Result<Vec<Token>, BenchError> {
    let mut tokens = Vec::new();
    for s in &world.senders {
        tokens.push(
            login(
                &target.url,
                target.pin,
                s.me.client.identity(),
                &s.me.account,
            )
            .await?,
        );
    }
    Ok(tokens)
}

/// Fills the server with `n` envelopes (sealed a chunk at a time, sent at full speed), then
/// lists the first inbox page of the recipients over the connections.
async fn inbox(
    target: &Target,
    world: &World,
    a: &InboxArgs,
    n: usize,
    report: &mut Report,
) -> Result<(Phase, Phase), BenchError> {
    let k = a.run.connections as usize;
    let senders = world.senders.len();
    let slots = world
        .senders
        .first()
        .map(|s| s.slots.len())
        .unwrap_or(1)
        .max(1);
    let per_sender = n.div_ceil(senders);
    // A whole number of rounds over the slots per chunk, so the queues fill evenly.
    let chunk = (FILL_CHUNK / senders / slots).max(1) * slots;
    let sizer = Sizer::new()?;
    let mut fill = report::Recorder::default();
    let (mut attempted, mut wall, mut done) = (0u64, Duration::ZERO, 0usize);
    let mut sealed = bilan::SealStats::default();
    while done < per_sender {
        let count = chunk.min(per_sender - done);
        eprintln!(
            "inbox: filling {} of {}",
            done * senders,
            per_sender * senders
        );
        let orders: Vec<Order<'_>> = world
            .senders
            .iter()
            .map(|s| Order {
                identity: s.me.client.identity(),
                slots: &s.slots,
                count,
            })
            .collect();
        let (pools, stats) = seal_pools(&orders, &sizer, SIZE_SEED + done as u64)?;
        sealed.add(&stats);
        let tokens = sender_tokens(target, world).await?;
        let (conns, _) = drive::connect(k, &target.url, target.pin, &tokens).await?;
        let r = drive::drive(
            conns,
            Work::Submit(Arc::new(pools)),
            Load::Closed,
            Stop::Count((count * senders) as u64),
        )
        .await;
        attempted += r.attempted;
        wall += r.wall;
        fill.merge(r.rec);
        done += count;
    }
    let seal_s = sealed.wall_s;
    report.seal = Some(sealed);
    let fill_ok = fill.latencies.len() as u64;
    let fill = Phase {
        name: "fill".into(),
        request: format!(
            "POST /v1/envelopes, {n} bilans to fill the inboxes (sealed beforehand, {seal_s:.1} s)"
        ),
        connections: k,
        load: "closed",
        offered_per_s: None,
        wall_s: wall.as_secs_f64(),
        attempted,
        ok: fill_ok,
        errors: fill.errors,
        errors_by_kind: fill.error_kinds.clone(),
        ok_per_s: per_second(fill_ok, wall),
        latency_ms: Latency::of(&mut fill.latencies),
        http: None,
        pool_exhausted: false,
        not_sent: 0,
        server: None,
        client_cpu_s: 0.0,
        client_cpu_ms_per_ok: None,
        notes: vec!["server and client costs are measured for the listing only".into()],
    };
    // Each connection lists the inbox of one recipient, in turn.
    let mut tokens = Vec::new();
    for r in &world.recipients {
        tokens.push(login(&target.url, target.pin, r.client.identity(), &r.account).await?);
    }
    let (conns, http) = drive::connect(k, &target.url, target.pin, &tokens).await?;
    let held = fill_ok as usize / world.recipients.len().max(1);
    let listed = conns
        .first()
        .map(|c: &Conn| c.inbox_items(a.page))
        .ok_or_else(|| BenchError::Setup("no connection".into()))?
        .await
        .map_err(BenchError::Setup)?;
    eprintln!("inbox: listing with {fill_ok} pending, {k} connections");
    let mut p = measure(
        "inbox",
        &format!("GET /v1/inbox?limit={} (first page)", a.page),
        target,
        conns,
        Work::Inbox(a.page),
        Load::Closed,
        a.run.stop(),
    )
    .await;
    p.http = http;
    p.notes.push(format!(
        "{fill_ok} envelopes pending on the server, about {held} per recipient ({} recipients); a page lists {listed} items",
        world.recipients.len()
    ));
    Ok((fill, p))
}

fn per_second(n: u64, wall: Duration) -> f64 {
    if wall.is_zero() {
        0.0
    } else {
        n as f64 / wall.as_secs_f64()
    }
}

/// Runs the connections and reads the server's /proc figures and this process's CPU
/// around it.
async fn measure(
    name: &str,
    request: &str,
    target: &Target,
    conns: Vec<Conn>,
    work: Work,
    load: Load,
    stop: Stop,
) -> Phase {
    let k = conns.len();
    let server = target.pid.map(Proc::Pid);
    let before = server.map(|p| (procstat::cpu(p), procstat::memory(p)));
    let me_before = procstat::cpu(Proc::Me).unwrap_or_default();
    let mut run = drive::drive(conns, work, load, stop).await;
    let me = me_before.until(&procstat::cpu(Proc::Me).unwrap_or_default());
    let after = server.map(|p| (procstat::cpu(p), procstat::memory(p)));
    let ok = run.rec.latencies.len() as u64;
    let per_ok = |cpu_s: f64| (ok > 0).then(|| cpu_s * 1000.0 / ok as f64);
    let mut notes = Vec::new();
    let server = match (before, after) {
        (Some((Ok(c0), Ok(m0))), Some((Ok(c1), Ok(m1)))) => {
            let cpu = c0.until(&c1);
            Some(ServerCost {
                cpu,
                cpu_s: cpu.total(),
                cpu_ms_per_ok: per_ok(cpu.total()),
                memory_before: m0,
                memory_after: m1,
            })
        }
        (None, _) | (_, None) => None,
        _ => {
            notes.push("the server's /proc figures could not be read".into());
            None
        }
    };
    Phase {
        name: name.into(),
        request: request.into(),
        connections: k,
        load: match load {
            Load::Closed => "closed",
            Load::Open(_) => "open",
        },
        offered_per_s: match load {
            Load::Closed => None,
            Load::Open(r) => Some(r),
        },
        wall_s: run.wall.as_secs_f64(),
        attempted: run.attempted,
        ok,
        errors: run.rec.errors,
        errors_by_kind: std::mem::take(&mut run.rec.error_kinds),
        ok_per_s: per_second(ok, run.wall),
        latency_ms: Latency::of(&mut run.rec.latencies),
        http: None,
        pool_exhausted: run.exhausted,
        not_sent: run.not_sent,
        server,
        client_cpu_s: me.total(),
        client_cpu_ms_per_ok: per_ok(me.total()),
        notes,
    }
}
