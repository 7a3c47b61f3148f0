//! Table-driven tests of the protocol's pure decisions: the consent chain (`chain.rs`), the
//! server's admission of an envelope, delivery, the recipient's checks and membership
//! changes (`decide.rs`), consent well-formedness, the one time rule and differences between
//! versions (`consent.rs`), roles, case labels and login challenges.
//!
//! Every table is a list of rows, each with a `name`, setup closures and the expected
//! outcome; rows named `fail_*` must be refused, and say by which refusal (and, where the
//! refusal reaches the API, by which stable code). A table runs every row, then fails once
//! listing each row that went wrong, so one run shows the whole picture.
//!
//! Ids and times are fixed so that expected refusals can name them; keys are generated per
//! test (key generation is cheap, and no expectation depends on a key's value). Each test
//! builds its own world and shares nothing with another.
//!
//! Rows that show a bug in the protocol live in tests of their own, marked
//! `#[ignore = "BUG: …"]`, and assert the correct behaviour.

use std::fmt::Debug;

use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use trialog_protocol::auth::{Challenge, ChallengeError, MAX_NONCE_LEN, check_challenge};
use trialog_protocol::chain::{Chain, ChainError, NewVersionRefusal, RevocationRefusal, Version};
use trialog_protocol::consent::{
    Consent, ConsentDiff, MalformedConsent, Party, Purpose, Refusal, Revocation, Standing,
    consent_text, diff, happened_by, in_period,
};
use trialog_protocol::decide::{
    Actor, AdmissionFacts, AdmitRefusal, CaseFacts, MemberStatus, MembershipRefusal, Receipt,
    ReceiveFacts, ReceiveRefusal, add_member, admit, deliverable, receive, remove_member,
};
use trialog_protocol::encoding::B64;
use trialog_protocol::envelope::{
    Envelope, EnvelopeError, EnvelopeHeader, MAX_CLOCK_SKEW, MAX_FIELD_CIPHERTEXT, ManifestEntry,
    seal,
};
use trialog_protocol::keys::Identity;
use trialog_protocol::label::{self, LabelError, MAX_LABEL_CHARS};
use trialog_protocol::text::NameError;
use trialog_protocol::time::max_valid_until;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Fingerprint, Lang, MessageId, MessageKind, Role, Signed,
};

// ---- Tables ---------------------------------------------------------------------------------

/// The rows of one table that went wrong.
struct Table {
    name: &'static str,
    seen: Vec<&'static str>,
    failures: Vec<String>,
}

impl Table {
    fn new(name: &'static str) -> Table {
        Table {
            name,
            seen: Vec::new(),
            failures: Vec::new(),
        }
    }

    /// Records one row's outcome; each row is checked exactly once.
    fn check<T: PartialEq + Debug>(&mut self, row: &'static str, got: T, want: T) {
        assert!(
            !self.seen.contains(&row),
            "{}: row name `{row}` is used twice",
            self.name
        );
        self.seen.push(row);
        if got != want {
            self.failures
                .push(format!("  {row}:\n    got  {got:?}\n    want {want:?}"));
        }
    }

    fn done(self) {
        assert!(!self.seen.is_empty(), "{}: no rows", self.name);
        assert!(
            self.failures.is_empty(),
            "{}: {} of {} rows failed:\n{}",
            self.name,
            self.failures.len(),
            self.seen.len(),
            self.failures.join("\n")
        );
    }
}

// ---- Fixed ids and times --------------------------------------------------------------------

fn acc(n: u8) -> AccountId {
    AccountId::parse(&format!("acc_{n:032x}")).unwrap()
}
fn case(n: u8) -> CaseId {
    CaseId::parse(&format!("case_{n:032x}")).unwrap()
}
fn cid(n: u8) -> ConsentId {
    ConsentId::parse(&format!("cons_{n:032x}")).unwrap()
}
fn mid(n: u8) -> MessageId {
    MessageId::parse(&format!("msg_{n:032x}")).unwrap()
}

const PATIENT: u8 = 1;
const TREATING: u8 = 2;
const OCCUPATIONAL: u8 = 3;
const ADVISING: u8 = 4;
/// An occupational physician who is not a member of the case.
const STRANGER: u8 = 5;

fn patient() -> AccountId {
    acc(PATIENT)
}
fn case_id() -> CaseId {
    case(1)
}

/// Consents to the occupational physician: the line v1 <- v2 <- v3, and a new line after a
/// revocation.
const V1: u8 = 0x01;
const V2: u8 = 0x02;
const V3: u8 = 0x03;
const N1: u8 = 0x04;
/// A consent to the advising physician.
const A1: u8 = 0xa1;
/// A consent to the treating physician (feedback).
const T1: u8 = 0x71;
/// A consent id the case does not have.
const UNKNOWN: u8 = 0x99;

const T0: i64 = 1_767_571_200; // 2026-01-05 00:00:00 UTC
const DAY: i64 = 86_400;
/// The period of every first version.
const FROM: i64 = T0;
const UNTIL: i64 = T0 + 300 * DAY;
/// When v1, v2 and v3 were accepted by the server.
const ACC1: i64 = T0;
const ACC2: i64 = T0 + 20 * DAY;
const ACC3: i64 = T0 + 40 * DAY;
/// A message under v1 is created here (before v2)...
const SENT: i64 = T0 + 10 * DAY;
/// ...and arrives at the server a minute later.
const NOW: i64 = SENT + 60;
/// After v3.
const LATER: i64 = T0 + 50 * DAY;

const HOURS: &str = "capacity.hours_per_week";
const FATIGUE: &str = "limits.fatigue";
const ADAPT: &str = "adaptations.recommended";
const NEXT: &str = "review.next_date";
const PHYSICAL: &str = "limits.physical";
const DIAGNOSIS: &str = "medical.diagnosis";
const CATEGORY: &str = "medical.diagnosis_category";
const DEMANDS: &str = "job.demands";
const PLAN: &str = "reintegration.plan";

fn fid(id: &str) -> FieldId {
    FieldId::parse(id).unwrap()
}
fn fids(ids: &[&str]) -> Vec<FieldId> {
    ids.iter().map(|id| fid(id)).collect()
}

/// A value of the right shape for each field the tests send.
fn values(ids: &[&str]) -> Vec<(FieldId, Value)> {
    ids.iter()
        .map(|id| {
            let v = match *id {
                HOURS => json!(12),
                NEXT => json!("2026-04-01"),
                _ => json!("a test value"),
            };
            (fid(id), v)
        })
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Sets `text_sha256` to the hash of the text for the consent's terms, as the patient's
/// client does before signing.
fn rehash(mut c: Consent) -> Consent {
    c.text_sha256 = sha256_hex(consent_text(&c).as_bytes());
    c
}

// ---- The parties ------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Treating,
    Occupational,
    Advising,
}

/// A physician: account, the name and role a consent shows, and keys.
struct Doc {
    account: AccountId,
    role: Role,
    name: &'static str,
    keys: Identity,
}

impl Doc {
    fn new(n: u8, role: Role, name: &'static str) -> Doc {
        Doc {
            account: acc(n),
            role,
            name,
            keys: Identity::generate().unwrap(),
        }
    }
    fn party(&self) -> Party {
        Party {
            account: self.account.clone(),
            name: self.name.to_owned(),
            role: self.role,
        }
    }
    fn fp(&self) -> Fingerprint {
        self.keys.fingerprint()
    }
    fn vk(&self) -> VerifyingKey {
        self.keys.verifying_key()
    }
    fn age(&self) -> age::x25519::Recipient {
        self.keys.age_identity().to_public()
    }
}

/// One case: its treating, occupational and advising physicians, and a stranger.
struct World {
    t: Doc,
    o: Doc,
    a: Doc,
    x: Doc,
}

impl World {
    fn new() -> World {
        World {
            t: Doc::new(TREATING, Role::Treating, "Dr. An Peeters"),
            o: Doc::new(OCCUPATIONAL, Role::Occupational, "Dr. Luc Janssens"),
            a: Doc::new(ADVISING, Role::Advising, "Dr. Marie Dubois"),
            x: Doc::new(STRANGER, Role::Occupational, "Dr. Stranger"),
        }
    }

    fn doc(&self, who: Who) -> &Doc {
        match who {
            Who::Treating => &self.t,
            Who::Occupational => &self.o,
            Who::Advising => &self.a,
        }
    }

    /// A well-formed first version to `to`: the treating physician sends functional fields
    /// to the work side; the work side sends feedback to the treating physician.
    fn consent(&self, id: u8, to: &Doc) -> Consent {
        let (senders, fields) = if to.role == Role::Treating {
            (
                vec![self.o.party(), self.a.party()],
                fids(&[DEMANDS, PLAN, NEXT]),
            )
        } else {
            (vec![self.t.party()], fids(&[HOURS, FATIGUE, ADAPT, NEXT]))
        };
        rehash(Consent {
            consent_id: cid(id),
            supersedes: None,
            case_id: case_id(),
            patient: patient(),
            recipient: to.account.clone(),
            recipient_fingerprint: to.fp(),
            recipient_name: to.name.to_owned(),
            recipient_role: to.role,
            senders,
            kinds: to.role.receivable_kinds(),
            fields,
            share_medically: Vec::new(),
            purpose: Purpose::ReturnToWork,
            valid_from: FROM,
            valid_until: UNTIL,
            lang: Lang::En,
            text_sha256: String::new(),
        })
    }

    /// v1 <- v2 <- v3 to the occupational physician, same terms, accepted at ACC1..ACC3.
    fn line(&self) -> Vec<Version> {
        let c1 = self.consent(V1, &self.o);
        let c2 = successor(&c1, V2);
        let c3 = successor(&c2, V3);
        vec![version(c1, ACC1), version(c2, ACC2), version(c3, ACC3)]
    }

    /// v1 to the occupational physician, and v2 (accepted at ACC2) with `edit` applied.
    fn v1_then_v2(&self, edit: impl FnOnce(&mut Consent)) -> Vec<Version> {
        let c1 = self.consent(V1, &self.o);
        let mut c2 = successor(&c1, V2);
        edit(&mut c2);
        vec![version(c1, ACC1), version(rehash(c2), ACC2)]
    }

    /// A bilan from the treating to the occupational physician under `consent`, created at
    /// SENT, carrying `fields` (the manifest hashes are placeholders: deciding on delivery
    /// does not look at ciphertexts).
    fn msg(&self, consent: u8, fields: &[&str]) -> EnvelopeHeader {
        EnvelopeHeader {
            message_id: mid(1),
            created_at: SENT,
            kind: MessageKind::Bilan,
            case_id: case_id(),
            sender: self.t.account.clone(),
            recipient: self.o.account.clone(),
            recipient_fingerprint: self.o.fp(),
            consent_id: cid(consent),
            manifest: fids(fields)
                .into_iter()
                .map(|field| ManifestEntry {
                    field,
                    sha256: "0".repeat(64),
                })
                .collect(),
            leak_guard_override: false,
        }
    }

    fn case_facts(&self) -> CaseFacts {
        CaseFacts {
            case_id: case_id(),
            treating: self.t.account.clone(),
            active: vec![self.o.account.clone(), self.a.account.clone()],
        }
    }
}

/// The next version of `prev`: same terms, names `prev` as the one it replaces.
fn successor(prev: &Consent, id: u8) -> Consent {
    let mut c = prev.clone();
    c.consent_id = cid(id);
    c.supersedes = Some(prev.consent_id.clone());
    rehash(c)
}

fn version(consent: Consent, accepted_at: i64) -> Version {
    Version {
        consent,
        revoked_at: None,
        accepted_at,
        replaced_unseen: false,
    }
}

fn revoked(consent: Consent, accepted_at: i64, revoked_at: i64) -> Version {
    Version {
        consent,
        revoked_at: Some(revoked_at),
        accepted_at,
        replaced_unseen: false,
    }
}

fn chain(versions: Vec<Version>) -> Chain {
    Chain::new(&case_id(), &patient(), versions).unwrap()
}

fn revoke(id: u8) -> Revocation {
    Revocation {
        consent_id: cid(id),
        case_id: case_id(),
        patient: patient(),
        revoked_at: NOW,
    }
}

fn id_of(v: Option<&Version>) -> Option<ConsentId> {
    v.map(|v| v.consent.consent_id.clone())
}

/// Replaces the envelope's signed header by `edit` of it, signed by the treating physician.
fn resign(w: &World, env: &mut Envelope, edit: impl FnOnce(&mut EnvelopeHeader)) {
    let mut h: EnvelopeHeader = env.header.parse_unverified().unwrap();
    edit(&mut h);
    env.header = Signed::sign(&h, w.t.keys.signing_key()).unwrap();
}

