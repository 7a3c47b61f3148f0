//! Loading the facts `trialog_protocol::decide` decides on: a case and its active members,
//! the case's verified consent history, the confirmed patient key. Everything signed is
//! verified here before it becomes a fact; the decisions themselves are protocol's.

use sqlx::AnyConnection;
use trialog_protocol::binding::{
    PastPatientKey, PatientBinding, PatientKeys, verify_patient, verify_patient_keys,
};
use trialog_protocol::chain::{Chain, Version};
use trialog_protocol::consent::{Revocation, open_consent};
use trialog_protocol::decide::{CaseFacts, MemberStatus};
use trialog_protocol::keys::{KeyRecord, VerifiedKeys, open_key_record};
use trialog_protocol::{AccountId, CaseId, Signed};

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::db::{self, accounts::AccountRow, cases::CaseRow};
use crate::error::ApiError;

/// A stored value that does not parse: the database was changed outside the server.
pub(super) fn corrupt(what: &str) -> ApiError {
    ApiError::Internal(format!("stored {what} does not parse"))
}

pub fn case_id(case: &CaseRow) -> Result<CaseId, ApiError> {
    CaseId::parse(&case.id).map_err(|_| corrupt("case id"))
}

/// The case with its active physicians.
pub async fn case_facts(c: &mut AnyConnection, case: &CaseRow) -> Result<CaseFacts, ApiError> {
    let mut active = Vec::new();
    for m in db::cases::members(&mut *c, &case.id).await? {
        if m.status == MemberStatus::Active {
            active.push(AccountId::parse(&m.account).map_err(|_| corrupt("member id"))?);
        }
    }
    Ok(CaseFacts {
        case_id: case_id(case)?,
        treating: AccountId::parse(&case.treating).map_err(|_| corrupt("account id"))?,
        active,
    })
}

/// What a case's patient keys are checked with, as stored: the treating physician's key
/// record, the patient's current key record (the binding is on the case row).
struct Stored {
    treating_record: String,
    patient: String,
    patient_record: String,
}

/// Accounts read in one statement, found by id.
#[derive(Debug, Default)]
pub struct Accounts(Vec<AccountRow>);

impl Accounts {
    /// Reads the accounts among `ids` that exist.
    pub async fn read(c: &mut AnyConnection, ids: &[&str]) -> Result<Accounts, ApiError> {
        Ok(Accounts(db::accounts::some(&mut *c, ids).await?))
    }

    pub fn get(&self, id: &str) -> Option<&AccountRow> {
        self.0.iter().find(|a| a.id == id)
    }
}

impl From<Vec<AccountRow>> for Accounts {
    fn from(rows: Vec<AccountRow>) -> Accounts {
        Accounts(rows)
    }
}

/// The ids of the accounts a case's patient keys are checked with. An admission reads
/// the same two in its one statement (`db::envelopes::claimed`): a party added here is
/// added there.
pub fn parties(case: &CaseRow) -> Vec<&str> {
    let mut ids = vec![case.treating.as_str()];
    ids.extend(case.patient.as_deref());
    ids
}

fn stored(case: &CaseRow, accounts: &Accounts) -> Result<Stored, ApiError> {
    let patient_id = case.patient.as_deref().ok_or(ApiError::NoPatient)?;
    let treating = accounts
        .get(&case.treating)
        .ok_or_else(|| corrupt("treating account"))?;
    let patient = accounts
        .get(patient_id)
        .ok_or_else(|| corrupt("patient account"))?;
    Ok(Stored {
        treating_record: treating.key_record.clone(),
        patient: patient.id.clone(),
        patient_record: patient.key_record.clone(),
    })
}

/// The parsed parts of `Stored`, the treating physician's key record verified.
struct Parsed {
    treating: VerifiedKeys,
    record: Signed<KeyRecord>,
    binding: Option<Signed<PatientBinding>>,
}

