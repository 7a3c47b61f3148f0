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

/// The ids of the accounts a case's patient keys are checked with.
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

/// Verified consent histories, one per case, each with the digest of every stored byte it
/// was verified from (the case row, both parties' key records, the past patient keys and
/// bindings, each consent and revocation with its times). What does not change between
/// envelopes is so verified once: a new consent, revocation, key or binding changes the
/// digest, and a history is served only while its digest is that of the bytes read now, so
/// nothing is invalidated by hand and no replica can serve another's stale entry. One entry
/// per case (a changed history replaces the case's entry, never piles up beside it), at
/// most `VERIFIED_MAX` cases: emptied when full.
#[derive(Debug, Default)]
pub struct Verified {
    chains: Mutex<HashMap<String, (Digest32, Arc<Chain>)>>,
}

type Digest32 = [u8; 32];

/// Cases kept at most (a working set is a few hundred open cases per replica).
const VERIFIED_MAX: usize = 4096;

/// What a case's consent history is verified from, as stored.
struct ChainInputs {
    stored: Stored,
    past: Vec<(String, String, i64)>,
    consents: Vec<db::consents::ConsentRow>,
}

/// An unambiguous encoding of the inputs into SHA-256: a domain tag, every string
/// length-prefixed, every optional value tagged present or absent, every list preceded by
/// its length. Two different inputs never encode alike.
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
    fn count(&mut self, n: usize) {
        self.0.update((n as u64).to_be_bytes());
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
    fn opt_int(&mut self, n: Option<i64>) {
        match n {
            None => self.0.update([0]),
            Some(n) => {
                self.0.update([1]);
                self.int(n);
            }
        }
    }
}

impl ChainInputs {
    fn digest(&self, case: &CaseRow) -> Digest32 {
        let mut e = Encoder(Sha256::new());
        e.str("trialog/chain-inputs/v1");
        e.str(&case.id);
        e.str(&case.treating);
        e.opt_str(case.patient.as_deref());
        e.opt_str(case.binding.as_deref());
        e.str(&self.stored.treating_record);
        e.str(&self.stored.patient);
        e.str(&self.stored.patient_record);
        e.count(self.past.len());
        for (record, binding, at) in &self.past {
            e.str(record);
            e.str(binding);
            e.int(*at);
        }
        e.count(self.consents.len());
        for c in &self.consents {
            e.str(&c.id);
            e.str(&c.signed);
            e.opt_str(c.revocation.as_deref());
            e.opt_int(c.revoked_at);
            e.int(c.created_at);
        }
        e.0.finalize().into()
    }
}

impl Verified {
    /// The case's consent history, every version and revocation verified against the
    /// confirmed patient key that signed it (past keys included: a consent signed before a
    /// re-enrolment stays valid until revoked or expired). A case with no confirmed patient
    /// key has none. Read from `c` each time; verified only if these bytes were not the
    /// case's last time.
    pub async fn chain(
        &self,
        c: &mut AnyConnection,
        case: &CaseRow,
    ) -> Result<Arc<Chain>, ApiError> {
        if case.patient.is_none() {
            return Ok(Arc::default());
        }
        let accounts = Accounts::read(c, &parties(case)).await?;
        self.chain_with(c, case, &accounts).await
    }