fn flip_last_byte(bytes: &mut [u8]) {
    if let Some(b) = bytes.last_mut() {
        *b ^= 1;
    }
}

/// Builds a case's consents for one row.
type Versions = fn(&World) -> Vec<Version>;

// ---- 1. Chain::new --------------------------------------------------------------------------

struct ChainRow {
    name: &'static str,
    versions: Versions,
    want: Result<(), ChainError>,
}

#[test]
fn chain_new_accepts_one_history_and_refuses_the_rest() {
    let w = World::new();
    let rows = vec![
        ChainRow {
            name: "three_version_line",
            versions: |w| w.line(),
            want: Ok(()),
        },
        ChainRow {
            name: "case_without_consents",
            versions: |_| Vec::new(),
            want: Ok(()),
        },
        ChainRow {
            name: "one_line_per_recipient",
            versions: |w| {
                let mut v = w.line();
                v.push(version(w.consent(A1, &w.a), ACC1));
                v.push(version(w.consent(T1, &w.t), ACC2));
                v
            },
            want: Ok(()),
        },
        ChainRow {
            name: "new_line_after_revocation",
            versions: |w| {
                vec![
                    revoked(w.consent(V1, &w.o), ACC1, ACC2),
                    version(w.consent(N1, &w.o), ACC2 + 1),
                ]
            },
            want: Ok(()),
        },
        ChainRow {
            name: "new_line_after_revoking_the_head_of_a_line",
            versions: |w| {
                let mut v = w.line();
                v[2].revoked_at = Some(LATER);
                v.push(version(w.consent(N1, &w.o), LATER + 1));
                v
            },
            want: Ok(()),
        },
        ChainRow {
            name: "two_revoked_lines_and_no_head",
            versions: |w| {
                vec![
                    revoked(w.consent(V1, &w.o), ACC1, ACC2),
                    revoked(w.consent(N1, &w.o), ACC2, ACC3),
                ]
            },
            want: Ok(()),
        },
        ChainRow {
            name: "fail_foreign_case",
            versions: |w| {
                let mut v = w.line();
                v[1].consent.case_id = case(2);
                v
            },
            want: Err(ChainError::Foreign(cid(V2))),
        },
        ChainRow {
            name: "fail_foreign_patient",
            versions: |w| {
                let mut v = w.line();
                v[2].consent.patient = acc(9);
                v
            },
            want: Err(ChainError::Foreign(cid(V3))),
        },
        ChainRow {
            name: "fail_duplicate_id",
            versions: |w| {
                let mut v = w.line();
                v.push(v[0].clone());
                v
            },
            want: Err(ChainError::Duplicate(cid(V1))),
        },
        ChainRow {
            name: "fail_duplicate_id_for_another_recipient",
            versions: |w| {
                vec![
                    version(w.consent(V1, &w.o), ACC1),
                    version(w.consent(V1, &w.a), ACC1),
                ]
            },
            want: Err(ChainError::Duplicate(cid(V1))),
        },
        ChainRow {
            name: "fail_dangling_supersedes",
            versions: |w| vec![version(successor(&w.consent(V1, &w.o), V2), ACC2)],
            want: Err(ChainError::DanglingSupersedes(cid(V2))),
        },
        ChainRow {
            name: "fail_cross_recipient_supersedes",
            versions: |w| {
                let mut c = w.consent(V2, &w.o);
                c.supersedes = Some(cid(A1));
                vec![version(w.consent(A1, &w.a), ACC1), version(rehash(c), ACC2)]
            },
            want: Err(ChainError::CrossRecipient(cid(V2))),
        },
        ChainRow {
            name: "fail_fork",
            versions: |w| {
                let c1 = w.consent(V1, &w.o);
                vec![
                    version(successor(&c1, V2), ACC2),
                    version(successor(&c1, V3), ACC3),
                    version(c1, ACC1),
                ]
            },
            want: Err(ChainError::Fork(cid(V1))),
        },
        ChainRow {
            name: "fail_fork_of_a_revoked_version",
            versions: |w| {
                let c1 = w.consent(V1, &w.o);
                vec![
                    revoked(c1.clone(), ACC1, ACC2),
                    revoked(successor(&c1, V2), ACC2, ACC3),
                    revoked(successor(&c1, V3), ACC3, LATER),
                ]
            },
            want: Err(ChainError::Fork(cid(V1))),
        },
        ChainRow {
            name: "fail_two_open_heads",
            versions: |w| {
                vec![
                    version(w.consent(V1, &w.o), ACC1),
                    version(w.consent(N1, &w.o), ACC2),
                ]
            },
            want: Err(ChainError::TwoHeads(acc(OCCUPATIONAL))),
        },
        ChainRow {
            name: "fail_new_line_beside_an_open_line",
            versions: |w| {
                let mut v = w.line();
                v.push(version(w.consent(N1, &w.o), LATER));
                v
            },
            want: Err(ChainError::TwoHeads(acc(OCCUPATIONAL))),
        },
    ];
    let mut t = Table::new("Chain::new");
    for row in rows {
        let got = Chain::new(&case_id(), &patient(), (row.versions)(&w)).map(|_| ());
        t.check(row.name, got, row.want);
    }
    t.done();
}

#[test]
fn chain_new_refuses_a_cycle() {
    let w = World::new();
    // No variant names a cycle yet: any refusal will do.
    let rows: Vec<(&'static str, Versions)> = vec![
        ("fail_version_replaces_itself", |w| {
            let mut c = w.consent(V1, &w.o);
            c.supersedes = Some(cid(V1));
            vec![version(rehash(c), ACC1)]
        }),
        ("fail_two_versions_replace_each_other", |w| {
            let mut c1 = w.consent(V1, &w.o);
            c1.supersedes = Some(cid(V2));
            let c2 = successor(&c1, V2);
            vec![version(rehash(c1), ACC1), version(c2, ACC2)]
        }),
    ];
    let mut t = Table::new("Chain::new cycles");
    for (name, versions) in rows {
        let got = Chain::new(&case_id(), &patient(), versions(&w)).is_err();
        t.check(name, got, true);
    }
    t.done();
}

// ---- 2. current, head, successor, standing ------------------------------------------------

/// The line v1 <- v2 <- v3 with v3 revoked at LATER.
fn revoked_line(w: &World) -> Vec<Version> {
    let mut v = w.line();
    v[2].revoked_at = Some(LATER);
    v
}

struct QueryRow {
    name: &'static str,
    versions: Versions,
    query: fn(&World, &Chain) -> Option<ConsentId>,
    want: Option<u8>,
}

#[test]
fn chain_current_head_and_successor() {
    let w = World::new();
    let line: Versions = |w| w.line();
    let after_new_line: Versions = |w| {
        let mut v = revoked_line(w);
        v.push(version(w.consent(N1, &w.o), LATER + 1));
        v
    };
    let rows = vec![
        QueryRow {
            name: "current_is_v3",
            versions: line,
            query: |w, c| id_of(c.current(&w.o.account)),
            want: Some(V3),
        },
        QueryRow {
            name: "current_of_someone_without_consent",
            versions: line,
            query: |w, c| id_of(c.current(&w.a.account)),
            want: None,
        },
        QueryRow {
            name: "head_of_v1",
            versions: line,
            query: |_, c| id_of(c.head(&cid(V1))),
            want: Some(V3),
        },
        QueryRow {
            name: "head_of_v2",
            versions: line,
            query: |_, c| id_of(c.head(&cid(V2))),
            want: Some(V3),
        },
        QueryRow {
            name: "head_of_v3",
            versions: line,
            query: |_, c| id_of(c.head(&cid(V3))),
            want: Some(V3),
        },
        QueryRow {
            name: "head_of_unknown",
            versions: line,
            query: |_, c| id_of(c.head(&cid(UNKNOWN))),
            want: None,
        },
        QueryRow {
            name: "successor_of_v1",
            versions: line,
            query: |_, c| id_of(c.successor(&cid(V1))),
            want: Some(V2),
        },
        QueryRow {
            name: "successor_of_v2",
            versions: line,
            query: |_, c| id_of(c.successor(&cid(V2))),
            want: Some(V3),
        },
        QueryRow {
            name: "successor_of_v3",
            versions: line,
            query: |_, c| id_of(c.successor(&cid(V3))),
            want: None,
        },
        QueryRow {
            name: "get_v2",
            versions: line,
            query: |_, c| id_of(c.get(&cid(V2))),
            want: Some(V2),
        },
        QueryRow {
            name: "revoked_v3_no_current",
            versions: revoked_line,
            query: |w, c| id_of(c.current(&w.o.account)),
            want: None,
        },
        QueryRow {
            name: "revoked_v3_still_head_of_v1",
            versions: revoked_line,
            query: |_, c| id_of(c.head(&cid(V1))),
            want: Some(V3),
        },
        QueryRow {
            name: "revoked_v3_successor_of_v2_unchanged",
            versions: revoked_line,
            query: |_, c| id_of(c.successor(&cid(V2))),
            want: Some(V3),
        },
        QueryRow {
            name: "new_line_is_current",
            versions: after_new_line,
            query: |w, c| id_of(c.current(&w.o.account)),
            want: Some(N1),
        },
        QueryRow {
            name: "new_line_does_not_continue_the_old",
            versions: after_new_line,
            query: |_, c| id_of(c.head(&cid(V1))),
            want: Some(V3),
        },
    ];
    let mut t = Table::new("chain queries");
    for row in rows {
        let c = chain((row.versions)(&w));
        t.check(row.name, (row.query)(&w, &c), row.want.map(cid));
    }
    t.done();
}

struct StandingRow {
    name: &'static str,
    versions: Versions,
    id: u8,
    want: Standing,
}

#[test]
fn chain_standing() {
    let w = World::new();
    let line: Versions = |w| w.line();
    let rows = vec![
        StandingRow {
            name: "v1_replaced_when_v2_was_accepted",
            versions: line,
            id: V1,
            want: Standing {
                revoked_at: None,
                superseded_at: Some(ACC2),
            },
        },
        StandingRow {
            name: "v2_replaced_when_v3_was_accepted",
            versions: line,
            id: V2,
            want: Standing {
                revoked_at: None,
                superseded_at: Some(ACC3),
            },
        },
        StandingRow {
            name: "v3_stands",
            versions: line,
            id: V3,
            want: Standing::default(),
        },
        StandingRow {
            name: "unknown_has_no_history",
            versions: line,
            id: UNKNOWN,
            want: Standing::default(),
        },
        StandingRow {
            name: "revoked_v3",
            versions: revoked_line,
            id: V3,
            want: Standing {
                revoked_at: Some(LATER),
                superseded_at: None,
            },
        },
        StandingRow {
            name: "revoking_v3_leaves_v1_replaced",
            versions: revoked_line,
            id: V1,
            want: Standing {
                revoked_at: None,
                superseded_at: Some(ACC2),
            },
        },
    ];
    let mut t = Table::new("Chain::standing");
    for row in rows {
        let c = chain((row.versions)(&w));
        t.check(row.name, c.standing(&cid(row.id)), row.want);
    }
    t.done();

    // The line's revocation, by the one time rule.
    let rows: Vec<(&'static str, Versions, u8, i64, bool)> = vec![
        ("line_revoked_at_the_second", revoked_line, V1, LATER, true),
        ("line_revoked_before", revoked_line, V2, LATER + 1, true),
        ("line_not_yet_revoked", revoked_line, V1, LATER - 1, false),
        ("line_never_revoked", line, V1, LATER, false),
        ("unknown_never_revoked", revoked_line, UNKNOWN, LATER, false),
    ];
    let mut t = Table::new("Chain::head_revoked_by");
    for (name, versions, id, at, want) in rows {
        t.check(
            name,
            chain(versions(&w)).head_revoked_by(&cid(id), at),
            want,
        );
    }
    t.done();
}

// ---- 3. check_new -----------------------------------------------------------------------------

struct NewRow {
    name: &'static str,
    versions: Versions,
    new: fn(&World) -> Consent,
    want: Result<Option<u8>, NewVersionRefusal>,
}