fn parse(case: &CaseRow, s: &Stored) -> Result<Parsed, ApiError> {
    let treating: Signed<KeyRecord> =
        serde_json::from_str(&s.treating_record).map_err(|_| corrupt("key record"))?;
    Ok(Parsed {
        treating: open_key_record(&treating).map_err(|_| corrupt("key record"))?,
        record: serde_json::from_str(&s.patient_record).map_err(|_| corrupt("key record"))?,
        binding: case
            .binding
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("binding"))?,
    })
}

/// The case's patient keys, checked against the treating physician's signed binding. No
/// consent counts before this succeeds (DESIGN.md §6).
pub async fn confirmed_patient(
    c: &mut AnyConnection,
    case: &CaseRow,
) -> Result<VerifiedKeys, ApiError> {
    let accounts = Accounts::read(c, &parties(case)).await?;
    let p = parse(case, &stored(case, &accounts)?)?;
    verify_patient(&case_id(case)?, &p.treating, p.binding.as_ref(), &p.record)
        .map_err(ApiError::Binding)
}

fn past_keys(rows: Vec<(String, String, i64)>) -> Result<Vec<PastPatientKey>, ApiError> {
    rows.into_iter()
        .map(|(record, binding, replaced_at)| {
            Ok(PastPatientKey {
                key_record: serde_json::from_str(&record)
                    .map_err(|_| corrupt("past key record"))?,
                binding: serde_json::from_str(&binding).map_err(|_| corrupt("past binding"))?,
                replaced_at,
            })
        })
        .collect()
}

/// The patient keys a re-enrolment replaced, with their bindings, oldest first.
pub async fn past_patient_keys(
    c: &mut AnyConnection,
    case: &CaseRow,
) -> Result<Vec<PastPatientKey>, ApiError> {
    past_keys(db::cases::key_history(&mut *c, &case.id).await?)
}

/// Every patient key confirmed for the case, past and current, each checked against its
/// binding by the treating physician: what the consent history is verified against.
fn verify_keys(
    case: &CaseRow,
    s: &Stored,
    past: &[PastPatientKey],
) -> Result<PatientKeys, ApiError> {
    let p = parse(case, s)?;
    let account = AccountId::parse(&s.patient).map_err(|_| corrupt("account id"))?;
    verify_patient_keys(
        &case_id(case)?,
        &account,
        &p.treating,
        past,
        p.binding.as_ref(),
        &p.record,
    )
    .map_err(ApiError::Binding)
}

/// What admission decides on about a case: its active physicians and its consent history,
/// every version and revocation verified against the confirmed patient key that signed it.
#[derive(Debug)]
pub struct Snapshot {
    pub facts: CaseFacts,
    pub chain: Arc<Chain>,
}

/// Verified case snapshots, one per case, each under the digest of what it was read from
/// that is not versioned: the case row and both parties' key records, with the version of
/// the case's facts (members, consents, past patient keys), which triggers bump at every
/// change to them (migration 0011). What does not change between envelopes is so read and
/// verified once: a new consent, revocation, member, key or binding changes the digest, a
/// snapshot is served only while its digest is that of what was read now, so nothing is
/// invalidated by hand and no replica can serve another's stale entry. One entry per case
/// (a change replaces the case's entry, never piles up beside it), at most `VERIFIED_MAX`
/// cases: emptied when full.
#[derive(Debug, Default)]
pub struct Verified {
    cases: Mutex<HashMap<String, (Digest32, Arc<Snapshot>)>>,
}

type Digest32 = [u8; 32];

/// Cases kept at most (a working set is a few hundred open cases per replica).
const VERIFIED_MAX: usize = 4096;

/// What a case's consent history is verified from, besides the case row and key records.
struct ChainInputs {
    stored: Stored,
    past: Vec<(String, String, i64)>,
    consents: Vec<db::consents::ConsentRow>,
}

/// An unambiguous encoding of the inputs into SHA-256: a domain tag, every string
/// length-prefixed, every optional value tagged present or absent. Two different inputs
/// never encode alike.
struct Encoder(Sha256);

