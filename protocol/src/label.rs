//! The case label: a few words the treating physician chooses to recognise a case. It may
//! name the person or the condition, so it is end-to-end encrypted: sealed by the treating
//! physician's client to their own key, and once the patient's key is confirmed to both.
//! Every other physician sees a neutral reference derived from the case id.
//!
//! ```text
//! sealed_label = age(X25519 → treating [, patient])( JSON { case_id, label, sig } )
//! sig          = Ed25519_treating( "trialog/v1/label" || 0x00 || case_id || 0x00 || label )
//! ```
//!
//! The plaintext names its case, so a server cannot move one case's label onto another; and
//! it is signed by the treating physician, because age does not say who encrypted: anyone
//! who knows the public keys (the server does) could otherwise seal a label of its own.

use serde::{Deserialize, Serialize};
use std::io::Write;

use crate::ids::CaseId;
use crate::keys::Identity;

/// Longest label, characters.
pub const MAX_LABEL_CHARS: usize = 120;
/// Largest sealed label the server stores, bytes (two recipients and the longest label fit).
pub const MAX_SEALED_LABEL: usize = 4096;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LabelError {
    #[error("the case label must be 1 to {MAX_LABEL_CHARS} characters")]
    Length,
    #[error("the case label may not contain control or invisible characters")]
    Control,
    #[error(
        "the case label looks like it holds a national register number; use a pseudonymous label"
    )]
    NationalNumber,
    #[error("the case label cannot be encrypted")]
    Seal,
    #[error("the case label cannot be decrypted with this key")]
    Open,
    #[error("the sealed label belongs to another case")]
    WrongCase,
    #[error("the case label is not signed by the case's treating physician")]
    BadSignature,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LabelPlaintext {
    case_id: CaseId,
    label: String,
    /// The treating physician's signature over `signed_bytes(case_id, label)`.
    sig: crate::encoding::B64,
}

const DOMAIN: &str = "trialog/v1/label";

fn signed_bytes(case_id: &CaseId, label: &str) -> Vec<u8> {
    [
        DOMAIN.as_bytes(),
        b"\0",
        case_id.as_str().as_bytes(),
        b"\0",
        label.as_bytes(),
    ]
    .concat()
}

/// Checks a label a physician typed: short, printable, and no national register number.
pub fn check(label: &str) -> Result<String, LabelError> {
    let label = label.trim();
    if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS {
        return Err(LabelError::Length);
    }
    if label.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Err(LabelError::Control);
    }
    if label.chars().filter(char::is_ascii_digit).count() >= 11 {
        return Err(LabelError::NationalNumber);
    }
    Ok(label.to_owned())
}

fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Seals `label` for `case_id`, signed by the treating physician `by`, to every key in `to`.
pub fn seal(
    case_id: &CaseId,
    label: &str,
    by: &Identity,
    to: &[&age::x25519::Recipient],
) -> Result<Vec<u8>, LabelError> {
    use ed25519_dalek::Signer;
    let label = check(label)?;
    let sig = by.signing_key().sign(&signed_bytes(case_id, &label));
    let pt = serde_json::to_vec(&LabelPlaintext {
        case_id: case_id.clone(),
        label,
        sig: crate::encoding::B64(sig.to_bytes().to_vec()),
    })
    .map_err(|_| LabelError::Seal)?;
    let enc = age::Encryptor::with_recipients(to.iter().map(|r| *r as &dyn age::Recipient))
        .map_err(|_| LabelError::Seal)?;
    let mut out = Vec::with_capacity(pt.len() + 256);
    let mut w = enc.wrap_output(&mut out).map_err(|_| LabelError::Seal)?;
    w.write_all(&pt).map_err(|_| LabelError::Seal)?;
    w.finish().map_err(|_| LabelError::Seal)?;
    Ok(out)
}

/// Opens a sealed label with `me`, checks it belongs to `case_id` and that the case's
/// treating physician (`treating`) signed it.
pub fn open(
    case_id: &CaseId,
    sealed: &[u8],
    me: &Identity,
    treating: &ed25519_dalek::VerifyingKey,
) -> Result<String, LabelError> {
    let pt = age::decrypt(me.age_identity(), sealed).map_err(|_| LabelError::Open)?;
    let pt: LabelPlaintext = serde_json::from_slice(&pt).map_err(|_| LabelError::Open)?;
    if &pt.case_id != case_id {
        return Err(LabelError::WrongCase);
    }
    let sig: [u8; 64] = pt
        .sig
        .0
        .as_slice()
        .try_into()
        .map_err(|_| LabelError::BadSignature)?;
    treating
        .verify_strict(
            &signed_bytes(case_id, &pt.label),
            &ed25519_dalek::Signature::from_bytes(&sig),
        )
        .map_err(|_| LabelError::BadSignature)?;
    check(&pt.label).map_err(|_| LabelError::Open)
}

/// What a physician who may not read the label sees: a neutral reference, the same on every
/// client, e.g. `TRIO-7F3A-91C2`.
pub fn reference(case_id: &CaseId) -> String {
    let hex: String = case_id
        .as_str()
        .rsplit('_')
        .next()
        .unwrap_or_default()
        .chars()
        .filter(char::is_ascii_hexdigit)
        .take(8)
        .collect::<String>()
        .to_uppercase();
    let (a, b) = hex.split_at(hex.len().min(4));
    format!("TRIO-{a}-{b}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_label_opens_for_each_recipient_and_only_for_its_case() {
        let t = Identity::generate().unwrap();
        let p = Identity::generate().unwrap();
        let other = Identity::generate().unwrap();
        let case = CaseId::random().unwrap();
        let tk = t.verifying_key();
        let sealed = seal(
            &case,
            "Case 2026-017",
            &t,
            &[&t.age_identity().to_public(), &p.age_identity().to_public()],
        )
        .unwrap();
        assert_eq!(open(&case, &sealed, &t, &tk).unwrap(), "Case 2026-017");
        assert_eq!(open(&case, &sealed, &p, &tk).unwrap(), "Case 2026-017");
        assert_eq!(open(&case, &sealed, &other, &tk), Err(LabelError::Open));
        let elsewhere = CaseId::random().unwrap();
        assert_eq!(
            open(&elsewhere, &sealed, &t, &tk),
            Err(LabelError::WrongCase)
        );
        // Sealed to the right keys by anyone else (a server knows the public keys).
        let forged = seal(
            &case,
            "Someone else",
            &other,
            &[&p.age_identity().to_public()],
        )
        .unwrap();
        assert_eq!(open(&case, &forged, &p, &tk), Err(LabelError::BadSignature));
    }

    #[test]
    fn labels_are_checked() {
        assert_eq!(check("  "), Err(LabelError::Length));
        assert_eq!(check("a\u{202E}b"), Err(LabelError::Control));
        assert_eq!(check("85.07.30-033.28"), Err(LabelError::NationalNumber));
        assert_eq!(check(" Case 17 ").unwrap(), "Case 17");
        let r = reference(&CaseId::random().unwrap());
        assert!(r.starts_with("TRIO-") && r.len() == 14, "{r}");
    }
}
