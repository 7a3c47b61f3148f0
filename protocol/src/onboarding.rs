//! The one onboarding string of an enrolment sheet or a physician's invitation: the
//! server's address, the SHA-256 of its TLS certificate and the one-time code, together,
//! so that a newcomer types or scans one thing.
//!
//! Layout: `trialog:v1:` followed by the unpadded base64url encoding of the JSON object
//! `{"server": "https://…", "cert_sha256": "<64 hex digits>", "code": "…",
//! "operator_key": "<64 hex digits>"}` (no other key). `operator_key`, the operator's
//! Ed25519 public key that clients pin to check physicians' attestations, came later:
//! strings without it still decode.
//! The string carries no secret beyond the code itself: whoever holds it can do exactly
//! what the plain code allows, and the certificate hash and operator key it pins are public.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// What every onboarding string starts with; the version names the layout above.
pub const PREFIX: &str = "trialog:v1:";

/// Longer strings are refused before decoding: a real one is about 200 characters.
const MAX_LEN: usize = 2048;

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Onboarding {
    /// `https://host:port`, without a trailing slash.
    pub server: String,
    /// 64 lower-case hex digits.
    pub cert_sha256: String,
    /// The enrolment or invitation code, as issued.
    pub code: String,
    /// 64 lower-case hex digits: the operator's Ed25519 public key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_key: Option<String>,
}

impl std::fmt::Debug for Onboarding {
    // The code is a one-time secret: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Onboarding")
            .field("server", &self.server)
            .field("cert_sha256", &self.cert_sha256)
            .field("code", &"[redacted]")
            .field("operator_key", &self.operator_key)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OnboardingError {
    #[error("an onboarding string starts with `trialog:v1:`; copy it whole from the sheet")]
    Prefix,
    #[error("the onboarding string is too long to be one")]
    TooLong,
    #[error("the onboarding string is damaged (a character is missing or wrong); copy it again")]
    Encoding,
    #[error("the onboarding string does not hold a server, a certificate hash and a code")]
    Content,
    #[error("the onboarding string's server address must start with https://")]
    Server,
    #[error("the onboarding string's certificate hash is not 64 hex digits")]
    Certificate,
    #[error("the onboarding string's code is empty or malformed")]
    Code,
    #[error("the onboarding string's operator key is not 64 hex digits")]
    OperatorKey,
}

impl Onboarding {
    /// Checks and normalises the parts (server without trailing slash, hash in lower case).
    pub fn new(server: &str, cert_sha256: &str, code: &str) -> Result<Self, OnboardingError> {
        let server = server.trim().trim_end_matches('/');
        let rest = server
            .strip_prefix("https://")
            .ok_or(OnboardingError::Server)?;
        if rest.is_empty() || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(OnboardingError::Server);
        }
        let cert: String = cert_sha256
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        if cert.len() != 64 || !cert.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(OnboardingError::Certificate);
        }
        let code = code.trim();
        if code.is_empty()
            || code.len() > 128
            || !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(OnboardingError::Code);
        }
        Ok(Onboarding {
            server: server.to_owned(),
            cert_sha256: cert,
            code: code.to_owned(),
            operator_key: None,
        })
    }

    /// The same, carrying the operator's public key (hex) for the client to pin.
    pub fn with_operator_key(mut self, key_hex: &str) -> Result<Self, OnboardingError> {
        self.operator_key = Some(operator_key(key_hex)?);
        Ok(self)
    }

    /// `trialog:v1:<base64url(JSON)>`.
    pub fn encode(&self) -> String {
        // Serialising three strings cannot fail.
        let json = serde_json::to_vec(self).unwrap_or_default();
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    /// Parses a string as `encode` writes it (spaces and line breaks around or inside it,
    /// from a copy out of a printed sheet, are ignored), then checks every part as `new`.
    pub fn decode(s: &str) -> Result<Self, OnboardingError> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        if s.len() > MAX_LEN {
            return Err(OnboardingError::TooLong);
        }
        let body = s.strip_prefix(PREFIX).ok_or(OnboardingError::Prefix)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| OnboardingError::Encoding)?;
        let raw: Onboarding =
            serde_json::from_slice(&bytes).map_err(|_| OnboardingError::Content)?;
        let o = Onboarding::new(&raw.server, &raw.cert_sha256, &raw.code)?;
        match raw.operator_key {
            Some(k) => o.with_operator_key(&k),
            None => Ok(o),
        }
    }
}