impl Encoder {
    fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u64).to_be_bytes());
        self.0.update(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn int(&mut self, n: i64) {
        self.0.update(n.to_be_bytes());
    }
    fn opt_str(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update([0]),
            Some(s) => {
                self.0.update([1]);
                self.str(s);
            }
        }
    }
}

/// The key a case's snapshot is kept under: the case row, the version of its facts, and
/// (with a patient) the key records the patient keys are checked with.
fn snapshot_key(case: &CaseRow, version: i64, stored: Option<&Stored>) -> Digest32 {
    let mut e = Encoder(Sha256::new());
    e.str("trialog/case-snapshot/v2");
    e.str(&case.id);
    e.str(&case.treating);
    e.opt_str(case.patient.as_deref());
    e.opt_str(case.binding.as_deref());
    e.int(version);
    match stored {
        None => e.0.update([0]),
        Some(s) => {
            e.0.update([1]);
            e.str(&s.treating_record);
            e.str(&s.patient);
            e.str(&s.patient_record);
        }
    }
    e.0.finalize().into()
}

impl Verified {
    /// The case's consent history (see `snapshot`), the case's version and parties' key
    /// records read from `c` now. A case with no confirmed patient key has none.
    pub async fn chain(
        &self,
        c: &mut AnyConnection,
        case: &CaseRow,
    ) -> Result<Arc<Chain>, ApiError> {
        if case.patient.is_none() {
            return Ok(Arc::default());
        }
        let version = db::cases::facts_version(&mut *c, &case.id)
            .await?
            .ok_or_else(|| corrupt("case"))?;
        let accounts = Accounts::read(c, &parties(case)).await?;
        Ok(self
            .snapshot(c, case, version, &accounts)
            .await?
            .chain
            .clone())
    }

