//! Crash durability under load (issue 9). Envelopes go to the real `trialog-server` from
//! several clients at once; the server is killed (SIGKILL) at a random moment with requests
//! in flight and started again on the same data directory and database. Every envelope
//! answered 2xx must then be stored exactly once, listed in its recipient's inbox and
//! readable, and accepted once in the case's audit chain, which must verify. One that got
//! no answer may or may not be stored: its resend meets 201 or `message_replayed`, never a
//! second copy. Then the same with two replicas on one PostgreSQL database, one killed
//! while the other goes on.
//!
//! A SIGKILL ends the process, not the machine: what the kernel was handed survives it. These
//! tests check that nothing is answered before it is committed, and that a commit cut short
//! leaves nothing half done; a power cut (fsync itself) they cannot reach.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::Row;
use tokio::sync::watch;
use tokio::task::JoinSet;
use trialog_client::ClientError;
use trialog_client::api::Api;
use trialog_e2e::{
    FUNCTIONAL, TestApp, World, bilan_values, database, envelope_header, grant, seal_for, session,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::envelope::Envelope;
use trialog_protocol::{AccountId, CaseId, FieldId, MessageId, MessageKind};

/// Envelopes to each of the two work-side physicians: fewer than the 250 one sender may have
/// pending for one recipient, so the resends after the crash meet no quota either.
const PER_RECIPIENT: usize = 120;
/// Clients submitting at once, each on its own connection.
const CLIENTS: usize = 8;
/// Envelopes each recipient reads back (decrypts and verifies) after the crash.
const READ_SAMPLE: usize = 6;
/// Bound on a wait that only a hung server would reach (not a measure of speed).
const HUNG: Duration = Duration::from_secs(120);

/// A number below `n` from the OS's random source (std seeds every `RandomState` from it),
/// so each run kills at another moment.
fn random(n: usize) -> usize {
    use std::hash::{BuildHasher, Hasher};
    let r = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    (r % n.max(1) as u64) as usize
}

/// The number of 2xx answers after which the server dies: between an eighth and a third of
/// the load, so it dies neither at the start nor after the clients are done.
fn kill_after(n: usize) -> usize {
    n / 8 + random(n / 3 - n / 8)
}

/// One pre-sealed bilan.
struct Sealed {
    id: MessageId,
    to: AccountId,
    envelope: Envelope,
}

/// What one envelope's submission met, the last time it was submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Never submitted: the load stopped before it.
    Unsent,
    /// 201 Created.
    Accepted,
    /// Submitted, and the connection died without an answer: the server died with it in
    /// flight, or before it arrived.
    Unanswered,
    /// 409 `message_replayed` to a resend: the first submission was stored, its answer lost.
    Replayed,
    /// Any other answer: the test fails on it.
    Refused(String),
}

/// How far the load has gone, watched for the moment to kill.
#[derive(Debug, Clone, Copy, Default)]
struct Progress {
    answered: usize,
    /// Clients that stopped (their connection died, or nothing was left).
    stopped: usize,
}

/// The envelopes of one load and what each met, shared by the clients submitting them.
struct Load {
    sealed: Vec<Sealed>,
    next: AtomicUsize,
    outcomes: Mutex<Vec<Outcome>>,
    /// Envelopes whose submission got no answer at some point, in that order.
    cut: Mutex<Vec<usize>>,
    progress: watch::Sender<Progress>,
}

impl Load {
    fn new(sealed: Vec<Sealed>) -> Arc<Load> {
        let n = sealed.len();
        Arc::new(Load {
            sealed,
            next: AtomicUsize::new(0),
            outcomes: Mutex::new(vec![Outcome::Unsent; n]),
            cut: Mutex::new(Vec::new()),
            progress: watch::Sender::new(Progress::default()),
        })
    }

