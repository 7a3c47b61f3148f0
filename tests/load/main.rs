//! `trialog-load`: a load tool for the Trialog server.
//!
//! Starts the real server in-process (TLS 1.3, SQLite in a temp dir, 127.0.0.1 on a random
//! port), sets up one case with its three physicians, a confirmed patient and consents, then
//! measures, with bounded counts and a bounded time:
//!
//! 1. envelope submission: N bilan envelopes (8 fields) sealed beforehand, so the client's
//!    crypto stays out of the server's measurement (the seal time is reported on its own
//!    row), submitted by C concurrent tasks;
//! 2. fetch + acknowledge of those envelopes by the recipient, C concurrent tasks;
//! 3. the full client path `Client::send` (consent verification, leak guard, sealing,
//!    submission), sequential;
//! 4. inbox listing, C concurrent tasks.
//!
//! Latencies are those of successful requests; failed requests are counted in `errors`
//! and their messages summarised on stderr. The tool exits non-zero if any request failed
//! or was not run before the deadline.
//!
//! Client and server share this process and this machine's cores: the numbers are an
//! upper bound on per-request cost, not a capacity figure for a dedicated server.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use clap::Parser;
use serde::Serialize;
use tokio::time::Instant;
use trialog_client::api::Api;
use trialog_client::{ClientError, Outgoing};
use trialog_e2e::{FUNCTIONAL, World, bilan_values, grant};
use trialog_protocol::envelope::{Envelope, EnvelopeHeader, seal};
use trialog_protocol::{MessageId, MessageKind};

/// Inbox listings measured in phase 4.
const INBOX_LISTINGS: usize = 200;
/// The setup (server start, four clients with scrypt keystores, case, consents) must end
/// within this.
const SETUP_LIMIT: Duration = Duration::from_secs(180);
/// Distinct error messages kept per metric (all errors are counted regardless).
const MAX_ERROR_KINDS: usize = 20;

#[derive(Debug, Parser)]
#[command(
    name = "trialog-load",
    about = "Load test of the Trialog server, started in-process on 127.0.0.1"
)]
struct Args {
    /// Envelopes pre-sealed, submitted, then fetched and acknowledged.
    /// At most 20000: every envelope must reach the server within the 300 s clock skew
    /// the server allows after it was sealed.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    messages: u32,
    /// Concurrent tasks for submission, fetch + acknowledge and inbox listing.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=256))]
    concurrency: u32,
    /// Messages sent through the full client path `Client::send`, one after another.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=5_000))]
    send_count: u32,
    /// Stop measuring after this many seconds from the end of the setup; requests not run
    /// by then count as failures. Kept below the 15-minute session token life.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..=840))]
    max_seconds: u64,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// One request's outcome, for one metric of a phase.
struct Sample {
    metric: usize,
    latency: Duration,
    outcome: Result<(), String>,
}

/// What was recorded for one metric.
#[derive(Default)]
struct Recorder {
    latencies: Vec<Duration>,
    attempted: usize,
    errors: usize,
    error_kinds: BTreeMap<String, usize>,
}

impl Recorder {
    fn record(&mut self, latency: Duration, outcome: Result<(), String>) {
        self.attempted += 1;
        match outcome {
            Ok(()) => self.latencies.push(latency),
            Err(e) => self.error(e),
        }
    }

    fn error(&mut self, e: String) {
        self.errors += 1;
        self.note(e, 1);
    }

    /// Keeps the message for the summary; past `MAX_ERROR_KINDS` distinct ones, lumps them.
    fn note(&mut self, e: String, n: usize) {
        let key = if self.error_kinds.len() < MAX_ERROR_KINDS || self.error_kinds.contains_key(&e) {
            e
        } else {
            "(other errors)".to_owned()
        };
        *self.error_kinds.entry(key).or_insert(0) += n;
    }

    fn merge(&mut self, other: Recorder) {
        self.latencies.extend(other.latencies);
        self.attempted += other.attempted;
        self.errors += other.errors;
        for (e, n) in other.error_kinds {
            self.note(e, n);
        }
    }

