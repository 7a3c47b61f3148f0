//! Signed objects: sign bytes, not structures (DESIGN.md §4).
//!
//! Wire layout of every signed object:
//!
//! ```text
//! { "payload": base64(P), "sig": base64(S), "key": K }
//!
//!   P = the JSON the signer produced, exactly as it was signed
//!   S = Ed25519( DOMAIN || 0x00 || P )      DOMAIN e.g. "trialog/v1/consent"
//!   K = key id of the signer: hex SHA-256 of the 32-byte Ed25519 public key
//! ```
//!
//! Verifiers check the key id and the signature (`verify_strict`) over the received bytes
//! first and parse second, so no canonical JSON is needed and a signature made for one kind
//! of object can never be accepted as another.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::marker::PhantomData;

use crate::encoding::{B64, sha256_hex};

/// A payload type that can be signed, with the domain tag that separates it from every other.
pub trait SignedKind: Serialize + DeserializeOwned {
    const DOMAIN: &'static str;
}

/// Hex SHA-256 of an Ed25519 public key: the `key` of a signed object.
pub fn key_id(vk: &VerifyingKey) -> String {
    sha256_hex(&[vk.as_bytes()])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignedError {
    #[error("signed by a different key than expected")]
    WrongKey,
    #[error("signature does not verify")]
    BadSignature,
    #[error("signed payload is malformed: {0}")]
    Malformed(String),
}

#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Signed<T> {
    pub payload: B64,
    pub sig: B64,
    pub key: String,
    #[serde(skip)]
    _kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Signed<T> {
    fn clone(&self) -> Self {
        Signed {
            payload: self.payload.clone(),
            sig: self.sig.clone(),
            key: self.key.clone(),
            _kind: PhantomData,
        }
    }
}

impl<T> PartialEq for Signed<T> {
    fn eq(&self, o: &Self) -> bool {
        self.payload == o.payload && self.sig == o.sig && self.key == o.key
    }
}

impl<T> fmt::Debug for Signed<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signed({} bytes by {})", self.payload.0.len(), self.key)
    }
}

fn message(domain: &str, payload: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(domain.len() + 1 + payload.len());
    m.extend_from_slice(domain.as_bytes());
    m.push(0);
    m.extend_from_slice(payload);
    m
}

impl<T: SignedKind> Signed<T> {
    /// Serializes `value` and signs the bytes under `T::DOMAIN`.
    pub fn sign(value: &T, key: &SigningKey) -> Result<Self, serde_json::Error> {
        let payload = serde_json::to_vec(value)?;
        Ok(Self::sign_bytes(payload, key))
    }

    /// Signs bytes exactly as given (tests use this to build hostile payloads).
    pub fn sign_bytes(payload: Vec<u8>, key: &SigningKey) -> Self {
        let sig = key.sign(&message(T::DOMAIN, &payload));
        Signed {
            payload: B64(payload),
            sig: B64(sig.to_bytes().to_vec()),
            key: key_id(&key.verifying_key()),
            _kind: PhantomData,
        }
    }

    /// Verifies the signature by `vk` over the received bytes, then parses them.
    pub fn open(&self, vk: &VerifyingKey) -> Result<T, SignedError> {
        self.verify(vk)?;
        self.parse_unverified()
    }

    /// Checks key id and signature only.
    pub fn verify(&self, vk: &VerifyingKey) -> Result<(), SignedError> {
        if self.key != key_id(vk) {
            return Err(SignedError::WrongKey);
        }
        let sig: [u8; 64] = self
            .sig
            .0
            .as_slice()
            .try_into()
            .map_err(|_| SignedError::BadSignature)?;
        vk.verify_strict(
            &message(T::DOMAIN, &self.payload.0),
            &Signature::from_bytes(&sig),
        )
        .map_err(|_| SignedError::BadSignature)
    }

    /// Parses the payload without checking the signature. Only for reading who claims to
    /// have signed (to look their key up) before `open`; never act on the result alone.
    pub fn parse_unverified(&self) -> Result<T, SignedError> {
        serde_json::from_slice(&self.payload.0).map_err(|e| SignedError::Malformed(e.to_string()))
    }

    /// SHA-256 of the signed payload bytes, hex: a stable reference to this exact object.
    pub fn digest(&self) -> String {
        sha256_hex(&[&self.payload.0])
    }
}
