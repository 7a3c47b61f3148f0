//! What a run measured: latencies and errors as recorded, the server's and the client's CPU
//! and memory, printed as a table for a person or as one JSON object for a machine.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::bilan::SealStats;
use crate::procstat::{Cpu, Memory};

/// Distinct error kinds kept per phase; further kinds are counted together.
const MAX_ERROR_KINDS: usize = 20;

/// Latency percentiles (nearest rank), milliseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Latency {
    /// Sorts `samples`; none when empty.
    pub fn of(samples: &mut [Duration]) -> Option<Latency> {
        if samples.is_empty() {
            return None;
        }
        samples.sort_unstable();
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let pct = |p: f64| {
            let rank = ((p / 100.0) * samples.len() as f64).ceil() as usize;
            ms(samples[rank.clamp(1, samples.len()) - 1])
        };
        Some(Latency {
            p50: pct(50.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max: ms(samples[samples.len() - 1]),
            mean: ms(samples.iter().sum::<Duration>()) / samples.len() as f64,
        })
    }
}

/// What the connections of one phase saw.
#[derive(Debug, Default)]
pub struct Recorder {
    pub latencies: Vec<Duration>,
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
}

impl Recorder {
    pub fn ok(&mut self, latency: Duration) {
        self.latencies.push(latency);
    }

    pub fn error(&mut self, kind: String) {
        self.errors += 1;
        self.note(kind, 1);
    }

    fn note(&mut self, kind: String, n: u64) {
        let key =
            if self.error_kinds.len() < MAX_ERROR_KINDS || self.error_kinds.contains_key(&kind) {
                kind
            } else {
                "(other errors)".to_owned()
            };
        *self.error_kinds.entry(key).or_insert(0) += n;
    }

    pub fn merge(&mut self, other: Recorder) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
        for (k, n) in other.error_kinds {
            self.note(k, n);
        }
    }
}

/// What the server spent on a phase, from /proc before and after it.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    pub cpu: Cpu,
    pub cpu_s: f64,
    /// CPU milliseconds per successful request of the phase.
    pub cpu_ms_per_ok: Option<f64>,
    pub memory_before: Memory,
    /// `peak_rss_kib` is the process's peak since it started (VmHWM), setup included.
    pub memory_after: Memory,
}

#[derive(Debug, Serialize)]
pub struct Phase {
    pub name: String,
    /// The request each connection repeats.
    pub request: String,
    pub connections: usize,
    /// `closed` (each connection sends its next request when the last is answered) or
    /// `open` (requests at a fixed rate; latency counted from when each was due).
    pub load: &'static str,
    pub offered_per_s: Option<f64>,
    pub wall_s: f64,
    pub attempted: u64,
    pub ok: u64,
    pub errors: u64,
    pub errors_by_kind: BTreeMap<String, u64>,
    /// Successful requests per second of the phase's wall time.
    pub ok_per_s: f64,
    pub latency_ms: Option<Latency>,
    /// HTTP version the connections negotiated.
    pub http: Option<String>,
    /// Every pre-sealed envelope was sent before the end: the server was faster than the
    /// pool was sized for (--max-rate).
    pub pool_exhausted: bool,
    /// Open loop: requests due before the end that were never sent (the connections were
    /// still busy with earlier ones when the run ended).
    pub not_sent: u64,
    pub server: Option<ServerCost>,
    pub client_cpu_s: f64,
    pub client_cpu_ms_per_ok: Option<f64>,
    pub notes: Vec<String>,
}

impl Phase {
    pub fn failed(&self) -> bool {
        self.errors > 0 || self.ok == 0
    }
}

/// Accounts and cases the run set up.
#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub treating_physicians: usize,
    pub recipients: usize,
    pub patients: usize,
    pub cases: usize,
    pub consents: usize,
    /// Planned pending envelopes per recipient at most (the server's quota is 1000, and
    /// 250 from one sender).
    pub per_recipient_at_most: usize,
    pub setup_s: f64,
}

/// The client's crypto per bilan, on one core, no server.
#[derive(Debug, Clone, Serialize)]
pub struct CryptoReport {
    pub bilans: usize,
    pub fields: usize,
    pub ciphertext_bytes_mean: f64,
    pub seal_ms: Option<Latency>,
    pub serialise_ms: Option<Latency>,
    pub open_ms: Option<Latency>,
    pub seal_per_s_per_core: f64,
    pub open_per_s_per_core: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub mode: String,
    pub release_build: bool,
    pub nproc: usize,
    pub server: Option<String>,
    pub database: Option<&'static str>,
    pub server_pid_known: bool,
    pub setup: Option<SetupReport>,
    pub seal: Option<SealStats>,
    pub phases: Vec<Phase>,
    /// Accepted envelopes per second as a fraction of the floor's requests per second,
    /// when both ran in this process (`all`).
    pub relay_fraction_of_floor: Option<f64>,
    pub crypto: Option<CryptoReport>,
    pub failed: bool,
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map(|v| format!("{v:.prec$}"))
        .unwrap_or_else(|| "-".into())
}

