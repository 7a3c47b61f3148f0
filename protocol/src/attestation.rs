//! The operator's attestation of a physician's identity key (DESIGN.md §2.5).
//!
//! The operator signs, with a key the running server never holds, "this account, with
//! this role, RIZIV/INAMI number and name, holds this identity key". Clients pin the
//! operator's public key at `init` (it comes in the onboarding string) and refuse a
//! physician key that carries no valid attestation: a server that swaps a physician's key
//! in its database cannot make the operator sign the swapped one.
//!
//! A recovery (a physician who lost every device) is an attestation with `replaces` set:
//! the operator's signed statement that the old key is revoked and this one takes its
//! place. Clients that pinned the old key accept the new one only on such a statement,
//! and only if it is newer than the attestation they pinned.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::error::Code;
use crate::ids::{AccountId, Fingerprint};
use crate::keys::VerifiedKeys;
use crate::roles::Role;
use crate::signed::{Signed, SignedKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Attestation {
    pub account: AccountId,
    pub role: Role,
    /// RIZIV/INAMI number, digits only.
    pub riziv: String,
    /// The name shown in directories and consent texts, as the operator checked it.
    pub name: String,
    /// The identity key's fingerprint (Ed25519 signing key and age recipient).
    pub fingerprint: Fingerprint,
    pub attested_at: i64,
    /// Set on a recovery: the key this one replaces, revoked by this statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replaces: Option<Fingerprint>,
}

impl SignedKind for Attestation {
    const DOMAIN: &'static str = "trialog/v1/attestation";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("this physician's key has not been attested by the operator")]
    Missing,
    #[error("this physician's key attestation is not signed by the operator key pinned here")]
    BadSignature,
    #[error("this physician's key attestation is for another account, key, role or name")]
    Mismatch,
}

impl AttestationError {
    pub fn code(&self) -> Code {
        match self {
            AttestationError::Missing => Code::KeyNotAttested,
            AttestationError::BadSignature | AttestationError::Mismatch => Code::AttestationInvalid,
        }
    }
}

/// What the directory says about an account, to be checked against its attestation.
#[derive(Debug, Clone, Copy)]
pub struct Claimed<'a> {
    pub role: Role,
    pub name: Option<&'a str>,
    pub riziv: Option<&'a str>,
}

/// Checks that `signed` is the pinned operator's attestation of exactly these keys, for
/// this account, role, RIZIV/INAMI number and name. Returns the attestation.
pub fn verify(
    operator: &VerifyingKey,
    signed: Option<&Signed<Attestation>>,
    keys: &VerifiedKeys,
    claimed: Claimed<'_>,
) -> Result<Attestation, AttestationError> {
    let signed = signed.ok_or(AttestationError::Missing)?;
    let a = signed
        .open(operator)
        .map_err(|_| AttestationError::BadSignature)?;
    let riziv_digits = claimed
        .riziv
        .map(|r| r.chars().filter(char::is_ascii_digit).collect::<String>());
    if a.account != keys.record.account
        || a.fingerprint != keys.fingerprint
        || a.role != keys.record.role
        || a.role != claimed.role
        || claimed.name != Some(a.name.as_str())
        || riziv_digits.as_deref() != Some(a.riziv.as_str())
    {
        return Err(AttestationError::Mismatch);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Identity, open_key_record};
    use ed25519_dalek::SigningKey;

    fn keys(role: Role) -> VerifiedKeys {
        let id = Identity::generate().unwrap();
        let account = AccountId::random().unwrap();
        open_key_record(&id.key_record(&account, role, 1).unwrap()).unwrap()
    }

    fn attest(op: &SigningKey, k: &VerifiedKeys) -> Signed<Attestation> {
        let a = Attestation {
            account: k.record.account.clone(),
            role: k.record.role,
            riziv: "12345625580".into(),
            name: "Dr. An Peeters".into(),
            fingerprint: k.fingerprint.clone(),
            attested_at: 10,
            replaces: None,
        };
        Signed::sign(&a, op).unwrap()
    }

    const CLAIM: Claimed<'static> = Claimed {
        role: Role::Occupational,
        name: Some("Dr. An Peeters"),
        riziv: Some("1-23456-25-580"),
    };

    #[test]
    fn the_operators_attestation_of_these_keys_verifies() {
        let op = SigningKey::from_bytes(&[7; 32]);
        let k = keys(Role::Occupational);
        let s = attest(&op, &k);
        let a = verify(&op.verifying_key(), Some(&s), &k, CLAIM).unwrap();
        assert_eq!(a.fingerprint, k.fingerprint);
    }

    #[test]
    fn missing_forged_and_retargeted_attestations_are_refused() {
        let op = SigningKey::from_bytes(&[7; 32]);
        let k = keys(Role::Occupational);
        assert_eq!(
            verify(&op.verifying_key(), None, &k, CLAIM),
            Err(AttestationError::Missing)
        );
        // Signed by another key (the server's, say).
        let other = SigningKey::from_bytes(&[8; 32]);
        assert_eq!(
            verify(&op.verifying_key(), Some(&attest(&other, &k)), &k, CLAIM),
            Err(AttestationError::BadSignature)
        );
        // A valid attestation of someone else's keys.
        let someone = keys(Role::Occupational);
        assert_eq!(
            verify(&op.verifying_key(), Some(&attest(&op, &someone)), &k, CLAIM),
            Err(AttestationError::Mismatch)
        );
        // The right keys, but the directory claims another name, number or role.
        let s = attest(&op, &k);
        for claim in [
            Claimed {
                name: Some("Dr. Someone Else"),
                ..CLAIM
            },
            Claimed {
                riziv: Some("1-99999-25-580"),
                ..CLAIM
            },
            Claimed {
                role: Role::Advising,
                ..CLAIM
            },
            Claimed {
                name: None,
                ..CLAIM
            },
        ] {
            assert_eq!(
                verify(&op.verifying_key(), Some(&s), &k, claim),
                Err(AttestationError::Mismatch)
            );
        }
    }
}