    fn finish(mut self, name: &str, planned: usize, wall: Duration) -> Metric {
        self.latencies.sort_unstable();
        let ok = self.latencies.len();
        let wall_s = wall.as_secs_f64();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let pct = |p: f64| percentile(&self.latencies, p).map(ms);
        Metric {
            name: name.to_owned(),
            count: self.attempted,
            ok,
            errors: self.errors,
            not_run: planned.saturating_sub(self.attempted),
            wall_s,
            throughput: if wall_s > 0.0 {
                ok as f64 / wall_s
            } else {
                0.0
            },
            p50_ms: pct(50.0),
            p90_ms: pct(90.0),
            p99_ms: pct(99.0),
            max_ms: self.latencies.last().copied().map(ms),
            mean_ms: if ok > 0 {
                Some(ms(self.latencies.iter().sum::<Duration>()) / ok as f64)
            } else {
                None
            },
            error_kinds: self.error_kinds,
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[derive(Debug, Serialize)]
struct Metric {
    name: String,
    /// Requests attempted.
    count: usize,
    ok: usize,
    errors: usize,
    /// Planned but not attempted before the deadline.
    not_run: usize,
    wall_s: f64,
    /// Successful requests per second of the phase's wall time.
    throughput: f64,
    p50_ms: Option<f64>,
    p90_ms: Option<f64>,
    p99_ms: Option<f64>,
    max_ms: Option<f64>,
    mean_ms: Option<f64>,
    error_kinds: BTreeMap<String, usize>,
}

impl Metric {
    fn failed(&self) -> bool {
        self.errors > 0 || self.not_run > 0
    }
}

#[derive(Debug, Serialize)]
struct Report {
    nproc: usize,
    release_build: bool,
    server: String,
    messages: usize,
    concurrency: usize,
    send_count: usize,
    inbox_listings: usize,
    inbox_items: Option<usize>,
    fields_per_envelope: usize,
    setup_s: f64,
    metrics: Vec<Metric>,
    failed: bool,
}

/// Runs `work(i)` for every `i < n` on `concurrency` tasks, each taking the next index
/// until all are done or the deadline passes. A request still running at the deadline is
/// cancelled and counted as an error. Returns one recorder per metric and the wall time.
async fn run_concurrent<F, Fut>(
    n: usize,
    concurrency: usize,
    metrics: usize,
    deadline: Instant,
    work: F,
) -> (Vec<Recorder>, Duration)
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Vec<Sample>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency.min(n) {
        let next = next.clone();
        let work = work.clone();
        tasks.spawn(async move {
            let mut rec: Vec<Recorder> = (0..metrics).map(|_| Recorder::default()).collect();
            loop {
                if Instant::now() >= deadline {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    break;
                }
                match tokio::time::timeout_at(deadline, work(i)).await {
                    Ok(samples) => {
                        for s in samples {
                            rec[s.metric].record(s.latency, s.outcome);
                        }
                    }
                    Err(_) => {
                        rec[0].attempted += 1;
                        rec[0].error("deadline reached during the request".into());
                    }
                }
            }
            rec
        });
    }
    let mut total: Vec<Recorder> = (0..metrics).map(|_| Recorder::default()).collect();
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(recs) => {
                for (t, r) in total.iter_mut().zip(recs) {
                    t.merge(r);
                }
            }
            Err(e) => total[0].error(format!("worker task failed: {e}")),
        }
    }
    (total, start.elapsed())
}

/// Times one request.
async fn timed<T>(
    metric: usize,
    f: impl Future<Output = Result<T, ClientError>>,
) -> (Sample, Option<T>) {
    let t0 = Instant::now();
    let r = f.await;
    let latency = t0.elapsed();
    match r {
        Ok(v) => (
            Sample {
                metric,
                latency,
                outcome: Ok(()),
            },
            Some(v),
        ),
        Err(e) => (
            Sample {
                metric,
                latency,
                outcome: Err(e.to_string()),
            },
            None,
        ),
    }
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "-".into())
}

