//! The operator's metrics: one Prometheus registry per server, passed in its state (the test
//! suite runs many servers in one process, so there is no process-global recorder), and the
//! plain-HTTP listener that exposes it (`--metrics-listen`, off by default).
//!
//! Labels are route templates (`/v1/envelopes/{id}`), methods, status codes, error codes and
//! purge reasons: finite sets known in advance. Never an id, a path as sent, a header or
//! anything of a request's content, so a scrape says how the server is doing and nothing
//! about who uses it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use trialog_protocol::Code;

use crate::db::{self, Db, envelopes::PurgeReason};
use crate::error::ErrorCode;

/// Every metric name starts with this (and `_`).
const PREFIX: &str = "trialog";

/// The route label of a request that matched no route: its path is never a label.
const UNMATCHED: &str = "unmatched";

/// What Prometheus asks for and this encoder writes.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Every reason a pending envelope is destroyed for; each is exposed from the start (at 0),
/// so a rate over it never starts from a missing series.
const PURGE_REASONS: [PurgeReason; 4] = [
    PurgeReason::Revoked,
    PurgeReason::Expired,
    PurgeReason::NoLongerCovered,
    PurgeReason::MemberRemoved,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

type Histograms<L> = Family<L, Histogram, fn() -> Histogram>;

/// The registry and the handles that count into it. Cheap to clone (one `Arc`).
#[derive(Clone)]
pub struct Metrics(Arc<Inner>);

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Histograms<RouteLabels>,
    refusals: Family<CodeLabels, Counter>,
    accepted: Counter,
    delivered: Counter,
    acknowledged: Counter,
    purged: Family<ReasonLabels, Counter>,
    commit_seconds: Histogram,
    commit_batch: Histogram,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Request durations: from a few milliseconds to the inbox long poll (60 s and its budget).
fn request_buckets() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
    ])
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template, method and status",
            requests.clone(),
        );
        let durations: Histograms<RouteLabels> = Family::new_with_constructor(request_buckets);
        registry.register_with_unit(
            "http_request_duration",
            "Time to answer an HTTP request, by route template and method",
            Unit::Seconds,
            durations.clone(),
        );
        let refusals = Family::<CodeLabels, Counter>::default();
        registry.register(
            "refusals",
            "Error answers by their code (the `code` of the JSON body; `internal` included)",
            refusals.clone(),
        );
        let accepted = Counter::default();
        registry.register(
            "envelopes_accepted",
            "Envelopes admitted and committed",
            accepted.clone(),
        );
        let delivered = Counter::default();
        registry.register(
            "envelopes_delivered",
            "Envelopes fetched by their recipient for the first time",
            delivered.clone(),
        );
        let acknowledged = Counter::default();
        registry.register(
            "envelopes_acknowledged",
            "Envelopes acknowledged by their recipient (ciphertext deleted)",
            acknowledged.clone(),
        );
        let purged = Family::<ReasonLabels, Counter>::default();
        for reason in PURGE_REASONS {
            let _ = purged.get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            });
        }
        registry.register(
            "envelopes_purged",
            "Envelopes destroyed unread, by reason",
            purged.clone(),
        );
        // 100 µs to about 6.5 s: an fsync on a fast disk to a stalled one.
        let commit_seconds = Histogram::new(exponential_buckets(0.0001, 2.0, 17));
        registry.register_with_unit(
            "commit_duration",
            "Time to commit a transaction that admits envelopes",
            Unit::Seconds,
            commit_seconds.clone(),
        );
        // 1 to 512: the envelope writer commits up to 64 at a time (`store::admission`).
        let commit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "commit_batch_size",
            "Envelopes admitted by one commit",
            commit_batch.clone(),
        );
        Metrics(Arc::new(Inner {
            registry,
            requests,
            durations,
            refusals,
            accepted,
            delivered,
            acknowledged,
            purged,
            commit_seconds,
            commit_batch,
        }))
    }

    /// One answered request. `route` is a route template, never a path as sent.
    fn request(&self, route: &str, method: &'static str, status: StatusCode, took: Duration) {
        let route = route.to_owned();
        self.0
            .requests
            .get_or_create(&RequestLabels {
                route: route.clone(),
                method,
                status: status.as_u16(),
            })
            .inc();
        self.0
            .durations
            .get_or_create(&RouteLabels { route, method })
            .observe(took.as_secs_f64());
    }

    fn refusal(&self, code: Code) {
        self.0
            .refusals
            .get_or_create(&CodeLabels {
                code: code.as_str(),
            })
            .inc();
    }

    /// An envelope was admitted (after its commit).
    pub fn envelope_accepted(&self) {
        self.0.accepted.inc();
    }

    /// An envelope was fetched for the first time (after the commit of its new state).
    pub fn envelope_delivered(&self) {
        self.0.delivered.inc();
    }

    /// An envelope was acknowledged and its ciphertext deleted (after the commit).
    pub fn envelope_acknowledged(&self) {
        self.0.acknowledged.inc();
    }

    /// `n` envelopes were destroyed unread for `reason` (after the commit).
    pub fn envelopes_purged(&self, reason: PurgeReason, n: u64) {
        self.0
            .purged
            .get_or_create(&ReasonLabels {
                reason: reason.as_str(),
            })
            .inc_by(n);
    }

    /// One commit of the envelope writer: `batch` envelopes in one transaction, whose
    /// commit took `took`.
    pub fn commit(&self, batch: usize, took: Duration) {
        self.0.commit_seconds.observe(took.as_secs_f64());
        self.0.commit_batch.observe(batch as f64);
    }

    /// The text exposition: everything counted, then what is pending now, read from the
    /// database at each scrape. Read rather than kept up to date: the database is the one
    /// place that knows (several processes may write to it, a restart forgets nothing, and
    /// every path that destroys an envelope need not remember to count it), and the query
    /// walks only the pending envelopes' partial index. If it fails, the two pending gauges
    /// are left out of this scrape rather than shown stale.
    pub async fn render(&self, db: &Db) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode_registry(&mut out, &self.0.registry)?;
        match db::stats::pending(db.pool()).await {
            Ok(p) => {
                let mut now = Registry::with_prefix(PREFIX);
                now.register(
                    "envelopes_pending",
                    "Envelopes accepted and not yet acknowledged nor destroyed",
                    ConstGauge::new(p.envelopes),
                );
                now.register_with_unit(
                    "envelopes_pending",
                    "Ciphertext bytes of the pending envelopes",
                    Unit::Bytes,
                    ConstGauge::new(p.bytes),
                );
                encode_registry(&mut out, &now)?;
            }
            Err(e) => {
                tracing::warn!(error = %e, "pending envelopes not counted for this scrape");
            }
        }
        encode_eof(&mut out)?;
        Ok(out)
    }
}

