//! Accounts, cases and consents for a run, made as people make them: the operator invites
//! and approves each physician on the data directory (offline, as `trialog-server invite`
//! and `approve` do); each physician and patient is a real client with its own home; the
//! treating physician opens a case, the patient joins, is confirmed, adds the occupational
//! and the advising physician and grants each a consent.
//!
//! The server's pending quotas stay at the defaults an operator runs with (1000 envelopes
//! per recipient, 250 of them from one sender): the load is spread over enough senders and
//! recipients that a run never reaches them. Raising the quotas instead would pile the
//! whole run into a few queues far deeper than any recipient's in use, and the server's
//! per-envelope work that grows with a recipient's queue would be measured at a depth
//! nobody has.

use std::future::Future;
use std::path::Path;
use std::time::Instant;
use trialog_client::{Client, Home};
use trialog_e2e::{PASSPHRASE, grant_request, riziv};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{AccountId, Role};
use trialog_server::operator::AccountRef;

use crate::bilan::{Fields, Slot};
use crate::error::{BenchError, Context};
use crate::report::SetupReport;
use crate::server::Operator;

/// The server's default quotas (`trialog_server::state::Settings`).
pub const QUOTA_PER_RECIPIENT: usize = 1000;
pub const QUOTA_PER_SENDER: usize = 250;

/// How many of each: `senders` treating physicians, each with one case per pair of
/// recipients (an occupational and an advising physician), so `senders × pairs` cases
/// and patients. Envelope `i` of a sender goes to its slot `i mod 2·pairs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub senders: usize,
    pub pairs: usize,
    pub per_recipient: usize,
}

impl Plan {
    /// Enough recipients that `envelopes` never put more than `per_recipient` in one queue
    /// nor more than the sender quota from one sender. Up to four senders, as many as
    /// divide `connections` evenly, so that every sender's envelopes are sent at the same
    /// pace.
    pub fn new(envelopes: usize, connections: usize, per_recipient: usize) -> Plan {
        let senders = (1..=4)
            .rev()
            .find(|s| connections.is_multiple_of(*s))
            .unwrap_or(1);
        let per_recipient = per_recipient.clamp(senders, QUOTA_PER_RECIPIENT);
        let mut plan = Plan {
            senders,
            pairs: envelopes.div_ceil(2 * per_recipient).max(1),
            per_recipient,
        };
        while !plan.fits(envelopes) {
            plan.pairs += 1;
        }
        plan
    }

    /// Envelopes each sender seals (the pools round up).
    pub fn per_sender(&self, envelopes: usize) -> usize {
        envelopes.div_ceil(self.senders)
    }

    /// The most envelopes one (sender, recipient) pair receives.
    fn per_slot(&self, envelopes: usize) -> usize {
        self.per_sender(envelopes).div_ceil(2 * self.pairs)
    }

    pub fn fits(&self, envelopes: usize) -> bool {
        let slot = self.per_slot(envelopes);
        slot <= QUOTA_PER_SENDER && slot * self.senders <= self.per_recipient
    }

    pub fn cases(&self) -> usize {
        self.senders * self.pairs
    }

    pub fn recipients(&self) -> usize {
        2 * self.pairs
    }
}

/// A registered physician whose key the operator attested.
pub struct Physician {
    pub client: Client,
    pub account: AccountId,
}

/// A treating physician and where their envelopes go.
pub struct Sender {
    pub me: Physician,
    pub slots: Vec<Slot>,
}

pub struct World {
    pub senders: Vec<Sender>,
    pub recipients: Vec<Physician>,
    pub report: SetupReport,
}

