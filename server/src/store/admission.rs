//! Group commit of accepted envelopes. Handlers verify an envelope outside any transaction
//! (`decide::admit`) and hand it here; one writer task takes every envelope waiting, writes
//! them in one transaction (each under its own savepoint, so one refused envelope does not
//! undo the others) and commits once, one fsync for the batch; only then is each handler
//! answered. While a batch commits, the next one gathers: under load, batches grow by
//! themselves and no envelope waits for a timer.
//!
//! Inside the transaction, each envelope is checked again against what may have changed
//! since it was verified (a replay, a revocation or a new version of its consent, a member
//! removed, the recipient's quota), as before.

use tokio::sync::{mpsc, oneshot};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::Refusal;
use trialog_protocol::envelope::EnvelopeHeader;

use super::facts;
use crate::db::{self, Db, Tx, cases::CaseRow, envelopes::EnvelopeRow};
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::state::Settings;
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
    pub case: Option<CaseRow>,
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
    /// Starts the writer task; it ends when every handle is dropped.
    pub fn start(db: Db, settings: Arc<Settings>, metrics: Metrics) -> Admissions {
        let (jobs, rx) = mpsc::channel(QUEUE);
        tokio::spawn(writer(db, settings, metrics, rx));
        Admissions { jobs }
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

/// Writes and commits one batch, then answers each of its handlers.
async fn write_batch(db: &Db, settings: &Settings, metrics: &Metrics, batch: Vec<Job>) {
    let mut tx = match db.write().await {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for job in batch {
                let _ = job.answer.send(Err(ApiError::Internal(msg.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    for job in &batch {
        results.push(admit_one(&mut tx, settings, &job.admission).await);
    }
    let size = batch.len();
    let committing = std::time::Instant::now();
    let committed = tx.commit().await;
    metrics.commit(size, committing.elapsed());
    for (job, result) in batch.into_iter().zip(results) {
        let result = match (&committed, result) {
            (Ok(()), r) => r,
            (Err(e), _) => Err(ApiError::Internal(e.to_string())),
        };
        if result.is_ok() {
            let h = &job.admission.header;
            metrics.envelope_accepted();
            tracing::info!(event = %"envelope_accepted", message = %h.message_id, kind = %h.kind, "envelope accepted");
        }
        // A handler that gave up (its client left) no longer listens; the envelope stays.
        let _ = job.answer.send(result);
    }
}

/// One envelope under its own savepoint: kept if every check passes, undone otherwise.
async fn admit_one(tx: &mut Tx, settings: &Settings, a: &Admission) -> Result<(), ApiError> {
    sqlx::query("SAVEPOINT admission")
        .execute(&mut **tx)
        .await?;
    let r = store(tx, settings, a).await;
    let end = if r.is_ok() {
        "RELEASE SAVEPOINT admission"
    } else {
        "ROLLBACK TO SAVEPOINT admission"
    };
    sqlx::query(end).execute(&mut **tx).await?;
    r
}

async fn store(tx: &mut Tx, limits: &Settings, a: &Admission) -> Result<(), ApiError> {
    let (row, h) = (&a.row, &a.header);
    // Checked again inside the write transaction: two racing submissions of one id, and a
    // revocation or a new version of the consent committed since the facts were read (a
    // revocation purges only what it sees, so this envelope must not slip in after it).
    if db::envelopes::exists(&mut **tx, &row.id).await? {
        return Err(ApiError::Replay(row.id.clone()));
    }
    // No time comparison here: anything that happened to the consent since the facts were
    // read (even in the same second) happened before this insert.
    match db::consents::get(&mut **tx, &row.consent_id).await? {
        Some(c) if c.revoked_at.is_some() => return Err(ApiError::Refused(Refusal::Revoked)),
        Some(c) if c.superseded_by.is_some() => {
            return Err(ApiError::Refused(Refusal::Superseded));
        }
        Some(_) => {}
        None => return Err(ApiError::ConsentNotFound(row.consent_id.clone())),
    }
    // Nor may either side have been removed from the case meanwhile.
    if let Some(case) = &a.case {
        let members = facts::case_facts(tx, case).await?;
        if !members.is_active_physician(&h.sender) {
            return Err(ApiError::UnknownCase(row.case_id.clone()));
        }
        if !members.is_active_physician(&h.recipient) {
            return Err(ApiError::NotAMember(row.recipient.clone()));
        }
    }
    // One sender cannot fill a recipient's queue with what they will never read.
    // Per sender too, below the recipient's total, so one sender cannot fill it for all.
    let q = db::envelopes::queue(&mut **tx, &row.recipient, &row.sender).await?;
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
    // A suspended recipient is not checked here, on purpose: the envelope is accepted and
    // held (kept, not listed nor fetchable) until the operator lifts the suspension. Refusing
    // it would tell every sender that this physician is suspended, which they need not know,
    // and would lose what the patient consented to send; holding loses nothing.
    db::envelopes::insert(tx, row).await?;
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
    db::audit::append(
        tx,
        &row.case_id,
        row.accepted_at,
        AuditEvent::EnvelopeAccepted,
        Some(&h.sender),
        Some(&row.id),
        Some(detail),
    )
    .await?;
    Ok(())
}
