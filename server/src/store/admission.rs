//! Group commit of accepted envelopes. Handlers verify an envelope outside any transaction
//! (`decide::admit`) and hand it here; one writer task takes every envelope waiting, writes
//! them in one transaction and commits once, one fsync for the batch; only then is each
//! handler answered. While a batch commits, the next one gathers: under load, batches grow
//! by themselves and no envelope waits for a timer.
//!
//! Inside the transaction, each envelope is checked again against what may have changed
//! since it was verified (a replay, a revocation or a new version of its consent, a member
//! removed, the recipient's quota). The writer's turn is serialised, so its statements
//! bound the throughput, so a batch costs a fixed handful of them however many envelopes
//! it holds: one read of each envelope's id, consent, members and recipient's queue
//! (`Turn`), one insert of its envelopes, one of their events, and for their audit entries
//! one read of the chains' heads and one insert. No savepoints: a refusal writes nothing, and a broken transaction
//! is retried envelope by envelope.

use tokio::sync::{mpsc, oneshot};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::Refusal;
use trialog_protocol::envelope::EnvelopeHeader;

use crate::db::envelopes::{EnvelopeRow, Queue, Recheck, RecheckOf};
use crate::db::{self, Db, Tx};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::Settings;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Envelopes written in one transaction at most: bounds how long one commit holds the
/// writers' turn (other writes, such as revocations, queue behind it).
const MAX_BATCH: usize = 64;
/// Envelopes waiting for the writer at most; beyond, handlers wait to hand theirs over.
const QUEUE: usize = 1024;

/// One verified envelope to store. `row.accepted_at` is the time of its admission and
/// `header.sender` the session's account (`decide::admit` checked that they match).
pub struct Admission {
    pub row: EnvelopeRow,
    pub header: EnvelopeHeader,
}

struct Job {
    admission: Admission,
    answer: oneshot::Sender<Result<(), ApiError>>,
}

/// The handle handlers hand envelopes to.
#[derive(Clone, Debug)]
pub struct Admissions {
    jobs: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl Admissions {
    /// Starts the writer; it ends when every handle is dropped.
    ///
    /// On SQLite the writer runs on a thread of its own, not among the handlers' tasks. Its
    /// turn is the one thing every admission waits for, and it is a chain of round trips
    /// to SQLite's thread: as a task, each wake-up queued behind whatever handlers were
    /// ready (TLS, JSON, signatures), and a batch spent about 1 ms per statement waiting
    /// to be polled. On a thread, the kernel wakes it directly. PostgreSQL connections are
    /// driven by the main runtime's reactor, so there the writer stays a task of it.
    pub fn start(db: Db, settings: Arc<Settings>, metrics: Metrics) -> std::io::Result<Admissions> {
        let (jobs, rx) = mpsc::channel(QUEUE);
        let task = writer(db.clone(), settings, metrics, rx);
        if db.backend() == db::Backend::Postgres {
            tokio::spawn(task);
        } else {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            std::thread::Builder::new()
                .name("trialog-writer".into())
                .spawn(move || runtime.block_on(task))?;
        }
        Ok(Admissions { jobs })
    }

    /// Stores `a`, answering once it is committed (or refused).
    pub async fn admit(&self, a: Admission) -> Result<(), ApiError> {
        let (answer, answered) = oneshot::channel();
        let gone = || ApiError::Internal("the envelope writer stopped".into());
        self.jobs
            .send(Job {
                admission: a,
                answer,
            })
            .await
            .map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }
}

async fn writer(db: Db, settings: Arc<Settings>, metrics: Metrics, mut rx: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        write_batch(&db, &settings, &metrics, std::mem::take(&mut batch)).await;
    }
}

/// Writes and commits one batch, then answers each of its handlers. If a statement fails,
/// nothing of the batch is stored and each envelope is tried again alone, so one that
/// cannot be stored does not fail the others. If the transaction itself fails (it cannot
/// begin, or its commit fails and its outcome is unknown), the whole batch is answered
/// with the error at once: the database is failing, and a retry would wait for it once
/// per envelope, or find committed envelopes and call them replays.
async fn write_batch(db: &Db, settings: &Settings, metrics: &Metrics, batch: Vec<Job>) {
    match attempt(db, settings, metrics, &batch).await {
        Ok(results) => answer(metrics, batch, results),
        Err(Broke::Statement(e)) if batch.len() > 1 => {
            tracing::warn!(error = %e, size = batch.len(), "a statement failed in a batch of envelopes, writing them one by one");
            for job in batch {
                let results = match attempt(db, settings, metrics, std::slice::from_ref(&job)).await
                {
                    Ok(results) => results,
                    Err(e) => vec![Err(ApiError::from(e.into_inner()))],
                };
                answer(metrics, vec![job], results);
            }
        }
        Err(e) => {
            // Each answer carries the cause, logged with it as every internal error is.
            let cause = format!("database: {}", e.into_inner());
            tracing::warn!(size = batch.len(), "a batch of envelopes failed");
            let results = batch
                .iter()
                .map(|_| Err(ApiError::Internal(cause.clone())))
                .collect();
            answer(metrics, batch, results);
        }
    }
}