/// Checks an operator key: 64 hex digits (a 32-byte Ed25519 key), returned in lower case.
pub fn operator_key(key_hex: &str) -> Result<String, OnboardingError> {
    let k = key_hex.trim().to_ascii_lowercase();
    if k.len() == 64 && k.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(k)
    } else {
        Err(OnboardingError::OperatorKey)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn sample() -> Onboarding {
        Onboarding::new("https://trialog.example.be:8443/", CERT, "K7QM-2XPA-9RTB").expect("valid")
    }

    #[test]
    fn round_trip() {
        let o = sample();
        assert_eq!(o.server, "https://trialog.example.be:8443");
        let s = o.encode();
        assert!(s.starts_with(PREFIX), "{s}");
        assert!(
            s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '-' | '_'))
        );
        assert_eq!(Onboarding::decode(&s), Ok(o));
    }

    #[test]
    fn known_answer() {
        let o = Onboarding::new("https://127.0.0.1:8443", CERT, "ABCD").expect("valid");
        let json = format!(
            r#"{{"server":"https://127.0.0.1:8443","cert_sha256":"{CERT}","code":"ABCD"}}"#
        );
        assert_eq!(
            o.encode(),
            format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
        );
    }

    #[test]
    fn whitespace_from_a_printed_sheet_is_ignored() {
        let s = sample().encode();
        let (a, b) = s.split_at(30);
        assert_eq!(
            Onboarding::decode(&format!("  {a}\n  {b} \n")),
            Ok(sample())
        );
    }

    #[test]
    fn upper_case_and_colons_in_the_hash_are_normalised() {
        let colons: Vec<String> = CERT
            .to_ascii_uppercase()
            .as_bytes()
            .chunks(2)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        let o = Onboarding::new("https://h", &colons.join(":"), "X").expect("valid");
        assert_eq!(o.cert_sha256, CERT);
    }

    #[test]
    fn the_operator_key_travels_and_old_strings_still_decode() {
        let key = "AB".repeat(32);
        let o = sample().with_operator_key(&key).expect("valid key");
        assert_eq!(o.operator_key.as_deref(), Some("ab".repeat(32).as_str()));
        assert_eq!(Onboarding::decode(&o.encode()), Ok(o));
        // A string made before the operator key existed.
        let old = encoded(&format!(
            r#"{{"server":"https://h","cert_sha256":"{CERT}","code":"A"}}"#
        ));
        assert_eq!(Onboarding::decode(&old).map(|o| o.operator_key), Ok(None));
        let bad = encoded(&format!(
            r#"{{"server":"https://h","cert_sha256":"{CERT}","code":"A","operator_key":"xyz"}}"#
        ));
        assert_eq!(Onboarding::decode(&bad), Err(OnboardingError::OperatorKey));
    }

    #[test]
    fn debug_redacts_the_code() {
        let d = format!("{:?}", sample());
        assert!(d.contains("[redacted]") && !d.contains("K7QM"), "{d}");
    }

    fn encoded(json: &str) -> String {
        format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(json))
    }

    #[test]
    fn fail_prefix() {
        let s = sample().encode();
        for bad in [
            s.replacen("trialog:v1:", "", 1),
            s.replacen("v1", "v2", 1),
            s.replacen("trialog", "tria1og", 1),
            String::new(),
            "K7QM-2XPA-9RTB".into(),
        ] {
            assert_eq!(
                Onboarding::decode(&bad),
                Err(OnboardingError::Prefix),
                "{bad}"
            );
        }
    }

    #[test]
    fn fail_encoding() {
        let s = sample().encode();
        for bad in [format!("{s}==="), format!("{s}+/"), format!("{PREFIX}é")] {
            assert_eq!(
                Onboarding::decode(&bad),
                Err(OnboardingError::Encoding),
                "{bad}"
            );
        }
        // A character dropped from the middle breaks the JSON or the base64.
        let mut cut = s.clone();
        cut.remove(40);
        assert!(Onboarding::decode(&cut).is_err());
    }

    #[test]
    fn fail_content() {
        for bad in [
            "{}".to_owned(),
            "[]".into(),
            "not json".into(),
            format!(r#"{{"server":"https://h","cert_sha256":"{CERT}"}}"#),
            format!(r#"{{"server":"https://h","cert_sha256":"{CERT}","code":"A","extra":1}}"#),
            format!(r#"{{"server":"https://h","cert_sha256":"{CERT}","code":7}}"#),
        ] {
            assert_eq!(
                Onboarding::decode(&encoded(&bad)),
                Err(OnboardingError::Content),
                "{bad}"
            );
        }
    }

    #[test]
    fn fail_parts() {
        let cases = [
            (
                format!(r#"{{"server":"http://h","cert_sha256":"{CERT}","code":"A"}}"#),
                OnboardingError::Server,
            ),
            (
                format!(r#"{{"server":"https://","cert_sha256":"{CERT}","code":"A"}}"#),
                OnboardingError::Server,
            ),
            (
                format!(r#"{{"server":"https://h\u001b[31m","cert_sha256":"{CERT}","code":"A"}}"#),
                OnboardingError::Server,
            ),
            (
                r#"{"server":"https://h","cert_sha256":"abc","code":"A"}"#.to_owned(),
                OnboardingError::Certificate,
            ),
            (
                format!(
                    r#"{{"server":"https://h","cert_sha256":"{}","code":"A"}}"#,
                    "g".repeat(64)
                ),
                OnboardingError::Certificate,
            ),
            (
                format!(r#"{{"server":"https://h","cert_sha256":"{CERT}","code":""}}"#),
                OnboardingError::Code,
            ),
            (
                format!(r#"{{"server":"https://h","cert_sha256":"{CERT}","code":"a b"}}"#),
                OnboardingError::Code,
            ),
            (
                format!(
                    r#"{{"server":"https://h","cert_sha256":"{CERT}","code":"{}"}}"#,
                    "A".repeat(129)
                ),
                OnboardingError::Code,
            ),
        ];
        for (json, want) in cases {
            assert_eq!(Onboarding::decode(&encoded(&json)), Err(want), "{json}");
        }
    }

    #[test]
    fn fail_too_long() {
        let s = format!("{PREFIX}{}", "A".repeat(MAX_LEN));
        assert_eq!(Onboarding::decode(&s), Err(OnboardingError::TooLong));
    }
}
