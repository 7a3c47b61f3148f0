//! One-time codes (operator invitations, patient enrolment): 100 random bits written as
//! 20 Crockford base-32 characters in groups of four, e.g. `7KQ2-M9XD-…`. Only their
//! SHA-256 is stored, so a database dump does not reveal a usable code.

use trialog_protocol::encoding::{random_bytes, sha256_hex};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

pub fn generate() -> Result<String, getrandom::Error> {
    let bytes: [u8; 20] = random_bytes()?;
    let chars: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[(b & 31) as usize] as char)
        .collect();
    Ok(chars
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// Canonical form of a typed code: separators dropped, upper case, and the letters people
/// confuse with digits (O, I, L) read as the digits.
pub fn normalize(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' ' | '.'))
        .map(|c| match c.to_ascii_uppercase() {
            'O' => '0',
            'I' | 'L' => '1',
            c => c,
        })
        .collect()
}

pub fn hash(typed: &str) -> String {
    sha256_hex(&[b"trialog/v1/code\0", normalize(typed).as_bytes()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_survive_retyping() {
        let c = generate().unwrap();
        assert_eq!(c.len(), 24);
        assert_eq!(hash(&c), hash(&c.to_lowercase().replace('-', " ")));
        assert_ne!(hash(&c), hash(&generate().unwrap()));
    }
}
