//! The operator's own Ed25519 key: it signs the attestations of physicians' keys
//! (`protocol::attestation`), so that clients can check a key without trusting the server.
//!
//! The secret half is kept in the data directory encrypted with the operator's passphrase
//! (age scrypt, `operator-key.age`) and is unlocked only by the operator's commands
//! (`invite`, `approve`); `serve` never reads it, so a compromised running server cannot
//! attest a key of its own. The public half is also written in clear (`operator-key.pub`)
//! for `serve` to publish to clients set up without an onboarding string; the operator's
//! commands never trust that file: they derive the public key from the secret.

use age::secrecy::SecretString;
use ed25519_dalek::{SigningKey, VerifyingKey};
use std::fmt;
use std::path::{Path, PathBuf};
use zeroize::Zeroizing;

/// The shortest passphrase accepted for a new operator key.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

pub struct OperatorKey {
    signing: SigningKey,
}

impl fmt::Debug for OperatorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OperatorKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorKeyError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the operator key's passphrase is wrong, or {0} is damaged or was replaced; nothing was signed"
    )]
    WrongPassphrase(String),
    #[error("the operator key's passphrase must be at least {MIN_PASSPHRASE_CHARS} characters")]
    WeakPassphrase,
    #[error("{0} already holds an operator key; it is never overwritten")]
    Exists(String),
    #[error("the system's random number generator failed")]
    Randomness,
    #[error("cannot encrypt the operator key: {0}")]
    Encrypt(String),
}

/// `operator-key.age`: the passphrase-encrypted secret key.
pub fn secret_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator-key.age")
}

/// `operator-key.pub`: the public key in hex, for `serve` to publish.
pub fn public_path(data_dir: &Path) -> PathBuf {
    data_dir.join("operator-key.pub")
}

impl OperatorKey {
    /// Whether the data directory already has an operator key.
    pub fn exists(data_dir: &Path) -> bool {
        secret_path(data_dir).exists()
    }

    /// Creates a fresh operator key in `data_dir`, encrypted under `passphrase`. Refuses to
    /// replace an existing one: every client pinned its public half.
    pub fn create(data_dir: &Path, passphrase: &str) -> Result<OperatorKey, OperatorKeyError> {
        if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
            return Err(OperatorKeyError::WeakPassphrase);
        }
        let path = secret_path(data_dir);
        if path.exists() {
            return Err(OperatorKeyError::Exists(path.display().to_string()));
        }
        let seed = Zeroizing::new(
            trialog_protocol::encoding::random_bytes::<32>()
                .map_err(|_| OperatorKeyError::Randomness)?,
        );
        let recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
        let sealed = age::encrypt(&recipient, seed.as_slice())
            .map_err(|e| OperatorKeyError::Encrypt(e.to_string()))?;
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| OperatorKeyError::Io { path, source }
        };
        crate::files::write_private(&path, &sealed).map_err(io(&path))?;
        let key = OperatorKey {
            signing: SigningKey::from_bytes(&seed),
        };
        let public = public_path(data_dir);
        std::fs::write(&public, format!("{}\n", key.public_hex())).map_err(io(&public))?;
        Ok(key)
    }

    /// Decrypts the operator key of `data_dir` with `passphrase`.
    pub fn unlock(data_dir: &Path, passphrase: &str) -> Result<OperatorKey, OperatorKeyError> {
        let path = secret_path(data_dir);
        let sealed = std::fs::read(&path).map_err(|source| OperatorKeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
        let wrong = || OperatorKeyError::WrongPassphrase(path.display().to_string());
        let seed = Zeroizing::new(age::decrypt(&identity, &sealed).map_err(|_| wrong())?);
        let seed: Zeroizing<[u8; 32]> =
            Zeroizing::new(seed.as_slice().try_into().map_err(|_| wrong())?);
        Ok(OperatorKey {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    pub fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// The public key as it travels in onboarding strings: 64 hex digits.
    pub fn public_hex(&self) -> String {
        hex::encode(self.public().as_bytes())
    }
}

/// The public key `serve` publishes (`operator-key.pub`), if the operator made one.
/// Unreadable or malformed means none: clients set up from an onboarding string never need
/// it, and the others are told the server has no operator key.
pub fn published(data_dir: &Path) -> Option<VerifyingKey> {
    let text = std::fs::read_to_string(public_path(data_dir)).ok()?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
    trialog_protocol::keys::verifying_key(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_unlocks_with_its_passphrase_only_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let key = OperatorKey::create(dir.path(), "operator passphrase").unwrap();
        assert_eq!(published(dir.path()), Some(key.public()));
        let again = OperatorKey::unlock(dir.path(), "operator passphrase").unwrap();
        assert_eq!(again.public(), key.public());
        assert!(matches!(
            OperatorKey::unlock(dir.path(), "another passphrase"),
            Err(OperatorKeyError::WrongPassphrase(_))
        ));
        assert!(matches!(
            OperatorKey::create(dir.path(), "operator passphrase"),
            Err(OperatorKeyError::Exists(_))
        ));
        assert!(matches!(
            OperatorKey::create(tempfile::tempdir().unwrap().path(), "short"),
            Err(OperatorKeyError::WeakPassphrase)
        ));
        assert_eq!(format!("{key:?}"), "OperatorKey([redacted])");
    }
}
