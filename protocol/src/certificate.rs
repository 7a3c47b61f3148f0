//! The server key's word for a TLS certificate: a certificate statement.
//!
//! Clients pin two things at `trialog init`: the SHA-256 of the server's TLS certificate and
//! the server's Ed25519 key. A new certificate would strand every client if the pin could
//! only be changed by hand; instead the server key signs a statement naming the new
//! certificate, and a client whose pinned certificate is no longer presented follows the
//! change only when the statement verifies with the PINNED server key and names exactly the
//! certificate it observed. The certificate is thus as trusted as the server key, never more.
//!
//! ```text
//! Signed<CertificateStatement>  domain "trialog/v1/certificate", by the server key
//! CertificateStatement = { "cert_sha256": hex(SHA-256(leaf certificate DER)), "issued_at": unix seconds }
//! ```

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::signed::{Signed, SignedKind};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateStatement {
    /// Hex SHA-256 of the DER of the end-entity certificate the server presents.
    pub cert_sha256: String,
    /// When the server key vouched for it. A client never follows a statement older than
    /// the one it follows already, so an old certificate (whose key may have leaked, the
    /// reason it was rotated away) cannot be presented again with its old statement.
    pub issued_at: i64,
}

impl SignedKind for CertificateStatement {
    const DOMAIN: &'static str = "trialog/v1/certificate";
}

/// `GET /v1/certificate`: the statement for the certificate being served.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CertificateView {
    pub statement: Signed<CertificateStatement>,
}

/// Why a presented certificate that is not the pinned one is not followed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateRefusal {
    #[error("the server has no statement for its certificate")]
    NoStatement,
    #[error("the certificate statement is not signed by the server key this client pinned")]
    NotByServerKey,
    #[error("the certificate statement is malformed")]
    Malformed,
    #[error("the certificate statement is for another certificate than the one presented")]
    OtherCertificate,
    #[error("the certificate statement is older than the one this client follows already")]
    Older,
}

/// Parses a certificate hash as the statement carries it: 64 hex digits.
pub fn parse_cert_sha256(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Decides whether a client follows a new certificate: `observed` is the SHA-256 of the leaf
/// certificate the server presented (with a valid handshake signature), `server` the pinned
/// server key, `following` the `issued_at` of the statement the client follows already, if
/// it knows one. Returns the statement to record.
pub fn follow(
    statement: &Signed<CertificateStatement>,
    server: &VerifyingKey,
    observed: &[u8; 32],
    following: Option<i64>,
) -> Result<CertificateStatement, CertificateRefusal> {
    let s = statement.open(server).map_err(|e| match e {
        crate::signed::SignedError::Malformed(_) => CertificateRefusal::Malformed,
        _ => CertificateRefusal::NotByServerKey,
    })?;
    let named = parse_cert_sha256(&s.cert_sha256).ok_or(CertificateRefusal::Malformed)?;
    if &named != observed {
        return Err(CertificateRefusal::OtherCertificate);
    }
    if following.is_some_and(|f| s.issued_at < f) {
        return Err(CertificateRefusal::Older);
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consent::Revocation;
    use ed25519_dalek::SigningKey;

    fn server() -> SigningKey {
        SigningKey::from_bytes(&[7; 32])
    }

    fn statement(cert: [u8; 32], at: i64) -> Signed<CertificateStatement> {
        Signed::sign(
            &CertificateStatement {
                cert_sha256: hex::encode(cert),
                issued_at: at,
            },
            &server(),
        )
        .unwrap()
    }

    #[test]
    fn follows_a_statement_by_the_pinned_key_for_the_observed_certificate() {
        let s = statement([1; 32], 100);
        let got = follow(&s, &server().verifying_key(), &[1; 32], Some(50)).unwrap();
        assert_eq!(got.issued_at, 100);
        assert_eq!(got.cert_sha256, hex::encode([1; 32]));
    }

    #[test]
    fn fail_signed_by_another_key() {
        let other = SigningKey::from_bytes(&[8; 32]);
        let s = Signed::<CertificateStatement>::sign(
            &CertificateStatement {
                cert_sha256: hex::encode([1; 32]),
                issued_at: 100,
            },
            &other,
        )
        .unwrap();
        assert_eq!(
            follow(&s, &server().verifying_key(), &[1; 32], None),
            Err(CertificateRefusal::NotByServerKey)
        );
    }

    #[test]
    fn fail_signature_from_another_kind_of_object() {
        // The same key and the same bytes, signed under another domain: refused.
        let payload = serde_json::to_vec(&CertificateStatement {
            cert_sha256: hex::encode([1; 32]),
            issued_at: 100,
        })
        .unwrap();
        let as_revocation = Signed::<Revocation>::sign_bytes(payload, &server());
        let moved: Signed<CertificateStatement> =
            serde_json::from_str(&serde_json::to_string(&as_revocation).unwrap()).unwrap();
        assert_eq!(
            follow(&moved, &server().verifying_key(), &[1; 32], None),
            Err(CertificateRefusal::NotByServerKey)
        );
    }

    #[test]
    fn fail_statement_for_another_certificate() {
        let s = statement([2; 32], 100);
        assert_eq!(
            follow(&s, &server().verifying_key(), &[1; 32], None),
            Err(CertificateRefusal::OtherCertificate)
        );
    }

    #[test]
    fn fail_older_than_the_statement_followed() {
        let s = statement([1; 32], 100);
        assert_eq!(
            follow(&s, &server().verifying_key(), &[1; 32], Some(101)),
            Err(CertificateRefusal::Older)
        );
    }

    #[test]
    fn fail_malformed_payloads() {
        for payload in [
            &b"{}"[..],
            br#"{"cert_sha256":"zz","issued_at":1}"#,
            br#"{"cert_sha256":"0101","issued_at":1}"#,
            br#"{"cert_sha256":"0101010101010101010101010101010101010101010101010101010101010101","issued_at":1,"extra":1}"#,
        ] {
            let s = Signed::<CertificateStatement>::sign_bytes(payload.to_vec(), &server());
            assert_eq!(
                follow(&s, &server().verifying_key(), &[1; 32], None),
                Err(CertificateRefusal::Malformed),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
