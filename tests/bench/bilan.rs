//! Bilans as a treating physician writes them, 4 to 8 KB of ciphertext each, and their
//! sealing before a run (`trialog_protocol::envelope::seal`, what `Client::send` calls), so
//! that the client's crypto stays out of the server's figures and is reported on its own.

use serde_json::{Value, json};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use trialog_protocol::envelope::{Envelope, EnvelopeHeader, seal};
use trialog_protocol::keys::Identity;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Fingerprint, MessageId, MessageKind,
};

use crate::error::BenchError;

/// Ciphertext of one bilan, all fields together (what the server counts against quotas).
pub const MIN_BYTES: usize = 4096;
pub const MAX_BYTES: usize = 8192;

/// What a recipient's consent lets through, as in the README's case: the functional fields
/// for the occupational physician, the same and the diagnosis for the advising physician.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fields {
    Functional,
    WithDiagnosis,
}

impl Fields {
    pub fn ids(self) -> Vec<&'static str> {
        let mut ids = trialog_e2e::FUNCTIONAL.to_vec();
        if self == Fields::WithDiagnosis {
            ids.push("medical.diagnosis");
        }
        ids
    }

    fn index(self) -> usize {
        match self {
            Fields::Functional => 0,
            Fields::WithDiagnosis => 1,
        }
    }
}

/// The free-text fields that carry the length of a long bilan.
const LONG_FIELDS: &[&str] = &[
    "capacity.schedule",
    "limits.fatigue",
    "limits.physical",
    "limits.cognitive",
    "adaptations.recommended",
];

/// Sentences a long functional bilan is made of (ASCII, nothing JSON escapes, so one
/// character is one byte of plaintext).
const SENTENCES: &[&str] = &[
    "Tolerates seated work for about 50 minutes, then needs to stand or walk for 5 minutes.",
    "Afternoon fatigue is reported on most days; a rest of 20 minutes restores concentration.",
    "Can carry up to 5 kg close to the body; no repeated lifting from the floor.",
    "Fine motor work (keyboard, small parts) is slower than before, about two thirds of the former pace.",
    "Commuting more than 45 minutes each way leaves too little energy for the working day.",
    "Reading and writing tasks are possible; complex planning should be split into shorter steps.",
    "Phone calls with customers are manageable if they are scheduled and not back to back.",
    "Night shifts and rotating schedules are not advised during the next three months.",
    "A gradual increase of one half day every four weeks is realistic if the review is favourable.",
    "Workstation: adjustable chair and desk, second screen, a quiet room for focused work.",
];

/// A bilan whose free-text fields carry `pad` characters more than the short one of the
/// tests (`trialog_e2e::bilan_values`), spread over the long fields; only the fields of
/// `fields`.
pub fn values(fields: Fields, pad: usize) -> Vec<(FieldId, Value)> {
    let keep = fields.ids();
    let n = LONG_FIELDS.len();
    trialog_e2e::bilan_values()
        .into_iter()
        .filter(|(f, _)| keep.contains(&f.as_str()))
        .map(
            |(f, v)| match LONG_FIELDS.iter().position(|l| *l == f.as_str()) {
                Some(i) => {
                    let share = pad / n + usize::from(i < pad % n);
                    let text = v.as_str().unwrap_or_default();
                    (f, json!(format!("{text}{}", filler(share, i))))
                }
                None => (f, v),
            },
        )
        .collect()
}

/// Exactly `len` characters of sentences (nothing when 0), starting at a different sentence
/// for each field.
fn filler(len: usize, start: usize) -> String {
    if len == 0 {
        return String::new();
    }
    let mut s = String::with_capacity(len + 100);
    let mut i = start;
    while s.len() < len {
        s.push(' ');
        s.push_str(SENTENCES[i % SENTENCES.len()]);
        i += 1;
    }
    s.truncate(len);
    s
}

/// Target ciphertext sizes, uniform in [MIN_BYTES, MAX_BYTES], the same for a given seed
/// (SplitMix64: no randomness crate needed for a spread of sizes).
pub fn target_size(seed: u64, i: u64) -> usize {
    let mut z = seed.wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    MIN_BYTES + (z % (MAX_BYTES - MIN_BYTES + 1) as u64) as usize
}

/// Where one envelope goes: a recipient in a case, under their current consent.
#[derive(Debug, Clone)]
pub struct Slot {
    pub case: CaseId,
    pub sender: AccountId,
    pub to: AccountId,
    pub to_fingerprint: Fingerprint,
    pub devices: Vec<age::x25519::Recipient>,
    pub consent: ConsentId,
    pub fields: Fields,
}

/// Ciphertext bytes of an envelope: what the server stores and counts.
pub fn ciphertext_bytes(env: &Envelope) -> usize {
    env.fields.iter().map(|f| f.ciphertext.0.len()).sum()
}