    /// `chain`, with the case's treating physician and patient among `accounts` (read by
    /// the caller with the other accounts it needs, in one statement).
    pub async fn chain_with(
        &self,
        c: &mut AnyConnection,
        case: &CaseRow,
        accounts: &Accounts,
    ) -> Result<Arc<Chain>, ApiError> {
        if case.patient.is_none() {
            return Ok(Arc::default());
        }
        let inputs = ChainInputs {
            stored: stored(case, accounts)?,
            past: db::cases::key_history(&mut *c, &case.id).await?,
            consents: db::consents::for_case(&mut *c, &case.id).await?,
        };
        let digest = inputs.digest(case);
        if let Some((seen, chain)) = self.lock().get(&case.id)
            && *seen == digest
        {
            return Ok(chain.clone());
        }
        let chain = Arc::new(verify_chain(case, inputs)?);
        let mut chains = self.lock();
        if chains.len() >= VERIFIED_MAX && !chains.contains_key(&case.id) {
            chains.clear();
        }
        chains.insert(case.id.clone(), (digest, chain.clone()));
        Ok(chain)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Digest32, Arc<Chain>)>> {
        // Never held across an await; a panic elsewhere cannot leave a half-written entry
        // (inserts are single calls), so a poisoned lock is still sound.
        self.chains.lock().unwrap_or_else(|p| p.into_inner())
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
    use crate::db::consents::ConsentRow;

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

    fn consent(id: &str) -> ConsentRow {
        ConsentRow {
            id: id.into(),
            case_id: "case".into(),
            recipient: "occupational".into(),
            signed: format!("signed {id}"),
            valid_until: 100,
            created_at: 2,
            revoked_at: None,
            revocation: None,
            superseded_by: None,
            superseded_at: None,
            expired_at: None,
            retired: 0,
        }
    }

    fn inputs() -> ChainInputs {
        ChainInputs {
            stored: Stored {
                treating_record: "treating record".into(),
                patient: "patient".into(),
                patient_record: "patient record".into(),
            },
            past: vec![],
            consents: vec![consent("a")],
        }
    }

    /// Every change a consent history can go through changes the key it is cached under:
    /// a stale verified history is never served.
    #[test]
    fn every_change_of_what_is_verified_changes_the_digest() {
        let base = inputs().digest(&case());
        assert_eq!(
            base,
            inputs().digest(&case()),
            "the same bytes, the same key"
        );
        type Change = Box<dyn Fn(&mut CaseRow, &mut ChainInputs)>;
        let changes: Vec<(&str, Change)> = vec![
            (
                "new version",
                Box::new(|_, i| i.consents.push(consent("b"))),
            ),
            (
                "revocation",
                Box::new(|_, i| i.consents[0].revocation = Some("signed revocation".into())),
            ),
            (
                "revocation time",
                Box::new(|_, i| i.consents[0].revoked_at = Some(5)),
            ),
            (
                "acceptance time",
                Box::new(|_, i| i.consents[0].created_at = 3),
            ),
            (
                "new patient key",
                Box::new(|_, i| i.stored.patient_record = "new".into()),
            ),
            (
                "treating key",
                Box::new(|_, i| i.stored.treating_record = "new".into()),
            ),
            (
                "re-enrolment",
                Box::new(|_, i| i.past.push(("old".into(), "old binding".into(), 4))),
            ),
            (
                "new binding",
                Box::new(|c, _| c.binding = Some("other".into())),
            ),
            ("no binding", Box::new(|c, _| c.binding = None)),
            (
                "other patient",
                Box::new(|c, _| c.patient = Some("other".into())),
            ),
            ("other case", Box::new(|c, _| c.id = "other".into())),
        ];
        for (what, change) in changes {
            let (mut c, mut i) = (case(), inputs());
            change(&mut c, &mut i);
            assert_ne!(base, i.digest(&c), "{what} must change the digest");
        }
        // Absent and empty, absent and -1, are different inputs.
        let (mut c, mut i) = (case(), inputs());
        c.binding = Some(String::new());
        i.consents[0].revocation = Some(String::new());
        let (mut c2, mut i2) = (case(), inputs());
        c2.binding = None;
        i2.consents[0].revocation = None;
        assert_ne!(i.digest(&c), i2.digest(&c2));
        let (c, mut i) = (case(), inputs());
        i.consents[0].revoked_at = Some(-1);
        assert_ne!(base, i.digest(&c), "revoked at -1 is not unrevoked");
        // A past key entry cannot pass for part of a consent (lists carry their length).
        let (c, mut i) = (case(), inputs());
        i.past.push(("a".into(), "signed a".into(), 2));
        i.consents.clear();
        assert_ne!(base, i.digest(&c));
        // Moving bytes from one part to the next is a change too (parts are length-prefixed).
        let (c, mut i) = (case(), inputs());
        i.stored.treating_record = "treating recordpatient".into();
        i.stored.patient = "".into();
        assert_ne!(base, i.digest(&c));
    }
}