fn print_table(r: &Report) {
    println!(
        "trialog-load: server in-process at {} (TLS 1.3, SQLite), nproc {}, {} build",
        r.server,
        r.nproc,
        if r.release_build { "release" } else { "DEBUG" }
    );
    println!(
        "messages {}, concurrency {}, send-count {}, inbox listings {}, {} fields per envelope; setup {:.2} s",
        r.messages, r.concurrency, r.send_count, r.inbox_listings, r.fields_per_envelope, r.setup_s
    );
    println!();
    let name_w = r
        .metrics
        .iter()
        .map(|m| m.name.chars().count())
        .max()
        .unwrap_or(5)
        .max(5);
    println!(
        "{:<name_w$}  {:>6}  {:>6}  {:>8}  {:>9}  {:>8}  {:>8}  {:>8}  {:>8}",
        "phase", "count", "errors", "wall s", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms"
    );
    println!(
        "{}",
        "-".repeat(name_w + 2 + 6 + 2 + 6 + 2 + 8 + 2 + 9 + 4 * 10)
    );
    for m in &r.metrics {
        println!(
            "{:<name_w$}  {:>6}  {:>6}  {:>8.3}  {:>9.1}  {:>8}  {:>8}  {:>8}  {:>8}",
            m.name,
            m.count,
            m.errors,
            m.wall_s,
            m.throughput,
            fmt_ms(m.p50_ms),
            fmt_ms(m.p90_ms),
            fmt_ms(m.p99_ms),
            fmt_ms(m.max_ms),
        );
    }
    println!();
    println!(
        "req/s counts successful requests over the phase's wall time; latencies are those of successful requests."
    );
    println!(
        "fetch and ack run in one phase (each task fetches then acknowledges): they share its wall time."
    );
    if let Some(n) = r.inbox_items {
        println!("inbox listing: {n} pending items per listing.");
    }
    let not_run: Vec<String> = r
        .metrics
        .iter()
        .filter(|m| m.not_run > 0)
        .map(|m| format!("{}: {}", m.name.trim(), m.not_run))
        .collect();
    if !not_run.is_empty() {
        println!("NOT RUN before the deadline: {}", not_run.join("; "));
    }
    println!("result: {}", if r.failed { "FAILED" } else { "ok" });
}