/// Middleware on the API router: counts each answer by route template, method and status,
/// times it, and counts an error answer by its code, which `ApiError::into_response` (the
/// one place errors become answers) leaves in the response's extensions.
pub async fn track(State(metrics): State<Metrics>, req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().cloned();
    let method = method_label(req.method());
    let started = Instant::now();
    let answer = next.run(req).await;
    let route = route.as_ref().map_or(UNMATCHED, MatchedPath::as_str);
    metrics.request(route, method, answer.status(), started.elapsed());
    if let Some(ErrorCode(code)) = answer.extensions().get::<ErrorCode>() {
        metrics.refusal(*code);
    }
    answer
}

/// A method as a label: anything but the standard ones is `other`, so a client making up
/// methods cannot make up series.
fn method_label(m: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
        (Method::CONNECT, "CONNECT"),
        (Method::TRACE, "TRACE"),
    ];
    KNOWN
        .iter()
        .find(|(k, _)| k == m)
        .map_or("other", |(_, label)| label)
}

/// What the metrics listener serves from.
#[derive(Clone, Debug)]
struct Exposition {
    metrics: Metrics,
    db: Db,
}

/// The metrics listener's router: `GET /metrics` and nothing else.
fn router(metrics: Metrics, db: Db) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .with_state(Exposition { metrics, db })
}

async fn scrape(State(e): State<Exposition>) -> Response {
    match e.metrics.render(&e.db).await {
        Ok(text) => ([(header::CONTENT_TYPE, OPENMETRICS)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Serves `GET /metrics` over plain HTTP on `listener` until `shutdown` completes. Meant for
/// localhost or a private network: it has no TLS and no login, and shows only counts.
pub async fn serve(
    listener: std::net::TcpListener,
    metrics: Metrics,
    db: Db,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    axum::serve(listener, router(metrics, db))
        .with_graceful_shutdown(shutdown)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_exposition_holds_what_was_counted_and_what_is_pending() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = Db::open(&dir.path().join("t.db").display().to_string())
            .await
            .expect("db");
        let m = Metrics::new();
        m.envelope_accepted();
        m.commit(1, Duration::from_millis(3));
        m.envelopes_purged(PurgeReason::Expired, 2);
        m.refusal(Code::MissingToken);
        let text = m.render(&db).await.expect("render");
        for line in [
            "trialog_envelopes_accepted_total 1",
            "trialog_envelopes_purged_total{reason=\"expired\"} 2",
            "trialog_envelopes_purged_total{reason=\"revoked\"} 0",
            "trialog_refusals_total{code=\"missing_token\"} 1",
            "trialog_commit_batch_size_count 1",
            "trialog_commit_duration_seconds_count 1",
            "trialog_envelopes_pending 0",
            "trialog_envelopes_pending_bytes 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
        db.close().await;
    }

    #[test]
    fn methods_are_a_finite_set() {
        assert_eq!(method_label(&Method::POST), "POST");
        assert_eq!(method_label(&Method::TRACE), "TRACE");
        let made_up = Method::from_bytes(b"MKCOL-acc_0123").expect("method");
        assert_eq!(method_label(&made_up), "other");
    }
}
