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

/// A login challenge, signed by the server and handed to the client as the nonce (the bytes
/// of `Signed<Challenge>` as JSON). The server keeps no state for it until it is used, so
/// anonymous challenge requests write nothing and cannot lock anyone out; a used challenge
/// is remembered by digest until it expires, so it works once.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Challenge {
    pub account: AccountId,
    pub expires_at: i64,
    /// 32 random bytes, hex: two challenges are never equal.
    pub random: String,
}

impl crate::signed::SignedKind for Challenge {
    const DOMAIN: &'static str = "trialog/v1/challenge";
}

/// Largest nonce a login may carry, bytes: a signed challenge is far smaller.
pub const MAX_NONCE_LEN: usize = 1024;

/// Why a login's nonce is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ChallengeError {
    #[error("the login challenge is not one this server gave")]
    Forged,
    #[error("the login challenge is for another account")]
    OtherAccount,
    #[error("the login challenge has expired")]
    Expired,
}

/// Checks a nonce the client sends back: signed by `server`, for `account`, not expired at
/// `now`. Returns the challenge (its digest is what the server remembers as used).
pub fn check_challenge(
    nonce: &[u8],
    server: &ed25519_dalek::VerifyingKey,
    account: &AccountId,
    now: i64,
) -> Result<Challenge, ChallengeError> {
    if nonce.len() > MAX_NONCE_LEN {
        return Err(ChallengeError::Forged);
    }
    let signed: crate::signed::Signed<Challenge> =
        serde_json::from_slice(nonce).map_err(|_| ChallengeError::Forged)?;
    let c = signed.open(server).map_err(|_| ChallengeError::Forged)?;
    if &c.account != account {
        return Err(ChallengeError::OtherAccount);
    }
    if now >= c.expires_at {
        return Err(ChallengeError::Expired);
    }
    Ok(c)
}
