//! TLS 1.3 to the server, trusting exactly one certificate: the one whose SHA-256 the user
//! pinned at `trialog init` (printed by the server), or the one a rotation moved the pin to
//! after the pinned server key vouched for it (`cert_follow`). Never "accept any
//! certificate" for a request: the one connection that looks at an unpinned certificate
//! (`probe_config`) only fetches the server's public statement about it.
//!
//! The pin replaces chain validation, as SSH host keys do; the handshake signature is still
//! verified against the presented certificate's key, so only its holder can answer.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use sha2::{Digest, Sha256};
use std::sync::{Arc, Mutex};

/// The pinned certificate hash, shared by every connection of one API client so that a
/// followed rotation applies to the next connection, and the hash of the last certificate
/// refused (what the server presented instead), for `cert_follow` to look at.
#[derive(Debug, Clone)]
pub struct Pin(Arc<Mutex<PinState>>);

#[derive(Debug)]
struct PinState {
    sha256: [u8; 32],
    refused: Option<[u8; 32]>,
}

impl Pin {
    pub fn new(sha256: [u8; 32]) -> Pin {
        Pin(Arc::new(Mutex::new(PinState {
            sha256,
            refused: None,
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, PinState> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn current(&self) -> [u8; 32] {
        self.state().sha256
    }

    /// Moves the pin; only `cert_follow`, after the statement checked out, calls this.
    pub(crate) fn set(&self, sha256: [u8; 32]) {
        let mut s = self.state();
        s.sha256 = sha256;
        s.refused = None;
    }

    /// The certificate refused since the last call, if any.
    pub fn take_refused(&self) -> Option<[u8; 32]> {
        self.state().refused.take()
    }
}

#[derive(Debug)]
enum Trust {
    /// Only the pinned certificate.
    Pinned(Pin),
    /// Any certificate, whose hash is recorded: for the probe that fetches the statement.
    Observe(Arc<Mutex<Option<[u8; 32]>>>),
}

#[derive(Debug)]
struct Verifier {
    trust: Trust,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let seen: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        match &self.trust {
            Trust::Observe(slot) => {
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
                Ok(ServerCertVerified::assertion())
            }
            Trust::Pinned(pin) => {
                let mut s = pin.state();
                if seen == s.sha256 {
                    Ok(ServerCertVerified::assertion())
                } else {
                    s.refused = Some(seen);
                    Err(rustls::Error::General(format!(
                        "the server's TLS certificate (SHA-256 {}) is not the pinned one",
                        hex::encode(seen)
                    )))
                }
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::PeerIncompatible(
            rustls::PeerIncompatible::Tls13RequiredForQuic,
        ))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Parses a pinned fingerprint as typed (hex, any case, `:` or spaces allowed).
pub fn parse_pin(s: &str) -> Option<[u8; 32]> {
    let hex: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | ' ' | '-'))
        .collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(hex.to_ascii_lowercase(), &mut out).ok()?;
    Some(out)
}

/// A rustls client configuration (TLS 1.3 only) that trusts only the pinned certificate.
pub fn pinned_config(sha256: [u8; 32]) -> rustls::ClientConfig {
    shared_pinned_config(&Pin::new(sha256))
}

/// `pinned_config` with a pin that can move (a followed rotation).
pub fn shared_pinned_config(pin: &Pin) -> rustls::ClientConfig {
    config(Trust::Pinned(pin.clone()))
}

/// Accepts any certificate (handshake signature still checked) and records its hash in
/// `seen`. Only for the probe of `cert_follow`, which sends no token and nothing secret
/// and trusts what it fetches only after checking it with the pinned server key.
pub(crate) fn probe_config(seen: Arc<Mutex<Option<[u8; 32]>>>) -> rustls::ClientConfig {
    config(Trust::Observe(seen))
}

fn config(trust: Trust) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map(|b| {
            b.dangerous()
                .with_custom_certificate_verifier(Arc::new(Verifier { trust, provider }))
                .with_no_client_auth()
        })
        // The ring provider always supports TLS 1.3; this branch cannot be taken.
        .unwrap_or_else(|_| {
            rustls::ClientConfig::builder()
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth()
        });
    cfg.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    cfg
}
