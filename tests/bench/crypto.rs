//! The client's own cost per bilan, on one core and with no server: sealing (age to the
//! recipient per field, the header signed with Ed25519), serialising the request body, and
//! opening it as the recipient's client does (the header's signature over the bytes
//! received, every ciphertext against the signed manifest, every field decrypted and
//! checked against the message and field it was made for). The consent standing checked on
//! receipt is a lookup in the case's chain and is left out.

use std::time::{Duration, Instant};
use trialog_protocol::envelope::{Envelope, EnvelopeHeader, check_ciphertexts, open_field};
use trialog_protocol::keys::Identity;

use crate::bilan::{Fields, Sizer, ciphertext_bytes, local_slot, target_size};
use crate::error::BenchError;
use crate::report::{CryptoReport, Latency};

pub fn run(count: usize, seed: u64) -> Result<CryptoReport, BenchError> {
    let bad = |e: String| BenchError::Seal(e);
    let sender = Identity::generate().map_err(|e| bad(e.to_string()))?;
    let recipient = Identity::generate().map_err(|e| bad(e.to_string()))?;
    let slot = crate::bilan::Slot {
        sender: local_slot(&sender)?.sender,
        ..local_slot(&recipient)?
    };
    let sizer = Sizer::new()?;
    let (mut seal_t, mut ser_t, mut open_t) = (Vec::new(), Vec::new(), Vec::new());
    let mut ct_total = 0usize;
    let fields = Fields::WithDiagnosis.ids().len();
    for i in 0..count {
        let (env, took) = sizer.seal(&sender, &slot, target_size(seed, i as u64))?;
        seal_t.push(took);
        ct_total += ciphertext_bytes(&env);
        let t0 = Instant::now();
        let body = serde_json::to_vec(&env).map_err(|e| bad(e.to_string()))?;
        ser_t.push(t0.elapsed());
        let (took, opened) = open(&body, &sender, &recipient)?;
        if opened != fields {
            return Err(bad(format!("opened {opened} fields of {fields}")));
        }
        open_t.push(took);
    }
    let per_s = |l: Option<Latency>| l.map(|l| 1000.0 / l.mean).unwrap_or(0.0);
    let seal_ms = Latency::of(&mut seal_t);
    let open_ms = Latency::of(&mut open_t);
    Ok(CryptoReport {
        bilans: count,
        fields,
        ciphertext_bytes_mean: ct_total as f64 / count.max(1) as f64,
        seal_ms,
        serialise_ms: Latency::of(&mut ser_t),
        open_ms,
        seal_per_s_per_core: per_s(seal_ms),
        open_per_s_per_core: per_s(open_ms),
    })
}

/// The recipient's side, from the body as received; the time it took and the fields opened.
fn open(body: &[u8], sender: &Identity, me: &Identity) -> Result<(Duration, usize), BenchError> {
    let bad = |e: String| BenchError::Seal(format!("open: {e}"));
    let t0 = Instant::now();
    let env: Envelope = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    let h: EnvelopeHeader = env
        .header
        .open(&sender.verifying_key())
        .map_err(|e| bad(e.to_string()))?;
    check_ciphertexts(&h, &env.fields).map_err(|e| bad(e.to_string()))?;
    let mut n = 0;
    for f in &env.fields {
        open_field(me, &h, f).map_err(|e| bad(e.to_string()))?;
        n += 1;
    }
    Ok((t0.elapsed(), n))
}