#[test]
fn chain_check_new() {
    let w = World::new();
    let line: Versions = |w| w.line();
    let v1_revoked: Versions = |w| vec![revoked(w.consent(V1, &w.o), ACC1, ACC2)];
    let rows = vec![
        NewRow {
            name: "first_version_names_nothing",
            versions: |_| Vec::new(),
            new: |w| w.consent(V1, &w.o),
            want: Ok(None),
        },
        NewRow {
            name: "names_the_current_head",
            versions: line,
            new: |w| {
                let mut c = w.consent(N1, &w.o);
                c.supersedes = Some(cid(V3));
                c
            },
            want: Ok(Some(V3)),
        },
        NewRow {
            name: "first_version_for_another_recipient",
            versions: line,
            new: |w| w.consent(A1, &w.a),
            want: Ok(None),
        },
        NewRow {
            name: "new_line_after_revocation",
            versions: v1_revoked,
            new: |w| w.consent(N1, &w.o),
            want: Ok(None),
        },
        NewRow {
            name: "new_line_after_revoking_the_head",
            versions: revoked_line,
            new: |w| w.consent(N1, &w.o),
            want: Ok(None),
        },
        NewRow {
            name: "fail_names_an_old_version",
            versions: line,
            new: |w| {
                let mut c = w.consent(N1, &w.o);
                c.supersedes = Some(cid(V1));
                c
            },
            want: Err(NewVersionRefusal::BadSupersedes {
                current: Some(cid(V3)),
            }),
        },
        NewRow {
            name: "fail_names_nothing_while_a_version_is_current",
            versions: line,
            new: |w| w.consent(N1, &w.o),
            want: Err(NewVersionRefusal::BadSupersedes {
                current: Some(cid(V3)),
            }),
        },
        NewRow {
            name: "fail_names_something_when_nothing_is_current",
            versions: |_| Vec::new(),
            new: |w| {
                let mut c = w.consent(V1, &w.o);
                c.supersedes = Some(cid(UNKNOWN));
                c
            },
            want: Err(NewVersionRefusal::BadSupersedes { current: None }),
        },
        NewRow {
            name: "fail_names_the_revoked_version",
            versions: v1_revoked,
            new: |w| successor(&w.consent(V1, &w.o), N1),
            want: Err(NewVersionRefusal::BadSupersedes { current: None }),
        },
        NewRow {
            name: "fail_names_another_recipients_current",
            versions: line,
            new: |w| {
                let mut c = w.consent(A1, &w.a);
                c.supersedes = Some(cid(V3));
                c
            },
            want: Err(NewVersionRefusal::BadSupersedes { current: None }),
        },
        NewRow {
            name: "fail_reuses_the_current_id",
            versions: line,
            new: |w| {
                let mut c = w.consent(V3, &w.o);
                c.supersedes = Some(cid(V3));
                c
            },
            want: Err(NewVersionRefusal::Exists),
        },
        NewRow {
            name: "fail_reuses_an_old_id",
            versions: line,
            new: |w| {
                let mut c = w.consent(V1, &w.o);
                c.supersedes = Some(cid(V3));
                c
            },
            want: Err(NewVersionRefusal::Exists),
        },
        NewRow {
            name: "fail_reuses_an_id_of_another_recipient",
            versions: line,
            new: |w| w.consent(V1, &w.a),
            want: Err(NewVersionRefusal::Exists),
        },
    ];
    let mut t = Table::new("Chain::check_new");
    for row in rows {
        let c = chain((row.versions)(&w));
        let got = c.check_new(&(row.new)(&w)).map(|replaced| id_of(replaced));
        t.check(row.name, got, row.want.map(|o| o.map(cid)));
    }
    t.done();
}

// ---- 4. check_revocation ------------------------------------------------------------------

struct RevocationRow {
    name: &'static str,
    versions: Versions,
    revocation: fn() -> Revocation,
    want: Result<u8, RevocationRefusal>,
}

#[test]
fn chain_check_revocation() {
    let w = World::new();
    let single: Versions = |w| vec![version(w.consent(V1, &w.o), ACC1)];
    let line: Versions = |w| w.line();
    let rows = vec![
        RevocationRow {
            name: "current_single_version",
            versions: single,
            revocation: || revoke(V1),
            want: Ok(V1),
        },
        RevocationRow {
            name: "current_head_of_a_line",
            versions: line,
            revocation: || revoke(V3),
            want: Ok(V3),
        },
        RevocationRow {
            name: "fail_unknown_consent",
            versions: line,
            revocation: || revoke(UNKNOWN),
            want: Err(RevocationRefusal::UnknownConsent),
        },
        RevocationRow {
            name: "fail_other_case",
            versions: single,
            revocation: || Revocation {
                case_id: case(2),
                ..revoke(V1)
            },
            want: Err(RevocationRefusal::Mismatch),
        },
        RevocationRow {
            name: "fail_other_patient",
            versions: single,
            revocation: || Revocation {
                patient: acc(9),
                ..revoke(V1)
            },
            want: Err(RevocationRefusal::Mismatch),
        },
        RevocationRow {
            name: "fail_already_revoked",
            versions: revoked_line,
            revocation: || revoke(V3),
            want: Err(RevocationRefusal::AlreadyRevoked),
        },
        RevocationRow {
            name: "fail_superseded_v1",
            versions: line,
            revocation: || revoke(V1),
            want: Err(RevocationRefusal::Superseded),
        },
        RevocationRow {
            name: "fail_superseded_v2",
            versions: line,
            revocation: || revoke(V2),
            want: Err(RevocationRefusal::Superseded),
        },
    ];
    let mut t = Table::new("Chain::check_revocation");
    for row in rows {
        let c = chain((row.versions)(&w));
        let got = c
            .check_revocation(&(row.revocation)())
            .map(|v| v.consent.consent_id.clone());
        t.check(row.name, got, row.want.map(cid));
    }
    t.done();
}

// ---- 5. The one time rule ---------------------------------------------------------------------

#[test]
fn one_time_rule_and_inclusive_period() {
    let t0 = NOW;
    let rows: Vec<(&'static str, Option<i64>, i64, bool)> = vec![
        ("same_second_counts", Some(t0), t0, true),
        ("a_second_before", Some(t0 - 1), t0, true),
        ("a_second_after_does_not", Some(t0 + 1), t0, false),
        ("nothing_happened", None, t0, false),
        ("earliest_time", Some(i64::MIN), i64::MIN, true),
        ("latest_time", Some(i64::MAX), i64::MIN, false),
    ];
    let mut t = Table::new("happened_by");
    for (name, event, at, want) in rows {
        t.check(name, happened_by(event, at), want);
    }
    t.done();

    let w = World::new();
    let c = w.consent(V1, &w.o);
    let rows: Vec<(&'static str, i64, Result<(), Refusal>)> = vec![
        ("first_second", FROM, Ok(())),
        ("last_second", UNTIL, Ok(())),
        ("inside", SENT, Ok(())),
        ("fail_a_second_early", FROM - 1, Err(Refusal::NotYetValid)),
        ("fail_a_second_late", UNTIL + 1, Err(Refusal::Expired)),
        ("fail_earliest_time", i64::MIN, Err(Refusal::NotYetValid)),
        ("fail_latest_time", i64::MAX, Err(Refusal::Expired)),
    ];
    let mut t = Table::new("in_period");
    for (name, at, want) in rows {
        t.check(name, in_period(&c, at), want);
    }
    t.done();

    // Standing applies the same rule to revocation, replacement and expiry.
    let s = Standing {
        revoked_at: Some(LATER),
        superseded_at: Some(ACC2),
    };
    let rows: Vec<(&'static str, Standing, i64, Result<(), Refusal>)> = vec![
        ("stands_before_replacement", s.clone(), ACC2 - 1, Ok(())),
        (
            "fail_replaced_from_the_second",
            s.clone(),
            ACC2,
            Err(Refusal::Superseded),
        ),
        (
            "fail_revoked_from_the_second",
            s.clone(),
            LATER,
            Err(Refusal::Revoked),
        ),
        (
            "fail_revoked_only",
            Standing {
                revoked_at: Some(NOW),
                superseded_at: None,
            },
            NOW,
            Err(Refusal::Revoked),
        ),
        ("nothing_happened", Standing::default(), i64::MAX, Ok(())),
    ];
    let mut t = Table::new("Standing::check");
    for (name, standing, at, want) in rows {
        t.check(name, standing.check(at), want);
    }
    t.done();

    let rows: Vec<(&'static str, i64, Result<(), Refusal>)> = vec![
        ("live_last_second", UNTIL, Ok(())),
        (
            "fail_expired_a_second_later",
            UNTIL + 1,
            Err(Refusal::Expired),
        ),
    ];
    let mut t = Table::new("Standing::live_at");
    for (name, at, want) in rows {
        t.check(name, Standing::default().live_at(UNTIL, at), want);
    }
    t.done();
}

// ---- 6. deliverable -----------------------------------------------------------------------------

struct DeliverRow {
    name: &'static str,
    versions: Versions,
    header: fn(&World) -> EnvelopeHeader,
    at: i64,
    want: Result<(), Refusal>,
}

/// The message of the deliverable and receive tables: a bilan under v1 with two fields.
fn under_v1(w: &World) -> EnvelopeHeader {
    w.msg(V1, &[HOURS, FATIGUE])
}

fn only_v1(w: &World) -> Vec<Version> {
    vec![version(w.consent(V1, &w.o), ACC1)]
}

fn without(c: &mut Consent, field: &str) {
    c.fields.retain(|f| f.as_str() != field);
}

fn deliverable_rows() -> Vec<DeliverRow> {
    vec![
        DeliverRow {
            name: "only_version",
            versions: only_v1,
            header: under_v1,
            at: NOW,
            want: Ok(()),
        },
        DeliverRow {
            name: "v2_same_fields",
            versions: |w| w.v1_then_v2(|_| {}),
            header: under_v1,
            at: LATER,
            want: Ok(()),
        },
        DeliverRow {
            name: "v2_adds_a_field",
            versions: |w| w.v1_then_v2(|c| c.fields.push(fid(PHYSICAL))),
            header: under_v1,
            at: LATER,
            want: Ok(()),
        },
        DeliverRow {
            name: "v2_drops_a_field_the_message_does_not_carry",
            versions: |w| w.v1_then_v2(|c| without(c, ADAPT)),
            header: under_v1,
            at: LATER,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_v2_drops_a_carried_field",
            versions: |w| w.v1_then_v2(|c| without(c, FATIGUE)),
            header: under_v1,
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_v2_drops_a_carried_field_from_the_second_it_is_accepted",
            versions: |w| w.v1_then_v2(|c| without(c, FATIGUE)),
            header: under_v1,
            at: ACC2,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            // `deliverable` judges by the newest version of the line, whenever it was
            // accepted; a copy the recipient already holds is not judged again (Receipt::Kept).
            name: "fail_newest_version_applies_even_if_accepted_after_at",
            versions: |w| w.v1_then_v2(|c| without(c, FATIGUE)),
            header: under_v1,
            at: ACC2 - 1,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_v2_removes_the_sender",
            versions: |w| w.v1_then_v2(|c| c.senders = vec![w.a.party()]),
            header: under_v1,
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_v2_drops_the_kind",
            versions: |w| w.v1_then_v2(|c| c.kinds = vec![MessageKind::Request]),
            header: under_v1,
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_v2_names_a_new_recipient_key",
            versions: |w| w.v1_then_v2(|c| c.recipient_fingerprint = w.x.fp()),
            header: under_v1,
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_v3_drops_a_carried_field",
            versions: |w| {
                let mut v = w.line();
                without(&mut v[2].consent, FATIGUE);
                v
            },
            header: under_v1,
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "message_under_v2_covered_by_v3",
            versions: |w| w.line(),
            header: |w| EnvelopeHeader {
                created_at: ACC2 + DAY,
                ..w.msg(V2, &[HOURS, FATIGUE])
            },
            at: LATER,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_head_revoked_before_at",
            versions: |w| {
                let mut v = w.v1_then_v2(|_| {});
                v[1].revoked_at = Some(LATER - 1);
                v
            },
            header: under_v1,
            at: LATER,
            want: Err(Refusal::Revoked),
        },
        DeliverRow {
            name: "fail_head_revoked_at_the_same_second",
            versions: |w| {
                let mut v = w.v1_then_v2(|_| {});
                v[1].revoked_at = Some(LATER);
                v
            },
            header: under_v1,
            at: LATER,
            want: Err(Refusal::Revoked),
        },
        DeliverRow {
            name: "head_revoked_after_at",
            versions: |w| {
                let mut v = w.v1_then_v2(|_| {});
                v[1].revoked_at = Some(LATER + 1);
                v
            },
            header: under_v1,
            at: LATER,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_own_version_revoked",
            versions: |w| vec![revoked(w.consent(V1, &w.o), ACC1, NOW)],
            header: under_v1,
            at: NOW,
            want: Err(Refusal::Revoked),
        },
        DeliverRow {
            name: "own_version_revoked_after_at",
            versions: |w| vec![revoked(w.consent(V1, &w.o), ACC1, NOW + 1)],
            header: under_v1,
            at: NOW,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_a_new_line_does_not_continue_a_revoked_one",
            versions: |w| {
                vec![
                    revoked(w.consent(V1, &w.o), ACC1, ACC2),
                    version(w.consent(N1, &w.o), ACC2 + 1),
                ]
            },
            header: under_v1,
            at: LATER,
            want: Err(Refusal::Revoked),
        },
        DeliverRow {
            name: "at_the_heads_last_second",
            versions: only_v1,
            header: under_v1,
            at: UNTIL,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_after_the_heads_valid_until",
            versions: only_v1,
            header: under_v1,
            at: UNTIL + 1,
            want: Err(Refusal::Expired),
        },
        DeliverRow {
            name: "v2_extends_the_period",
            versions: |w| w.v1_then_v2(|c| c.valid_until = UNTIL + 30 * DAY),
            header: under_v1,
            at: UNTIL + 1,
            want: Ok(()),
        },
        DeliverRow {
            name: "fail_v2_shortens_the_period",
            versions: |w| w.v1_then_v2(|c| c.valid_until = LATER - 1),
            header: under_v1,
            at: LATER,
            want: Err(Refusal::Expired),
        },
        DeliverRow {
            name: "fail_created_before_its_consents_period",
            versions: only_v1,
            header: |w| EnvelopeHeader {
                created_at: FROM - 1,
                ..under_v1(w)
            },
            at: NOW,
            want: Err(Refusal::NotYetValid),
        },
        DeliverRow {
            name: "fail_created_after_its_consents_period_though_v2_extends_it",
            versions: |w| w.v1_then_v2(|c| c.valid_until = UNTIL + 30 * DAY),
            header: |w| EnvelopeHeader {
                created_at: UNTIL + 1,
                ..under_v1(w)
            },
            at: UNTIL + 2,
            want: Err(Refusal::Expired),
        },
        DeliverRow {
            name: "fail_never_covered_by_its_own_consent",
            versions: |w| w.v1_then_v2(|c| c.fields.push(fid(PHYSICAL))),
            header: |w| w.msg(V1, &[HOURS, PHYSICAL]),
            at: LATER,
            want: Err(Refusal::NoLongerCovered),
        },
        DeliverRow {
            name: "fail_sender_not_in_its_own_consent",
            versions: only_v1,
            header: |w| EnvelopeHeader {
                sender: w.a.account.clone(),
                ..under_v1(w)
            },
            at: NOW,
            want: Err(Refusal::SenderNotAllowed),
        },
        DeliverRow {
            name: "fail_unknown_consent",
            versions: only_v1,
            header: |w| w.msg(UNKNOWN, &[HOURS]),
            at: NOW,
            want: Err(Refusal::WrongRecipient),
        },
        DeliverRow {
            name: "fail_consent_to_another_recipient",
            versions: |w| {
                vec![
                    version(w.consent(V1, &w.o), ACC1),
                    version(w.consent(A1, &w.a), ACC1),
                ]
            },
            header: |w| w.msg(A1, &[HOURS]),
            at: NOW,
            want: Err(Refusal::WrongRecipient),
        },
    ]
}

