//! The server's own Ed25519 key: signs session tokens (EdDSA JWTs) and audit checkpoints.
//! Clients pin its public half at `trialog init`.

use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use jsonwebtoken::{DecodingKey, EncodingKey};
use std::fmt;
use std::path::Path;
use zeroize::Zeroizing;

pub struct ServerKey {
    pub signing: SigningKey,
    pub jwt_encoding: EncodingKey,
    pub jwt_decoding: DecodingKey,
}

impl fmt::Debug for ServerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ServerKey([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServerKeyError {
    #[error("cannot read or write the server key at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("the server key at {0} is not a valid Ed25519 PKCS#8 PEM key")]
    Invalid(String),
    #[error("no randomness available")]
    Randomness,
}

impl ServerKey {
    pub fn from_signing(signing: SigningKey) -> Result<Self, ServerKeyError> {
        let der = signing
            .to_pkcs8_der()
            .map_err(|_| ServerKeyError::Invalid("memory".into()))?;
        let jwt_encoding = EncodingKey::from_ed_der(der.as_bytes());
        let jwt_decoding = DecodingKey::from_ed_der(signing.verifying_key().as_bytes());
        Ok(ServerKey {
            signing,
            jwt_encoding,
            jwt_decoding,
        })
    }

    pub fn public(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    /// Loads `path`, or creates it (mode 0600) with a fresh key on first start.
    pub fn load_or_create(path: &Path) -> Result<Self, ServerKeyError> {
        let io = |source| ServerKeyError::Io {
            path: path.display().to_string(),
            source,
        };
        if path.exists() {
            let pem = Zeroizing::new(std::fs::read_to_string(path).map_err(io)?);
            let signing = SigningKey::from_pkcs8_pem(&pem)
                .map_err(|_| ServerKeyError::Invalid(path.display().to_string()))?;
            return Self::from_signing(signing);
        }
        let seed = Zeroizing::new(
            trialog_protocol::encoding::random_bytes::<32>()
                .map_err(|_| ServerKeyError::Randomness)?,
        );
        let signing = SigningKey::from_bytes(&seed);
        let pem = signing
            .to_pkcs8_pem(Default::default())
            .map_err(|_| ServerKeyError::Invalid(path.display().to_string()))?;
        crate::files::write_private(path, pem.as_bytes()).map_err(io)?;
        Self::from_signing(signing)
    }
}