    /// The next envelope nobody has taken.
    fn take(&self) -> Option<usize> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        (i < self.sealed.len()).then_some(i)
    }

    fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().expect("outcomes").clone()
    }

    fn with(&self, outcome: &Outcome) -> Vec<usize> {
        let all = self.outcomes();
        (0..all.len()).filter(|&i| &all[i] == outcome).collect()
    }

    /// Submits envelope `i` through `api` and records what it met; `false` if no answer came.
    async fn submit(&self, api: &Api, i: usize) -> bool {
        let s = &self.sealed[i];
        let outcome = match api.submit_envelope(&s.envelope).await {
            Ok(r) if r.message_id == s.id => Outcome::Accepted,
            Ok(r) => Outcome::Refused(format!("201 for another id, {}", r.message_id)),
            Err(ClientError::Api { code, .. }) if code.as_str() == "message_replayed" => {
                Outcome::Replayed
            }
            Err(e @ ClientError::Api { .. }) => Outcome::Refused(e.to_string()),
            // A 2xx whose body was cut off lands here too: its answer is as good as lost.
            Err(_) => Outcome::Unanswered,
        };
        let answered = outcome != Outcome::Unanswered;
        if outcome == Outcome::Accepted {
            self.progress.send_modify(|p| p.answered += 1);
        }
        if !answered {
            self.cut.lock().expect("cut").push(i);
        }
        self.outcomes.lock().expect("outcomes")[i] = outcome;
        answered
    }

    /// Resolves once `at` envelopes were answered 2xx (or every client stopped before), then
    /// after a random moment more, up to 10 ms, so the kill lands anywhere in a request's
    /// course (parsing, queued for the write turn, committing, answering), not just after
    /// an answer.
    async fn moment(&self, at: usize) {
        let mut progress = self.progress.subscribe();
        let reached = tokio::time::timeout(
            HUNG,
            progress.wait_for(|p| p.answered >= at || p.stopped == CLIENTS),
        )
        .await
        .expect("the load goes on")
        .map(|p| *p)
        .expect("progress");
        assert!(
            reached.answered >= at,
            "the clients stopped before the kill: {reached:?}, {:?}",
            self.summary()
        );
        tokio::time::sleep(Duration::from_micros(random(10_000) as u64)).await;
    }

    fn cut(&self) -> Vec<usize> {
        self.cut.lock().expect("cut").clone()
    }

    fn stopped(&self) {
        self.progress.send_modify(|p| p.stopped += 1);
    }

    fn summary(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for o in self.outcomes() {
            *counts.entry(format!("{o:?}")).or_insert(0) += 1;
        }
        counts
    }
}

/// One client of the load: submits the next envelope until none is left or its connection
/// dies. Then it stops: what it had in flight is left unanswered, to be resent after the
/// restart through the same session, handed back.
async fn client_until_cut(load: Arc<Load>, api: Api) -> Api {
    while let Some(i) = load.take() {
        if !load.submit(&api, i).await {
            break;
        }
    }
    load.stopped();
    api
}

/// One client of a replica that may die: when its connection dies, it goes over to
/// `fallback` (as a load balancer sends it elsewhere), resends what it had in flight there,
/// and goes on. Returns how many envelopes the first replica answered.
async fn client_with_fallback(load: Arc<Load>, first: Api, fallback: Api) -> usize {
    let (mut answered_first, mut on_first) = (0, true);
    while let Some(i) = load.take() {
        let api = if on_first { &first } else { &fallback };
        if load.submit(api, i).await {
            answered_first += usize::from(on_first);
        } else if on_first {
            on_first = false;
            load.submit(&fallback, i).await;
        }
    }
    load.stopped();
    answered_first
}

/// The bilan's functional fields: what the work-side physicians' consents cover.
fn functional_values() -> Vec<(FieldId, serde_json::Value)> {
    bilan_values()
        .into_iter()
        .filter(|(id, _)| !id.is_medical())
        .collect()
}

/// A world on the real binary, both work-side physicians granted the functional fields,
/// and `PER_RECIPIENT` bilans to each, sealed beforehand (by hand, as the load tool does:
/// no client check per send), the two recipients taking turns.
async fn loaded_world(logs: &Path) -> (World, Arc<Load>) {
    let mut w = World::with_app(TestApp::process(&[], &[], logs).await).await;
    let mut consents = Vec::new();
    for to in [w.occupational_id.clone(), w.advising_id.clone()] {
        let c = grant(&mut w.patient, &w.case, &to, FUNCTIONAL, &[]).await;
        let case = w.treating.case(&w.case).await.expect("case");
        let (_, keys) = case.physician(&to).expect("a member");
        consents.push((to, c.consent_id, keys));
    }
    let values = functional_values();
    let mut sealed = Vec::new();
    for i in 0..2 * PER_RECIPIENT {
        let (to, consent, keys) = &consents[i % 2];
        let h = envelope_header(
            &w.case,
            &w.treating_id,
            to,
            &keys.fingerprint,
            consent,
            MessageKind::Bilan,
        );
        sealed.push(Sealed {
            id: h.message_id.clone(),
            to: to.clone(),
            envelope: seal_for(&w.treating, h, keys, &values),
        });
    }
    (w, Load::new(sealed))
}