#[test]
fn deliverable_keeps_what_the_newest_version_still_allows() {
    let w = World::new();
    let mut t = Table::new("deliverable");
    for row in deliverable_rows() {
        let c = chain((row.versions)(&w));
        t.check(
            row.name,
            deliverable(&c, &(row.header)(&w), row.at),
            row.want,
        );
    }
    t.done();
}

// ---- 7. admit -----------------------------------------------------------------------------------

/// The facts of one admission, and the envelope to build: base is a valid bilan from the
/// treating to the occupational physician under v1.
struct Admission {
    session: (AccountId, Role),
    sender_key: VerifyingKey,
    id_seen: bool,
    now: i64,
    case: Option<CaseFacts>,
    recipient_fingerprint: Option<Fingerprint>,
    versions: Vec<Version>,
    /// Who signs the header, and to whose key the fields are encrypted.
    signer: Who,
    to: Who,
    header: EnvelopeHeader,
    values: Vec<(FieldId, Value)>,
    /// Applied to the sealed envelope: what happens to it on the way.
    after_seal: fn(&World, &mut Envelope),
}

impl Admission {
    fn base(w: &World) -> Admission {
        Admission {
            session: (w.t.account.clone(), Role::Treating),
            sender_key: w.t.vk(),
            id_seen: false,
            now: NOW,
            case: Some(w.case_facts()),
            recipient_fingerprint: Some(w.o.fp()),
            versions: only_v1(w),
            signer: Who::Treating,
            to: Who::Occupational,
            header: w.msg(V1, &[]),
            values: values(&[HOURS, FATIGUE]),
            after_seal: |_, _| {},
        }
    }

    /// Changes the terms of v1 (the patient signed other terms).
    fn edit_v1(&mut self, edit: impl FnOnce(&mut Consent)) {
        let mut c = self.versions[0].consent.clone();
        edit(&mut c);
        self.versions[0].consent = rehash(c);
    }

    fn run(&self, w: &World) -> Result<EnvelopeHeader, AdmitRefusal> {
        let mut env = seal(
            &w.doc(self.signer).keys,
            self.header.clone(),
            &[w.doc(self.to).age()],
            &self.values,
        )
        .unwrap();
        (self.after_seal)(w, &mut env);
        let chain = chain(self.versions.clone());
        let facts = AdmissionFacts {
            session: (&self.session.0, self.session.1),
            sender_key: &self.sender_key,
            id_seen: self.id_seen,
            now: self.now,
            case: self.case.as_ref(),
            recipient_fingerprint: self.recipient_fingerprint.as_ref(),
            chain: &chain,
        };
        admit(&facts, &env)
    }
}

struct AdmitRow {
    name: &'static str,
    setup: fn(&World, &mut Admission),
    /// Ok, or the refusal's stable code.
    want: Result<(), &'static str>,
}

fn admit_rows() -> Vec<AdmitRow> {
    vec![
        AdmitRow {
            name: "valid",
            setup: |_, _| {},
            want: Ok(()),
        },
        AdmitRow {
            name: "created_at_max_skew_behind",
            setup: |_, s| s.now = SENT + MAX_CLOCK_SKEW,
            want: Ok(()),
        },
        AdmitRow {
            name: "created_at_max_skew_ahead",
            setup: |_, s| s.now = SENT - MAX_CLOCK_SKEW,
            want: Ok(()),
        },
        AdmitRow {
            name: "consents_last_second",
            setup: |_, s| s.edit_v1(|c| c.valid_until = NOW),
            want: Ok(()),
        },
        AdmitRow {
            name: "revoked_a_second_after_now",
            setup: |_, s| s.versions[0].revoked_at = Some(NOW + 1),
            want: Ok(()),
        },
        AdmitRow {
            name: "feedback_from_occupational_to_treating",
            setup: |w, s| {
                s.session = (w.o.account.clone(), Role::Occupational);
                s.sender_key = w.o.vk();
                s.signer = Who::Occupational;
                s.to = Who::Treating;
                s.recipient_fingerprint = Some(w.t.fp());
                s.versions.push(version(w.consent(T1, &w.t), ACC1));
                s.header = EnvelopeHeader {
                    kind: MessageKind::Feedback,
                    sender: w.o.account.clone(),
                    recipient: w.t.account.clone(),
                    recipient_fingerprint: w.t.fp(),
                    consent_id: cid(T1),
                    ..s.header.clone()
                };
                s.values = values(&[DEMANDS, NEXT]);
            },
            want: Ok(()),
        },
        AdmitRow {
            name: "request_to_advising",
            setup: |w, s| {
                s.to = Who::Advising;
                s.recipient_fingerprint = Some(w.a.fp());
                s.versions.push(version(w.consent(A1, &w.a), ACC1));
                s.header = EnvelopeHeader {
                    kind: MessageKind::Request,
                    recipient: w.a.account.clone(),
                    recipient_fingerprint: w.a.fp(),
                    consent_id: cid(A1),
                    ..s.header.clone()
                };
                s.values = values(&[NEXT]);
            },
            want: Ok(()),
        },
        // Malformed, then 1. role allowed to send this kind, as the logged-in account.
        AdmitRow {
            name: "fail_header_not_json",
            setup: |_, s| {
                s.after_seal = |w, e| {
                    e.header = Signed::sign_bytes(b"{not json".to_vec(), w.t.keys.signing_key())
                }
            },
            want: Err("malformed_json"),
        },
        AdmitRow {
            name: "fail_kind_forbidden_for_the_sessions_role",
            setup: |_, s| s.session.1 = Role::Occupational,
            want: Err("kind_forbidden"),
        },
        AdmitRow {
            name: "fail_kind_forbidden_patient_session",
            setup: |_, s| s.session.1 = Role::Patient,
            want: Err("kind_forbidden"),
        },
        AdmitRow {
            name: "fail_treating_sends_feedback",
            setup: |_, s| s.header.kind = MessageKind::Feedback,
            want: Err("kind_forbidden"),
        },
        AdmitRow {
            name: "fail_sender_is_not_the_session",
            setup: |w, s| s.session.0 = w.x.account.clone(),
            want: Err("sender_mismatch"),
        },
        // 2. Signature by the sender's registered key.
        AdmitRow {
            name: "fail_signed_by_another_key",
            setup: |_, s| {
                s.after_seal = |w, e| {
                    e.header =
                        Signed::sign_bytes(e.header.payload.0.clone(), w.x.keys.signing_key())
                }
            },
            want: Err("bad_envelope_signature"),
        },
        AdmitRow {
            name: "fail_registered_key_is_another",
            setup: |w, s| s.sender_key = w.x.vk(),
            want: Err("bad_envelope_signature"),
        },
        AdmitRow {
            name: "fail_signature_bit_flipped",
            setup: |_, s| s.after_seal = |_, e| flip_last_byte(&mut e.header.sig.0),
            want: Err("bad_envelope_signature"),
        },
        AdmitRow {
            name: "fail_empty_manifest",
            setup: |_, s| {
                s.after_seal = |w, e| {
                    resign(w, e, |h| h.manifest.clear());
                    e.fields.clear();
                }
            },
            want: Err("envelope_empty"),
        },
        AdmitRow {
            name: "fail_field_twice_in_manifest",
            setup: |_, s| {
                s.after_seal = |w, e| {
                    resign(w, e, |h| {
                        let first = h.manifest[0].clone();
                        h.manifest.push(first);
                    })
                }
            },
            want: Err("duplicate_field"),
        },
        // 3. Message id new.
        AdmitRow {
            name: "fail_replayed_id",
            setup: |_, s| s.id_seen = true,
            want: Err("message_replayed"),
        },
        // 4. Created-at within the skew.
        AdmitRow {
            name: "fail_created_at_too_far_behind",
            setup: |_, s| s.now = SENT + MAX_CLOCK_SKEW + 1,
            want: Err("clock_skew"),
        },
        AdmitRow {
            name: "fail_created_at_too_far_ahead",
            setup: |_, s| s.now = SENT - MAX_CLOCK_SKEW - 1,
            want: Err("clock_skew"),
        },
        AdmitRow {
            name: "fail_created_at_i64_min",
            setup: |_, s| s.header.created_at = i64::MIN,
            want: Err("clock_skew"),
        },
        AdmitRow {
            name: "fail_created_at_i64_max",
            setup: |_, s| s.header.created_at = i64::MAX,
            want: Err("clock_skew"),
        },
        // 5. Case exists, sender and recipient are its active physicians, key is current.
        AdmitRow {
            name: "fail_unknown_case",
            setup: |_, s| s.case = None,
            want: Err("unknown_case"),
        },
        AdmitRow {
            name: "fail_case_facts_of_another_case",
            setup: |_, s| s.case.as_mut().unwrap().case_id = case(2),
            want: Err("unknown_case"),
        },
        AdmitRow {
            name: "fail_sender_not_active",
            setup: |w, s| {
                s.case = Some(CaseFacts {
                    case_id: case_id(),
                    treating: w.x.account.clone(),
                    active: vec![w.o.account.clone()],
                })
            },
            want: Err("unknown_case"),
        },
        AdmitRow {
            name: "fail_recipient_not_a_member",
            setup: |w, s| s.case.as_mut().unwrap().active = vec![w.a.account.clone()],
            want: Err("not_a_member"),
        },
        AdmitRow {
            name: "fail_recipient_is_the_sender",
            setup: |w, s| {
                s.to = Who::Treating;
                s.recipient_fingerprint = Some(w.t.fp());
                s.header.recipient = w.t.account.clone();
                s.header.recipient_fingerprint = w.t.fp();
            },
            want: Err("not_a_member"),
        },
        AdmitRow {
            name: "fail_recipient_key_mismatch",
            setup: |w, s| s.recipient_fingerprint = Some(w.x.fp()),
            want: Err("recipient_key_mismatch"),
        },
        AdmitRow {
            name: "fail_recipient_without_key",
            setup: |_, s| s.recipient_fingerprint = None,
            want: Err("recipient_key_mismatch"),
        },
        // 6. The consent.
        AdmitRow {
            name: "fail_consent_not_found",
            setup: |_, s| s.header.consent_id = cid(UNKNOWN),
            want: Err("consent_not_found"),
        },
        AdmitRow {
            name: "fail_consent_for_another_recipient",
            setup: |w, s| {
                s.versions.push(version(w.consent(A1, &w.a), ACC1));
                s.header.consent_id = cid(A1);
            },
            want: Err("consent_wrong_recipient"),
        },
        AdmitRow {
            name: "fail_consent_superseded",
            setup: |w, s| {
                s.versions = w.v1_then_v2(|_| {});
                s.versions[1].accepted_at = SENT - DAY;
            },
            want: Err("consent_superseded"),
        },
        AdmitRow {
            name: "fail_consent_superseded_this_second",
            setup: |w, s| {
                s.versions = w.v1_then_v2(|_| {});
                s.versions[1].accepted_at = NOW;
            },
            want: Err("consent_superseded"),
        },
        AdmitRow {
            name: "fail_consent_revoked",
            setup: |_, s| s.versions[0].revoked_at = Some(SENT - DAY),
            want: Err("consent_revoked"),
        },
        AdmitRow {
            name: "fail_consent_revoked_this_second",
            setup: |_, s| s.versions[0].revoked_at = Some(NOW),
            want: Err("consent_revoked"),
        },
        AdmitRow {
            name: "fail_consent_expired_at_the_servers_clock",
            setup: |_, s| s.edit_v1(|c| c.valid_until = NOW - 1),
            want: Err("consent_expired"),
        },
        AdmitRow {
            name: "fail_consent_not_yet_valid",
            setup: |_, s| s.edit_v1(|c| c.valid_from = NOW + 1),
            want: Err("consent_not_yet_valid"),
        },
        AdmitRow {
            name: "fail_created_before_the_consents_period",
            setup: |_, s| s.edit_v1(|c| c.valid_from = SENT + 1),
            want: Err("consent_not_yet_valid"),
        },
        AdmitRow {
            name: "fail_consent_signed_for_the_recipients_old_key",
            setup: |w, s| s.edit_v1(|c| c.recipient_fingerprint = w.x.fp()),
            want: Err("consent_key_changed"),
        },
        AdmitRow {
            name: "fail_sender_not_in_consent",
            setup: |w, s| s.edit_v1(|c| c.senders = vec![w.a.party()]),
            want: Err("consent_sender_not_allowed"),
        },
        AdmitRow {
            name: "fail_kind_not_in_consent",
            setup: |_, s| s.edit_v1(|c| c.kinds = vec![MessageKind::Request]),
            want: Err("consent_kind_not_allowed"),
        },
        // 7. Manifest within the consented fields.
        AdmitRow {
            name: "fail_field_not_consented",
            setup: |_, s| s.values = values(&[HOURS, PHYSICAL]),
            want: Err("field_not_consented"),
        },
        AdmitRow {
            name: "fail_medical_field_not_shared",
            setup: |_, s| s.values = values(&[HOURS, DIAGNOSIS]),
            want: Err("field_not_consented"),
        },
        AdmitRow {
            name: "fail_field_not_carried_by_the_kind",
            setup: |_, s| {
                s.header.kind = MessageKind::Request;
                s.values = values(&[FATIGUE]);
            },
            want: Err("field_not_consented"),
        },
        // 8. Ciphertext hashes and sizes.
        AdmitRow {
            name: "fail_ciphertext_tampered",
            setup: |_, s| s.after_seal = |_, e| flip_last_byte(&mut e.fields[0].ciphertext.0),
            want: Err("hash_mismatch"),
        },
        AdmitRow {
            name: "fail_ciphertext_missing",
            setup: |_, s| {
                s.after_seal = |_, e| {
                    e.fields.pop();
                }
            },
            want: Err("manifest_mismatch"),
        },
        AdmitRow {
            name: "fail_ciphertexts_swapped",
            setup: |_, s| s.after_seal = |_, e| e.fields.swap(0, 1),
            want: Err("manifest_mismatch"),
        },
        AdmitRow {
            name: "fail_ciphertext_too_large",
            setup: |_, s| {
                s.after_seal = |w, e| {
                    let big = vec![0u8; MAX_FIELD_CIPHERTEXT + 1];
                    let sha = sha256_hex(&big);
                    e.fields[0].ciphertext = B64(big);
                    resign(w, e, |h| h.manifest[0].sha256 = sha);
                }
            },
            want: Err("field_too_large"),
        },
    ]
}