/// How a batch's transaction failed; either way, nothing of it was stored (a failed commit
/// excepted, whose outcome is unknown).
#[derive(Debug)]
enum Broke {
    /// A statement failed: the transaction was rolled back.
    Statement(sqlx::Error),
    /// The transaction could not begin, or its commit failed.
    Transaction(sqlx::Error),
}

impl Broke {
    fn into_inner(self) -> sqlx::Error {
        match self {
            Broke::Statement(e) | Broke::Transaction(e) => e,
        }
    }
}

/// Writes `jobs` in one transaction and commits it: one answer per job (a refused envelope
/// wrote nothing), or how the transaction broke.
async fn attempt(
    db: &Db,
    settings: &Settings,
    metrics: &Metrics,
    jobs: &[Job],
) -> Result<Vec<Result<(), ApiError>>, Broke> {
    let mut tx = db.write().await.map_err(Broke::Transaction)?;
    // Dropping the transaction on an error rolls it back.
    let results = Turn::default()
        .write(&mut tx, settings, jobs)
        .await
        .map_err(Broke::Statement)?;
    let committing = std::time::Instant::now();
    tx.commit().await.map_err(Broke::Transaction)?;
    metrics.commit(jobs.len(), committing.elapsed());
    Ok(results)
}

/// Answers each job with its result, in order.
fn answer(metrics: &Metrics, jobs: Vec<Job>, results: Vec<Result<(), ApiError>>) {
    let mut results = results.into_iter();
    for job in jobs {
        let result = results
            .next()
            .unwrap_or_else(|| Err(ApiError::Internal("no answer for an envelope".into())));
        if result.is_ok() {
            let h = &job.admission.header;
            metrics.envelope_accepted();
            tracing::info!(event = %"envelope_accepted", message = %h.message_id, kind = %h.kind, "envelope accepted");
        }
        // A handler that gave up (its client left) no longer listens; the envelope stays.
        let _ = job.answer.send(result);
    }
}

/// What one writer's turn has read, kept up to date as it writes. Within the turn's
/// transaction only envelopes are inserted, so a consent's state and a case's members do
/// not change, and a recipient's queue changes only by what the turn itself adds: all of
/// it is read for the whole batch at once, then kept by the turn. Dropped with the
/// transaction (nothing here outlives the turn that read it).
#[derive(Debug, Default)]
struct Turn {
    heads: db::audit::Heads,
    /// By the envelope's position in the batch.
    rechecks: HashMap<usize, Recheck>,
    /// Ids stored, before this turn or by it.
    seen: HashSet<String>,
    /// By recipient.
    queues: HashMap<String, Pending>,
}

/// What waits for one recipient, in all and by sender (count, bytes).
#[derive(Debug, Default)]
struct Pending {
    all: (i64, i64),
    by_sender: HashMap<String, (i64, i64)>,
}

impl Turn {
    /// Reads what the checks of `jobs` need, in one statement: every envelope's recheck
    /// (its id, its consent's and members' state, its recipient's queue).
    async fn read(&mut self, tx: &mut Tx, jobs: &[Job]) -> Result<(), sqlx::Error> {
        let wanted: Vec<RecheckOf<'_>> = jobs
            .iter()
            .map(|j| RecheckOf {
                id: &j.admission.row.id,
                consent_id: &j.admission.row.consent_id,
                sender: &j.admission.row.sender,
                recipient: &j.admission.row.recipient,
            })
            .collect();
        for recheck in db::envelopes::recheck_all(tx, &wanted).await? {
            // Positions are those bound above; another would be a database fault, and is
            // skipped (`check` refuses an envelope it finds no recheck for).
            let Some((position, row)) = usize::try_from(recheck.position)
                .ok()
                .and_then(|p| Some((p, &jobs.get(p)?.admission.row)))
            else {
                continue;
            };
            if recheck.id_seen != 0 {
                self.seen.insert(row.id.clone());
            }
            // Every row read the queues in one statement: the first one of each is theirs.
            let q = recheck.queue;
            let p = self
                .queues
                .entry(row.recipient.clone())
                .or_insert_with(|| Pending {
                    all: (q.pending, q.bytes),
                    by_sender: HashMap::new(),
                });
            p.by_sender
                .entry(row.sender.clone())
                .or_insert((q.from_sender, q.sender_bytes));
            self.rechecks.insert(position, recheck);
        }
        Ok(())
    }

    /// What waits for the envelope's recipient, and from its sender, counting what this
    /// turn has stored already.
    fn queue(&self, row: &EnvelopeRow) -> Queue {
        let p = self.queues.get(&row.recipient);
        let all = p.map_or((0, 0), |p| p.all);
        let (from_sender, sender_bytes) = p
            .and_then(|p| p.by_sender.get(&row.sender).copied())
            .unwrap_or((0, 0));
        Queue {
            pending: all.0,
            bytes: all.1,
            from_sender,
            sender_bytes,
        }
    }

