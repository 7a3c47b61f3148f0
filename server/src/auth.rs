//! Sessions: short-lived EdDSA JWTs issued after a signed challenge, and the extractor that
//! checks them on every authenticated route.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, Header, Validation, errors::ErrorKind};
use serde::{Deserialize, Serialize};
use trialog_protocol::{AccountId, Role};

use crate::error::ApiError;
use crate::state::{AppState, now};

const AUDIENCE: &str = "trialog";
const ISSUER: &str = "trialog-server";

#[derive(Debug, Serialize, Deserialize)]
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

impl FromRequestParts<AppState> for Session {
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
        let mut v = Validation::new(Algorithm::EdDSA);
        v.set_audience(&[AUDIENCE]);
        v.set_issuer(&[ISSUER]);
        v.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        // The server issues and checks its own tokens on one clock: no leeway needed.
        v.leeway = 0;
        let data = jsonwebtoken::decode::<Claims>(token, &state.key.jwt_decoding, &v).map_err(
            |e| match e.kind() {
                ErrorKind::ExpiredSignature => ApiError::TokenExpired,
                _ => ApiError::InvalidToken,
            },
        )?;
        let account = AccountId::parse(&data.claims.sub).map_err(|_| ApiError::InvalidToken)?;
        // Checked on every request, not only at login: a suspension stops the tokens already
        // issued from the moment the operator sets it, and a recovery or a patient's
        // re-enrolment those of the lost key.
        let standing = state
            .store
            .standing(&account)
            .await?
            .ok_or(ApiError::InvalidToken)?;
        if standing.suspended {
            return Err(ApiError::AccountSuspended);
        }
        if standing.fingerprint != data.claims.key {
            return Err(ApiError::InvalidToken);
        }
        Ok(Session {
            account,
            role: data.claims.role,
        })
    }
}