#[test]
fn admit_passes_a_valid_envelope_and_refuses_each_failed_check() {
    let w = World::new();
    let mut t = Table::new("admit");
    for row in admit_rows() {
        let mut s = Admission::base(&w);
        (row.setup)(&w, &mut s);
        let got = s.run(&w).map(|_| ()).map_err(|r| {
            assert!(
                !r.to_string().is_empty(),
                "{}: refusal without text",
                row.name
            );
            r.code().as_str()
        });
        t.check(row.name, got, row.want);
    }
    t.done();
}

#[test]
fn admit_returns_the_verified_header() {
    let w = World::new();
    let s = Admission::base(&w);
    let h = s.run(&w).unwrap();
    assert_eq!(h.message_id, mid(1));
    assert_eq!(h.consent_id, cid(V1));
    assert_eq!(h.fields(), fids(&[HOURS, FATIGUE]));
}

#[test]
fn admit_names_every_field_not_consented() {
    let w = World::new();
    let mut s = Admission::base(&w);
    s.values = values(&[HOURS, PHYSICAL, DIAGNOSIS]);
    let r = s.run(&w).unwrap_err();
    assert_eq!(
        r,
        AdmitRefusal::FieldsNotConsented {
            fields: vec![PHYSICAL.to_owned(), DIAGNOSIS.to_owned()],
        }
    );
    let text = r.to_string();
    assert!(
        text.contains(PHYSICAL) && text.contains(DIAGNOSIS),
        "{text}"
    );
    assert!(!text.contains(HOURS), "{text}");
}

/// An envelope that fails every check, mended one check at a time: each step must then be
/// refused by the next check of DESIGN.md §7, so the order cannot drift.
#[test]
fn admit_checks_in_the_order_of_the_design() {
    let w = World::new();
    let mut s = Admission::base(&w);
    s.session = (w.x.account.clone(), Role::Occupational);
    s.after_seal = |w, e| {
        e.header = Signed::sign_bytes(e.header.payload.0.clone(), w.x.keys.signing_key());
        flip_last_byte(&mut e.fields[0].ciphertext.0);
    };
    s.id_seen = true;
    s.header.created_at = NOW + 10 * DAY;
    s.case = None;
    s.recipient_fingerprint = None;
    s.header.consent_id = cid(UNKNOWN);
    s.versions[0].revoked_at = Some(SENT - DAY);
    s.values = values(&[HOURS, PHYSICAL]);

    type Mend = fn(&World, &mut Admission);
    let steps: Vec<(&'static str, Mend, Result<(), &'static str>)> = vec![
        ("everything_wrong", |_, _| {}, Err("kind_forbidden")),
        (
            "role_mended",
            |_, s| s.session.1 = Role::Treating,
            Err("sender_mismatch"),
        ),
        (
            "session_mended",
            |w, s| s.session.0 = w.t.account.clone(),
            Err("bad_envelope_signature"),
        ),
        (
            "signature_mended",
            |_, s| s.after_seal = |_, e| flip_last_byte(&mut e.fields[0].ciphertext.0),
            Err("message_replayed"),
        ),
        ("id_mended", |_, s| s.id_seen = false, Err("clock_skew")),
        (
            "clock_mended",
            |_, s| s.header.created_at = SENT,
            Err("unknown_case"),
        ),
        (
            "case_mended_without_the_recipient",
            |w, s| {
                s.case = Some(CaseFacts {
                    active: Vec::new(),
                    ..w.case_facts()
                })
            },
            Err("not_a_member"),
        ),
        (
            "membership_mended",
            |w, s| s.case = Some(w.case_facts()),
            Err("recipient_key_mismatch"),
        ),
        (
            "key_mended",
            |w, s| s.recipient_fingerprint = Some(w.o.fp()),
            Err("consent_not_found"),
        ),
        (
            "consent_id_mended",
            |_, s| s.header.consent_id = cid(V1),
            Err("consent_revoked"),
        ),
        (
            "consent_mended",
            |_, s| s.versions[0].revoked_at = None,
            Err("field_not_consented"),
        ),
        (
            "fields_mended",
            |_, s| s.values = values(&[HOURS, FATIGUE]),
            Err("hash_mismatch"),
        ),
        ("ciphertext_mended", |_, s| s.after_seal = |_, _| {}, Ok(())),
    ];
    let mut t = Table::new("admit order");
    for (name, mend, want) in steps {
        mend(&w, &mut s);
        let got = s.run(&w).map(|_| ()).map_err(|r| r.code().as_str());
        t.check(name, got, want);
    }
    t.done();
}

// ---- 8. receive ---------------------------------------------------------------------------------

/// What the occupational physician's client knows when it opens the bilan under v1.
struct Reception {
    me: AccountId,
    my_fingerprint: Fingerprint,
    message_id: MessageId,
    sender_key: VerifyingKey,
    sender_role: Role,
    versions: Vec<Version>,
    receipt: Receipt,
    after_seal: fn(&World, &mut Envelope),
}

impl Reception {
    fn base(w: &World) -> Reception {
        Reception {
            me: w.o.account.clone(),
            my_fingerprint: w.o.fp(),
            message_id: mid(1),
            sender_key: w.t.vk(),
            sender_role: Role::Treating,
            versions: only_v1(w),
            receipt: Receipt::Fetched { at: NOW },
            after_seal: |_, _| {},
        }
    }

    fn run(&self, w: &World) -> Result<EnvelopeHeader, ReceiveRefusal> {
        let mut env = seal(
            &w.t.keys,
            w.msg(V1, &[]),
            &[w.o.age()],
            &values(&[HOURS, FATIGUE]),
        )
        .unwrap();
        (self.after_seal)(w, &mut env);
        let chain = chain(self.versions.clone());
        let facts = ReceiveFacts {
            me: &self.me,
            my_fingerprint: &self.my_fingerprint,
            message_id: &self.message_id,
            sender_key: &self.sender_key,
            sender_role: self.sender_role,
            chain: &chain,
            receipt: self.receipt,
        };
        receive(&facts, &env)
    }
}

struct ReceiveRow {
    name: &'static str,
    setup: fn(&World, &mut Reception),
    want: Result<(), ReceiveRefusal>,
}