    /// The envelope was stored: its id is taken, its recipient's queue one longer.
    fn stored(&mut self, row: &EnvelopeRow) {
        self.seen.insert(row.id.clone());
        let p = self.queues.entry(row.recipient.clone()).or_default();
        p.all = (p.all.0 + 1, p.all.1 + row.size);
        let s = p.by_sender.entry(row.sender.clone()).or_insert((0, 0));
        *s = (s.0 + 1, s.1 + row.size);
    }

    /// Checks each envelope again against what may have changed since it was verified,
    /// then stores those that pass, with their events and audit entries, a few statements
    /// for the whole batch. One answer per job, in order; an error is one that broke the
    /// transaction.
    async fn write(
        &mut self,
        tx: &mut Tx,
        limits: &Settings,
        jobs: &[Job],
    ) -> Result<Vec<Result<(), ApiError>>, sqlx::Error> {
        self.read(tx, jobs).await?;
        let mut results = Vec::with_capacity(jobs.len());
        let mut admitted = Vec::new();
        for (position, job) in jobs.iter().enumerate() {
            let a = &job.admission;
            // Two racing submissions of one id: the second, here or in a later batch, is a
            // replay.
            results.push(match self.check(limits, position, a) {
                Ok(()) => {
                    self.stored(&a.row);
                    admitted.push(a);
                    Ok(())
                }
                Err(e) => Err(e),
            });
        }
        let rows: Vec<&EnvelopeRow> = admitted.iter().map(|a| &a.row).collect();
        db::envelopes::insert_all(tx, &rows).await?;
        let entries = admitted.iter().map(|a| accepted(a)).collect();
        self.heads.append_all(tx, entries).await?;
        Ok(results)
    }

    /// Whether `a`, at `position` in the batch, may still be stored, from what `read`
    /// found. A refusal writes nothing, so it needs no savepoint.
    fn check(&self, limits: &Settings, position: usize, a: &Admission) -> Result<(), ApiError> {
        let row = &a.row;
        if self.seen.contains(&row.id) {
            return Err(ApiError::Replay(row.id.clone()));
        }
        // A revocation or a new version of the consent committed since the facts were read
        // (a revocation purges only what it sees, so this envelope must not slip in after
        // it), or either side removed from the case meanwhile. No time comparison here:
        // anything that happened since the facts were read (even in the same second)
        // happened before this insert.
        match self.rechecks.get(&position) {
            None => return Err(ApiError::Internal("an envelope was not rechecked".into())),
            Some(s) if s.consent_found == 0 => {
                return Err(ApiError::ConsentNotFound(row.consent_id.clone()));
            }
            Some(s) if s.revoked != 0 => return Err(ApiError::Refused(Refusal::Revoked)),
            Some(s) if s.expired != 0 => return Err(ApiError::Refused(Refusal::Expired)),
            Some(s) if s.superseded != 0 => {
                return Err(ApiError::Refused(Refusal::Superseded));
            }
            Some(s) if s.sender_active == 0 => {
                return Err(ApiError::UnknownCase(row.case_id.clone()));
            }
            Some(s) if s.recipient_active == 0 => {
                return Err(ApiError::NotAMember(row.recipient.clone()));
            }
            Some(_) => {}
        }
        // One sender cannot fill a recipient's queue with what they will never read.
        // Per sender too, below the recipient's total, so one sender cannot fill it for all.
        let q = self.queue(row);
        if q.pending >= limits.max_pending_per_recipient
            || q.bytes + row.size > limits.max_pending_bytes_per_recipient
            || q.from_sender >= limits.max_pending_per_sender
            || q.sender_bytes + row.size > limits.max_pending_bytes_per_sender
        {
            tracing::info!(code = "recipient_quota_exceeded", "envelope refused");
            return Err(ApiError::RecipientQuota {
                pending: q.pending,
                bytes: q.bytes,
            });
        }
        // A suspended recipient is not checked here, on purpose: the envelope is accepted
        // and held (kept, not listed nor fetchable) until the operator lifts the suspension.
        // Refusing it would tell every sender that this physician is suspended, which they
        // need not know, and would lose what the patient consented to send; holding loses
        // nothing.
        Ok(())
    }
}

/// The audit entry of an accepted envelope: what was sent to whom under which consent,
/// field ids only.
fn accepted(a: &Admission) -> db::audit::Append<'_> {
    let (row, h) = (&a.row, &a.header);
    let detail = format!(
        "{} to {}; consent {}; fields {}{}",
        h.kind,
        h.recipient,
        h.consent_id,
        h.manifest
            .iter()
            .map(|m| m.field.as_str())
            .collect::<Vec<_>>()
            .join(","),
        if h.leak_guard_override {
            "; leak guard overridden by sender"
        } else {
            ""
        }
    );
    db::audit::Append {
        chain: &row.case_id,
        at: row.accepted_at,
        event: AuditEvent::EnvelopeAccepted,
        actor: Some(&h.sender),
        subject: Some(&row.id),
        detail: Some(detail),
    }
}
