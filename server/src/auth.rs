//! Sessions: short-lived EdDSA JWTs issued after a signed challenge, and the extractor that
//! checks them on every authenticated route.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use trialog_protocol::{AccountId, Role};

use crate::error::ApiError;
use crate::state::{AppState, now};

const AUDIENCE: &str = "trialog";
const ISSUER: &str = "trialog-server";

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Claims {
    sub: String,
    role: Role,
    /// The fingerprint of the key that logged in: after a recovery replaced it, the
    /// token is void even before it expires.
    key: String,
    iat: i64,
    exp: i64,
    aud: String,
    iss: String,
}

impl Claims {
    /// The rule jsonwebtoken applies with no leeway, for tokens it verified before.
    fn expired(&self, now: i64) -> bool {
        self.exp < now
    }
}

/// Issues a token for `account`; returns it with its expiry.
pub fn issue(
    state: &AppState,
    account: &AccountId,
    role: Role,
    fingerprint: &str,
) -> Result<(String, i64), ApiError> {
    let iat = now();
    let exp = iat + state.settings.token_ttl;
    let claims = Claims {
        sub: account.to_string(),
        role,
        key: fingerprint.to_owned(),
        iat,
        exp,
        aud: AUDIENCE.into(),
        iss: ISSUER.into(),
    };
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::EdDSA),
        &claims,
        &state.key.jwt_encoding,
    )
    .map_err(|e| ApiError::Internal(format!("jwt encode: {e}")))?;
    Ok((token, exp))
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub account: AccountId,
    pub role: Role,
}

impl Session {
    /// Refuses unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], allowed: &'static str) -> Result<(), ApiError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ApiError::RoleForbidden {
                role: self.role.as_str(),
                allowed,
            })
        }
    }

    pub fn require_physician(&self) -> Result<(), ApiError> {
        self.require(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )
    }
}

/// A bearer token whose signature and expiry were checked, not yet the standing of its
/// account: a `Session` once that is checked too. Only the envelope submission takes it,
/// to check the standing on the accounts its admission reads anyway: one round trip to
/// SQLite fewer for the route that carries the load.
#[derive(Debug)]
pub struct Bearer {
    account: AccountId,
    role: Role,
    /// The fingerprint of the key that logged in.
    key: String,
}

impl Bearer {
    /// The account the token was issued to.
    pub fn account(&self) -> &AccountId {
        &self.account
    }

    /// The session, if the account still stands as it did at login. Checked on every
    /// request, not only at login: a suspension stops the tokens already issued from the
    /// moment the operator sets it, and a recovery or a patient's re-enrolment (a new
    /// `fingerprint`) those of the lost key.
    pub fn stands(self, suspended: bool, fingerprint: &str) -> Result<Session, ApiError> {
        if suspended {
            return Err(ApiError::AccountSuspended);
        }
        if fingerprint != self.key {
            return Err(ApiError::InvalidToken);
        }
        Ok(Session {
            account: self.account,
            role: self.role,
        })
    }
}

impl FromRequestParts<AppState> for Bearer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(ApiError::MissingToken)?
            .to_str()
            .map_err(|_| ApiError::InvalidToken)?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or(ApiError::InvalidToken)?
            .trim();
        let claims = state.tokens.verify(token, &state.key.jwt_decoding, now())?;
        let account = AccountId::parse(&claims.sub).map_err(|_| ApiError::InvalidToken)?;
        Ok(Bearer {
            account,
            role: claims.role,
            key: claims.key,
        })
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = Bearer::from_request_parts(parts, state).await?;
        let standing = state
            .store
            .standing(&bearer.account)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        bearer.stands(standing.suspended, &standing.fingerprint)
    }
}

/// Tokens whose signature was verified, by their SHA-256. Every request bears one, and the
/// server issued it: checking its Ed25519 signature again at each request cost about 5% of
/// an admission's CPU. What a signature proves does not change; what can change (expiry,
/// suspension, a replaced key) is checked at every request all the same, expiry here and
/// the rest against the database by the extractor. Bounded: when full, the expired entries
/// go, and if that is not enough, all of them (they are verified again as they come back).
#[derive(Debug, Default)]
pub struct Tokens {
    verified: Mutex<HashMap<[u8; 32], Claims>>,
}