#[test]
fn receive_shows_only_what_is_still_covered() {
    let w = World::new();
    let rows = vec![
        ReceiveRow {
            name: "valid",
            setup: |_, _| {},
            want: Ok(()),
        },
        ReceiveRow {
            name: "still_covered_by_v2",
            setup: |w, s| {
                s.versions = w.v1_then_v2(|_| {});
                s.receipt = Receipt::Fetched { at: LATER };
            },
            want: Ok(()),
        },
        ReceiveRow {
            name: "revoked_after_it_was_received",
            setup: |_, s| s.versions[0].revoked_at = Some(NOW + 1),
            want: Ok(()),
        },
        ReceiveRow {
            name: "fail_signed_by_another_key",
            setup: |w, s| s.sender_key = w.x.vk(),
            want: Err(ReceiveRefusal::BadSignature),
        },
        ReceiveRow {
            name: "fail_not_the_message_asked_for",
            setup: |_, s| s.message_id = mid(2),
            want: Err(ReceiveRefusal::WrongMessage),
        },
        ReceiveRow {
            name: "fail_kind_the_senders_role_may_not_send",
            setup: |_, s| s.sender_role = Role::Occupational,
            want: Err(ReceiveRefusal::KindForbidden {
                role: Role::Occupational,
                kind: MessageKind::Bilan,
            }),
        },
        ReceiveRow {
            name: "fail_sender_is_a_patient",
            setup: |_, s| s.sender_role = Role::Patient,
            want: Err(ReceiveRefusal::KindForbidden {
                role: Role::Patient,
                kind: MessageKind::Bilan,
            }),
        },
        ReceiveRow {
            name: "fail_for_another_recipient",
            setup: |w, s| s.me = w.a.account.clone(),
            want: Err(ReceiveRefusal::NotForMe),
        },
        ReceiveRow {
            name: "fail_for_another_key",
            setup: |w, s| s.my_fingerprint = w.x.fp(),
            want: Err(ReceiveRefusal::NotForMe),
        },
        ReceiveRow {
            name: "fail_unknown_consent",
            setup: |w, s| s.versions = vec![version(w.consent(A1, &w.a), ACC1)],
            want: Err(ReceiveRefusal::UnknownConsent),
        },
        ReceiveRow {
            name: "fail_consent_no_longer_covers",
            setup: |w, s| {
                s.versions = w.v1_then_v2(|c| without(c, FATIGUE));
                s.receipt = Receipt::Fetched { at: LATER };
            },
            want: Err(ReceiveRefusal::Consent(Refusal::NoLongerCovered)),
        },
        ReceiveRow {
            name: "fail_consent_revoked_before_receipt",
            setup: |_, s| s.versions[0].revoked_at = Some(NOW),
            want: Err(ReceiveRefusal::Consent(Refusal::Revoked)),
        },
        ReceiveRow {
            name: "fail_consent_expired_before_receipt",
            setup: |_, s| s.receipt = Receipt::Fetched { at: UNTIL + 1 },
            want: Err(ReceiveRefusal::Consent(Refusal::Expired)),
        },
        ReceiveRow {
            name: "fail_sender_not_in_consent",
            setup: |w, s| {
                let mut c = s.versions[0].consent.clone();
                c.senders = vec![w.a.party()];
                s.versions[0].consent = rehash(c);
            },
            want: Err(ReceiveRefusal::Consent(Refusal::SenderNotAllowed)),
        },
        ReceiveRow {
            name: "fail_ciphertext_tampered",
            setup: |_, s| s.after_seal = |_, e| flip_last_byte(&mut e.fields[1].ciphertext.0),
            want: Err(ReceiveRefusal::Envelope(EnvelopeError::HashMismatch(fid(
                FATIGUE,
            )))),
        },
        ReceiveRow {
            name: "fail_ciphertext_missing",
            setup: |_, s| {
                s.after_seal = |_, e| {
                    e.fields.pop();
                }
            },
            want: Err(ReceiveRefusal::Envelope(EnvelopeError::ManifestMismatch)),
        },
        // The client's own copy, read again: what was delivered cannot be recalled, so the
        // standing is not judged again; everything else is.
        ReceiveRow {
            name: "kept_copy_after_a_narrowing",
            setup: |w, s| {
                s.versions = w.v1_then_v2(|c| without(c, FATIGUE));
                s.receipt = Receipt::Kept;
            },
            want: Ok(()),
        },
        ReceiveRow {
            name: "kept_copy_after_revocation",
            setup: |_, s| {
                s.versions[0].revoked_at = Some(NOW);
                s.receipt = Receipt::Kept;
            },
            want: Ok(()),
        },
        ReceiveRow {
            name: "kept_copy_after_the_line_was_revoked",
            setup: |w, s| {
                s.versions = revoked_line(w);
                s.receipt = Receipt::Kept;
            },
            want: Ok(()),
        },
        ReceiveRow {
            name: "fail_kept_copy_never_covered",
            setup: |w, s| {
                let mut c = s.versions[0].consent.clone();
                c.senders = vec![w.a.party()];
                s.versions[0].consent = rehash(c);
                s.receipt = Receipt::Kept;
            },
            want: Err(ReceiveRefusal::Consent(Refusal::SenderNotAllowed)),
        },
        ReceiveRow {
            name: "fail_kept_copy_created_outside_its_consents_period",
            setup: |_, s| {
                let mut c = s.versions[0].consent.clone();
                c.valid_from = SENT + 1;
                s.versions[0].consent = rehash(c);
                s.receipt = Receipt::Kept;
            },
            want: Err(ReceiveRefusal::Consent(Refusal::NotYetValid)),
        },
        ReceiveRow {
            name: "fail_kept_copy_consent_unknown",
            setup: |w, s| {
                s.versions = vec![version(w.consent(A1, &w.a), ACC1)];
                s.receipt = Receipt::Kept;
            },
            want: Err(ReceiveRefusal::UnknownConsent),
        },
        ReceiveRow {
            name: "fail_kept_copy_for_another_key",
            setup: |w, s| {
                s.my_fingerprint = w.x.fp();
                s.receipt = Receipt::Kept;
            },
            want: Err(ReceiveRefusal::NotForMe),
        },
        ReceiveRow {
            name: "fail_kept_copy_tampered",
            setup: |_, s| {
                s.after_seal = |_, e| flip_last_byte(&mut e.fields[0].ciphertext.0);
                s.receipt = Receipt::Kept;
            },
            want: Err(ReceiveRefusal::Envelope(EnvelopeError::HashMismatch(fid(
                HOURS,
            )))),
        },
    ];
    let mut t = Table::new("receive");
    for row in rows {
        let mut s = Reception::base(&w);
        (row.setup)(&w, &mut s);
        t.check(row.name, s.run(&w).map(|_| ()), row.want);
    }
    t.done();
}

// ---- 9. Membership ------------------------------------------------------------------------------

