//! Every decoder of input from the network, a file or a person returns an error on junk and
//! never panics (CONVENTIONS.md 7). Deterministic pseudo-random inputs plus mutations of
//! valid objects, so a failure reproduces.

use trialog_protocol::audit::{AuditRecord, Checkpoint, verify_log};
use trialog_protocol::consent::{Consent, Revocation};
use trialog_protocol::encoding::B64;
use trialog_protocol::envelope::{Envelope, check_ciphertexts};
use trialog_protocol::keys::{Identity, KeyRecord, open_key_record};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{AccountId, FieldId, Fingerprint, Role, Signed};

/// xorshift64*: enough to spread inputs, and the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = (self.next() as usize) % max;
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..1 + rng.next() % 4 {
        if b.is_empty() {
            break;
        }
        let i = (rng.next() as usize) % b.len();
        match rng.next() % 3 {
            0 => b[i] ^= 1 << (rng.next() % 8),
            1 => {
                b.remove(i);
            }
            _ => b.insert(i, rng.next() as u8),
        }
    }
    b
}

#[test]
fn decoders_never_panic_on_junk() {
    let id = Identity::generate().unwrap();
    let account = AccountId::random().unwrap();
    let record = id
        .key_record(&account, Role::Treating, 1_700_000_000)
        .unwrap();
    let valid_json = serde_json::to_vec(&record).unwrap();
    let mut rng = Rng(0x7431_a10c_5eed_0001);
    for round in 0..3000 {
        let junk = if round % 2 == 0 {
            rng.bytes(300)
        } else {
            mutate(&mut rng, valid_json.clone())
        };
        let text = String::from_utf8_lossy(&junk);
        // Wire objects.
        if let Ok(s) = serde_json::from_slice::<Signed<KeyRecord>>(&junk) {
            let _ = open_key_record(&s);
            let _ = s.open(&id.verifying_key());
        }
        let _ = serde_json::from_slice::<Signed<Consent>>(&junk).map(|s| s.parse_unverified());
        let _ = serde_json::from_slice::<Signed<Revocation>>(&junk)
            .map(|s| s.open(&id.verifying_key()));
        if let Ok(env) = serde_json::from_slice::<Envelope>(&junk)
            && let Ok(h) = env.header.parse_unverified()
        {
            let _ = check_ciphertexts(&h, &env.fields);
        }
        let _ = serde_json::from_slice::<Checkpoint>(&junk);
        // Typed by people.
        let _ = Riziv::parse(&text);
        let _ = Fingerprint::parse(&text);
        let _ = id.fingerprint().matches_typed(&text);
        let _ = FieldId::parse(&text);
        let _ = AccountId::parse(&text);
        let _ = trialog_protocol::time::parse_date(&text);
        let _ = trialog_protocol::text::check_display_name(&text);
        let shown = trialog_protocol::text::sanitize(&text);
        assert!(
            !shown.contains(['\u{1b}', '\r', '\u{9b}', '\u{202e}']),
            "{text:?}"
        );
        // Instants from the network, anywhere in i64.
        let ts = rng.next() as i64;
        let _ = trialog_protocol::time::format_ts(ts);
        let _ = trialog_protocol::time::format_date(ts);
        let _ = trialog_protocol::time::max_valid_until(ts);
        let _ = trialog_protocol::Lang::parse(&text);
        let reference = trialog_protocol::leak_guard::Reference {
            medical: vec![(
                FieldId::parse("medical.diagnosis").unwrap(),
                text.to_string(),
            )],
            case_label: Some(text.to_string()),
        };
        let _ = trialog_protocol::leak_guard::check(
            &[(FieldId::parse("remarks").unwrap(), &text)],
            &reference,
        );
    }
}

#[test]
fn mutated_signed_objects_are_refused_not_accepted() {
    let id = Identity::generate().unwrap();
    let account = AccountId::random().unwrap();
    let record = id
        .key_record(&account, Role::Patient, 1_700_000_000)
        .unwrap();
    let mut rng = Rng(42);
    for _ in 0..500 {
        let payload = mutate(&mut rng, record.payload.0.clone());
        if payload == record.payload.0 {
            continue;
        }
        let mut forged = record.clone();
        forged.payload = B64(payload);
        assert!(forged.open(&id.verifying_key()).is_err());
        assert!(open_key_record(&forged).is_err());
    }
}

#[test]
fn audit_verification_refuses_junk_records() {
    let server = Identity::generate().unwrap();
    let cp = Checkpoint {
        chain: "c".into(),
        seq: 1,
        head: "00".repeat(32),
        at: 0,
    };
    let cp = Signed::sign(&cp, server.signing_key()).unwrap();
    let mut rng = Rng(7);
    for _ in 0..500 {
        let records = vec![AuditRecord {
            entry: B64(rng.bytes(200)),
            hash: hex::encode(rng.bytes(40)),
        }];
        assert!(verify_log("c", &records, &cp, &server.verifying_key(), None).is_err());
    }
}