/// Sets up `plan` on the server at `url`; client homes go under `homes`. Each client's
/// keystore costs a second of scrypt: at most one per core at a time.
pub async fn build(
    op: &Operator,
    url: &str,
    cert_sha256: &str,
    plan: Plan,
    homes: &Path,
) -> Result<World, BenchError> {
    let start = Instant::now();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let base = riziv_base();
    let mut specs = Vec::new();
    for i in 0..plan.senders {
        specs.push((Role::Treating, 580, format!("Dr. Bench Treating {i}")));
    }
    for i in 0..plan.pairs {
        specs.push((Role::Occupational, 4, format!("Dr. Bench Occupational {i}")));
        specs.push((Role::Advising, 9, format!("Dr. Bench Advising {i}")));
    }
    eprintln!(
        "setup: {} treating physicians, {} recipients, {} patients (a keystore each: about a second of CPU)",
        plan.senders,
        plan.recipients(),
        plan.cases()
    );
    let physicians = bounded(
        cores,
        specs
            .into_iter()
            .enumerate()
            .map(|(n, (role, qualification, name))| {
                let (op, url, cert) = (op.clone(), url.to_owned(), cert_sha256.to_owned());
                let home = homes.join(format!("physician-{n}"));
                let number = riziv(base + n as u32, qualification);
                async move { physician(&op, &url, &cert, &home, role, &number, &name).await }
            })
            .collect(),
    )
    .await?;
    let patients = bounded(
        cores,
        (0..plan.cases())
            .map(|n| {
                let home = Home::new(homes.join(format!("patient-{n}")));
                let (url, cert, key) =
                    (url.to_owned(), cert_sha256.to_owned(), op.key.public_hex());
                async move {
                    Client::init(home, &url, &cert, Some(&key), PASSPHRASE)
                        .await
                        .context("patient keys")
                }
            })
            .collect(),
    )
    .await?;
    let mut physicians = physicians.into_iter();
    let treating: Vec<Physician> = physicians.by_ref().take(plan.senders).collect();
    let recipients: Vec<Physician> = physicians.collect();
    // Recipients are (occupational, advising) pairs, in order.
    let pairs: Vec<(AccountId, AccountId)> = recipients
        .chunks(2)
        .filter_map(|p| match p {
            [o, a] => Some((o.account.clone(), a.account.clone())),
            _ => None,
        })
        .collect();
    let mut patients = patients.into_iter();
    let mut set = tokio::task::JoinSet::new();
    for (k, t) in treating.into_iter().enumerate() {
        let mine: Vec<Client> = patients.by_ref().take(plan.pairs).collect();
        let pairs = pairs.clone();
        set.spawn(async move { (k, cases_of(t, mine, pairs, k).await) });
    }
    let mut senders: Vec<Option<Sender>> = (0..plan.senders).map(|_| None).collect();
    while let Some(joined) = set.join_next().await {
        let (k, s) = joined.map_err(|e| BenchError::Setup(format!("case task: {e}")))?;
        senders[k] = Some(s?);
    }
    let senders: Vec<Sender> = senders.into_iter().flatten().collect();
    let report = SetupReport {
        treating_physicians: senders.len(),
        recipients: recipients.len(),
        patients: plan.cases(),
        cases: plan.cases(),
        consents: senders.iter().map(|s| s.slots.len()).sum(),
        per_recipient_at_most: plan.per_recipient,
        setup_s: start.elapsed().as_secs_f64(),
    };
    Ok(World {
        senders,
        recipients,
        report,
    })
}

/// Invited and approved by the operator, registered by its own client.
async fn physician(
    op: &Operator,
    url: &str,
    cert_sha256: &str,
    home: &Path,
    role: Role,
    number: &str,
    name: &str,
) -> Result<Physician, BenchError> {
    let number = Riziv::parse(number).map_err(|e| BenchError::Setup(e.to_string()))?;
    let (code, _) = trialog_server::invite(&op.config, role, &number, name, 14).await?;
    let mut client = Client::init(
        Home::new(home),
        url,
        cert_sha256,
        Some(&op.key.public_hex()),
        PASSPHRASE,
    )
    .await
    .context("physician keys")?;
    let view = client.register(&code).await.context("register")?;
    trialog_server::operator::approve(
        &op.config,
        &AccountRef::Riziv(number),
        &client.fingerprint().short(),
        &op.key,
        false,
    )
    .await?;
    Ok(Physician {
        client,
        account: view.account,
    })
}