/// Tokens kept at most: about 200 bytes each.
const TOKENS_KEPT: usize = 10_000;

impl Tokens {
    /// The claims of `token` if it is one of ours, unexpired at `now`.
    fn verify(&self, token: &str, key: &DecodingKey, now: i64) -> Result<Claims, ApiError> {
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let cached = self.lock().get(&digest).cloned();
        if let Some(claims) = cached {
            return if claims.expired(now) {
                Err(ApiError::TokenExpired)
            } else {
                Ok(claims)
            };
        }
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        // The server issues and checks its own tokens on one clock: no leeway needed.
        v.leeway = 0;
        let claims = jsonwebtoken::decode::<Claims>(token, key, &v)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                _ => ApiError::InvalidToken,
            })?
            .claims;
        let mut verified = self.lock();
        if verified.len() >= TOKENS_KEPT {
            verified.retain(|_, c| !c.expired(now));
            if verified.len() >= TOKENS_KEPT {
                verified.clear();
            }
        }
        verified.insert(digest, claims.clone());
        Ok(claims)
    }

    /// The map, even if a thread panicked holding it: it holds only verified claims.
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Claims>> {
        self.verified
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server_key::ServerKey;

    fn token(key: &ServerKey, exp: i64) -> String {
        let claims = Claims {
            sub: "a".into(),
            role: Role::Patient,
            key: "k".into(),
            iat: exp - 60,
            exp,
            aud: AUDIENCE.into(),
            iss: ISSUER.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key.jwt_encoding)
            .expect("encode")
    }

    fn key() -> ServerKey {
        ServerKey::from_signing(ed25519_dalek::SigningKey::from_bytes(&[7; 32])).expect("key")
    }

    #[test]
    fn a_token_verified_once_still_expires() {
        let (key, tokens) = (key(), Tokens::default());
        let now = now();
        let t = token(&key, now + 10);
        assert_eq!(
            tokens
                .verify(&t, &key.jwt_decoding, now)
                .expect("fresh")
                .sub,
            "a"
        );
        assert_eq!(tokens.lock().len(), 1);
        // Served from the map now; past its expiry it is refused all the same.
        assert!(tokens.verify(&t, &key.jwt_decoding, now + 10).is_ok());
        assert!(matches!(
            tokens.verify(&t, &key.jwt_decoding, now + 11),
            Err(ApiError::TokenExpired)
        ));
    }

    #[test]
    fn only_verified_tokens_are_kept() {
        let (key, tokens) = (key(), Tokens::default());
        let other =
            ServerKey::from_signing(ed25519_dalek::SigningKey::from_bytes(&[8; 32])).expect("key");
        let now = now();
        let forged = token(&other, now + 10);
        for _ in 0..2 {
            assert!(matches!(
                tokens.verify(&forged, &key.jwt_decoding, now),
                Err(ApiError::InvalidToken)
            ));
        }
        let good = token(&key, now + 10);
        let mut tampered = good.clone();
        tampered.pop();
        tokens.verify(&good, &key.jwt_decoding, now).expect("good");
        assert!(tokens.verify(&tampered, &key.jwt_decoding, now).is_err());
        assert_eq!(tokens.lock().len(), 1);
    }

    #[test]
    fn the_map_stays_bounded() {
        let (key, tokens) = (key(), Tokens::default());
        let now = now();
        let first = token(&key, now + 1);
        let claims = tokens
            .verify(&first, &key.jwt_decoding, now)
            .expect("fresh");
        // Filled to the bound with entries that all expire before `later`.
        for i in 0..TOKENS_KEPT {
            let digest: [u8; 32] = Sha256::digest(i.to_be_bytes()).into();
            tokens.lock().insert(digest, claims.clone());
        }
        let later = now + 100;
        let fresh = token(&key, later + 10);
        tokens
            .verify(&fresh, &key.jwt_decoding, later)
            .expect("fresh");
        assert_eq!(tokens.lock().len(), 1, "the expired ones made room");
    }
}
