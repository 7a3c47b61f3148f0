//! RIZIV/INAMI numbers of Belgian physicians.
//!
//! Eleven digits: a six-digit personal number, two check digits and a three-digit
//! qualification code, usually written `1-23456-78-901` or with dots. The check digits are
//! `97 - (number mod 97)`, the modulo-97 scheme Belgian identifiers use.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Riziv(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RizivError {
    #[error("a RIZIV/INAMI number has 11 digits (dashes, dots and spaces allowed), got {0}")]
    Length(usize),
    #[error("a RIZIV/INAMI number contains only digits, dashes, dots and spaces")]
    Character,
    #[error("the check digits of this RIZIV/INAMI number do not match: check for a typing error")]
    Check,
}

impl Riziv {
    pub fn parse(input: &str) -> Result<Self, RizivError> {
        let mut digits = String::with_capacity(11);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                '-' | '.' | ' ' => {}
                _ => return Err(RizivError::Character),
            }
        }
        if digits.len() != 11 {
            return Err(RizivError::Length(digits.len()));
        }
        let number: u32 = digits[..6].parse().map_err(|_| RizivError::Character)?;
        let check: u32 = digits[6..8].parse().map_err(|_| RizivError::Character)?;
        if check != Self::check_digits(number) {
            return Err(RizivError::Check);
        }
        Ok(Riziv(digits))
    }

    /// The check digits for a six-digit personal number.
    pub fn check_digits(number: u32) -> u32 {
        97 - (number % 97)
    }

    /// The 11 digits, no separators.
    pub fn digits(&self) -> &str {
        &self.0
    }

    /// The qualification code (last three digits), e.g. 000 for a GP in training.
    pub fn qualification(&self) -> &str {
        &self.0[8..]
    }
}

impl fmt::Display for Riziv {
    /// `1-23456-78-901`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = &self.0;
        write!(f, "{}-{}-{}-{}", &d[..1], &d[1..6], &d[6..8], &d[8..])
    }
}

impl fmt::Debug for Riziv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Riziv({self})")
    }
}

impl Serialize for Riziv {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Riziv {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Riziv::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_separators_and_checks_digits() {
        // 123456 mod 97 = 72, so the check digits are 25.
        let r = Riziv::parse("1-23456-25-580").unwrap();
        assert_eq!(r.digits(), "12345625580");
        assert_eq!(r.to_string(), "1-23456-25-580");
        assert_eq!(Riziv::parse("1.23456.25.580").unwrap(), r);
        assert_eq!(Riziv::parse("1-23456-26-580"), Err(RizivError::Check));
        assert_eq!(Riziv::parse("1-23456-25-58"), Err(RizivError::Length(10)));
        assert_eq!(Riziv::parse("1-23456-25-58a"), Err(RizivError::Character));
    }
}
