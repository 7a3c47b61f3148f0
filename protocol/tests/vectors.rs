//! Known-answer vectors for every signed format (CONVENTIONS.md item 8, after age's test
//! vectors), with the `fail_*` cases that must be rejected.
//!
//! The vectors live in `tests/vectors/*.json`, one file per format:
//!
//! ```text
//! key.json          trialog/v1/key          key records of a treating physician, an
//!                                           occupational physician and a patient (self-signed)
//! consent.json      trialog/v1/consent      by the patient, with the consent text in nl/fr/en
//! revocation.json   trialog/v1/revocation   by the patient
//! binding.json      trialog/v1/binding      by the treating physician
//! envelope.json     trialog/v1/envelope     header by the treating physician, fields to the
//!                                           occupational physician, with the plaintext values
//! checkpoint.json   trialog/v1/checkpoint   by the server, over a 3-entry audit chain
//! certificate.json  trialog/v1/certificate  by the server, vouching for a TLS certificate
//! login.json        trialog/v1/login        raw Ed25519 over the login message
//! fingerprint.json  trialog/v1/fingerprint  sha256 of the two public keys
//! ```
//!
//! Each vector holds the signer's secrets (fixed TEST keys: the 32-byte Ed25519 seed in hex
//! and an `AGE-SECRET-KEY-1…` string; never use them for anything else), the exact payload
//! bytes, and the signed object as it travels. Ed25519 is deterministic, so the tests re-sign
//! the payload from the seed and demand the same bytes, then open it and compare every field
//! with the value built here.
//!
//! The files are written by the ignored test `write_vectors`, and only when
//! `TRIALOG_WRITE_VECTORS=1` is set (so `cargo test -- --ignored` does not rewrite them):
//!
//! ```text
//! TRIALOG_WRITE_VECTORS=1 cargo test -p trialog-protocol --test vectors -- --ignored write_vectors
//! ```
//!
//! Regenerate only on purpose: a vector that changes means the wire format changed, and
//! consents patients already signed may stop verifying. The envelope's age ciphertexts are
//! random, so regenerating changes them and their manifest hashes even if nothing else changed.

use ed25519_dalek::{Signature, Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt::Debug;
use std::path::PathBuf;

use trialog_protocol::audit::{
    AuditEntry, AuditError, AuditEvent, AuditRecord, Checkpoint, GENESIS, chain_hash, verify_log,
};
use trialog_protocol::auth::login_message;
use trialog_protocol::binding::{BindingError, PatientBinding, verify_patient};
use trialog_protocol::certificate::{CertificateRefusal, CertificateStatement, follow};
use trialog_protocol::consent::{
    Consent, MalformedConsent, Purpose, Refusal, Revocation, SendContext, Standing, StripReason,
    Stripped, consent_text, evaluate, open_consent,
};
use trialog_protocol::encoding::B64;
use trialog_protocol::envelope::{
    EncryptedField, Envelope, EnvelopeError, EnvelopeHeader, ManifestEntry, check_ciphertexts,
    open_field, seal,
};
use trialog_protocol::keys::{self, Identity, KeyError, KeyRecord, open_key_record};
use trialog_protocol::riziv::{Riziv, RizivError};
use trialog_protocol::signed::{SignedError, key_id};
use trialog_protocol::time::max_valid_until;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Fingerprint, Lang, MessageId, MessageKind, Role, Signed,
    SignedKind,
};

// ---- Fixed test parties -------------------------------------------------------------------
//
// TEST KEYS. Seeds from the OS generator and age identities from
// `age::x25519::Identity::generate()`, each made once and frozen here. Never use them for
// anything but these vectors.

struct Who {
    name: &'static str,
    /// Ed25519 seed (RFC 8032 secret key), hex.
    seed: &'static str,
    /// age X25519 identity; the server has none (it only signs).
    age: Option<&'static str>,
    account: Option<&'static str>,
    role: Option<Role>,
    /// `created_at` of the party's key record.
    key_created_at: i64,
}

const TREATING: Who = Who {
    name: "treating",
    seed: "d1086ef21808d4b109223c7abeda52535fd2c4ee3dca195a68066f700f64e033",
    age: Some("AGE-SECRET-KEY-12U8DXEK9ZC85LTHY3F04R0VV3QT4FWKSHGZGLZZCQPV0DVGYC5SS7QMJJ4"),
    account: Some("acc_fcd8979045a0f0fa2daece405d4c2ffc"),
    role: Some(Role::Treating),
    key_created_at: 1_764_547_200, // 2025-12-01
};

const OCCUPATIONAL: Who = Who {
    name: "occupational",
    seed: "13d3940f68d379cffb4b62ce260f722170055395a93b99f71633bc21311bb736",
    age: Some("AGE-SECRET-KEY-1HMWLNNXV0FGE5QP5CJMUAL7XAY4UQAHL59V0JGT9HMAN6V6WU28SSV8RGK"),
    account: Some("acc_37a08ea95f677ba17618ba31c96af178"),
    role: Some(Role::Occupational),
    key_created_at: 1_764_550_800, // 2025-12-01 01:00
};

const PATIENT: Who = Who {
    name: "patient",
    seed: "b12d940341fc36e48b77781a7d2d1c7ea7d42c5eb0857f6a00263b4c73ac4af3",
    age: Some("AGE-SECRET-KEY-1CTPH9EJR0Y8NNTHLF4TUM6P6CHVMVT82D6HT5PEWUUQA97DY269SXM5NZL"),
    account: Some("acc_02b725c09ec5e73848ebaf831441bf44"),
    role: Some(Role::Patient),
    key_created_at: 1_767_225_600, // 2026-01-01
};

const SERVER: Who = Who {
    name: "server",
    seed: "5791b7134e95ce94629c868f40962389ddc00737f6a15d988e29bb41cf330ed0",
    age: None,
    account: None,
    role: None,
    key_created_at: 0,
};

const CASE: &str = "case_f743f07792b776a5a6a6a3e8232f7257";
const CONSENT_ID: &str = "cons_d86409f9e15f688c5dcbb7198c205e56";
const OLD_CONSENT_ID: &str = "cons_5f9ce44b4b464de107b01b94998b2d70";
const MESSAGE_ID: &str = "msg_ccc3bee03946b2ba75b19cf0576fae6d";
const OTHER_MESSAGE_ID: &str = "msg_f251361d03d0708f78fafd8369d212b4";
const LOGIN_NONCE: &str = "e3b464cb0fdc44db87e1fc401defb6d63a5e0de480131cb8fa12569fa6efcee9";

const BOUND_AT: i64 = 1_767_346_200; // 2026-01-02 09:30
const VALID_FROM: i64 = 1_767_571_200; // 2026-01-05 00:00:00 UTC, 01:00 in Brussels
// 2027-01-03 23:59:59 UTC, which in Brussels is already 2027-01-04 (00:59:59 CET): the
// consent text, in Brussels dates, says until 2027-01-04.
const VALID_UNTIL: i64 = 1_799_020_799;
const SENT_AT: i64 = 1_770_732_000; // 2026-02-10 14:00
const REVOKED_AT: i64 = 1_776_240_000; // 2026-04-15 08:00

/// SHA-256 of a TLS certificate's DER, as a certificate statement names it.
const CERT_SHA256: &str = "3f1a9c2e4b5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7";
const CERT_ISSUED_AT: i64 = 1_780_000_000; // 2026-05-28 20:26:40 UTC

const ALL_PARTIES: [&Who; 4] = [&TREATING, &OCCUPATIONAL, &PATIENT, &SERVER];

impl Who {
    fn seed_bytes(&self) -> [u8; 32] {
        hex32(self.seed)
    }
    fn signing_key(&self) -> SigningKey {
        SigningKey::from_bytes(&self.seed_bytes())
    }
    fn verifying_key(&self) -> VerifyingKey {
        self.signing_key().verifying_key()
    }
    fn identity(&self) -> Identity {
        let age = self.age.expect("this party has an age identity");
        Identity::from_secrets(&self.seed_bytes(), age).unwrap()
    }
    fn account(&self) -> AccountId {
        AccountId::parse(self.account.expect("this party has an account")).unwrap()
    }
    fn fingerprint(&self) -> Fingerprint {
        self.identity().fingerprint()
    }
    /// The public facts of this party as the library computes them (for the writer).
    fn party(&self) -> Party {
        let vk = self.verifying_key();
        let (age_recipient, fingerprint) = match self.age {
            Some(_) => {
                let id = self.identity();
                (Some(id.age_recipient()), Some(id.fingerprint().to_string()))
            }
            None => (None, None),
        };
        Party {
            name: self.name.to_owned(),
            ed25519_seed: self.seed.to_owned(),
            age_identity: self.age.map(str::to_owned),
            ed25519_public: hex::encode(vk.as_bytes()),
            key_id: key_id(&vk),
            age_recipient,
            fingerprint,
        }
    }
}

fn hex32(s: &str) -> [u8; 32] {
    hex::decode(s).unwrap().try_into().unwrap()
}