fn print_errors(metrics: &[Metric]) {
    for m in metrics.iter().filter(|m| m.failed()) {
        eprintln!(
            "{}: {} error(s), {} not run",
            m.name.trim(),
            m.errors,
            m.not_run
        );
        for (e, n) in &m.error_kinds {
            eprintln!("  {n} × {e}");
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let messages = args.messages as usize;
    let concurrency = args.concurrency as usize;
    let send_count = args.send_count as usize;
    let nproc = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);

    // ---- Setup (panics with a message on failure) ----
    let setup_start = Instant::now();
    let (mut w, consent_id) = tokio::time::timeout(SETUP_LIMIT, async {
        // The load queues every message for one recipient: lift the per-recipient and
        // per-sender quotas above what it sends, so it measures the relay, not the quota.
        let settings = trialog_server::state::Settings {
            max_pending_per_recipient: i64::MAX,
            max_pending_bytes_per_recipient: i64::MAX,
            max_pending_per_sender: i64::MAX,
            max_pending_bytes_per_sender: i64::MAX,
            ..Default::default()
        };
        let mut w = World::with_app(trialog_e2e::TestApp::spawn_with(settings).await).await;
        // The advising physician receives functional fields and the diagnosis, shared
        // medically: all 8 fields of the bilan go through.
        let mut fields = FUNCTIONAL.to_vec();
        fields.push("medical.diagnosis");
        let consent = grant(
            &mut w.patient,
            &w.case,
            &w.advising_id,
            &fields,
            &["medical.diagnosis"],
        )
        .await;
        (w, consent.consent_id)
    })
    .await
    .expect("setup finished within the setup limit");
    assert!(
        w.app.url.starts_with("https://127.0.0.1:"),
        "the server listens on 127.0.0.1 only"
    );
    let case = w
        .treating
        .case(&w.case)
        .await
        .expect("the treating physician verifies the case");
    let (_, advising_keys) = case
        .physician(&w.advising_id)
        .expect("the advising physician is a member of the case");
    let sender_api: Api = w
        .treating
        .api()
        .await
        .expect("treating physician logs in")
        .clone();
    let recipient_api: Api = w
        .advising
        .api()
        .await
        .expect("advising physician logs in")
        .clone();
    let values = bilan_values();
    let fields_per_envelope = values.len();
    let setup_s = setup_start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let mut metrics = Vec::new();

    // ---- 0. Client-side sealing, measured on its own ----
    let mut seal_rec = Recorder::default();
    let mut envelopes: Vec<Envelope> = Vec::with_capacity(messages);
    let seal_start = Instant::now();
    for _ in 0..messages {
        if Instant::now() >= deadline {
            break;
        }
        let t0 = Instant::now();
        let sealed = MessageId::random()
            .map_err(|e| format!("random message id: {e}"))
            .and_then(|message_id| {
                let header = EnvelopeHeader {
                    message_id,
                    created_at: trialog_client::client::now(),
                    kind: MessageKind::Bilan,
                    case_id: w.case.clone(),
                    sender: w.treating_id.clone(),
                    recipient: w.advising_id.clone(),
                    recipient_fingerprint: advising_keys.fingerprint.clone(),
                    consent_id: consent_id.clone(),
                    manifest: Vec::new(),
                    leak_guard_override: false,
                };
                seal(
                    w.treating.identity(),
                    header,
                    &advising_keys.devices,
                    &values,
                )
                .map_err(|e| format!("seal: {e}"))
            });
        let latency = t0.elapsed();
        match sealed {
            Ok(env) => {
                seal_rec.record(latency, Ok(()));
                envelopes.push(env);
            }
            Err(e) => seal_rec.record(latency, Err(e)),
        }
    }
    metrics.push(seal_rec.finish(
        &format!("seal envelope (client, {fields_per_envelope} fields)"),
        messages,
        seal_start.elapsed(),
    ));

    // ---- 1. Submission of the pre-sealed envelopes ----
    let ids: Vec<MessageId> = envelopes
        .iter()
        .map(|e| {
            e.header
                .parse_unverified()
                .map(|h: EnvelopeHeader| h.message_id)
                .expect("a header this tool just sealed parses")
        })
        .collect();
    let envelopes = Arc::new(envelopes);
    let accepted: Arc<Vec<AtomicBool>> = Arc::new(
        (0..envelopes.len())
            .map(|_| AtomicBool::new(false))
            .collect(),
    );
    let (recs, wall) = {
        let envelopes = envelopes.clone();
        let accepted = accepted.clone();
        let api = sender_api.clone();
        run_concurrent(envelopes.len(), concurrency, 1, deadline, move |i| {
            let envelopes = envelopes.clone();
            let accepted = accepted.clone();
            let api = api.clone();
            async move {
                let (s, resp) = timed(0, api.submit_envelope(&envelopes[i])).await;
                if resp.is_some() {
                    accepted[i].store(true, Ordering::Relaxed);
                }
                vec![s]
            }
        })
        .await
    };
    let mut recs = recs.into_iter();
    let submit = recs.next().expect("one recorder per metric").finish(
        &format!("submit envelope (C={concurrency})"),
        messages,
        wall,
    );
    let submitted_ok = submit.ok;
    metrics.push(submit);
    drop(envelopes);

    // ---- 2. Fetch + acknowledge by the recipient, of the envelopes the server accepted ----
    let ids: Vec<MessageId> = ids
        .into_iter()
        .zip(accepted.iter())
        .filter(|(_, ok)| ok.load(Ordering::Relaxed))
        .map(|(id, _)| id)
        .collect();
    let ids = Arc::new(ids);
    let (recs, wall) = {
        let ids = ids.clone();
        let api = recipient_api.clone();
        let expected_fields = fields_per_envelope;
        run_concurrent(ids.len(), concurrency, 3, deadline, move |i| {
            let ids = ids.clone();
            let api = api.clone();
            async move {
                let id = &ids[i];
                let pair_start = Instant::now();
                let (mut fetch, view) = timed(1, api.envelope(id)).await;
                if let Some(view) = &view
                    && view.envelope.fields.len() != expected_fields
                {
                    fetch.outcome = Err(format!(
                        "fetched envelope has {} fields, expected {expected_fields}",
                        view.envelope.fields.len()
                    ));
                }
                let pair = |outcome| Sample {
                    metric: 0,
                    latency: pair_start.elapsed(),
                    outcome,
                };
                if let Err(e) = &fetch.outcome {
                    // No acknowledgement of what was not fetched: the pair fails here.
                    return vec![pair(Err(e.clone())), fetch];
                }
                let (ack, _) = timed(2, api.acknowledge(id)).await;
                vec![pair(ack.outcome.clone()), fetch, ack]
            }
        })
        .await
    };
    let mut recs = recs.into_iter();
    let pair = recs.next().expect("one recorder per metric");
    let fetch = recs.next().expect("one recorder per metric");
    let ack = recs.next().expect("one recorder per metric");
    let acked_ok = ack.latencies.len();
    metrics.push(pair.finish(
        &format!("fetch+ack pair (C={concurrency})"),
        ids.len(),
        wall,
    ));
    metrics.push(fetch.finish("  fetch envelope (GET)", ids.len(), wall));
    metrics.push(ack.finish("  acknowledge (POST)", ids.len(), wall));

    // ---- 3. The full client path, sequential ----
    let mut send_rec = Recorder::default();
    let send_start = Instant::now();
    for _ in 0..send_count {
        if Instant::now() >= deadline {
            break;
        }
        let out = Outgoing {
            case: w.case.clone(),
            to: w.advising_id.clone(),
            kind: MessageKind::Bilan,
            values: values.clone(),
            override_leak_guard: false,
        };
        let t0 = Instant::now();
        let r = tokio::time::timeout_at(deadline, w.treating.send(out)).await;
        let latency = t0.elapsed();
        let outcome = match r {
            Ok(Ok(report)) if report.sent.len() == fields_per_envelope => Ok(()),
            Ok(Ok(report)) => Err(format!(
                "sent {} fields, expected {fields_per_envelope} (stripped: {})",
                report.sent.len(),
                report.stripped.len()
            )),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err("deadline reached during the request".into()),
        };
        send_rec.record(latency, outcome);
    }
    let sent_ok = send_rec.latencies.len();
    metrics.push(send_rec.finish(
        "Client::send (sequential, full path)",
        send_count,
        send_start.elapsed(),
    ));

    // ---- 4. Inbox listing ----
    // Pending for the advising physician: submitted but not acknowledged, plus those sent.
    let expected_items = submitted_ok.saturating_sub(acked_ok) + sent_ok;
    let (recs, wall) = {
        let api = recipient_api.clone();
        run_concurrent(INBOX_LISTINGS, concurrency, 1, deadline, move |_| {
            let api = api.clone();
            async move {
                let (mut s, items) = timed(0, api.inbox_wait(0)).await;
                if let Some(items) = items
                    && items.len() != expected_items
                {
                    s.outcome = Err(format!(
                        "inbox lists {} items, expected {expected_items}",
                        items.len()
                    ));
                }
                vec![s]
            }
        })
        .await
    };
    let mut recs = recs.into_iter();
    metrics.push(recs.next().expect("one recorder per metric").finish(
        &format!("inbox listing (C={concurrency})"),
        INBOX_LISTINGS,
        wall,
    ));

    w.app.stop().await;

    let failed = metrics.iter().any(Metric::failed);
    let report = Report {
        nproc,
        release_build: !cfg!(debug_assertions),
        server: w.app.url.clone(),
        messages,
        concurrency,
        send_count,
        inbox_listings: INBOX_LISTINGS,
        inbox_items: Some(expected_items),
        fields_per_envelope,
        setup_s,
        metrics,
        failed,
    };
    if args.json {
        match serde_json::to_string_pretty(&report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("cannot serialise the report: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        print_table(&report);
    }
    print_errors(&report.metrics);
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
