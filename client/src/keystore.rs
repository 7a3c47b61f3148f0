//! The keystore: the account's two secret keys, encrypted with a passphrase (age scrypt).

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::Path;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::Identity;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::ClientError;

#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Secrets {
    version: u32,
    ed25519_seed: String,
    age_identity: String,
}

/// The shortest passphrase accepted for a new keystore: it is all that stands between a
/// stolen laptop and the person's keys.
pub const MIN_PASSPHRASE_CHARS: usize = 10;

/// Encrypts `id` under `passphrase` and writes it (mode 0600).
pub fn save(path: &Path, id: &Identity, passphrase: &str) -> Result<(), ClientError> {
    if passphrase.chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(ClientError::WeakPassphrase);
    }
    let (seed, age_secret) = id.secrets();
    let secrets = Secrets {
        version: 1,
        ed25519_seed: B64::encode(&seed),
        age_identity: age_secret.to_string(),
    };
    let plain = Zeroizing::new(
        serde_json::to_vec(&secrets)
            .map_err(|e| ClientError::Corrupt("keystore".into(), e.to_string()))?,
    );
    let recipient = age::scrypt::Recipient::new(SecretString::from(passphrase.to_owned()));
    let ct = age::encrypt(&recipient, &plain)
        .map_err(|e| ClientError::Corrupt("keystore".into(), e.to_string()))?;
    crate::home::write_file(path, &ct, true)
}

/// Decrypts the keystore with `passphrase`.
pub fn load(path: &Path, passphrase: &str) -> Result<Identity, ClientError> {
    let ct = std::fs::read(path).map_err(|e| ClientError::Io(path.display().to_string(), e))?;
    let identity = age::scrypt::Identity::new(SecretString::from(passphrase.to_owned()));
    let plain =
        Zeroizing::new(age::decrypt(&identity, &ct).map_err(|_| ClientError::WrongPassphrase)?);
    let secrets: Secrets = serde_json::from_slice(&plain)
        .map_err(|e| ClientError::Corrupt(path.display().to_string(), e.to_string()))?;
    let seed = Zeroizing::new(
        B64::decode(&secrets.ed25519_seed)
            .map_err(|e| ClientError::Corrupt(path.display().to_string(), e.to_string()))?,
    );
    Identity::from_secrets(&seed, &secrets.age_identity)
        .map_err(|e| ClientError::Corrupt(path.display().to_string(), e.to_string()))
}