/// Each envelope of the case as the server's database holds it: how many rows carry its
/// id, and whether they hold its ciphertext.
async fn stored(app: &TestApp, case: &CaseId) -> BTreeMap<String, (i64, bool)> {
    let pool = app.sql().await;
    let rows = sqlx::query(
        "SELECT id, COUNT(*) AS n, MIN(CASE WHEN fields IS NULL THEN 0 ELSE 1 END) AS kept
         FROM envelopes WHERE case_id = $1 GROUP BY id",
    )
    .bind(case.as_str())
    .fetch_all(&pool)
    .await
    .expect("read the envelopes");
    pool.close().await;
    rows.iter()
        .map(|r| {
            let id: String = r.get("id");
            let n: i64 = r.get("n");
            let kept: i64 = r.get("kept");
            (id, (n, kept == 1))
        })
        .collect()
}

/// Every envelope in `ids` is stored exactly once with its ciphertext, and nothing is
/// stored that the load did not send.
fn assert_stored_once(stored: &BTreeMap<String, (i64, bool)>, load: &Load, ids: &[usize]) {
    for &i in ids {
        let id = load.sealed[i].id.as_str();
        assert_eq!(
            stored.get(id),
            Some(&(1, true)),
            "envelope {i} ({id}): (rows, ciphertext kept); outcome {:?}",
            load.outcomes()[i]
        );
    }
    let sent: BTreeSet<&str> = load.sealed.iter().map(|s| s.id.as_str()).collect();
    for id in stored.keys() {
        assert!(sent.contains(id.as_str()), "{id} stored, never sent");
    }
}

