//! Identifiers. Each is a newtype built only through a validating parser, so a value of
//! one of these types is always well formed (parse, don't validate).
//!
//! Random ids are 128 bits, written as a short prefix naming what they identify and
//! 32 lower-case hex digits: `acc_…`, `case_…`, `cons_…`, `msg_…`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct BadId {
    pub what: &'static str,
    pub value: String,
}

macro_rules! random_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh random id.
            pub fn random() -> Result<Self, getrandom::Error> {
                let b: [u8; 16] = crate::encoding::random_bytes()?;
                Ok($name(format!("{}{}", $prefix, hex::encode(b))))
            }

            pub fn parse(s: &str) -> Result<Self, BadId> {
                let ok = s
                    .strip_prefix($prefix)
                    .is_some_and(|h| h.len() == 32 && h.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')));
                if ok {
                    Ok($name(s.to_owned()))
                } else {
                    Err(BadId { what: $what, value: s.chars().take(80).collect() })
                }
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = BadId;
            fn from_str(s: &str) -> Result<Self, BadId> {
                $name::parse(s.trim())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $name::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

random_id!(
    /// An account (physician or patient). Chosen at random by the client at registration.
    AccountId, "acc_", "account id");
random_id!(
    /// A case: one patient, their treating physician, and the physicians they add.
    CaseId, "case_", "case id");
random_id!(
    /// One consent (one version, for one recipient).
    ConsentId, "cons_", "consent id");
random_id!(
    /// One envelope (one message to one recipient).
    MessageId, "msg_", "message id");

/// SHA-256 fingerprint of an account's public keys (signing and encryption), 64 hex digits.
///
/// People compare the first 32 digits, grouped by four (`short()`); the full value is what
/// gets signed.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn from_digest(d: [u8; 32]) -> Self {
        Fingerprint(hex::encode(d))
    }

    pub fn parse(s: &str) -> Result<Self, BadId> {
        match normalize_hex(s) {
            Some(norm) if norm.len() == 64 => Ok(Fingerprint(norm)),
            _ => Err(BadId {
                what: "key fingerprint",
                value: s.chars().take(80).collect(),
            }),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The part people read out and compare: 32 hex digits in groups of four.
    pub fn short(&self) -> String {
        let head = self.0.get(..32).unwrap_or(&self.0);
        head.as_bytes()
            .chunks(4)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Does a fingerprint typed by a person (full, or at least the 32 digits of `short()`,
    /// any spacing or case) name this one?
    pub fn matches_typed(&self, typed: &str) -> bool {
        normalize_hex(typed)
            .is_some_and(|t| t.len() >= 32 && t.len() <= 64 && self.0.starts_with(&t))
    }
}

/// Lower-cases and drops separators; `None` if anything else but hex digits remains.
fn normalize_hex(s: &str) -> Option<String> {
    let mut out = String::with_capacity(64);
    for c in s.chars() {
        match c {
            ' ' | '-' | ':' | '.' => {}
            c if c.is_ascii_hexdigit() => out.push(c.to_ascii_lowercase()),
            _ => return None,
        }
    }
    Some(out)
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint({})", &self.0)
    }
}

impl Serialize for Fingerprint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Fingerprint {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // On the wire only the canonical form is accepted.
        if s.len() == 64 && s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(Fingerprint(s))
        } else {
            Err(serde::de::Error::custom(
                "fingerprint must be 64 lower-case hex digits",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        let a = AccountId::random().unwrap();
        assert_eq!(AccountId::parse(a.as_str()).unwrap(), a);
        assert!(AccountId::parse("acc_123").is_err());
        assert!(CaseId::parse(a.as_str()).is_err(), "prefix is checked");
        assert!(AccountId::parse(&a.as_str().to_uppercase()).is_err());
    }

    #[test]
    fn fingerprints_compare_as_typed() {
        let fp = Fingerprint::from_digest([0xab; 32]);
        assert!(fp.matches_typed(&fp.short()));
        assert!(fp.matches_typed(&fp.short().to_uppercase()));
        assert!(!fp.matches_typed("abab"));
        assert!(!fp.matches_typed(&format!("{}zz", &fp.as_str()[..32])));
    }
}