struct AddRow {
    name: &'static str,
    actor: Actor,
    target: (u8, Role),
    current: Option<MemberStatus>,
    want: Result<MemberStatus, (&'static str, MembershipRefusal)>,
}

fn member_case() -> CaseFacts {
    CaseFacts {
        case_id: case_id(),
        treating: acc(TREATING),
        active: vec![acc(ADVISING)],
    }
}

#[test]
fn add_member_decides_who_may_add_whom() {
    use MemberStatus::{Active, Invited, Removed};
    let occ = (OCCUPATIONAL, Role::Occupational);
    let rows = vec![
        AddRow {
            name: "patient_adds",
            actor: Actor::Patient,
            target: occ,
            current: None,
            want: Ok(Active),
        },
        AddRow {
            name: "patient_accepts_an_invitation",
            actor: Actor::Patient,
            target: occ,
            current: Some(Invited),
            want: Ok(Active),
        },
        AddRow {
            name: "patient_re_adds_a_removed_member",
            actor: Actor::Patient,
            target: occ,
            current: Some(Removed),
            want: Ok(Active),
        },
        AddRow {
            name: "treating_invites",
            actor: Actor::Treating,
            target: occ,
            current: None,
            want: Ok(Invited),
        },
        AddRow {
            name: "treating_invites_an_advising_physician",
            actor: Actor::Treating,
            target: (STRANGER, Role::Advising),
            current: None,
            want: Ok(Invited),
        },
        AddRow {
            name: "fail_patient_adds_an_active_member",
            actor: Actor::Patient,
            target: occ,
            current: Some(Active),
            want: Err((
                "already_member",
                MembershipRefusal::AlreadyMember(acc(OCCUPATIONAL)),
            )),
        },
        AddRow {
            name: "fail_treating_re_invites_a_removed_member",
            actor: Actor::Treating,
            target: occ,
            current: Some(Removed),
            want: Err((
                "not_case_patient",
                MembershipRefusal::RemovedByPatient(acc(OCCUPATIONAL)),
            )),
        },
        AddRow {
            name: "fail_treating_invites_twice",
            actor: Actor::Treating,
            target: occ,
            current: Some(Invited),
            want: Err((
                "already_member",
                MembershipRefusal::AlreadyMember(acc(OCCUPATIONAL)),
            )),
        },
        AddRow {
            name: "fail_someone_else_adds",
            actor: Actor::Other,
            target: occ,
            current: None,
            want: Err(("not_case_patient", MembershipRefusal::NotPatient)),
        },
        AddRow {
            name: "fail_someone_else_re_adds_a_removed_member",
            actor: Actor::Other,
            target: occ,
            current: Some(Removed),
            want: Err(("not_case_patient", MembershipRefusal::NotPatient)),
        },
        AddRow {
            name: "fail_patient_adds_a_non_physician",
            actor: Actor::Patient,
            target: (STRANGER, Role::Patient),
            current: None,
            want: Err(("not_a_physician", MembershipRefusal::NotAPhysician)),
        },
        AddRow {
            name: "fail_treating_invites_a_non_physician",
            actor: Actor::Treating,
            target: (PATIENT, Role::Patient),
            current: None,
            want: Err(("not_a_physician", MembershipRefusal::NotAPhysician)),
        },
        AddRow {
            name: "fail_patient_adds_the_treating_physician",
            actor: Actor::Patient,
            target: (TREATING, Role::Treating),
            current: None,
            want: Err((
                "already_member",
                MembershipRefusal::AlreadyMember(acc(TREATING)),
            )),
        },
        AddRow {
            name: "fail_treating_invites_themself",
            actor: Actor::Treating,
            target: (TREATING, Role::Treating),
            current: None,
            want: Err((
                "already_member",
                MembershipRefusal::AlreadyMember(acc(TREATING)),
            )),
        },
    ];
    let case = member_case();
    let mut t = Table::new("add_member");
    for row in rows {
        let (n, role) = row.target;
        let got = add_member(row.actor, &case, &acc(n), role, row.current)
            .map_err(|r| (r.code().as_str(), r));
        t.check(row.name, got, row.want);
    }
    t.done();
}

/// A removal: base is the patient removing the active occupational physician, whose v1 is
/// revoked in the same step; the advising physician has a consent of their own.
struct Removal {
    actor: Actor,
    target: AccountId,
    current: Option<MemberStatus>,
    versions: Vec<Version>,
    revocations: Vec<Revocation>,
}

struct RemoveRow {
    name: &'static str,
    setup: fn(&World, &mut Removal),
    /// The consents ended, or the code and refusal; a `BadRevocation`'s text need only
    /// contain the expected text.
    want: Result<Vec<u8>, (&'static str, MembershipRefusal)>,
}

fn same_refusal(got: &MembershipRefusal, want: &MembershipRefusal) -> bool {
    match (got, want) {
        (MembershipRefusal::BadRevocation(g), MembershipRefusal::BadRevocation(w)) => {
            g.contains(w.as_str())
        }
        _ => got == want,
    }
}

#[test]
fn remove_member_requires_the_patient_and_every_revocation() {
    let w = World::new();
    let bad = |why: String| Err(("bad_revocation", MembershipRefusal::BadRevocation(why)));
    let rows = vec![
        RemoveRow {
            name: "removes_revoking_the_current_consent",
            setup: |_, _| {},
            want: Ok(vec![V1]),
        },
        RemoveRow {
            name: "removes_a_member_without_consent",
            setup: |w, s| {
                s.versions = vec![version(w.consent(A1, &w.a), ACC1)];
                s.revocations.clear();
            },
            want: Ok(Vec::new()),
        },
        RemoveRow {
            name: "removes_an_invited_member",
            setup: |w, s| {
                s.current = Some(MemberStatus::Invited);
                s.versions = vec![version(w.consent(A1, &w.a), ACC1)];
                s.revocations.clear();
            },
            want: Ok(Vec::new()),
        },
        RemoveRow {
            name: "removes_revoking_the_head_of_a_line",
            setup: |w, s| {
                s.versions = w.line();
                s.revocations = vec![revoke(V3)];
            },
            want: Ok(vec![V3]),
        },
        RemoveRow {
            name: "removes_after_the_line_was_revoked",
            setup: |w, s| {
                s.versions = vec![revoked(w.consent(V1, &w.o), ACC1, ACC2)];
                s.revocations.clear();
            },
            want: Ok(Vec::new()),
        },
        RemoveRow {
            name: "fail_someone_else_removes",
            setup: |_, s| s.actor = Actor::Other,
            want: Err(("not_case_patient", MembershipRefusal::NotPatient)),
        },
        RemoveRow {
            name: "fail_treating_removes",
            setup: |_, s| s.actor = Actor::Treating,
            want: Err(("not_case_patient", MembershipRefusal::NotPatient)),
        },
        RemoveRow {
            name: "fail_removes_the_treating_physician",
            setup: |w, s| {
                s.target = w.t.account.clone();
                s.revocations.clear();
            },
            want: Err((
                "cannot_remove_treating",
                MembershipRefusal::CannotRemoveTreating,
            )),
        },
        RemoveRow {
            name: "fail_not_a_member",
            setup: |_, s| s.current = None,
            want: Err((
                "not_a_member",
                MembershipRefusal::NotAMember(acc(OCCUPATIONAL)),
            )),
        },
        RemoveRow {
            name: "fail_already_removed",
            setup: |_, s| s.current = Some(MemberStatus::Removed),
            want: Err((
                "not_a_member",
                MembershipRefusal::NotAMember(acc(OCCUPATIONAL)),
            )),
        },
        RemoveRow {
            name: "fail_current_consent_not_revoked",
            setup: |_, s| s.revocations.clear(),
            want: Err((
                "removal_incomplete",
                MembershipRefusal::RemovalIncomplete(cid(V1)),
            )),
        },
        RemoveRow {
            name: "fail_revokes_a_consent_to_someone_else_instead",
            setup: |_, s| s.revocations = vec![revoke(A1)],
            want: bad(cid(A1).to_string()),
        },
        RemoveRow {
            name: "fail_revokes_a_consent_to_someone_else_too",
            setup: |_, s| s.revocations.push(revoke(A1)),
            want: bad(cid(A1).to_string()),
        },
        RemoveRow {
            name: "fail_revokes_a_replaced_version",
            setup: |w, s| s.versions = w.line(),
            want: bad(RevocationRefusal::Superseded.to_string()),
        },
        RemoveRow {
            name: "fail_revokes_an_unknown_consent",
            setup: |_, s| s.revocations = vec![revoke(UNKNOWN)],
            want: bad(RevocationRefusal::UnknownConsent.to_string()),
        },
        RemoveRow {
            name: "fail_revocation_names_another_case",
            setup: |_, s| s.revocations[0].case_id = case(2),
            want: bad(RevocationRefusal::Mismatch.to_string()),
        },
        RemoveRow {
            name: "fail_revokes_an_already_revoked_consent",
            setup: |w, s| s.versions[0] = revoked(w.consent(V1, &w.o), ACC1, ACC2),
            want: bad(RevocationRefusal::AlreadyRevoked.to_string()),
        },
    ];
    let case = member_case();
    let mut t = Table::new("remove_member");
    for row in rows {
        let mut s = Removal {
            actor: Actor::Patient,
            target: w.o.account.clone(),
            current: Some(MemberStatus::Active),
            versions: vec![
                version(w.consent(V1, &w.o), ACC1),
                version(w.consent(A1, &w.a), ACC1),
            ],
            revocations: vec![revoke(V1)],
        };
        (row.setup)(&w, &mut s);
        let c = chain(s.versions);
        let got = remove_member(s.actor, &case, &s.target, s.current, &c, &s.revocations);
        let want = row
            .want
            .map(|ids| ids.into_iter().map(cid).collect::<Vec<_>>());
        match (got, want) {
            (Err(g), Err((code, r))) if same_refusal(&g, &r) => {
                t.check(row.name, g.code().as_str(), code)
            }
            (got, want) => t.check(row.name, got.map_err(|r| (r.code().as_str(), r)), want),
        }
    }
    t.done();
}

// ---- 10. Consent well-formedness ----------------------------------------------------------

struct FormRow {
    name: &'static str,
    /// Changes the terms; the text hash is then recomputed as the patient's client would.
    terms: fn(&World, &mut Consent),
    /// Changes the consent after its text was hashed.
    after: fn(&mut Consent),
    want: Result<(), (&'static str, MalformedConsent)>,
}

#[test]
fn consent_well_formedness() {
    let w = World::new();
    let keep: fn(&mut Consent) = |_| {};
    let malformed = |m: MalformedConsent| Err(("consent_malformed", m));
    let rows = vec![
        FormRow {
            name: "to_occupational",
            terms: |_, _| {},
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "to_treating",
            terms: |w, c| *c = w.consent(T1, &w.t),
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "to_advising",
            terms: |w, c| *c = w.consent(A1, &w.a),
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "requests_only",
            terms: |_, c| c.kinds = vec![MessageKind::Request],
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "shares_a_medical_field",
            terms: |_, c| {
                c.fields.push(fid(CATEGORY));
                c.share_medically.push(fid(CATEGORY));
            },
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "exactly_one_calendar_year",
            terms: |_, c| c.valid_until = max_valid_until(c.valid_from),
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "in_dutch",
            terms: |_, c| c.lang = Lang::Nl,
            after: keep,
            want: Ok(()),
        },
        FormRow {
            name: "fail_feedback_to_occupational",
            terms: |_, c| c.kinds.push(MessageKind::Feedback),
            after: keep,
            want: Err((
                "consent_kind_not_receivable",
                MalformedConsent::KindNotReceivable {
                    role: Role::Occupational,
                    kind: MessageKind::Feedback,
                },
            )),
        },
        FormRow {
            name: "fail_bilan_to_treating",
            terms: |w, c| {
                *c = w.consent(T1, &w.t);
                c.kinds.push(MessageKind::Bilan);
            },
            after: keep,
            want: Err((
                "consent_kind_not_receivable",
                MalformedConsent::KindNotReceivable {
                    role: Role::Treating,
                    kind: MessageKind::Bilan,
                },
            )),
        },
        FormRow {
            name: "fail_to_a_patient",
            terms: |_, c| c.recipient_role = Role::Patient,
            after: keep,
            want: Err((
                "consent_kind_not_receivable",
                MalformedConsent::KindNotReceivable {
                    role: Role::Patient,
                    kind: MessageKind::Bilan,
                },
            )),
        },
        FormRow {
            name: "fail_sender_is_recipient",
            terms: |w, c| c.senders.push(w.o.party()),
            after: keep,
            want: malformed(MalformedConsent::SenderIsRecipient),
        },
        FormRow {
            name: "fail_duplicate_sender",
            terms: |w, c| c.senders.push(w.t.party()),
            after: keep,
            want: malformed(MalformedConsent::DuplicateSender(acc(TREATING))),
        },
        FormRow {
            name: "fail_duplicate_sender_under_another_name",
            terms: |w, c| {
                c.senders.push(Party {
                    name: "Dr. A. Peeters".into(),
                    ..w.t.party()
                })
            },
            after: keep,
            want: malformed(MalformedConsent::DuplicateSender(acc(TREATING))),
        },
        FormRow {
            name: "fail_no_senders",
            terms: |_, c| c.senders.clear(),
            after: keep,
            want: malformed(MalformedConsent::NoSenders),
        },
        FormRow {
            name: "fail_no_fields",
            terms: |_, c| c.fields.clear(),
            after: keep,
            want: malformed(MalformedConsent::NoFields),
        },
        FormRow {
            name: "fail_no_kinds",
            terms: |_, c| c.kinds.clear(),
            after: keep,
            want: malformed(MalformedConsent::NoKinds),
        },
        FormRow {
            name: "fail_field_twice",
            terms: |_, c| c.fields.push(fid(HOURS)),
            after: keep,
            want: malformed(MalformedConsent::Duplicate(fid(HOURS))),
        },
        FormRow {
            name: "fail_medical_field_not_shared_medically",
            terms: |_, c| c.fields.push(fid(DIAGNOSIS)),
            after: keep,
            want: malformed(MalformedConsent::MedicalNotShared(fid(DIAGNOSIS))),
        },
        FormRow {
            name: "fail_shares_medically_a_field_not_consented",
            terms: |_, c| c.share_medically.push(fid(CATEGORY)),
            after: keep,
            want: malformed(MalformedConsent::ShareMedicallyMismatch(fid(CATEGORY))),
        },
        FormRow {
            name: "fail_shares_medically_a_functional_field",
            terms: |_, c| c.share_medically.push(fid(HOURS)),
            after: keep,
            want: malformed(MalformedConsent::ShareMedicallyMismatch(fid(HOURS))),
        },
        FormRow {
            name: "fail_ends_when_it_starts",
            terms: |_, c| c.valid_until = c.valid_from,
            after: keep,
            want: malformed(MalformedConsent::EmptyPeriod),
        },
        FormRow {
            name: "fail_a_second_longer_than_a_calendar_year",
            terms: |_, c| c.valid_until = max_valid_until(c.valid_from) + 1,
            after: keep,
            want: malformed(MalformedConsent::TooLong),
        },
        FormRow {
            name: "fail_period_overflows",
            terms: |_, c| {
                c.valid_from = i64::MIN;
                c.valid_until = i64::MAX;
            },
            after: keep,
            want: malformed(MalformedConsent::TooLong),
        },
        FormRow {
            name: "fail_recipient_name_with_a_line_break",
            terms: |_, c| c.recipient_name = "Dr. Luc Janssens\nand everyone".into(),
            after: keep,
            want: malformed(MalformedConsent::BadRecipientName(NameError::Control('\n'))),
        },
        FormRow {
            name: "fail_recipient_name_with_a_bidi_override",
            terms: |_, c| c.recipient_name = "Dr. \u{202E}snessnaJ".into(),
            after: keep,
            want: malformed(MalformedConsent::BadRecipientName(NameError::Bidi(
                '\u{202E}',
            ))),
        },
        FormRow {
            name: "fail_recipient_name_empty",
            terms: |_, c| c.recipient_name = "  ".into(),
            after: keep,
            want: malformed(MalformedConsent::BadRecipientName(NameError::Empty)),
        },
        FormRow {
            // Sender names are checked like the recipient's, under the same variant.
            name: "fail_sender_name_with_a_line_break",
            terms: |w, c| {
                c.senders = vec![Party {
                    name: "Dr. An Peeters\nand colleagues".into(),
                    ..w.t.party()
                }]
            },
            after: keep,
            want: malformed(MalformedConsent::BadSenderName(NameError::Control('\n'))),
        },
        FormRow {
            name: "fail_text_hash_wrong",
            terms: |_, _| {},
            after: |c| c.text_sha256 = "0".repeat(64),
            want: malformed(MalformedConsent::TextMismatch),
        },
        FormRow {
            name: "fail_text_in_another_language",
            terms: |_, _| {},
            after: |c| c.lang = Lang::Fr,
            want: malformed(MalformedConsent::TextMismatch),
        },
        FormRow {
            name: "fail_field_added_after_the_text",
            terms: |_, _| {},
            after: |c| c.fields.push(fid(PHYSICAL)),
            want: malformed(MalformedConsent::TextMismatch),
        },
    ];
    let mut t = Table::new("Consent::check_well_formed");
    for row in rows {
        let mut c = w.consent(V1, &w.o);
        (row.terms)(&w, &mut c);
        let mut c = rehash(c);
        (row.after)(&mut c);
        let got = c.check_well_formed().map_err(|m| (m.code().as_str(), m));
        t.check(row.name, got, row.want);
    }
    t.done();
}

// ---- 11. diff -----------------------------------------------------------------------------------

struct DiffRow {
    name: &'static str,
    old: fn(&World, &mut Consent),
    new: fn(&World, &mut Consent),
    want: fn(&World) -> ConsentDiff,
}

#[test]
fn diff_shows_what_a_new_version_changes() {
    let w = World::new();
    let same: fn(&World, &mut Consent) = |_, _| {};
    let rows = vec![
        DiffRow {
            name: "same_terms",
            old: same,
            new: same,
            want: |_| ConsentDiff::default(),
        },
        DiffRow {
            name: "order_does_not_matter",
            old: same,
            new: |_, c| {
                c.fields.reverse();
                c.kinds.reverse();
            },
            want: |_| ConsentDiff::default(),
        },
        DiffRow {
            name: "field_added",
            old: same,
            new: |_, c| c.fields.push(fid(PHYSICAL)),
            want: |_| ConsentDiff {
                fields_added: fids(&[PHYSICAL]),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "field_removed",
            old: same,
            new: |_, c| without(c, FATIGUE),
            want: |_| ConsentDiff {
                fields_removed: fids(&[FATIGUE]),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "field_replaced",
            old: same,
            new: |_, c| {
                without(c, FATIGUE);
                c.fields.push(fid(PHYSICAL));
            },
            want: |_| ConsentDiff {
                fields_added: fids(&[PHYSICAL]),
                fields_removed: fids(&[FATIGUE]),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "shared_medically",
            old: same,
            new: |_, c| {
                c.fields.push(fid(CATEGORY));
                c.share_medically.push(fid(CATEGORY));
            },
            want: |_| ConsentDiff {
                fields_added: fids(&[CATEGORY]),
                medical_added: fids(&[CATEGORY]),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "no_longer_shared_medically",
            old: |_, c| {
                c.fields.push(fid(CATEGORY));
                c.share_medically.push(fid(CATEGORY));
            },
            new: same,
            want: |_| ConsentDiff {
                fields_removed: fids(&[CATEGORY]),
                medical_removed: fids(&[CATEGORY]),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "kind_added",
            old: |_, c| c.kinds = vec![MessageKind::Bilan],
            new: same,
            want: |_| ConsentDiff {
                kinds_added: vec![MessageKind::Request],
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "kind_removed",
            old: same,
            new: |_, c| c.kinds = vec![MessageKind::Bilan],
            want: |_| ConsentDiff {
                kinds_removed: vec![MessageKind::Request],
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "sender_added",
            old: same,
            new: |w, c| c.senders.push(w.a.party()),
            want: |w| ConsentDiff {
                senders_added: vec![w.a.party()],
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "sender_removed",
            old: |w, c| c.senders.push(w.a.party()),
            new: same,
            want: |w| ConsentDiff {
                senders_removed: vec![w.a.party()],
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "sender_replaced",
            old: same,
            new: |w, c| c.senders = vec![w.a.party()],
            want: |w| ConsentDiff {
                senders_added: vec![w.a.party()],
                senders_removed: vec![w.t.party()],
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "only_valid_from_moves",
            old: same,
            new: |_, c| c.valid_from = ACC2,
            want: |_| ConsentDiff::default(),
        },
        DiffRow {
            name: "valid_until_moves",
            old: same,
            new: |_, c| c.valid_until = UNTIL + 10 * DAY,
            want: |_| ConsentDiff {
                period: Some(((FROM, UNTIL), (FROM, UNTIL + 10 * DAY))),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "both_ends_move",
            old: same,
            new: |_, c| {
                c.valid_from = ACC2;
                c.valid_until = UNTIL + 10 * DAY;
            },
            want: |_| ConsentDiff {
                period: Some(((FROM, UNTIL), (ACC2, UNTIL + 10 * DAY))),
                ..ConsentDiff::default()
            },
        },
        DiffRow {
            name: "purpose_changes",
            old: same,
            new: |_, c| c.purpose = Purpose::Reintegration,
            want: |_| ConsentDiff {
                purpose: Some((Purpose::ReturnToWork, Purpose::Reintegration)),
                ..ConsentDiff::default()
            },
        },
    ];
    let mut t = Table::new("diff");
    for row in rows {
        let base = w.consent(V1, &w.o);
        let mut old = base.clone();
        (row.old)(&w, &mut old);
        let old = rehash(old);
        let mut new = successor(&base, V2);
        (row.new)(&w, &mut new);
        let new = rehash(new);
        let d = diff(&old, &new);
        let want = (row.want)(&w);
        assert_eq!(
            d.is_empty(),
            want == ConsentDiff::default(),
            "{}: is_empty",
            row.name
        );
        t.check(row.name, d, want);
    }
    t.done();
}

// ---- Roles --------------------------------------------------------------------------------------

#[test]
fn roles_send_and_receive() {
    use MessageKind::{Bilan, Feedback, Request};
    // (role, kind, may send, may receive)
    let rows: Vec<(&'static str, Role, MessageKind, bool, bool)> = vec![
        ("treating_bilan", Role::Treating, Bilan, true, false),
        ("treating_feedback", Role::Treating, Feedback, false, true),
        ("treating_request", Role::Treating, Request, true, true),
        ("occupational_bilan", Role::Occupational, Bilan, false, true),
        (
            "occupational_feedback",
            Role::Occupational,
            Feedback,
            true,
            false,
        ),
        (
            "occupational_request",
            Role::Occupational,
            Request,
            true,
            true,
        ),
        ("advising_bilan", Role::Advising, Bilan, false, true),
        ("advising_feedback", Role::Advising, Feedback, true, false),
        ("advising_request", Role::Advising, Request, true, true),
        ("patient_bilan", Role::Patient, Bilan, false, false),
        ("patient_feedback", Role::Patient, Feedback, false, false),
        ("patient_request", Role::Patient, Request, false, false),
    ];
    let mut t = Table::new("may_send / may_receive");
    for (name, role, kind, send, recv) in rows {
        t.check(
            name,
            (role.may_send(kind), role.may_receive(kind)),
            (send, recv),
        );
    }
    t.done();

    let rows: Vec<(&'static str, Role, Vec<MessageKind>)> = vec![
        ("treating", Role::Treating, vec![Feedback, Request]),
        ("occupational", Role::Occupational, vec![Bilan, Request]),
        ("advising", Role::Advising, vec![Bilan, Request]),
        ("patient", Role::Patient, vec![]),
    ];
    let mut t = Table::new("receivable_kinds");
    for (name, role, want) in rows {
        t.check(name, role.receivable_kinds(), want);
    }
    t.done();
}

// ---- 12. Case label -----------------------------------------------------------------------------

#[test]
fn label_check() {
    let rows: Vec<(&'static str, String, Result<String, LabelError>)> = vec![
        ("plain", "Case 2026-017".into(), Ok("Case 2026-017".into())),
        ("trimmed", "  Case 17 ".into(), Ok("Case 17".into())),
        ("ten_digits", "0123456789".into(), Ok("0123456789".into())),
        (
            "longest",
            "a".repeat(MAX_LABEL_CHARS),
            Ok("a".repeat(MAX_LABEL_CHARS)),
        ),
        (
            "accented_letters_count_as_characters",
            "é".repeat(MAX_LABEL_CHARS),
            Ok("é".repeat(MAX_LABEL_CHARS)),
        ),
        (
            "fail_eleven_digits",
            "85073003328".into(),
            Err(LabelError::NationalNumber),
        ),
        (
            "fail_eleven_digits_with_separators",
            "85.07.30-033.28".into(),
            Err(LabelError::NationalNumber),
        ),
        (
            "fail_eleven_digits_among_words",
            "Jan 850730 03328".into(),
            Err(LabelError::NationalNumber),
        ),
        (
            "fail_twelve_digits",
            "123456789012".into(),
            Err(LabelError::NationalNumber),
        ),
        ("fail_empty", "   ".into(), Err(LabelError::Length)),
        (
            "fail_too_long",
            "a".repeat(MAX_LABEL_CHARS + 1),
            Err(LabelError::Length),
        ),
        ("fail_newline", "a\nb".into(), Err(LabelError::Control)),
        (
            "fail_right_to_left_override",
            "a\u{202E}b".into(),
            Err(LabelError::Control),
        ),
        (
            "fail_zero_width_space",
            "a\u{200B}b".into(),
            Err(LabelError::Control),
        ),
    ];
    let mut t = Table::new("label::check");
    for (name, input, want) in rows {
        t.check(name, label::check(&input), want);
    }
    t.done();
}

#[test]
fn label_seal_and_open() {
    let treating = Identity::generate().unwrap();
    let patient = Identity::generate().unwrap();
    let other = Identity::generate().unwrap();
    let to = [
        &treating.age_identity().to_public(),
        &patient.age_identity().to_public(),
    ];
    let sealed = label::seal(&case_id(), " Case 2026-017 ", &treating, &to).unwrap();
    let tk = treating.verifying_key();
    // A label sealed to the same keys by someone else (the server knows the public keys).
    let forged = label::seal(&case_id(), "Another patient", &other, &to).unwrap();
    let mut t = Table::new("label::open forged");
    t.check(
        "fail_sealed_by_someone_else",
        label::open(&case_id(), &forged, &patient, &tk),
        Err(LabelError::BadSignature),
    );
    t.done();
    let rows: Vec<(&'static str, &Identity, CaseId, Result<String, LabelError>)> = vec![
        (
            "treating_opens",
            &treating,
            case_id(),
            Ok("Case 2026-017".into()),
        ),
        (
            "patient_opens",
            &patient,
            case_id(),
            Ok("Case 2026-017".into()),
        ),
        (
            "fail_someone_else",
            &other,
            case_id(),
            Err(LabelError::Open),
        ),
        (
            "fail_moved_to_another_case",
            &treating,
            case(2),
            Err(LabelError::WrongCase),
        ),
    ];
    let mut t = Table::new("label::open");
    for (name, me, case, want) in rows {
        t.check(name, label::open(&case, &sealed, me, &tk), want);
    }
    t.done();

    let rows: Vec<(&'static str, &[u8], Result<String, LabelError>)> = vec![
        ("fail_empty", &b""[..], Err(LabelError::Open)),
        ("fail_junk", &b"not an age file"[..], Err(LabelError::Open)),
    ];
    let mut t = Table::new("label::open junk");
    for (name, bytes, want) in rows {
        t.check(name, label::open(&case_id(), bytes, &treating, &tk), want);
    }
    t.done();

    let rows: Vec<(&'static str, &str, Result<(), LabelError>)> = vec![
        (
            "fail_seal_a_national_number",
            "85.07.30-033.28",
            Err(LabelError::NationalNumber),
        ),
        ("fail_seal_empty", "", Err(LabelError::Length)),
    ];
    let mut t = Table::new("label::seal");
    for (name, text, want) in rows {
        t.check(
            name,
            label::seal(&case_id(), text, &treating, &to).map(|_| ()),
            want,
        );
    }
    t.done();
}

// ---- 13. Login challenge ------------------------------------------------------------------------

struct Login {
    server: Identity,
    other: Identity,
    account: AccountId,
}

impl Login {
    fn challenge(&self, account: AccountId, expires_at: i64) -> Challenge {
        Challenge {
            account,
            expires_at,
            random: "ab".repeat(32),
        }
    }
    /// The nonce as the server hands it out: the signed challenge as JSON.
    fn nonce(&self, c: &Challenge, by: &Identity) -> Vec<u8> {
        serde_json::to_vec(&Signed::sign(c, by.signing_key()).unwrap()).unwrap()
    }
    fn valid(&self) -> Vec<u8> {
        self.nonce(&self.challenge(self.account.clone(), EXPIRES), &self.server)
    }
    /// A valid nonce padded with JSON whitespace to `len` bytes.
    fn padded(&self, len: usize) -> Vec<u8> {
        let mut n = self.valid();
        assert!(n.len() <= len);
        n.resize(len, b' ');
        n
    }
}

const EXPIRES: i64 = NOW + 120;

struct LoginRow {
    name: &'static str,
    nonce: fn(&Login) -> Vec<u8>,
    now: i64,
    want: Result<(), ChallengeError>,
}

#[test]
fn check_challenge_table() {
    let l = Login {
        server: Identity::generate().unwrap(),
        other: Identity::generate().unwrap(),
        account: acc(TREATING),
    };
    let rows = vec![
        LoginRow {
            name: "valid",
            nonce: |l| l.valid(),
            now: NOW,
            want: Ok(()),
        },
        LoginRow {
            name: "valid_last_second",
            nonce: |l| l.valid(),
            now: EXPIRES - 1,
            want: Ok(()),
        },
        LoginRow {
            name: "padded_to_the_largest_nonce",
            nonce: |l| l.padded(MAX_NONCE_LEN),
            now: NOW,
            want: Ok(()),
        },
        LoginRow {
            name: "fail_for_another_account",
            nonce: |l| l.nonce(&l.challenge(acc(OCCUPATIONAL), EXPIRES), &l.server),
            now: NOW,
            want: Err(ChallengeError::OtherAccount),
        },
        LoginRow {
            name: "fail_expired_at_expires_at",
            nonce: |l| l.valid(),
            now: EXPIRES,
            want: Err(ChallengeError::Expired),
        },
        LoginRow {
            name: "fail_expired_long_ago",
            nonce: |l| l.valid(),
            now: EXPIRES + DAY,
            want: Err(ChallengeError::Expired),
        },
        LoginRow {
            name: "fail_signed_by_another_key",
            nonce: |l| l.nonce(&l.challenge(l.account.clone(), EXPIRES), &l.other),
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
        LoginRow {
            name: "fail_expiry_extended_after_signing",
            nonce: |l| {
                let mut s: Signed<Challenge> = serde_json::from_slice(&l.valid()).unwrap();
                let longer = l.challenge(l.account.clone(), EXPIRES + DAY);
                s.payload = B64(serde_json::to_vec(&longer).unwrap());
                serde_json::to_vec(&s).unwrap()
            },
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
        LoginRow {
            name: "fail_signed_as_another_kind_of_object",
            nonce: |l| {
                let c = l.challenge(l.account.clone(), EXPIRES);
                let payload = serde_json::to_vec(&c).unwrap();
                let s = Signed::<Revocation>::sign_bytes(payload, l.server.signing_key());
                serde_json::to_vec(&s).unwrap()
            },
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
        LoginRow {
            name: "fail_oversized_nonce",
            nonce: |l| l.padded(MAX_NONCE_LEN + 1),
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
        LoginRow {
            name: "fail_not_json",
            nonce: |_| b"\x00\xffjunk".to_vec(),
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
        LoginRow {
            name: "fail_empty",
            nonce: |_| Vec::new(),
            now: NOW,
            want: Err(ChallengeError::Forged),
        },
    ];
    let mut t = Table::new("check_challenge");
    for row in rows {
        let nonce = (row.nonce)(&l);
        let got = check_challenge(&nonce, &l.server.verifying_key(), &l.account, row.now);
        if let Ok(c) = &got {
            assert_eq!(c.account, l.account, "{}", row.name);
        }
        t.check(row.name, got.map(|_| ()), row.want);
    }
    t.done();
}