/// After the crash and the resends, every envelope of the load is stored once: the
/// recipients' inboxes list each once, a sample of each recipient's read back (decrypted
/// and verified; first those whose submission was cut, the ones a crash could have left
/// half stored), and the patient's audit of the case verifies, with one acceptance per
/// envelope.
async fn assert_all_delivered_once(w: &mut World, load: &Load) {
    let n = load.sealed.len();
    // Those stored though their answer was lost first: the commit the crash came closest to.
    let mut first = load.cut();
    let outcomes = load.outcomes();
    first.sort_by_key(|&i| outcomes[i] != Outcome::Replayed);
    let stored = stored(&w.app, &w.case).await;
    assert_eq!(stored.len(), n, "{:?}", load.summary());
    assert_stored_once(&stored, load, &(0..n).collect::<Vec<_>>());

    let values = functional_values();
    let mut read = 0;
    for who in [w.occupational_id.clone(), w.advising_id.clone()] {
        let client = if who == w.occupational_id {
            &mut w.occupational
        } else {
            &mut w.advising
        };
        let theirs: Vec<usize> = (0..n).filter(|&i| load.sealed[i].to == who).collect();
        let listed: Vec<String> = client
            .inbox()
            .await
            .expect("inbox")
            .into_iter()
            .map(|item| item.message_id.to_string())
            .collect();
        let expected: BTreeSet<String> = theirs
            .iter()
            .map(|&i| load.sealed[i].id.to_string())
            .collect();
        assert_eq!(listed.len(), expected.len(), "each listed once");
        assert_eq!(
            listed.into_iter().collect::<BTreeSet<_>>(),
            expected,
            "the inbox lists what was stored"
        );
        let mut sample: Vec<usize> = first
            .iter()
            .copied()
            .filter(|i| load.sealed[*i].to == who)
            .take(READ_SAMPLE / 2)
            .collect();
        while sample.len() < READ_SAMPLE {
            let i = theirs[random(theirs.len())];
            if !sample.contains(&i) {
                sample.push(i);
            }
        }
        for i in sample {
            let m = client.read(&load.sealed[i].id).await.unwrap_or_else(|e| {
                panic!(
                    "envelope {i} reads back: {e} (outcome {:?})",
                    load.outcomes()[i]
                )
            });
            assert_eq!(m.sender, w.treating_id);
            assert_eq!(m.kind, MessageKind::Bilan);
            assert_eq!(m.fields, values, "envelope {i} decrypts to what was sealed");
            read += 1;
        }
    }

    // Verified by the patient's client: one chain, each entry linked to the one before,
    // up to the server's signed checkpoint.
    let audit = w.patient.audit(&w.case).await.expect("the audit verifies");
    let mut accepted: BTreeMap<&str, usize> = BTreeMap::new();
    for e in audit
        .iter()
        .filter(|e| e.event == AuditEvent::EnvelopeAccepted)
    {
        *accepted
            .entry(e.subject.as_deref().expect("a message id"))
            .or_insert(0) += 1;
    }
    assert_eq!(accepted.len(), n, "one acceptance per stored envelope");
    for s in &load.sealed {
        assert_eq!(
            accepted.get(s.id.as_str()),
            Some(&1),
            "{} accepted once",
            s.id
        );
    }
    let count = |ev: AuditEvent| audit.iter().filter(|e| e.event == ev).count();
    assert_eq!(count(AuditEvent::EnvelopeDelivered), read);
    assert_eq!(count(AuditEvent::EnvelopeAcknowledged), read);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_envelope_answered_2xx_survives_a_kill() {
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let (mut w, load) = loaded_world(logs.path()).await;
    let n = load.sealed.len();
    let at = kill_after(n);
    eprintln!(
        "on {}: SIGKILL after {at} of {n} envelopes answered",
        if database::is_postgres() {
            "PostgreSQL"
        } else {
            "SQLite"
        }
    );

    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let api = session(&w.treating, &w.app.url, &w.app.cert_sha256).await;
        clients.spawn(client_until_cut(load.clone(), api));
    }
    load.moment(at).await;
    w.app.stop().await;
    let cut: Vec<Api> = tokio::time::timeout(HUNG, clients.join_all())
        .await
        .expect("every client sees the server die");

    let outcomes = load.summary();
    eprintln!("at the kill: {outcomes:?}");
    let accepted = load.with(&Outcome::Accepted);
    let unanswered = load.with(&Outcome::Unanswered);
    let unsent = load.with(&Outcome::Unsent);
    assert_eq!(
        accepted.len() + unanswered.len() + unsent.len(),
        n,
        "no other answer than 201: {outcomes:?}"
    );
    assert!(
        !unanswered.is_empty() && accepted.len() < n,
        "the kill came during the load: {outcomes:?}"
    );

    let restart_logs = tempfile::NamedTempFile::new().expect("log file");
    w.app.restart(restart_logs.path());

    // Every envelope answered 201 survived the kill.
    let before = stored(&w.app, &w.case).await;
    assert_stored_once(&before, &load, &accepted);

    // What got no answer may be stored or not; its resend says which, and never makes a
    // second copy. Those never sent go through now. A client the crash cut resends them,
    // reconnecting to the restarted server on its own.
    let api = &cut[0];
    for &i in unanswered.iter().chain(&unsent) {
        let expected = if before.contains_key(load.sealed[i].id.as_str()) {
            Outcome::Replayed
        } else {
            Outcome::Accepted
        };
        assert!(load.submit(api, i).await, "resend of {i} answered");
        assert_eq!(load.outcomes()[i], expected, "resend of envelope {i}");
    }
    eprintln!(
        "{} of {} unanswered envelopes had been stored",
        load.with(&Outcome::Replayed).len(),
        unanswered.len()
    );
    assert_all_delivered_once(&mut w, &load).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_killed_while_another_goes_on_loses_nothing() {
    if !database::is_postgres() {
        // Replicas share a PostgreSQL database: this test runs in the suite's PostgreSQL
        // pass (`.ci/run`, or TRIALOG_TEST_DATABASE_URL set).
        eprintln!("replicas need PostgreSQL; skipped on SQLite");
        return;
    }
    let logs = tempfile::NamedTempFile::new().expect("log file");
    let b_logs = tempfile::NamedTempFile::new().expect("log file");
    let (mut w, load) = loaded_world(logs.path()).await;
    let b = w.app.replica("replica-b", Some(b_logs.path()));
    let n = load.sealed.len();
    let at = kill_after(n);
    eprintln!("replica B killed after {at} of {n} envelopes answered");

    // Half the clients on each replica; B's go over to A when B dies.
    let mut clients = JoinSet::new();
    for k in 0..CLIENTS {
        let on_a = session(&w.treating, &w.app.url, &w.app.cert_sha256).await;
        if k % 2 == 0 {
            let load = load.clone();
            clients.spawn(async move {
                client_until_cut(load, on_a).await;
                0
            });
        } else {
            let on_b = session(&w.treating, &b.url, &b.cert_sha256).await;
            clients.spawn(client_with_fallback(load.clone(), on_b, on_a));
        }
    }
    load.moment(at).await;
    b.kill();
    // A goes on: every envelope gets an answer from one replica or the other.
    let on_b: usize = tokio::time::timeout(HUNG, clients.join_all())
        .await
        .expect("the load ends on A")
        .into_iter()
        .sum();
    eprintln!("replica B answered {on_b} before it died");
    assert!(on_b > 0, "both replicas took the load");

    let outcomes = load.summary();
    eprintln!("after the load: {outcomes:?}");
    let accepted = load.with(&Outcome::Accepted);
    let replayed = load.with(&Outcome::Replayed);
    assert_eq!(
        accepted.len() + replayed.len(),
        n,
        "A answered everything, B's cut requests resent to it with 201 or \
         message_replayed: {outcomes:?}"
    );
    assert!(!load.cut().is_empty(), "B died during the load");
    // Replayed on A: B had committed it and died before answering. Stored once all the same.
    assert_all_delivered_once(&mut w, &load).await;
}
