//! Registration, login and the directory of physicians.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trialog_protocol::Role;
use trialog_protocol::Signed;
use trialog_protocol::api::{
    AccountView, ChallengeRequest, ChallengeResponse, EnrolmentLookup, EnrolmentView,
    InvitationLookup, InvitationView, LoginRequest, LoginResponse, RegisterRequest,
    RegisterResponse, ServerInfo,
};
use trialog_protocol::auth::{Challenge, NONCE_LEN, NONCE_TTL, check_challenge, login_message};
use trialog_protocol::encoding::{B64, random_bytes, sha256_hex};
use trialog_protocol::keys::{open_key_record, verifying_key};

use super::views::account_view;
use super::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::auth::{Session, issue};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

pub async fn server_info(State(st): State<AppState>) -> ApiJson<ServerInfo> {
    ApiJson(ServerInfo {
        service: "trialog".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        server_key: B64(st.key.public().to_bytes().to_vec()),
        operator_key: crate::operator_key::published(&st.data_dir)
            .map(|k| B64(k.to_bytes().to_vec())),
    })
}

/// The server key's statement for the certificate being served: public, no token, so a
/// client whose pinned certificate changed can check the new one before it sends anything.
pub async fn certificate(
    State(st): State<AppState>,
) -> ApiJson<trialog_protocol::certificate::CertificateView> {
    ApiJson(st.certificate.as_ref().clone())
}

pub async fn register(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, ApiJson<RegisterResponse>)> {
    let keys =
        open_key_record(&req.key_record).map_err(|e| ApiError::BadKeyRecord(e.to_string()))?;
    let r = st
        .store
        .register(
            &req.key_record,
            &keys,
            req.invite_code.as_deref(),
            req.enrolment_code.as_deref(),
            now(),
        )
        .await?;
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        ApiJson(RegisterResponse {
            account: account_view(&r.account)?,
            case_id: r.case_id,
        }),
    ))
}

/// What an enrolment code stands for: its case, and the case's patient account when the
/// code was re-issued for a patient enrolling a new device. Public, like the invitation
/// look-up: the code is the secret.
pub async fn lookup_enrolment(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EnrolmentLookup>,
) -> ApiResult<ApiJson<EnrolmentView>> {
    Ok(ApiJson(
        st.store.enrolment(&req.enrolment_code, now()).await?,
    ))
}

pub async fn lookup_invitation(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<InvitationLookup>,
) -> ApiResult<ApiJson<InvitationView>> {
    Ok(ApiJson(st.store.invitation(&req.invite_code, now()).await?))
}

/// A signed, stateless challenge: nothing is written, so anonymous requests cannot fill a
/// table or lock an account out. Unknown accounts are refused before anything is signed.
pub async fn challenge(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> ApiResult<ApiJson<ChallengeResponse>> {
    st.store.account(&req.account).await?;
    let random: [u8; NONCE_LEN] =
        random_bytes().map_err(|_| ApiError::Internal("randomness".into()))?;
    let expires_at = now() + NONCE_TTL;
    let c = Challenge {
        account: req.account,
        expires_at,
        random: hex::encode(random),
    };
    let signed =
        Signed::sign(&c, &st.key.signing).map_err(|e| ApiError::Internal(e.to_string()))?;
    let nonce = serde_json::to_vec(&signed).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(ApiJson(ChallengeResponse {
        nonce: B64(nonce),
        expires_at,
    }))
}

/// Everything is checked before the write lock is taken: the challenge's signature, its
/// account and expiry, and the account's signature over it. Only a valid login writes (the
/// challenge's digest, so it cannot be used twice).
pub async fn login(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<ApiJson<LoginResponse>> {
    let now = now();
    let account = st.store.account(&req.account).await?;
    let challenge = check_challenge(&req.nonce.0, &st.key.public(), &req.account, now)
        .map_err(|_| ApiError::BadChallenge)?;
    let vk =
        verifying_key(&account.sign_key).map_err(|_| ApiError::Internal("stored key".into()))?;
    let sig: [u8; 64] = req
        .sig
        .0
        .as_slice()
        .try_into()
        .map_err(|_| ApiError::BadLoginSignature)?;
    vk.verify_strict(
        &login_message(&req.account, &req.nonce.0),
        &ed25519_dalek::Signature::from_bytes(&sig),
    )
    .map_err(|_| ApiError::BadLoginSignature)?;
    // After the signature: only the key's holder learns that the account is suspended.
    if st.store.is_suspended(&req.account).await? {
        return Err(ApiError::AccountSuspended);
    }
    let digest = sha256_hex(&[&req.nonce.0]);
    if !st
        .store
        .use_challenge(&digest, challenge.expires_at, now)
        .await?
    {
        return Err(ApiError::BadChallenge);
    }
    let role = account.role;
    let (token, expires_at) = issue(&st, &req.account, role, &account.fingerprint)?;
    Ok(ApiJson(LoginResponse {
        token,
        expires_at,
        role,
    }))
}

pub async fn me(State(st): State<AppState>, s: Session) -> ApiResult<ApiJson<AccountView>> {
    let a = st.store.account(&s.account).await?;
    Ok(ApiJson(account_view(&a)?))
}

/// Physicians are public to every signed-in account; a patient only to themself (others
/// see a patient through the cases they share).
pub async fn get_account(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<AccountView>> {
    let id = parse_id(&id, trialog_protocol::AccountId::parse)?;
    let a = st.store.visible_account(&s.account, &id).await?;
    Ok(ApiJson(account_view(&a)?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectoryQuery {
    role: Option<Role>,
    q: Option<String>,
}

pub async fn directory(
    State(st): State<AppState>,
    _s: Session,
    ApiQuery(q): ApiQuery<DirectoryQuery>,
) -> ApiResult<ApiJson<Vec<AccountView>>> {
    if q.role == Some(Role::Patient) {
        return Err(ApiError::BadParameter(
            "patients are not listed in the directory".into(),
        ));
    }
    let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
    let rows = st.store.search(q.role, text, 100).await?;
    Ok(ApiJson(
        rows.iter().map(account_view).collect::<Result<_, _>>()?,
    ))
}