/// Seals `values` for `slot`, created now.
pub fn seal_for(
    sender: &Identity,
    slot: &Slot,
    values: &[(FieldId, Value)],
) -> Result<Envelope, BenchError> {
    let header = EnvelopeHeader {
        message_id: MessageId::random().map_err(|e| BenchError::Seal(e.to_string()))?,
        created_at: trialog_protocol::time::now(),
        kind: MessageKind::Bilan,
        case_id: slot.case.clone(),
        sender: slot.sender.clone(),
        recipient: slot.to.clone(),
        recipient_fingerprint: slot.to_fingerprint.clone(),
        consent_id: slot.consent.clone(),
        manifest: Vec::new(),
        leak_guard_override: false,
    };
    seal(sender, header, &slot.devices, values).map_err(|e| BenchError::Seal(e.to_string()))
}

/// Makes bilans of about a chosen ciphertext size: the size of the short bilan is
/// measured per set of fields, and every padding character adds one byte. Only about: age
/// adds a "grease" stanza of random length to each field's header (0 to about 200 bytes),
/// so a bilan that falls outside 4–8 KB is sealed again with the padding corrected.
#[derive(Debug, Clone)]
pub struct Sizer {
    base: [usize; 2],
}

/// Seals of the short bilan averaged for its size (the grease varies it).
const BASE_SAMPLES: usize = 16;
/// Seals of one bilan at most, to land in the range.
const TRIES: usize = 4;

impl Sizer {
    pub fn new() -> Result<Sizer, BenchError> {
        let me = Identity::generate().map_err(bad)?;
        let slot = local_slot(&me)?;
        let mut base = [0; 2];
        for fields in [Fields::Functional, Fields::WithDiagnosis] {
            let slot = Slot {
                fields,
                ..slot.clone()
            };
            let mut total = 0;
            for _ in 0..BASE_SAMPLES {
                total += ciphertext_bytes(&seal_for(&me, &slot, &values(fields, 0))?);
            }
            base[fields.index()] = total / BASE_SAMPLES;
        }
        Ok(Sizer { base })
    }

    /// A bilan for `slot` of about `target` bytes of ciphertext, within 4–8 KB; and how long
    /// its (last) seal took.
    pub fn seal(
        &self,
        sender: &Identity,
        slot: &Slot,
        target: usize,
    ) -> Result<(Envelope, Duration), BenchError> {
        let mut pad = target.saturating_sub(self.base[slot.fields.index()]);
        let mut tries = 0;
        loop {
            let vals = values(slot.fields, pad);
            let t0 = Instant::now();
            let env = seal_for(sender, slot, &vals)?;
            let took = t0.elapsed();
            let got = ciphertext_bytes(&env);
            tries += 1;
            if (MIN_BYTES..=MAX_BYTES).contains(&got) || tries == TRIES {
                return Ok((env, took));
            }
            pad = (pad + target).saturating_sub(got);
        }
    }
}

fn bad(e: impl std::fmt::Display) -> BenchError {
    BenchError::Seal(e.to_string())
}

/// A slot to `me` itself, with fresh ids: for sizing and for the `crypto` mode, no server.
pub fn local_slot(me: &Identity) -> Result<Slot, BenchError> {
    let account = AccountId::random().map_err(bad)?;
    Ok(Slot {
        case: CaseId::random().map_err(bad)?,
        sender: account.clone(),
        to: account,
        to_fingerprint: me.fingerprint(),
        devices: vec![me.age_identity().to_public()],
        consent: ConsentId::random().map_err(bad)?,
        fields: Fields::WithDiagnosis,
    })
}

/// Summary of a sealed pool, for the report.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SealStats {
    pub envelopes: usize,
    pub threads: usize,
    pub wall_s: f64,
    /// One seal, on one core: the client's cost per bilan.
    pub per_bilan_ms: Option<crate::report::Latency>,
    pub ciphertext_bytes_min: usize,
    pub ciphertext_bytes_mean: f64,
    pub ciphertext_bytes_max: usize,
    /// The JSON request body (base64 ciphertext and the signed header).
    pub body_bytes_mean: f64,
}

impl SealStats {
    /// Adds the figures of another pool sealed with the same sizes: counts and times add
    /// up, the sizes' extremes and means combine; the per-bilan percentiles are kept from
    /// the first pool (the same work, on the same cores).
    pub fn add(&mut self, other: &SealStats) {
        if self.envelopes == 0 {
            *self = other.clone();
            return;
        }
        let n = (self.envelopes + other.envelopes) as f64;
        let mean = |a: f64, b: f64| (a * self.envelopes as f64 + b * other.envelopes as f64) / n;
        self.ciphertext_bytes_mean = mean(self.ciphertext_bytes_mean, other.ciphertext_bytes_mean);
        self.body_bytes_mean = mean(self.body_bytes_mean, other.body_bytes_mean);
        self.ciphertext_bytes_min = self.ciphertext_bytes_min.min(other.ciphertext_bytes_min);
        self.ciphertext_bytes_max = self.ciphertext_bytes_max.max(other.ciphertext_bytes_max);
        self.envelopes += other.envelopes;
        self.wall_s += other.wall_s;
    }
}