    /// The case's active physicians and consent history (every version and revocation
    /// verified against the confirmed patient key that signed it, past keys included: a
    /// consent signed before a re-enrolment stays valid until revoked or expired), for the
    /// case row and `version` of its facts read by the caller, with the case's treating
    /// physician and patient among `accounts` (read by the caller with the other accounts
    /// it needs, in one statement). Members, consents and past keys are read from `c` only
    /// if the case's snapshot under these is not kept already. They are read after
    /// `version`, so what is kept under it is never older than it.
    pub async fn snapshot(
        &self,
        c: &mut AnyConnection,
        case: &CaseRow,
        version: i64,
        accounts: &Accounts,
    ) -> Result<Arc<Snapshot>, ApiError> {
        let stored = case
            .patient
            .is_some()
            .then(|| stored(case, accounts))
            .transpose()?;
        let key = snapshot_key(case, version, stored.as_ref());
        if let Some((seen, snapshot)) = self.lock().get(&case.id)
            && *seen == key
        {
            return Ok(snapshot.clone());
        }
        let facts = case_facts(c, case).await?;
        let chain = match stored {
            None => Chain::default(),
            Some(stored) => {
                let inputs = ChainInputs {
                    stored,
                    past: db::cases::key_history(&mut *c, &case.id).await?,
                    consents: db::consents::for_case(&mut *c, &case.id).await?,
                };
                verify_chain(case, inputs)?
            }
        };
        let snapshot = Arc::new(Snapshot {
            facts,
            chain: Arc::new(chain),
        });
        let mut cases = self.lock();
        if cases.len() >= VERIFIED_MAX && !cases.contains_key(&case.id) {
            cases.clear();
        }
        cases.insert(case.id.clone(), (key, snapshot.clone()));
        Ok(snapshot)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Digest32, Arc<Snapshot>)>> {
        // Never held across an await; a panic elsewhere cannot leave a half-written entry
        // (inserts are single calls), so a poisoned lock is still sound.
        self.cases.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn verify_chain(case: &CaseRow, inputs: ChainInputs) -> Result<Chain, ApiError> {
    let id = case_id(case)?;
    let Some(patient_account) = case.patient.as_deref() else {
        return Ok(Chain::default());
    };
    let past = past_keys(inputs.past)?;
    let keys = verify_keys(case, &inputs.stored, &past)?;
    if keys.confirmed.is_empty() {
        return Ok(Chain::default());
    }
    let patient_account = AccountId::parse(patient_account).map_err(|_| corrupt("account id"))?;
    let mut versions = Vec::new();
    for row in inputs.consents {
        let signed: Signed<trialog_protocol::consent::Consent> =
            serde_json::from_str(&row.signed).map_err(|_| corrupt("consent"))?;
        let signer = keys
            .signer(&signed)
            .ok_or_else(|| corrupt("consent signer"))?;
        let consent = open_consent(&signed, signer).map_err(|_| corrupt("consent signature"))?;
        let revoked_at = match &row.revocation {
            Some(r) => {
                let r: Signed<Revocation> =
                    serde_json::from_str(r).map_err(|_| corrupt("revocation"))?;
                let signer = keys
                    .signer(&r)
                    .ok_or_else(|| corrupt("revocation signer"))?;
                r.verify(signer)
                    .map_err(|_| corrupt("revocation signature"))?;
                row.revoked_at
            }
            None => None,
        };
        versions.push(Version {
            consent,
            revoked_at,
            accepted_at: row.created_at,
            replaced_unseen: false,
        });
    }
    Chain::new(&id, &patient_account, versions).map_err(ApiError::Chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case() -> CaseRow {
        CaseRow {
            id: "case".into(),
            sealed_label: None,
            treating: "treating".into(),
            patient: Some("patient".into()),
            binding: Some("binding".into()),
            opened_at: 1,
        }
    }

    fn stored() -> Stored {
        Stored {
            treating_record: "treating record".into(),
            patient: "patient".into(),
            patient_record: "patient record".into(),
        }
    }

    /// Every change a case's snapshot can go through changes the key it is kept under: a
    /// stale verified history is never served. (Members, consents and past keys change
    /// the version: the triggers of migration 0011, tested end to end.)
    #[test]
    fn every_change_of_what_is_verified_changes_the_key() {
        let key = |c: &CaseRow, v: i64, s: Option<&Stored>| snapshot_key(c, v, s);
        let base = key(&case(), 7, Some(&stored()));
        assert_eq!(
            base,
            key(&case(), 7, Some(&stored())),
            "the same, the same key"
        );
        type Change = Box<dyn Fn(&mut CaseRow, &mut i64, &mut Stored)>;
        let changes: Vec<(&str, Change)> = vec![
            ("facts version", Box::new(|_, v, _| *v += 1)),
            (
                "new patient key",
                Box::new(|_, _, s| s.patient_record = "new".into()),
            ),
            (
                "treating key",
                Box::new(|_, _, s| s.treating_record = "new".into()),
            ),
            (
                "new binding",
                Box::new(|c, _, _| c.binding = Some("other".into())),
            ),
            ("no binding", Box::new(|c, _, _| c.binding = None)),
            (
                "other patient",
                Box::new(|c, _, _| c.patient = Some("other".into())),
            ),
            ("other case", Box::new(|c, _, _| c.id = "other".into())),
            (
                "other treating",
                Box::new(|c, _, _| c.treating = "x".into()),
            ),
        ];
        for (what, change) in changes {
            let (mut c, mut v, mut s) = (case(), 7, stored());
            change(&mut c, &mut v, &mut s);
            assert_ne!(base, key(&c, v, Some(&s)), "{what} must change the key");
        }
        // Absent and empty are different inputs.
        let mut c = case();
        c.binding = Some(String::new());
        let mut c2 = case();
        c2.binding = None;
        assert_ne!(key(&c, 7, None), key(&c2, 7, None));
        // Without a patient, the key records are not part of it, and that is told apart.
        assert_ne!(base, key(&case(), 7, None));
        // Moving bytes from one part to the next is a change too (parts are length-prefixed).
        let mut s = stored();
        s.treating_record = "treating recordpatient".into();
        s.patient = "".into();
        assert_ne!(base, key(&case(), 7, Some(&s)));
    }
}
