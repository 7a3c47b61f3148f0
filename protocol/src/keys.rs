//! Account keys: one Ed25519 signing key (identity) and one age X25519 identity
//! (encryption) per account, and the signed key record that publishes their public halves.

use age::secrecy::ExposeSecret;
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::fmt;
use zeroize::Zeroizing;

use crate::encoding::{B64, random_bytes, sha256};
use crate::ids::{AccountId, Fingerprint};
use crate::roles::Role;
use crate::signed::{Signed, SignedKind};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("no randomness available from the operating system")]
    Randomness,
    #[error("the signing key is not a valid Ed25519 public key")]
    BadSigningKey,
    #[error("the encryption key is not a valid age X25519 recipient")]
    BadRecipient,
    #[error("the secret key material is damaged")]
    BadSecret,
    #[error("the key record's signature does not verify")]
    BadSignature,
    #[error("the key record is malformed: {0}")]
    Malformed(String),
}

/// The secret half of an account. Zeroized on drop; never printed.
pub struct Identity {
    sign: SigningKey,
    age: age::x25519::Identity,
}

impl fmt::Debug for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Identity([redacted])")
    }
}

impl Identity {
    pub fn generate() -> Result<Self, KeyError> {
        let seed = Zeroizing::new(random_bytes::<32>().map_err(|_| KeyError::Randomness)?);
        Ok(Identity {
            sign: SigningKey::from_bytes(&seed),
            age: age::x25519::Identity::generate(),
        })
    }

    /// Rebuilds an identity from its stored secrets (Ed25519 seed, `AGE-SECRET-KEY-1…`).
    pub fn from_secrets(seed: &[u8], age_secret: &str) -> Result<Self, KeyError> {
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.try_into().map_err(|_| KeyError::BadSecret)?);
        let age = age_secret
            .parse::<age::x25519::Identity>()
            .map_err(|_| KeyError::BadSecret)?;
        Ok(Identity {
            sign: SigningKey::from_bytes(&seed),
            age,
        })
    }

    /// The secrets to store: Ed25519 seed and the age identity string.
    pub fn secrets(&self) -> (Zeroizing<Vec<u8>>, Zeroizing<String>) {
        (
            Zeroizing::new(self.sign.to_bytes().to_vec()),
            Zeroizing::new(self.age.to_string().expose_secret().to_owned()),
        )
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.sign
    }
    pub fn verifying_key(&self) -> VerifyingKey {
        self.sign.verifying_key()
    }
    pub fn age_identity(&self) -> &age::x25519::Identity {
        &self.age
    }
    pub fn age_recipient(&self) -> String {
        self.age.to_public().to_string()
    }
    pub fn fingerprint(&self) -> Fingerprint {
        fingerprint(&self.verifying_key(), &self.age_recipient())
    }

    /// The key record that publishes this identity for `account`, signed by it.
    pub fn key_record(
        &self,
        account: &AccountId,
        role: Role,
        created_at: i64,
    ) -> Result<Signed<KeyRecord>, serde_json::Error> {
        let rec = KeyRecord {
            account: account.clone(),
            role,
            sign_key: B64(self.verifying_key().to_bytes().to_vec()),
            age_recipient: self.age_recipient(),
            created_at,
        };
        Signed::sign(&rec, &self.sign)
    }
}

/// The fingerprint of an account's two public keys.
pub fn fingerprint(vk: &VerifyingKey, age_recipient: &str) -> Fingerprint {
    Fingerprint::from_digest(sha256(&[
        b"trialog/v1/fingerprint\0",
        vk.as_bytes(),
        age_recipient.as_bytes(),
    ]))
}

/// Parses a raw 32-byte Ed25519 public key, refusing weak (small-order) keys.
pub fn verifying_key(bytes: &[u8]) -> Result<VerifyingKey, KeyError> {
    let b: [u8; 32] = bytes.try_into().map_err(|_| KeyError::BadSigningKey)?;
    let vk = VerifyingKey::from_bytes(&b).map_err(|_| KeyError::BadSigningKey)?;
    if vk.is_weak() {
        return Err(KeyError::BadSigningKey);
    }
    Ok(vk)
}

/// The public keys of an account, signed by its own signing key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    pub account: AccountId,
    pub role: Role,
    /// Ed25519 public key, 32 bytes.
    pub sign_key: B64,
    /// age X25519 recipient, `age1…`.
    pub age_recipient: String,
    pub created_at: i64,
}

impl SignedKind for KeyRecord {
    const DOMAIN: &'static str = "trialog/v1/key";
}

impl KeyRecord {
    pub fn verifying_key(&self) -> Result<VerifyingKey, KeyError> {
        verifying_key(&self.sign_key.0)
    }
    pub fn recipient(&self) -> Result<age::x25519::Recipient, KeyError> {
        self.age_recipient
            .parse()
            .map_err(|_| KeyError::BadRecipient)
    }
    pub fn fingerprint(&self) -> Result<Fingerprint, KeyError> {
        Ok(fingerprint(&self.verifying_key()?, &self.age_recipient))
    }
}

/// A key record checked against its own signature, with its keys parsed.
#[derive(Debug, Clone)]
pub struct VerifiedKeys {
    pub record: KeyRecord,
    pub signing: VerifyingKey,
    pub recipient: age::x25519::Recipient,
    pub fingerprint: Fingerprint,
    /// Every device to encrypt to: the key record's recipient alone, until a client
    /// replaces it with the account's verified device list (`devices`).
    pub devices: Vec<age::x25519::Recipient>,
}

/// Verifies a self-signed key record: parse the claimed key, check the signature over the
/// exact bytes with it, check the encryption key parses.
pub fn open_key_record(signed: &Signed<KeyRecord>) -> Result<VerifiedKeys, KeyError> {
    let claimed = signed
        .parse_unverified()
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    let signing = claimed.verifying_key()?;
    let record = signed.open(&signing).map_err(|_| KeyError::BadSignature)?;
    let recipient = record.recipient()?;
    // One spelling per key: the fingerprint hashes the recipient string, so a second
    // spelling (age also accepts upper case) would give the same keys a second fingerprint.
    if recipient.to_string() != record.age_recipient {
        return Err(KeyError::BadRecipient);
    }
    let fingerprint = fingerprint(&signing, &record.age_recipient);
    Ok(VerifiedKeys {
        record,
        signing,
        devices: vec![recipient.clone()],
        recipient,
        fingerprint,
    })
}