/// Envelopes of one sender, serialised as request bodies, taken in order by its
/// connections.
pub struct Pool {
    pub bodies: Vec<Mutex<Option<Vec<u8>>>>,
    next: AtomicUsize,
}

impl Pool {
    /// The next body, or none when all were taken.
    pub fn take(&self) -> Option<Vec<u8>> {
        let i = self.next.fetch_add(1, Ordering::Relaxed);
        self.bodies
            .get(i)
            .and_then(|m| m.lock().unwrap_or_else(|p| p.into_inner()).take())
    }
}

/// One sender's share of a pool: its key, its slots (envelope `i` goes to slot `i mod
/// slots`), and how many.
pub struct Order<'a> {
    pub identity: &'a Identity,
    pub slots: &'a [Slot],
    pub count: usize,
}

/// Seals every order on one thread per core. Sizes follow `seed`.
pub fn seal_pools(
    orders: &[Order<'_>],
    sizer: &Sizer,
    seed: u64,
) -> Result<(Vec<Pool>, SealStats), BenchError> {
    let jobs: Vec<(usize, usize)> = orders
        .iter()
        .enumerate()
        .flat_map(|(k, o)| (0..o.count).map(move |i| (k, i)))
        .collect();
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len().max(1));
    let next = AtomicUsize::new(0);
    let start = Instant::now();
    type Done = (usize, usize, Vec<u8>, usize, Duration);
    let results: Vec<Result<Vec<Done>, BenchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let j = next.fetch_add(1, Ordering::Relaxed);
                        let Some(&(k, i)) = jobs.get(j) else {
                            return Ok(done);
                        };
                        let o = &orders[k];
                        let slot = &o.slots[i % o.slots.len()];
                        let (env, took) =
                            sizer.seal(o.identity, slot, target_size(seed, j as u64))?;
                        let body = serde_json::to_vec(&env)
                            .map_err(|e| BenchError::Seal(e.to_string()))?;
                        done.push((k, i, body, ciphertext_bytes(&env), took));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BenchError::Seal("a sealing thread panicked".into())))
            })
            .collect()
    });
    let wall = start.elapsed();
    let mut pools: Vec<Vec<Mutex<Option<Vec<u8>>>>> = orders
        .iter()
        .map(|o| (0..o.count).map(|_| Mutex::new(None)).collect())
        .collect();
    let (mut times, mut ct, mut body_total) = (Vec::new(), Vec::new(), 0usize);
    for r in results {
        for (k, i, body, c, took) in r? {
            body_total += body.len();
            ct.push(c);
            times.push(took);
            pools[k][i] = Mutex::new(Some(body));
        }
    }
    let n = ct.len();
    let stats = SealStats {
        envelopes: n,
        threads,
        wall_s: wall.as_secs_f64(),
        per_bilan_ms: crate::report::Latency::of(&mut times),
        ciphertext_bytes_min: ct.iter().copied().min().unwrap_or(0),
        ciphertext_bytes_mean: mean(ct.iter().sum::<usize>(), n),
        ciphertext_bytes_max: ct.iter().copied().max().unwrap_or(0),
        body_bytes_mean: mean(body_total, n),
    };
    let pools = pools
        .into_iter()
        .map(|bodies| Pool {
            bodies,
            next: AtomicUsize::new(0),
        })
        .collect();
    Ok((pools, stats))
}

fn mean(total: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { total as f64 / n as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_spread_over_the_range() {
        let sizes: Vec<usize> = (0..1000).map(|i| target_size(7, i)).collect();
        assert!(sizes.iter().all(|s| (MIN_BYTES..=MAX_BYTES).contains(s)));
        assert!(sizes.iter().any(|s| *s < MIN_BYTES + 512));
        assert!(sizes.iter().any(|s| *s > MAX_BYTES - 512));
    }

    #[test]
    fn a_bilan_has_about_the_ciphertext_size_asked_for() {
        let me = Identity::generate().expect("identity");
        let sizer = Sizer::new().expect("sizer");
        for fields in [Fields::Functional, Fields::WithDiagnosis] {
            let slot = Slot {
                fields,
                ..local_slot(&me).expect("slot")
            };
            for target in [MIN_BYTES, 6001, MAX_BYTES] {
                let (env, _) = sizer.seal(&me, &slot, target).expect("seal");
                let got = ciphertext_bytes(&env);
                assert!((MIN_BYTES..=MAX_BYTES).contains(&got), "{fields:?} {got}");
                // Each field's grease stanza is at most about 200 bytes.
                assert!(
                    got.abs_diff(target) < 200 * env.fields.len(),
                    "{got} {target}"
                );
                assert_eq!(env.fields.len(), fields.ids().len());
            }
        }
    }
}
