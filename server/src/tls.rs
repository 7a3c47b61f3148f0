//! TLS 1.3 on every listener (rustls, ring provider).
//!
//! With no certificate given, the server creates a self-signed one in the data directory on
//! first start and prints its SHA-256 fingerprint, which clients pin explicitly.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{0} holds no PEM certificate")]
    NoCertificate(String),
    #[error("{0} holds no usable PEM private key")]
    NoKey(String),
    #[error("cannot create a self-signed certificate: {0}")]
    Generate(String),
    #[error("the certificate and key do not form a valid TLS configuration: {0}")]
    Config(String),
}

#[derive(Debug)]
pub struct TlsMaterial {
    pub config: Arc<rustls::ServerConfig>,
    /// Hex SHA-256 of the end-entity certificate (DER): what clients pin.
    pub cert_sha256: String,
    pub cert_path: PathBuf,
}

/// Uses the given certificate and key, or the self-signed pair in `dir` (created if absent).
pub fn load(given: Option<(&Path, &Path)>, dir: &Path) -> Result<TlsMaterial, TlsError> {
    let (cert_path, key_path) = match given {
        Some((c, k)) => (c.to_path_buf(), k.to_path_buf()),
        None => {
            let c = dir.join("tls-cert.pem");
            let k = dir.join("tls-key.pem");
            if !c.exists() || !k.exists() {
                create_self_signed(&c, &k)?;
            }
            (c, k)
        }
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|_| TlsError::NoCertificate(cert_path.display().to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|_| TlsError::NoCertificate(cert_path.display().to_string()))?;
    let first = certs
        .first()
        .ok_or_else(|| TlsError::NoCertificate(cert_path.display().to_string()))?;
    let cert_sha256 = hex::encode(Sha256::digest(first.as_ref()));
    let key = PrivateKeyDer::from_pem_file(&key_path)
        .map_err(|_| TlsError::NoKey(key_path.display().to_string()))?;
    let mut config =
        rustls::ServerConfig::builder_with_protocol_versions(&[&rustls::version::TLS13])
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsMaterial {
        config: Arc::new(config),
        cert_sha256,
        cert_path,
    })
}

pub(crate) fn create_self_signed(cert: &Path, key: &Path) -> Result<(), TlsError> {
    let names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    let ck =
        rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| TlsError::Io { path: p, source }
    };
    crate::files::write_private(key, ck.signing_key.serialize_pem().as_bytes()).map_err(io(key))?;
    // Not secret, but owner-only like every file the server writes: clients get its
    // fingerprint from the operator, not from the file system.
    crate::files::write_private(cert, ck.cert.pem().as_bytes()).map_err(io(cert))?;
    Ok(())
}