pub fn print_table(r: &Report) {
    println!(
        "trialog-bench {}: {} build, {} cores{}",
        r.mode,
        if r.release_build {
            "release"
        } else {
            "DEBUG (figures are not meaningful)"
        },
        r.nproc,
        r.server
            .as_ref()
            .map(|s| format!(", server {s}"))
            .unwrap_or_default()
    );
    if let Some(s) = &r.setup {
        println!(
            "setup: {} treating physicians, {} recipients, {} cases and patients, {} consents; at most {} pending per recipient; {:.1} s",
            s.treating_physicians,
            s.recipients,
            s.cases,
            s.consents,
            s.per_recipient_at_most,
            s.setup_s
        );
    }
    if let Some(s) = &r.seal {
        println!(
            "pre-sealed: {} bilans in {:.1} s on {} threads; ciphertext {}..{} bytes (mean {:.0}), request body mean {:.0} bytes; seal per bilan p50 {} ms",
            s.envelopes,
            s.wall_s,
            s.threads,
            s.ciphertext_bytes_min,
            s.ciphertext_bytes_max,
            s.ciphertext_bytes_mean,
            s.body_bytes_mean,
            opt(s.per_bilan_ms.map(|l| l.p50), 3),
        );
    }
    if !r.phases.is_empty() {
        println!();
        println!(
            "{:<8} {:>5} {:>11} {:>7} {:>8} {:>6} {:>9} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>9} {:>8}",
            "phase",
            "conns",
            "load",
            "wall s",
            "ok",
            "errors",
            "ok/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "srv CPU s",
            "ms/ok",
            "peak MiB",
            "cli CPU s"
        );
        for p in &r.phases {
            let load = match p.offered_per_s {
                Some(rate) => format!("open {rate:.0}/s"),
                None => p.load.to_owned(),
            };
            let l = p.latency_ms;
            println!(
                "{:<8} {:>5} {:>11} {:>7.2} {:>8} {:>6} {:>9.1} {:>8} {:>8} {:>8} {:>8} {:>9} {:>7} {:>9} {:>8.2}",
                p.name,
                p.connections,
                load,
                p.wall_s,
                p.ok,
                p.errors,
                p.ok_per_s,
                opt(l.map(|l| l.p50), 2),
                opt(l.map(|l| l.p95), 2),
                opt(l.map(|l| l.p99), 2),
                opt(l.map(|l| l.max), 1),
                opt(p.server.as_ref().map(|s| s.cpu_s), 2),
                opt(p.server.as_ref().and_then(|s| s.cpu_ms_per_ok), 3),
                opt(
                    p.server
                        .as_ref()
                        .map(|s| s.memory_after.peak_rss_kib as f64 / 1024.0),
                    1
                ),
                p.client_cpu_s,
            );
        }
        println!();
        for p in &r.phases {
            println!(
                "{}: {}{}",
                p.name,
                p.request,
                p.http
                    .as_ref()
                    .map(|h| format!(" over {h}"))
                    .unwrap_or_default()
            );
            for n in &p.notes {
                println!("  {n}");
            }
            if p.pool_exhausted {
                println!(
                    "  POOL EXHAUSTED: every pre-sealed envelope was sent before the end; raise --max-rate"
                );
            }
            if p.not_sent > 0 {
                println!("  {} requests due were not sent before the end", p.not_sent);
            }
            for (kind, n) in &p.errors_by_kind {
                println!("  {n} x {kind}");
            }
        }
    }
    if let Some(f) = r.relay_fraction_of_floor {
        println!();
        println!(
            "relay: accepted envelopes/s = {:.3} of the floor's requests/s ({:.1}%)",
            f,
            f * 100.0
        );
    }
    if let Some(c) = &r.crypto {
        println!();
        println!(
            "client crypto per bilan ({} bilans of {} fields, ciphertext mean {:.0} bytes, one core):",
            c.bilans, c.fields, c.ciphertext_bytes_mean
        );
        println!(
            "{:<34} {:>8} {:>8} {:>8} {:>8} {:>10}",
            "", "p50 ms", "p95 ms", "p99 ms", "mean ms", "per s"
        );
        let row = |name: &str, l: Option<Latency>| {
            println!(
                "{:<34} {:>8} {:>8} {:>8} {:>8} {:>10}",
                name,
                opt(l.map(|l| l.p50), 3),
                opt(l.map(|l| l.p95), 3),
                opt(l.map(|l| l.p99), 3),
                opt(l.map(|l| l.mean), 3),
                opt(l.map(|l| 1000.0 / l.mean), 0),
            );
        };
        row("seal (age per field + Ed25519)", c.seal_ms);
        row("serialise the request body", c.serialise_ms);
        row("open (verify, hashes, decrypt)", c.open_ms);
    }
    if !r.server_pid_known && !r.phases.is_empty() {
        println!("server CPU and memory: unknown (give --server-pid for a running server)");
    }
    println!("result: {}", if r.failed { "FAILED" } else { "ok" });
}
