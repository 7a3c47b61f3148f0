//! Login: the client signs a server nonce with its account key; no password exists.

use crate::ids::AccountId;

pub const LOGIN_DOMAIN: &str = "trialog/v1/login";
/// Bytes of a login nonce.
pub const NONCE_LEN: usize = 32;
/// How long a nonce may be used, seconds.
pub const NONCE_TTL: i64 = 120;

/// The exact bytes the client signs to log in:
/// `"trialog/v1/login" || 0x00 || account || 0x00 || nonce`.
pub fn login_message(account: &AccountId, nonce: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(LOGIN_DOMAIN.len() + 2 + account.as_str().len() + nonce.len());
    m.extend_from_slice(LOGIN_DOMAIN.as_bytes());
    m.push(0);
    m.extend_from_slice(account.as_str().as_bytes());
    m.push(0);
    m.extend_from_slice(nonce);
    m
}