fn sha256_hex(parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn field(id: &str) -> FieldId {
    FieldId::parse(id).unwrap()
}

fn fields(ids: &[&str]) -> Vec<FieldId> {
    ids.iter().map(|id| field(id)).collect()
}

fn case_id() -> CaseId {
    CaseId::parse(CASE).unwrap()
}

// ---- The values the vectors sign --------------------------------------------------------

fn key_record(who: &Who) -> KeyRecord {
    KeyRecord {
        account: who.account(),
        role: who.role.unwrap(),
        sign_key: B64(who.verifying_key().to_bytes().to_vec()),
        age_recipient: who.identity().age_recipient(),
        created_at: who.key_created_at,
    }
}

/// Sets `text_sha256` to the hash of the text for the consent's terms.
fn rehash(mut c: Consent) -> Consent {
    c.text_sha256 = sha256_hex(&[consent_text(&c).as_bytes()]);
    c
}

fn consent() -> Consent {
    rehash(Consent {
        consent_id: ConsentId::parse(CONSENT_ID).unwrap(),
        supersedes: Some(ConsentId::parse(OLD_CONSENT_ID).unwrap()),
        case_id: case_id(),
        patient: PATIENT.account(),
        recipient: OCCUPATIONAL.account(),
        recipient_fingerprint: OCCUPATIONAL.fingerprint(),
        recipient_name: "Dr. Luc Janssens".into(),
        recipient_role: Role::Occupational,
        senders: vec![trialog_protocol::consent::Party {
            account: TREATING.account(),
            name: "Dr. An Peeters".into(),
            role: Role::Treating,
        }],
        kinds: vec![MessageKind::Bilan],
        fields: fields(&[
            "capacity.hours_per_week",
            "limits.fatigue",
            "adaptations.recommended",
            "review.next_date",
            "medical.diagnosis_category",
        ]),
        share_medically: fields(&["medical.diagnosis_category"]),
        purpose: Purpose::ReturnToWork,
        valid_from: VALID_FROM,
        valid_until: VALID_UNTIL,
        // French: the text has non-ASCII characters, so the hash covers UTF-8 bytes.
        lang: Lang::Fr,
        text_sha256: String::new(),
    })
}

fn revocation() -> Revocation {
    Revocation {
        consent_id: ConsentId::parse(CONSENT_ID).unwrap(),
        case_id: case_id(),
        patient: PATIENT.account(),
        revoked_at: REVOKED_AT,
    }
}

fn binding() -> PatientBinding {
    PatientBinding {
        case_id: case_id(),
        patient: PATIENT.account(),
        patient_fingerprint: PATIENT.fingerprint(),
        treating: TREATING.account(),
        confirmed_at: BOUND_AT,
    }
}

/// The envelope header before `seal` fills the manifest.
fn envelope_header(message_id: &str) -> EnvelopeHeader {
    EnvelopeHeader {
        message_id: MessageId::parse(message_id).unwrap(),
        created_at: SENT_AT,
        kind: MessageKind::Bilan,
        case_id: case_id(),
        sender: TREATING.account(),
        recipient: OCCUPATIONAL.account(),
        recipient_fingerprint: OCCUPATIONAL.fingerprint(),
        consent_id: ConsentId::parse(CONSENT_ID).unwrap(),
        manifest: Vec::new(),
        leak_guard_override: false,
    }
}

fn envelope_values() -> Vec<(FieldId, serde_json::Value)> {
    vec![
        (field("capacity.hours_per_week"), serde_json::json!(12)),
        (
            field("limits.fatigue"),
            serde_json::json!("vermoeidheid 6/10, vooral 's namiddags; herstelt na 20 min rust"),
        ),
        (
            field("adaptations.recommended"),
            serde_json::json!("zittend werk, een pauze om de 2 uur"),
        ),
        (field("review.next_date"), serde_json::json!("2026-04-01")),
        (
            field("medical.diagnosis_category"),
            serde_json::json!("oncologie (testwaarde)"),
        ),
    ]
}

fn audit_entries() -> Vec<AuditEntry> {
    vec![
        AuditEntry {
            chain: CASE.to_owned(),
            seq: 1,
            at: 1_767_225_900,
            event: AuditEvent::CaseOpened,
            actor: Some(TREATING.account()),
            subject: Some(CASE.to_owned()),
            detail: None,
        },
        AuditEntry {
            chain: CASE.to_owned(),
            seq: 2,
            at: BOUND_AT,
            event: AuditEvent::PatientConfirmed,
            actor: Some(TREATING.account()),
            subject: Some(PATIENT.account().to_string()),
            detail: Some(PATIENT.fingerprint().to_string()),
        },
        AuditEntry {
            chain: CASE.to_owned(),
            seq: 3,
            at: VALID_FROM,
            event: AuditEvent::ConsentGranted,
            actor: Some(PATIENT.account()),
            subject: Some(CONSENT_ID.to_owned()),
            detail: Some(
                "capacity.hours_per_week,limits.fatigue,adaptations.recommended,\
                 review.next_date,medical.diagnosis_category"
                    .to_owned(),
            ),
        },
    ]
}

const CHECKPOINT_AT: i64 = 1_767_600_000;

fn certificate_statement() -> CertificateStatement {
    CertificateStatement {
        cert_sha256: CERT_SHA256.to_owned(),
        issued_at: CERT_ISSUED_AT,
    }
}

fn checkpoint(head: &str) -> Checkpoint {
    Checkpoint {
        chain: CASE.to_owned(),
        seq: 3,
        head: head.to_owned(),
        at: CHECKPOINT_AT,
    }
}

// ---- Vector files -------------------------------------------------------------------------

/// A signer as it appears in a vector: its TEST secrets and what follows from them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Party {
    name: String,
    /// TEST KEY. The 32-byte Ed25519 seed (RFC 8032 secret key), hex.
    ed25519_seed: String,
    /// TEST KEY. `AGE-SECRET-KEY-1…`; none for the server, which only signs.
    age_identity: Option<String>,
    ed25519_public: String,
    /// hex sha256(ed25519_public): the `key` of the signed objects.
    key_id: String,
    age_recipient: Option<String>,
    /// hex sha256("trialog/v1/fingerprint" || 0x00 || ed25519_public || age_recipient).
    fingerprint: Option<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct VectorFile<V> {
    comment: String,
    domain: String,
    vectors: Vec<V>,
}

/// One signed object: `signed.sig = Ed25519(domain || 0x00 || payload)`.
#[derive(Serialize, Deserialize)]
#[serde(bound = "", deny_unknown_fields)]
struct SignedVector<T> {
    name: String,
    signer: Party,
    /// The payload bytes exactly as signed (UTF-8 JSON).
    payload: String,
    signed: Signed<T>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentText {
    lang: Lang,
    sha256: String,
    text: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConsentVector {
    name: String,
    signer: Party,
    payload: String,
    signed: Signed<Consent>,
    /// The text of these terms in every language; the payload signs the hash of the one in
    /// the consent's `lang`.
    texts: Vec<ConsentText>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldValue {
    field: FieldId,
    value: serde_json::Value,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeVector {
    name: String,
    signer: Party,
    recipient: Party,
    /// The header payload bytes exactly as signed.
    payload: String,
    envelope: Envelope,
    /// What `open_field` must return for each field, in manifest order.
    values: Vec<FieldValue>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckpointVector {
    name: String,
    signer: Party,
    chain: String,
    /// E_i, the exact JSON of each audit entry.
    entries: Vec<String>,
    /// `{ entry: base64(E_i), hash: hex(H_i) }`,
    /// H_i = sha256("trialog/v1/audit" || 0x00 || H_{i-1} || E_i), H_0 = 32 zero bytes.
    records: Vec<AuditRecord>,
    payload: String,
    signed: Signed<Checkpoint>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginVector {
    name: String,
    signer: Party,
    account: String,
    nonce: String,
    /// hex of "trialog/v1/login" || 0x00 || account || 0x00 || nonce.
    message: String,
    /// base64 Ed25519 signature of `message` (no further domain prefix).
    sig: String,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FingerprintVector {
    party: Party,
    /// hex of "trialog/v1/fingerprint" || 0x00 || ed25519_public || age_recipient.
    preimage: String,
    /// The first 32 hex digits in groups of four, as people compare them.
    short: String,
}

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn load<V: DeserializeOwned>(file: &str) -> V {
    let path = vectors_dir().join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (see write_vectors)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load_signed<T: SignedKind>(file: &str) -> VectorFile<SignedVector<T>> {
    let f: VectorFile<SignedVector<T>> = load(file);
    assert_eq!(f.domain, T::DOMAIN, "{file}");
    f
}

fn consent_file() -> VectorFile<ConsentVector> {
    let f: VectorFile<ConsentVector> = load("consent.json");
    assert_eq!(f.domain, Consent::DOMAIN);
    f
}

fn envelope_file() -> VectorFile<EnvelopeVector> {
    let f: VectorFile<EnvelopeVector> = load("envelope.json");
    assert_eq!(f.domain, EnvelopeHeader::DOMAIN);
    f
}

fn checkpoint_file() -> VectorFile<CheckpointVector> {
    let f: VectorFile<CheckpointVector> = load("checkpoint.json");
    assert_eq!(f.domain, Checkpoint::DOMAIN);
    f
}

fn only<V>(f: VectorFile<V>) -> V {
    let mut v = f.vectors;
    assert_eq!(v.len(), 1);
    v.remove(0)
}

// ---- Checks shared by every signed kind -----------------------------------------------------

/// Checks a party's public facts against its secrets, computed independently of the crate
/// where possible. Returns its signing key.
fn check_party(p: &Party) -> SigningKey {
    let seed = hex32(&p.ed25519_seed);
    let sk = SigningKey::from_bytes(&seed);
    let vk = sk.verifying_key();
    assert_eq!(hex::encode(vk.as_bytes()), p.ed25519_public, "{}", p.name);
    assert_eq!(sha256_hex(&[vk.as_bytes()]), p.key_id, "{}", p.name);
    assert_eq!(key_id(&vk), p.key_id, "{}", p.name);
    match (&p.age_identity, &p.age_recipient, &p.fingerprint) {
        (Some(age), Some(rcpt), Some(fp)) => {
            let id = Identity::from_secrets(&seed, age).unwrap();
            assert_eq!(&id.age_recipient(), rcpt, "{}", p.name);
            let manual = sha256_hex(&[b"trialog/v1/fingerprint\0", vk.as_bytes(), rcpt.as_bytes()]);
            assert_eq!(&manual, fp, "{}", p.name);
            assert_eq!(id.fingerprint().as_str(), fp, "{}", p.name);
            assert_eq!(keys::fingerprint(&vk, rcpt).as_str(), fp, "{}", p.name);
        }
        (None, None, None) => {}
        _ => panic!(
            "{}: age identity, recipient and fingerprint go together",
            p.name
        ),
    }
    sk
}

/// The bytes Ed25519 signs for a signed object, built here from the documented layout.
fn signing_input(domain: &str, payload: &[u8]) -> Vec<u8> {
    [domain.as_bytes(), b"\0", payload].concat()
}

/// The known-answer check of one signed object: rebuild it from seed + payload, demand the
/// same bytes, open it and compare with `expected`.
fn check_signed<T>(signer: &Party, payload: &str, signed: &Signed<T>, expected: &T) -> T
where
    T: SignedKind + PartialEq + Debug,
{
    let sk = check_party(signer);
    let vk = sk.verifying_key();
    assert_eq!(signed.payload.as_bytes(), payload.as_bytes(), "payload");
    assert_eq!(signed.key, signer.key_id, "key id");

    // The layout, independently of `Signed`: Ed25519 over domain || 0x00 || payload.
    let input = signing_input(T::DOMAIN, payload.as_bytes());
    let sig = sk.sign(&input);
    assert_eq!(
        signed.sig.as_bytes(),
        sig.to_bytes().as_slice(),
        "signature"
    );
    vk.verify_strict(&input, &sig).unwrap();

    // Byte for byte through the crate, from the exact payload and from the value.
    let rebuilt = Signed::<T>::sign_bytes(payload.as_bytes().to_vec(), &sk);
    assert_eq!(&rebuilt, signed);
    assert_eq!(
        &Signed::sign(expected, &sk).unwrap(),
        signed,
        "serialization"
    );

    // Wire form round trip.
    let wire = serde_json::to_string(signed).unwrap();
    assert_eq!(&serde_json::from_str::<Signed<T>>(&wire).unwrap(), signed);

    let opened = signed.open(&vk).unwrap();
    assert_eq!(&opened, expected);
    opened
}

// ---- The writer -----------------------------------------------------------------------------

fn signed_vector<T: SignedKind>(name: &str, who: &Who, value: &T) -> SignedVector<T> {
    let signed = Signed::sign(value, &who.signing_key()).unwrap();
    SignedVector {
        name: name.to_owned(),
        signer: who.party(),
        payload: String::from_utf8(signed.payload.0.clone()).unwrap(),
        signed,
    }
}

fn write<V: Serialize>(file: &str, comment: &str, domain: &str, vectors: Vec<V>) {
    let f = VectorFile {
        comment: comment.to_owned(),
        domain: domain.to_owned(),
        vectors,
    };
    let path = vectors_dir().join(file);
    std::fs::write(&path, serde_json::to_string_pretty(&f).unwrap() + "\n").unwrap();
    eprintln!("wrote {}", path.display());
}

const SIGNED_LAYOUT: &str = "signed = { payload: base64(P), sig: base64(Ed25519(domain || 0x00 || P)), \
     key: hex sha256(ed25519 public key) }; P is `payload` byte for byte. Verify with \
     verify_strict over the received bytes, then parse. Secrets are TEST KEYS.";

/// Writes `tests/vectors/*.json`. Ignored, and a no-op unless `TRIALOG_WRITE_VECTORS=1`:
///
/// ```text
/// TRIALOG_WRITE_VECTORS=1 cargo test -p trialog-protocol --test vectors -- --ignored write_vectors
/// ```
#[test]
#[ignore = "rewrites tests/vectors/*.json; needs TRIALOG_WRITE_VECTORS=1 (see the module docs)"]
fn write_vectors() {
    if std::env::var("TRIALOG_WRITE_VECTORS").as_deref() != Ok("1") {
        eprintln!("write_vectors: TRIALOG_WRITE_VECTORS=1 is not set, nothing written");
        return;
    }
    std::fs::create_dir_all(vectors_dir()).unwrap();

    write(
        "key.json",
        &format!("Key records, each signed by its own key. {SIGNED_LAYOUT}"),
        KeyRecord::DOMAIN,
        [&TREATING, &OCCUPATIONAL, &PATIENT]
            .iter()
            .map(|who| signed_vector(who.name, who, &key_record(who)))
            .collect(),
    );

    let c = consent();
    let texts = Lang::ALL
        .iter()
        .map(|&lang| {
            let text = consent_text(&Consent { lang, ..c.clone() });
            ConsentText {
                lang,
                sha256: sha256_hex(&[text.as_bytes()]),
                text,
            }
        })
        .collect();
    let v = signed_vector("consent", &PATIENT, &c);
    write(
        "consent.json",
        &format!(
            "A consent signed by the patient. text_sha256 is hex sha256 of the UTF-8 text in \
             the consent's lang; `texts` pins the wording in every language. {SIGNED_LAYOUT}"
        ),
        Consent::DOMAIN,
        vec![ConsentVector {
            name: v.name,
            signer: v.signer,
            payload: v.payload,
            signed: v.signed,
            texts,
        }],
    );

    write(
        "revocation.json",
        &format!("A revocation signed by the patient. {SIGNED_LAYOUT}"),
        Revocation::DOMAIN,
        vec![signed_vector("revocation", &PATIENT, &revocation())],
    );

    write(
        "binding.json",
        &format!("The treating physician's confirmation of the patient's key. {SIGNED_LAYOUT}"),
        PatientBinding::DOMAIN,
        vec![signed_vector("binding", &TREATING, &binding())],
    );

    let values = envelope_values();
    let rcpt = OCCUPATIONAL.identity().age_identity().to_public();
    let env = seal(
        &TREATING.identity(),
        envelope_header(MESSAGE_ID),
        std::slice::from_ref(&rcpt),
        &values,
    )
    .unwrap();
    write(
        "envelope.json",
        &format!(
            "An envelope from the treating to the occupational physician under the consent \
             vector. Each ciphertext is age (X25519, to `recipient`) of JSON {{message_id, \
             field, value}}; manifest sha256 = hex sha256(ciphertext). The ciphertexts are \
             random: check them by decrypting, not by re-encrypting. {SIGNED_LAYOUT}"
        ),
        EnvelopeHeader::DOMAIN,
        vec![EnvelopeVector {
            name: "bilan".to_owned(),
            signer: TREATING.party(),
            recipient: OCCUPATIONAL.party(),
            payload: String::from_utf8(env.header.payload.0.clone()).unwrap(),
            envelope: env,
            values: values
                .into_iter()
                .map(|(field, value)| FieldValue { field, value })
                .collect(),
        }],
    );

    let entries: Vec<String> = audit_entries()
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let mut prev = GENESIS;
    let mut records = Vec::new();
    for e in &entries {
        prev = chain_hash(&prev, e.as_bytes());
        records.push(AuditRecord {
            entry: B64(e.as_bytes().to_vec()),
            hash: hex::encode(prev),
        });
    }
    let v = signed_vector("checkpoint", &SERVER, &checkpoint(&hex::encode(prev)));
    write(
        "checkpoint.json",
        &format!(
            "A 3-entry audit chain and the server's checkpoint over it. H_i = sha256(\
             \"trialog/v1/audit\" || 0x00 || H_(i-1) || E_i), H_0 = 32 zero bytes; the \
             checkpoint's head is hex H_3. {SIGNED_LAYOUT}"
        ),
        Checkpoint::DOMAIN,
        vec![CheckpointVector {
            name: v.name,
            signer: v.signer,
            chain: CASE.to_owned(),
            entries,
            records,
            payload: v.payload,
            signed: v.signed,
        }],
    );

    write(
        "certificate.json",
        &format!(
            "The server key vouching for a TLS certificate: cert_sha256 is hex sha256 of the \
             end-entity certificate's DER. A client follows a changed certificate only with a \
             statement that verifies with its pinned server key, names the certificate \
             presented and is not older than the one it follows. {SIGNED_LAYOUT}"
        ),
        CertificateStatement::DOMAIN,
        vec![signed_vector(
            "certificate",
            &SERVER,
            &certificate_statement(),
        )],
    );

    let nonce = hex::decode(LOGIN_NONCE).unwrap();
    let msg = login_message(&TREATING.account(), &nonce);
    write(
        "login.json",
        "Login: Ed25519 over \"trialog/v1/login\" || 0x00 || account || 0x00 || nonce \
         (no signed-object wrapper). Secrets are TEST KEYS.",
        trialog_protocol::auth::LOGIN_DOMAIN,
        vec![LoginVector {
            name: "login".to_owned(),
            signer: TREATING.party(),
            account: TREATING.account().to_string(),
            nonce: LOGIN_NONCE.to_owned(),
            message: hex::encode(&msg),
            sig: B64::encode(&TREATING.signing_key().sign(&msg).to_bytes()),
        }],
    );

    write(
        "fingerprint.json",
        "Fingerprint = sha256(\"trialog/v1/fingerprint\" || 0x00 || ed25519 public key (32 \
         bytes) || age recipient string), hex; people compare `short`. Secrets are TEST KEYS.",
        "trialog/v1/fingerprint",
        [&TREATING, &OCCUPATIONAL, &PATIENT]
            .iter()
            .map(|who| {
                let id = who.identity();
                FingerprintVector {
                    party: who.party(),
                    preimage: hex::encode(
                        [
                            b"trialog/v1/fingerprint\0".as_slice(),
                            id.verifying_key().as_bytes(),
                            id.age_recipient().as_bytes(),
                        ]
                        .concat(),
                    ),
                    short: id.fingerprint().short(),
                }
            })
            .collect(),
    );
}

// ---- Known answers --------------------------------------------------------------------------

/// RFC 8032 §7.1, TEST 1 and TEST 2: the primitive under every signed format.
#[test]
fn rfc8032_ed25519() {
    let cases = [
        (
            "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
    ];
    for (secret, public, message, signature) in cases {
        let sk = SigningKey::from_bytes(&hex32(secret));
        let vk = sk.verifying_key();
        assert_eq!(hex::encode(vk.as_bytes()), public);
        let msg = hex::decode(message).unwrap();
        let sig = sk.sign(&msg);
        assert_eq!(hex::encode(sig.to_bytes()), signature);
        vk.verify_strict(&msg, &sig).unwrap();
        let parsed = VerifyingKey::from_bytes(&hex32(public)).unwrap();
        assert_eq!(parsed, vk);
        assert!(!parsed.is_weak());
    }
}

#[test]
fn key_record_vectors() {
    let f = load_signed::<KeyRecord>("key.json");
    let whos = [&TREATING, &OCCUPATIONAL, &PATIENT];
    assert_eq!(f.vectors.len(), whos.len());
    for (v, who) in f.vectors.iter().zip(whos) {
        assert_eq!(v.name, who.name);
        let expected = key_record(who);
        check_signed(&v.signer, &v.payload, &v.signed, &expected);
        // The crate's own way of making and opening a key record gives the same.
        let id = who.identity();
        let made = id
            .key_record(&who.account(), who.role.unwrap(), who.key_created_at)
            .unwrap();
        assert_eq!(made, v.signed);
        let keys = open_key_record(&v.signed).unwrap();
        assert_eq!(keys.record, expected);
        assert_eq!(keys.signing, who.verifying_key());
        assert_eq!(keys.recipient.to_string(), id.age_recipient());
        assert_eq!(Some(keys.fingerprint.to_string()), v.signer.fingerprint);
    }
}

#[test]
fn consent_vector() {
    let v = only(consent_file());
    let expected = consent();
    let c = check_signed(&v.signer, &v.payload, &v.signed, &expected);
    assert_eq!(
        open_consent(&v.signed, &PATIENT.verifying_key()),
        Ok(c.clone())
    );
    assert_eq!(c.check_well_formed(), Ok(()));

    // The texts pinned in the file are the texts the crate shows today, and the payload
    // signs the hash of the one in the consent's language.
    assert_eq!(v.texts.len(), Lang::ALL.len());
    for (t, lang) in v.texts.iter().zip(Lang::ALL) {
        assert_eq!(t.lang, lang);
        assert_eq!(
            consent_text(&Consent { lang, ..c.clone() }),
            t.text,
            "{lang:?}"
        );
        assert_eq!(sha256_hex(&[t.text.as_bytes()]), t.sha256, "{lang:?}");
        if lang == c.lang {
            assert_eq!(c.text_sha256, t.sha256);
        }
    }
}

#[test]
fn revocation_vector() {
    let v = only(load_signed::<Revocation>("revocation.json"));
    let r = check_signed(&v.signer, &v.payload, &v.signed, &revocation());
    assert_eq!(r.consent_id.as_str(), CONSENT_ID);
    assert_eq!(r.patient, PATIENT.account());
}

#[test]
fn certificate_vector() {
    let v = only(load_signed::<CertificateStatement>("certificate.json"));
    let s = check_signed(&v.signer, &v.payload, &v.signed, &certificate_statement());
    let server = SERVER.verifying_key();
    let presented = hex32(CERT_SHA256);
    assert_eq!(
        follow(&v.signed, &server, &presented, Some(CERT_ISSUED_AT)).unwrap(),
        s
    );
}

#[test]
fn fail_certificate_statement_by_another_key() {
    let v = only(load_signed::<CertificateStatement>("certificate.json"));
    let presented = hex32(CERT_SHA256);
    assert_eq!(
        follow(&v.signed, &TREATING.verifying_key(), &presented, None),
        Err(CertificateRefusal::NotByServerKey)
    );
}

#[test]
fn fail_certificate_statement_for_another_certificate() {
    let v = only(load_signed::<CertificateStatement>("certificate.json"));
    let mut presented = hex32(CERT_SHA256);
    presented[0] ^= 1;
    assert_eq!(
        follow(&v.signed, &SERVER.verifying_key(), &presented, None),
        Err(CertificateRefusal::OtherCertificate)
    );
}

#[test]
fn fail_certificate_statement_older_than_followed() {
    let v = only(load_signed::<CertificateStatement>("certificate.json"));
    let presented = hex32(CERT_SHA256);
    assert_eq!(
        follow(
            &v.signed,
            &SERVER.verifying_key(),
            &presented,
            Some(CERT_ISSUED_AT + 1)
        ),
        Err(CertificateRefusal::Older)
    );
}

#[test]
fn binding_vector() {
    let v = only(load_signed::<PatientBinding>("binding.json"));
    check_signed(&v.signer, &v.payload, &v.signed, &binding());

    let keys = load_signed::<KeyRecord>("key.json");
    let treating = open_key_record(&keys.vectors[0].signed).unwrap();
    let patient = verify_patient(
        &case_id(),
        &treating,
        Some(&v.signed),
        &keys.vectors[2].signed,
    )
    .unwrap();
    assert_eq!(patient.fingerprint, PATIENT.fingerprint());
    assert_eq!(patient.record.account, PATIENT.account());
}

#[test]
fn envelope_vector() {
    let v = only(envelope_file());
    let recipient_sk = check_party(&v.recipient);
    assert_eq!(recipient_sk.verifying_key(), OCCUPATIONAL.verifying_key());
    let env = &v.envelope;

    let mut expected = envelope_header(MESSAGE_ID);
    expected.manifest = env
        .fields
        .iter()
        .map(|f| ManifestEntry {
            field: f.field,
            sha256: sha256_hex(&[f.ciphertext.as_bytes()]),
        })
        .collect();
    let header = check_signed(&v.signer, &v.payload, &env.header, &expected);

    let values = envelope_values();
    assert_eq!(
        v.values,
        values
            .iter()
            .map(|(field, value)| FieldValue {
                field: *field,
                value: value.clone(),
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        header.fields(),
        values.iter().map(|(f, _)| *f).collect::<Vec<_>>()
    );
    check_ciphertexts(&header, &env.fields).unwrap();

    let me = OCCUPATIONAL.identity();
    for (f, fv) in env.fields.iter().zip(&v.values) {
        assert_eq!(open_field(&me, &header, f), Ok(fv.value.clone()));
        // Only the recipient can read it, not even the sender.
        assert_eq!(
            open_field(&TREATING.identity(), &header, f),
            Err(EnvelopeError::Decrypt(f.field))
        );
    }

    // The consent vector covers every field of this envelope.
    let consent = only(consent_file())
        .signed
        .open(&PATIENT.verifying_key())
        .unwrap();
    let ctx = SendContext {
        case_id: &header.case_id,
        sender: &header.sender,
        recipient: &header.recipient,
        recipient_fingerprint: &header.recipient_fingerprint,
        kind: header.kind,
        at: header.created_at,
    };
    let d = evaluate(&consent, &Standing::default(), &ctx, &header.fields()).unwrap();
    assert_eq!(d.allowed, header.fields());
    assert!(d.stripped.is_empty());
}

#[test]
fn envelope_seal_round_trip() {
    // `seal` is randomized (age), so a fresh envelope differs from the vector only in the
    // ciphertexts and their hashes.
    let v = only(envelope_file());
    let rcpt = OCCUPATIONAL.identity().age_identity().to_public();
    let env = seal(
        &TREATING.identity(),
        envelope_header(MESSAGE_ID),
        std::slice::from_ref(&rcpt),
        &envelope_values(),
    )
    .unwrap();
    let fresh = env.header.open(&TREATING.verifying_key()).unwrap();
    let stored = v.envelope.header.open(&TREATING.verifying_key()).unwrap();
    assert_eq!(
        EnvelopeHeader {
            manifest: Vec::new(),
            ..fresh.clone()
        },
        EnvelopeHeader {
            manifest: Vec::new(),
            ..stored
        }
    );
    check_ciphertexts(&fresh, &env.fields).unwrap();
    let me = OCCUPATIONAL.identity();
    for (f, (_, value)) in env.fields.iter().zip(envelope_values()) {
        assert_eq!(open_field(&me, &fresh, f), Ok(value));
    }
}

#[test]
fn checkpoint_vector() {
    let v = only(checkpoint_file());
    assert_eq!(v.chain, CASE);
    let expected_entries = audit_entries();
    assert_eq!(v.entries.len(), expected_entries.len());
    assert_eq!(v.records.len(), expected_entries.len());
    let mut prev = [0u8; 32];
    for ((e, json), r) in expected_entries.iter().zip(&v.entries).zip(&v.records) {
        assert_eq!(&serde_json::to_string(e).unwrap(), json);
        assert_eq!(r.entry.as_bytes(), json.as_bytes());
        let manual = sha256_hex(&[b"trialog/v1/audit\0", &prev, json.as_bytes()]);
        assert_eq!(manual, r.hash, "entry {}", e.seq);
        let h = chain_hash(&prev, json.as_bytes());
        assert_eq!(hex::encode(h), r.hash);
        prev = h;
    }
    let head = hex::encode(prev);
    check_signed(&v.signer, &v.payload, &v.signed, &checkpoint(&head));

    let server = SERVER.verifying_key();
    assert_eq!(
        verify_log(CASE, &v.records, &v.signed, &server, None),
        Ok(expected_entries.clone())
    );
    // The client saw entry 2 last time: the log still extends it.
    assert_eq!(
        verify_log(
            CASE,
            &v.records,
            &v.signed,
            &server,
            Some((2, &v.records[1].hash))
        ),
        Ok(expected_entries)
    );
}

#[test]
fn login_vector() {
    let v = only(load::<VectorFile<LoginVector>>("login.json"));
    let sk = check_party(&v.signer);
    let account = AccountId::parse(&v.account).unwrap();
    let nonce = hex::decode(&v.nonce).unwrap();
    let msg = login_message(&account, &nonce);
    assert_eq!(hex::encode(&msg), v.message);
    let manual = [
        b"trialog/v1/login\0".as_slice(),
        v.account.as_bytes(),
        b"\0",
        &nonce,
    ]
    .concat();
    assert_eq!(msg, manual);
    let sig = sk.sign(&msg);
    assert_eq!(B64::encode(&sig.to_bytes()), v.sig);
    sk.verifying_key().verify_strict(&msg, &sig).unwrap();
}

#[test]
fn fingerprint_vectors() {
    let f: VectorFile<FingerprintVector> = load("fingerprint.json");
    assert_eq!(f.domain, "trialog/v1/fingerprint");
    let whos = [&TREATING, &OCCUPATIONAL, &PATIENT];
    assert_eq!(f.vectors.len(), whos.len());
    for (v, who) in f.vectors.iter().zip(whos) {
        check_party(&v.party);
        assert_eq!(v.party, who.party());
        let fp = v.party.fingerprint.as_deref().unwrap();
        let preimage = hex::decode(&v.preimage).unwrap();
        assert_eq!(sha256_hex(&[&preimage]), fp);
        assert_eq!(
            preimage,
            [
                b"trialog/v1/fingerprint\0".as_slice(),
                &hex::decode(&v.party.ed25519_public).unwrap(),
                v.party.age_recipient.as_deref().unwrap().as_bytes(),
            ]
            .concat()
        );
        let id = who.identity();
        assert_eq!(id.fingerprint().as_str(), fp);
        assert_eq!(id.fingerprint().short(), v.short);
        assert!(id.fingerprint().matches_typed(&v.short));
        assert_eq!(Fingerprint::parse(fp).unwrap(), id.fingerprint());
    }
}

#[test]
fn every_party_is_consistent() {
    for who in ALL_PARTIES {
        check_party(&who.party());
    }
}

// ---- fail_*: signed objects ---------------------------------------------------------------

/// The same wire object read as another kind.
fn as_kind<A, B>(s: &Signed<A>) -> Signed<B> {
    serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap()
}

#[test]
fn fail_wrong_domain() {
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();
    assert_eq!(v.signed.verify(&patient), Ok(()));

    let s: Signed<Revocation> = as_kind(&v.signed);
    assert_eq!(s.verify(&patient), Err(SignedError::BadSignature));
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
    let s: Signed<EnvelopeHeader> = as_kind(&v.signed);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
    let s: Signed<KeyRecord> = as_kind(&v.signed);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
    let s: Signed<PatientBinding> = as_kind(&v.signed);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
    let s: Signed<Checkpoint> = as_kind(&v.signed);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));

    // And the other way: the patient's revocation is not a consent.
    let r = only(load_signed::<Revocation>("revocation.json"));
    let s: Signed<Consent> = as_kind(&r.signed);
    assert_eq!(s.verify(&patient), Err(SignedError::BadSignature));
    assert_eq!(
        open_consent(&s, &patient),
        Err(Refusal::BadPatientSignature)
    );

    // A patient's key record is not a binding, although both come from accounts.
    let k = load_signed::<KeyRecord>("key.json");
    let s: Signed<PatientBinding> = as_kind(&k.vectors[0].signed);
    assert_eq!(
        s.open(&TREATING.verifying_key()),
        Err(SignedError::BadSignature)
    );
}

/// Flips bit `bit` of byte `i`.
fn flip(bytes: &mut [u8], i: usize, bit: u8) {
    bytes[i] ^= 1 << bit;
}

#[test]
fn fail_flipped_payload_bit() {
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();

    // A flip that still parses as a consent (a later valid_until): the signature, not the
    // parser, must catch it.
    let mut s = v.signed.clone();
    let at = v.payload.find("\"valid_until\":").unwrap() + "\"valid_until\":".len();
    flip(&mut s.payload.0, at + 3, 0);
    let changed = s.parse_unverified().unwrap();
    assert_ne!(changed.valid_until, VALID_UNTIL);
    assert_eq!(s.verify(&patient), Err(SignedError::BadSignature));
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
    assert_eq!(
        open_consent(&s, &patient),
        Err(Refusal::BadPatientSignature)
    );

    // Every single-bit change of a revocation, whether it still parses or not.
    let r = only(load_signed::<Revocation>("revocation.json"));
    for i in 0..r.signed.payload.0.len() {
        for bit in 0..8 {
            let mut s = r.signed.clone();
            flip(&mut s.payload.0, i, bit);
            assert_eq!(
                s.open(&patient),
                Err(SignedError::BadSignature),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn fail_flipped_sig_bit() {
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();
    for i in 0..64 {
        for bit in 0..8 {
            let mut s = v.signed.clone();
            flip(&mut s.sig.0, i, bit);
            assert_eq!(
                s.open(&patient),
                Err(SignedError::BadSignature),
                "byte {i} bit {bit}"
            );
        }
    }
}

#[test]
fn fail_truncated_sig() {
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();
    for len in [0, 1, 32, 63] {
        let mut s = v.signed.clone();
        s.sig.0.truncate(len);
        assert_eq!(s.open(&patient), Err(SignedError::BadSignature), "{len}");
    }
    // Nor may it be longer: a 65th byte is not ignored.
    let mut s = v.signed.clone();
    s.sig.0.push(0);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));
}

/// The order of the Ed25519 group, ℓ = 2^252 + 27742317777372353535851937790883648493,
/// little-endian.
const ELL: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

/// Little-endian `a + b`, `None` on overflow past 256 bits.
fn add_le(a: &[u8; 32], b: &[u8; 32]) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = u16::from(a[i]) + u16::from(b[i]) + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    (carry == 0).then_some(out)
}

#[test]
fn fail_non_canonical_s() {
    // S' = S + ℓ satisfies the same verification equation; accepting it would make every
    // signature malleable (a second valid encoding of the same consent).
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();
    let mut s = v.signed.clone();
    let old: [u8; 32] = s.sig.0[32..].try_into().unwrap();
    let new = add_le(&old, &ELL).unwrap();
    assert_ne!(old, new);
    s.sig.0[32..].copy_from_slice(&new);
    assert_eq!(s.open(&patient), Err(SignedError::BadSignature));

    let sig = Signature::from_bytes(&s.sig.0.as_slice().try_into().unwrap());
    let input = signing_input(Consent::DOMAIN, &v.signed.payload.0);
    assert!(patient.verify_strict(&input, &sig).is_err());
}

/// Encodings of points of small order (the 8-torsion subgroup), including non-canonical
/// sign bits. Any of them as a public key lets anyone "sign" with a cofactorless verifier.
const SMALL_ORDER: [&str; 7] = [
    // identity (order 1)
    "0100000000000000000000000000000000000000000000000000000000000000",
    // order 2
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    // order 4
    "0000000000000000000000000000000000000000000000000000000000000000",
    "0000000000000000000000000000000000000000000000000000000000000080",
    // order 8
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
];

#[test]
fn fail_small_order_key() {
    let k = load_signed::<KeyRecord>("key.json");
    let genuine = k.vectors[2].signed.open(&PATIENT.verifying_key()).unwrap();

    for hex_point in SMALL_ORDER {
        let point = hex32(hex_point);
        let weak = VerifyingKey::from_bytes(&point).unwrap();
        assert!(weak.is_weak(), "{hex_point} is not of small order");
        assert_eq!(keys::verifying_key(&point), Err(KeyError::BadSigningKey));

        // A record claiming the weak key, signed by an honest key.
        let rec = KeyRecord {
            sign_key: B64(point.to_vec()),
            ..genuine.clone()
        };
        let s = Signed::sign(&rec, &PATIENT.signing_key()).unwrap();
        assert_eq!(
            open_key_record(&s).err(),
            Some(KeyError::BadSigningKey),
            "{hex_point}"
        );
    }

    // With the identity as public key, R = identity and S = 0 satisfy the cofactorless
    // equation for every message: a forgery without any secret. The non-strict verifier
    // takes it; `verify_strict` and `open_key_record` must not.
    let identity = hex32(SMALL_ORDER[0]);
    let weak = VerifyingKey::from_bytes(&identity).unwrap();
    let rec = KeyRecord {
        sign_key: B64(identity.to_vec()),
        ..genuine
    };
    let payload = serde_json::to_vec(&rec).unwrap();
    let mut forged_sig = [0u8; 64];
    forged_sig[..32].copy_from_slice(&identity);
    let mut forged = Signed::<KeyRecord>::sign_bytes(payload.clone(), &PATIENT.signing_key());
    forged.sig = B64(forged_sig.to_vec());
    forged.key = key_id(&weak);
    let input = signing_input(KeyRecord::DOMAIN, &payload);
    assert!(
        weak.verify(&input, &Signature::from_bytes(&forged_sig))
            .is_ok(),
        "the forgery is real against a cofactorless, non-strict verifier"
    );
    assert_eq!(forged.verify(&weak), Err(SignedError::BadSignature));
    assert_eq!(
        open_key_record(&forged).err(),
        Some(KeyError::BadSigningKey)
    );
}

#[test]
fn fail_wrong_key_id() {
    let v = only(consent_file());
    let patient = PATIENT.verifying_key();

    // The right signature, but the key id names somebody else.
    let mut s = v.signed.clone();
    s.key = OCCUPATIONAL.party().key_id;
    assert_eq!(s.verify(&patient), Err(SignedError::WrongKey));
    assert_eq!(s.open(&patient), Err(SignedError::WrongKey));

    // The key id is compared exactly: upper-case hex is another string.
    let mut s = v.signed.clone();
    s.key = s.key.to_uppercase();
    assert_eq!(s.open(&patient), Err(SignedError::WrongKey));

    // Opened with another account's key.
    assert_eq!(
        v.signed.open(&OCCUPATIONAL.verifying_key()),
        Err(SignedError::WrongKey)
    );
    assert_eq!(
        open_consent(&v.signed, &OCCUPATIONAL.verifying_key()),
        Err(Refusal::BadPatientSignature)
    );

    // Key id and signature both from another key: still not the patient's consent.
    let s = Signed::<Consent>::sign_bytes(v.payload.into_bytes(), &TREATING.signing_key());
    assert_eq!(s.open(&patient), Err(SignedError::WrongKey));
}

#[test]
fn fail_valid_sig_malformed_payload() {
    let patient = PATIENT.signing_key();
    let vk = patient.verifying_key();
    for payload in [
        b"not json".as_slice(),
        b"",
        b"{}",
        b"[]",
        b"null",
        b"{\"consent_id\":",
    ] {
        let s = Signed::<Consent>::sign_bytes(payload.to_vec(), &patient);
        assert_eq!(s.verify(&vk), Ok(()));
        assert!(
            matches!(s.open(&vk), Err(SignedError::Malformed(_))),
            "{:?}",
            String::from_utf8_lossy(payload)
        );
    }
}

/// Adds `"extra":1` as the last member of the payload object (or of its first nested object
/// after `after`) and re-signs with the signer's key.
fn with_extra<T: SignedKind>(payload: &str, after: Option<&str>, sk: &SigningKey) -> Signed<T> {
    let p = match after {
        None => {
            let end = payload.rfind('}').unwrap();
            format!("{},\"extra\":1{}", &payload[..end], &payload[end..])
        }
        Some(marker) => {
            let start = payload.find(marker).unwrap();
            let end = start + payload[start..].find('}').unwrap();
            format!("{},\"extra\":1{}", &payload[..end], &payload[end..])
        }
    };
    Signed::<T>::sign_bytes(p.into_bytes(), sk)
}

fn assert_unknown_field<T: SignedKind + Debug>(s: &Signed<T>, vk: &VerifyingKey) {
    assert_eq!(s.verify(vk), Ok(()));
    match s.open(vk) {
        Err(SignedError::Malformed(m)) => assert!(m.contains("unknown field"), "{m}"),
        other => panic!("{}: expected Malformed, got {other:?}", T::DOMAIN),
    }
}

#[test]
fn fail_unknown_field_in_payload() {
    for v in load_signed::<KeyRecord>("key.json").vectors {
        let sk = check_party(&v.signer);
        assert_unknown_field(
            &with_extra::<KeyRecord>(&v.payload, None, &sk),
            &sk.verifying_key(),
        );
    }
    let v = only(consent_file());
    let sk = check_party(&v.signer);
    let s = with_extra::<Consent>(&v.payload, None, &sk);
    assert_unknown_field(&s, &sk.verifying_key());
    // `open_consent` refuses it too. Which code it should report for a well-signed but
    // unparsable payload is left open: today it is consent_bad_signature, because
    // `MalformedConsent` has no variant for it.
    assert!(open_consent(&s, &sk.verifying_key()).is_err());

    let v = only(load_signed::<Revocation>("revocation.json"));
    let sk = check_party(&v.signer);
    assert_unknown_field(
        &with_extra::<Revocation>(&v.payload, None, &sk),
        &sk.verifying_key(),
    );

    let v = only(load_signed::<PatientBinding>("binding.json"));
    let sk = check_party(&v.signer);
    assert_unknown_field(
        &with_extra::<PatientBinding>(&v.payload, None, &sk),
        &sk.verifying_key(),
    );

    let v = only(envelope_file());
    let sk = check_party(&v.signer);
    assert_unknown_field(
        &with_extra::<EnvelopeHeader>(&v.payload, None, &sk),
        &sk.verifying_key(),
    );
    // Inside a manifest entry, too.
    assert_unknown_field(
        &with_extra::<EnvelopeHeader>(&v.payload, Some("\"manifest\":[{"), &sk),
        &sk.verifying_key(),
    );

    let v = only(checkpoint_file());
    let sk = check_party(&v.signer);
    assert_unknown_field(
        &with_extra::<Checkpoint>(&v.payload, None, &sk),
        &sk.verifying_key(),
    );
}

// ---- fail_*: consent rules ----------------------------------------------------------------

fn patient_signs(c: &Consent) -> Signed<Consent> {
    Signed::sign(c, &PATIENT.signing_key()).unwrap()
}

fn open_as_patient(c: &Consent) -> Result<Consent, Refusal> {
    open_consent(&patient_signs(c), &PATIENT.verifying_key())
}

#[test]
fn fail_consent_medical_not_shared() {
    let mut c = consent();
    c.fields.push(field("medical.diagnosis"));
    let c = rehash(c);
    let err = open_as_patient(&c).unwrap_err();
    assert_eq!(
        err,
        Refusal::Malformed(MalformedConsent::MedicalNotShared(field(
            "medical.diagnosis"
        )))
    );
    assert_eq!(err.code().as_str(), "consent_malformed");

    // Sharing medically what is not consented, or what is not medical, is malformed too.
    let mut c = consent();
    c.share_medically.push(field("medical.prognosis"));
    assert_eq!(
        open_as_patient(&rehash(c)),
        Err(Refusal::Malformed(
            MalformedConsent::ShareMedicallyMismatch(field("medical.prognosis"))
        ))
    );
    let mut c = consent();
    c.share_medically.push(field("limits.fatigue"));
    assert_eq!(
        open_as_patient(&rehash(c)),
        Err(Refusal::Malformed(
            MalformedConsent::ShareMedicallyMismatch(field("limits.fatigue"))
        ))
    );
}

#[test]
fn fail_consent_text_hash_mismatch() {
    // The hash of the same terms in another language than the one declared.
    let c = consent();
    let english = sha256_hex(&[consent_text(&Consent {
        lang: Lang::En,
        ..c.clone()
    })
    .as_bytes()]);
    let wrong_lang = Consent {
        text_sha256: english,
        ..c.clone()
    };
    assert_eq!(
        open_as_patient(&wrong_lang),
        Err(Refusal::Malformed(MalformedConsent::TextMismatch))
    );

    // Terms widened after the text was shown: one more field, the old hash.
    let mut wider = c.clone();
    wider.fields.push(field("limits.physical"));
    assert_eq!(
        open_as_patient(&wider),
        Err(Refusal::Malformed(MalformedConsent::TextMismatch))
    );

    // Period moved under the old hash: the text shows other dates.
    let later = Consent {
        valid_from: VALID_FROM + 86_400,
        valid_until: VALID_UNTIL + 86_400,
        ..c.clone()
    };
    assert_eq!(
        open_as_patient(&later),
        Err(Refusal::Malformed(MalformedConsent::TextMismatch))
    );
    // Period stretched under the old hash: this consent already runs until its last
    // allowed day (Brussels), so a day more is refused before the text is compared.
    let longer = Consent {
        valid_until: VALID_UNTIL + 86_400,
        ..c.clone()
    };
    assert_eq!(
        open_as_patient(&longer),
        Err(Refusal::Malformed(MalformedConsent::TooLong))
    );

    // Upper-case hex of the right hash is not the hash.
    let upper = Consent {
        text_sha256: c.text_sha256.to_uppercase(),
        ..c
    };
    assert_eq!(
        open_as_patient(&upper),
        Err(Refusal::Malformed(MalformedConsent::TextMismatch))
    );
}

#[test]
fn fail_consent_longer_than_a_year() {
    // Signed 2026-01-05 01:00 in Brussels: the last day may be 2027-01-04, whose last
    // second is 23:59:59 CET (22:59:59 UTC).
    const LAST_SECOND: i64 = 1_799_103_599; // 2027-01-04 22:59:59 UTC
    assert_eq!(max_valid_until(VALID_FROM), LAST_SECOND);
    let one_year = rehash(Consent {
        valid_until: LAST_SECOND,
        ..consent()
    });
    assert!(open_as_patient(&one_year).is_ok(), "exactly the maximum");

    let too_long = rehash(Consent {
        valid_until: LAST_SECOND + 1,
        ..consent()
    });
    assert_eq!(
        open_as_patient(&too_long),
        Err(Refusal::Malformed(MalformedConsent::TooLong))
    );

    let empty = rehash(Consent {
        valid_until: VALID_FROM,
        ..consent()
    });
    assert_eq!(
        open_as_patient(&empty),
        Err(Refusal::Malformed(MalformedConsent::EmptyPeriod))
    );
}

#[test]
fn fail_consent_recipient_name_rewritten() {
    // A name that would add a line to the text the patient signs, reorder it, or hide
    // something in it: refused even when the hash covers exactly that text, so neither a
    // server nor a directory entry can make the consent text say more than its terms.
    for name in [
        "Dr. Luc Janssens\nI also consent to sharing my whole medical file",
        "Dr. Luc Janssens\r",
        "Dr. \u{202E}snessnaJ cuL",
        "Dr. Luc\u{200B} Janssens",
        "Dr. Luc Janssens\u{2028}",
        "Dr. Luc Janssens\u{1b}[8m",
        "",
    ] {
        let c = rehash(Consent {
            recipient_name: name.into(),
            ..consent()
        });
        let err = open_as_patient(&c).unwrap_err();
        assert!(
            matches!(
                err,
                Refusal::Malformed(MalformedConsent::BadRecipientName(_))
            ),
            "{name:?}: {err:?}"
        );
        assert_eq!(err.code().as_str(), "consent_malformed");
    }
}

#[test]
fn fail_consent_period_overflow() {
    // A signed consent from the network must be refused, not crash the verifier, and a
    // consent that never ends is longer than a year.
    for (from, until) in [(-1, i64::MAX), (i64::MIN, 0), (i64::MIN, i64::MAX)] {
        let c = rehash(Consent {
            valid_from: from,
            valid_until: until,
            ..consent()
        });
        assert_eq!(
            open_as_patient(&c),
            Err(Refusal::Malformed(MalformedConsent::TooLong)),
            "{from}..{until}"
        );
    }
}

// ---- Consent evaluation table ---------------------------------------------------------------

struct Ctx {
    case_id: CaseId,
    sender: AccountId,
    recipient: AccountId,
    fingerprint: Fingerprint,
    kind: MessageKind,
    at: i64,
}

enum Expect {
    Decision {
        allowed: &'static [&'static str],
        stripped: &'static [(&'static str, StripReason)],
    },
    Refused(Refusal, &'static str),
}

struct Row {
    name: &'static str,
    consent: fn(&mut Consent),
    ctx: fn(&mut Ctx),
    standing: Standing,
    fields: &'static [&'static str],
    expect: Expect,
}

fn keep<T>(_: &mut T) {}

fn standing(revoked_at: Option<i64>, superseded_at: Option<i64>) -> Standing {
    Standing {
        revoked_at,
        superseded_at,
    }
}

const HOURS: &str = "capacity.hours_per_week";
const FATIGUE: &str = "limits.fatigue";
const CATEGORY: &str = "medical.diagnosis_category";

#[test]
fn consent_evaluation_table() {
    use Expect::{Decision as Go, Refused};
    let rows = vec![
        Row {
            name: "everything consented goes",
            consent: keep,
            ctx: keep,
            standing: Standing::default(),
            fields: &[HOURS, FATIGUE, CATEGORY],
            expect: Go {
                allowed: &[HOURS, FATIGUE, CATEGORY],
                stripped: &[],
            },
        },
        Row {
            name: "deny by default: a field not named is stripped",
            consent: keep,
            ctx: keep,
            standing: Standing::default(),
            fields: &[HOURS, "limits.physical"],
            expect: Go {
                allowed: &[HOURS],
                stripped: &[("limits.physical", StripReason::NotConsented)],
            },
        },
        Row {
            name: "medical only when shared medically",
            consent: keep,
            ctx: keep,
            standing: Standing::default(),
            fields: &["medical.diagnosis", CATEGORY],
            expect: Go {
                allowed: &[CATEGORY],
                stripped: &[("medical.diagnosis", StripReason::MedicalNotShared)],
            },
        },
        Row {
            name: "a field the kind does not carry",
            consent: keep,
            ctx: keep,
            standing: Standing::default(),
            fields: &["job.title", HOURS],
            expect: Go {
                allowed: &[HOURS],
                stripped: &[("job.title", StripReason::NotForKind)],
            },
        },
        Row {
            name: "a consented field the kind does not carry",
            consent: |c| c.kinds.push(MessageKind::Request),
            ctx: |x| x.kind = MessageKind::Request,
            standing: Standing::default(),
            fields: &[HOURS, "review.next_date"],
            expect: Go {
                allowed: &["review.next_date"],
                stripped: &[(HOURS, StripReason::NotForKind)],
            },
        },
        Row {
            name: "revoked before the message",
            consent: keep,
            ctx: keep,
            standing: standing(Some(SENT_AT - 1), None),
            fields: &[HOURS],
            expect: Refused(Refusal::Revoked, "consent_revoked"),
        },
        Row {
            name: "revoked the same second",
            consent: keep,
            ctx: keep,
            standing: standing(Some(SENT_AT), None),
            fields: &[HOURS],
            expect: Refused(Refusal::Revoked, "consent_revoked"),
        },
        Row {
            name: "revocation is prospective",
            consent: keep,
            ctx: keep,
            standing: standing(Some(SENT_AT + 1), None),
            fields: &[HOURS],
            expect: Go {
                allowed: &[HOURS],
                stripped: &[],
            },
        },
        Row {
            name: "revoked wins over expired",
            consent: keep,
            ctx: |x| x.at = VALID_UNTIL + 1,
            standing: standing(Some(SENT_AT), None),
            fields: &[HOURS],
            expect: Refused(Refusal::Revoked, "consent_revoked"),
        },
        Row {
            name: "superseded",
            consent: keep,
            ctx: keep,
            standing: standing(None, Some(SENT_AT - 1)),
            fields: &[HOURS],
            expect: Refused(Refusal::Superseded, "consent_superseded"),
        },
        Row {
            name: "expired",
            consent: keep,
            ctx: |x| x.at = VALID_UNTIL + 1,
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::Expired, "consent_expired"),
        },
        Row {
            name: "last second still valid",
            consent: keep,
            ctx: |x| x.at = VALID_UNTIL,
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Go {
                allowed: &[HOURS],
                stripped: &[],
            },
        },
        Row {
            name: "not yet valid",
            consent: keep,
            ctx: |x| x.at = VALID_FROM - 1,
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::NotYetValid, "consent_not_yet_valid"),
        },
        Row {
            name: "first second valid",
            consent: keep,
            ctx: |x| x.at = VALID_FROM,
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Go {
                allowed: &[HOURS],
                stripped: &[],
            },
        },
        Row {
            name: "another case",
            consent: keep,
            ctx: |x| x.case_id = CaseId::parse("case_00000000000000000000000000000001").unwrap(),
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::WrongCase, "consent_wrong_case"),
        },
        Row {
            name: "wrong recipient",
            consent: keep,
            ctx: |x| x.recipient = TREATING.account(),
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::WrongRecipient, "consent_wrong_recipient"),
        },
        Row {
            name: "recipient key changed",
            consent: keep,
            ctx: |x| x.fingerprint = TREATING.fingerprint(),
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::RecipientKeyChanged, "consent_key_changed"),
        },
        Row {
            name: "sender not in senders",
            consent: keep,
            ctx: |x| x.sender = OCCUPATIONAL.account(),
            standing: Standing::default(),
            fields: &[HOURS],
            expect: Refused(Refusal::SenderNotAllowed, "consent_sender_not_allowed"),
        },
        Row {
            name: "kind not allowed",
            consent: keep,
            ctx: |x| x.kind = MessageKind::Feedback,
            standing: Standing::default(),
            fields: &["adaptations.recommended"],
            expect: Refused(Refusal::KindNotAllowed, "consent_kind_not_allowed"),
        },
    ];

    for row in rows {
        let mut c = consent();
        (row.consent)(&mut c);
        let mut x = Ctx {
            case_id: case_id(),
            sender: TREATING.account(),
            recipient: OCCUPATIONAL.account(),
            fingerprint: OCCUPATIONAL.fingerprint(),
            kind: MessageKind::Bilan,
            at: SENT_AT,
        };
        (row.ctx)(&mut x);
        let ctx = SendContext {
            case_id: &x.case_id,
            sender: &x.sender,
            recipient: &x.recipient,
            recipient_fingerprint: &x.fingerprint,
            kind: x.kind,
            at: x.at,
        };
        let got = evaluate(&c, &row.standing, &ctx, &fields(row.fields));
        match row.expect {
            Go { allowed, stripped } => {
                let d = got.unwrap_or_else(|e| panic!("{}: refused {e:?}", row.name));
                assert_eq!(d.allowed, fields(allowed), "{}", row.name);
                let want: Vec<Stripped> = stripped
                    .iter()
                    .map(|&(f, reason)| Stripped {
                        field: field(f),
                        reason,
                    })
                    .collect();
                assert_eq!(d.stripped, want, "{}", row.name);
            }
            Refused(refusal, code) => {
                let e = got.expect_err(row.name);
                assert_eq!(e, refusal, "{}", row.name);
                assert_eq!(e.code().as_str(), code, "{}", row.name);
            }
        }
    }
}

// ---- fail_*: binding, envelope, audit, RIZIV ----------------------------------------------

#[test]
fn fail_binding_key_substituted() {
    let keys = load_signed::<KeyRecord>("key.json");
    let treating = open_key_record(&keys.vectors[0].signed).unwrap();
    let b = only(load_signed::<PatientBinding>("binding.json"));

    // Another key (the server's choice) registered under the patient's account.
    let impostor = OCCUPATIONAL.identity();
    let substituted = impostor
        .key_record(&PATIENT.account(), Role::Patient, PATIENT.key_created_at)
        .unwrap();
    assert_eq!(
        verify_patient(&case_id(), &treating, Some(&b.signed), &substituted).err(),
        Some(BindingError::KeySubstituted)
    );
    // No binding yet.
    assert_eq!(
        verify_patient(&case_id(), &treating, None, &keys.vectors[2].signed).err(),
        Some(BindingError::Missing)
    );
    // A binding checked against another physician's key.
    let other = open_key_record(&keys.vectors[1].signed).unwrap();
    assert_eq!(
        verify_patient(&case_id(), &other, Some(&b.signed), &keys.vectors[2].signed).err(),
        Some(BindingError::BadSignature)
    );
}

#[test]
fn fail_envelope_hash_mismatch() {
    let v = only(envelope_file());
    let header = v.envelope.header.open(&TREATING.verifying_key()).unwrap();

    let mut fields = v.envelope.fields.clone();
    let last = fields[1].ciphertext.0.len() - 1;
    flip(&mut fields[1].ciphertext.0, last, 0);
    assert_eq!(
        check_ciphertexts(&header, &fields),
        Err(EnvelopeError::HashMismatch(fields[1].field))
    );

    // Out of manifest order, or one missing: not the signed manifest.
    let mut swapped = v.envelope.fields.clone();
    swapped.swap(0, 1);
    assert_eq!(
        check_ciphertexts(&header, &swapped),
        Err(EnvelopeError::ManifestMismatch)
    );
    let mut fewer = v.envelope.fields.clone();
    fewer.pop();
    assert_eq!(
        check_ciphertexts(&header, &fewer),
        Err(EnvelopeError::ManifestMismatch)
    );
}

/// Replaces the ciphertext at `i` and re-signs the header over it, as a sender replaying a
/// ciphertext would: the hashes then match and only the binding inside the plaintext is left.
fn resign_with(v: &EnvelopeVector, i: usize, ciphertext: &B64) -> (EnvelopeHeader, EncryptedField) {
    let mut header = v.envelope.header.open(&TREATING.verifying_key()).unwrap();
    header.manifest[i].sha256 = sha256_hex(&[ciphertext.as_bytes()]);
    let moved = EncryptedField {
        field: header.manifest[i].field,
        ciphertext: ciphertext.clone(),
    };
    let mut fields = v.envelope.fields.clone();
    fields[i] = moved.clone();
    let signed = Signed::sign(&header, &TREATING.signing_key()).unwrap();
    let header = signed.open(&TREATING.verifying_key()).unwrap();
    check_ciphertexts(&header, &fields).unwrap();
    (header, moved)
}

#[test]
fn fail_envelope_field_moved() {
    let v = only(envelope_file());
    let me = OCCUPATIONAL.identity();
    let fatigue = field(FATIGUE);
    let i = v
        .envelope
        .fields
        .iter()
        .position(|f| f.field == fatigue)
        .unwrap();

    // The same field of another message, same sender, same recipient.
    let other = seal(
        &TREATING.identity(),
        envelope_header(OTHER_MESSAGE_ID),
        &[me.age_identity().to_public()],
        &envelope_values(),
    )
    .unwrap();
    let from_other = &other.fields[i];
    assert_eq!(from_other.field, fatigue);
    // Pasted in without re-signing: the manifest catches it.
    let header = v.envelope.header.open(&TREATING.verifying_key()).unwrap();
    let mut pasted = v.envelope.fields.clone();
    pasted[i] = from_other.clone();
    assert_eq!(
        check_ciphertexts(&header, &pasted),
        Err(EnvelopeError::HashMismatch(fatigue))
    );
    // Re-signed: the plaintext's message id catches it.
    let (header, moved) = resign_with(&v, i, &from_other.ciphertext);
    assert_eq!(
        open_field(&me, &header, &moved),
        Err(EnvelopeError::Rebound(fatigue))
    );
    // And straight from the other message without any re-signing.
    let header = v.envelope.header.open(&TREATING.verifying_key()).unwrap();
    assert_eq!(
        open_field(&me, &header, from_other),
        Err(EnvelopeError::Rebound(fatigue))
    );

    // Another field of the same message moved into this slot: the field id catches it.
    let j = (i + 1) % v.envelope.fields.len();
    let (header, moved) = resign_with(&v, i, &v.envelope.fields[j].ciphertext);
    assert_eq!(
        open_field(&me, &header, &moved),
        Err(EnvelopeError::Rebound(fatigue))
    );
}

#[test]
fn fail_audit_chain_edited() {
    let v = only(checkpoint_file());
    let server = SERVER.verifying_key();

    // One byte of entry 2 changed (its time), still a well-formed entry.
    let mut records = v.records.clone();
    let at = v.entries[1].find("\"at\":").unwrap() + "\"at\":".len();
    flip(&mut records[1].entry.0, at + 3, 0);
    assert!(serde_json::from_slice::<AuditEntry>(&records[1].entry.0).is_ok());
    assert_eq!(
        verify_log(CASE, &records, &v.signed, &server, None),
        Err(AuditError::Broken(2))
    );

    // Its hash recomputed too: the next link breaks.
    records[1].hash = hex::encode(chain_hash(
        &hex32(&records[0].hash),
        records[1].entry.as_bytes(),
    ));
    assert_eq!(
        verify_log(CASE, &records, &v.signed, &server, None),
        Err(AuditError::Broken(3))
    );

    // The whole chain recomputed: the signed checkpoint no longer matches.
    records[2].hash = hex::encode(chain_hash(
        &hex32(&records[1].hash),
        records[2].entry.as_bytes(),
    ));
    assert_eq!(
        verify_log(CASE, &records, &v.signed, &server, None),
        Err(AuditError::CheckpointMismatch)
    );
    // And a client that saw the old head of entry 2 calls it a rewrite.
    assert_eq!(
        verify_log(
            CASE,
            &records,
            &v.signed,
            &server,
            Some((2, &v.records[1].hash))
        ),
        Err(AuditError::Rewritten(2))
    );
}

#[test]
fn fail_audit_checkpoint_other_key() {
    let v = only(checkpoint_file());
    // The right checkpoint, signed by someone else than the pinned server key.
    let by_other =
        Signed::<Checkpoint>::sign_bytes(v.payload.clone().into_bytes(), &TREATING.signing_key());
    assert_eq!(
        verify_log(CASE, &v.records, &by_other, &SERVER.verifying_key(), None),
        Err(AuditError::BadCheckpoint)
    );
    // The server's checkpoint, checked against another pinned key.
    assert_eq!(
        verify_log(CASE, &v.records, &v.signed, &TREATING.verifying_key(), None),
        Err(AuditError::BadCheckpoint)
    );
}

#[test]
fn riziv_vectors() {
    // 123456 mod 97 = 72 → 25; 100000 mod 97 = 90 → 07; 100007 = 97 · 1031 → 97.
    for (input, digits, shown) in [
        ("1-23456-25-580", "12345625580", "1-23456-25-580"),
        ("1.23456.25.580", "12345625580", "1-23456-25-580"),
        (" 12345625580 ", "12345625580", "1-23456-25-580"),
        ("1-00000-07-000", "10000007000", "1-00000-07-000"),
        ("1 00007 97 003", "10000797003", "1-00007-97-003"),
    ] {
        let r = Riziv::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(r.digits(), digits);
        assert_eq!(r.to_string(), shown);
    }
}

#[test]
fn fail_riziv_check_digits() {
    for bad in [
        "1-23456-26-580",
        "1-23456-52-580",
        "1-00000-70-000",
        "1-00007-00-003",
    ] {
        assert_eq!(Riziv::parse(bad), Err(RizivError::Check), "{bad}");
    }
    assert_eq!(Riziv::parse("1-23456-25-58"), Err(RizivError::Length(10)));
    assert_eq!(Riziv::parse("1-23456-25-5800"), Err(RizivError::Length(12)));
    assert_eq!(Riziv::parse("1-23456-25-58a"), Err(RizivError::Character));
    // Non-ASCII digits are not digits here.
    assert_eq!(Riziv::parse("1-23456-25-58٠"), Err(RizivError::Character));
}