/// One case per patient: opened by `treating`, joined and confirmed, both physicians of
/// the pair added, the occupational physician granted the functional fields and the
/// advising physician the same and the diagnosis (shared medically), as in the README.
async fn cases_of(
    mut treating: Physician,
    patients: Vec<Client>,
    pairs: Vec<(AccountId, AccountId)>,
    k: usize,
) -> Result<Sender, BenchError> {
    let mut slots = Vec::new();
    for (j, (mut patient, (occupational, advising))) in patients.into_iter().zip(pairs).enumerate()
    {
        let opened = treating
            .client
            .open_case(&format!("Bench case {k}-{j}"))
            .await
            .context("open case")?;
        let (view, case) = patient
            .join(&opened.enrolment_code)
            .await
            .context("patient joins")?;
        treating
            .client
            .confirm_patient(&case, &view.fingerprint.short())
            .await
            .context("confirm patient")?;
        let mut to = Vec::new();
        for (who, fields) in [
            (occupational, Fields::Functional),
            (advising, Fields::WithDiagnosis),
        ] {
            patient
                .add_member(&case, &who)
                .await
                .context("add member")?;
            let medical: &[&str] = match fields {
                Fields::WithDiagnosis => &["medical.diagnosis"],
                Fields::Functional => &[],
            };
            let (consent, _) = patient
                .grant(grant_request(&case, &who, &fields.ids(), medical))
                .await
                .context("grant")?;
            to.push((who, consent.consent_id, fields));
        }
        let verified = treating.client.case(&case).await.context("verify case")?;
        for (who, consent, fields) in to {
            let (_, keys) = verified
                .physician(&who)
                .ok_or_else(|| BenchError::Setup(format!("{who} is not in case {case}")))?;
            slots.push(Slot {
                case: case.clone(),
                sender: treating.account.clone(),
                to: who,
                to_fingerprint: keys.fingerprint.clone(),
                devices: keys.devices.clone(),
                consent,
                fields,
            });
        }
    }
    Ok(Sender {
        me: treating,
        slots,
    })
}

/// The first of this run's RIZIV/INAMI numbers: from the clock, so that runs against one
/// running server do not collide with the accounts of earlier runs.
fn riziv_base() -> u32 {
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0);
    100_000 + (micros % 800_000) as u32
}

/// Runs `jobs` at most `limit` at a time; their results in order.
async fn bounded<T, F>(limit: usize, jobs: Vec<F>) -> Result<Vec<T>, BenchError>
where
    T: Send + 'static,
    F: Future<Output = Result<T, BenchError>> + Send + 'static,
{
    let mut out: Vec<Option<T>> = (0..jobs.len()).map(|_| None).collect();
    let mut jobs = jobs.into_iter().enumerate();
    let mut set = tokio::task::JoinSet::new();
    loop {
        while set.len() < limit.max(1) {
            let Some((i, job)) = jobs.next() else { break };
            set.spawn(async move { (i, job.await) });
        }
        let Some(joined) = set.join_next().await else {
            break;
        };
        let (i, r) = joined.map_err(|e| BenchError::Setup(format!("setup task: {e}")))?;
        out[i] = Some(r?);
    }
    Ok(out.into_iter().flatten().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_stay_under_the_quotas() {
        for n in [1, 100, 999, 1000, 2000, 10_000, 25_000, 100_000] {
            for k in [1, 2, 3, 5, 16, 64] {
                for d in [4, 100, 1000] {
                    let p = Plan::new(n, k, d);
                    assert!(p.fits(n), "{n} {k} {d}: {p:?}");
                    assert!(k.is_multiple_of(p.senders));
                    // Not more than one pair beyond what the depth asks for.
                    let fewer = Plan {
                        pairs: p.pairs - 1,
                        ..p
                    };
                    assert!(p.pairs == 1 || !fewer.fits(n), "{n} {k} {d}: {p:?}");
                }
            }
        }
    }

    #[test]
    fn a_full_run_is_spread_over_recipients() {
        let p = Plan::new(25_000, 64, 1000);
        assert_eq!((p.senders, p.recipients()), (4, 26));
    }
}
