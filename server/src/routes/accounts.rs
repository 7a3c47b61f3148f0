//! Registration, login and the directory of physicians.

use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use trialog_protocol::Signed;
use trialog_protocol::api::{
    AccountView, ChallengeRequest, ChallengeResponse, EnrolmentLookup, EnrolmentView,
    InvitationLookup, InvitationView, LoginRequest, LoginResponse, RegisterRequest,
    RegisterResponse, ServerInfo,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::auth::{Challenge, NONCE_LEN, NONCE_TTL, check_challenge, login_message};
use trialog_protocol::encoding::{B64, random_bytes, sha256_hex};
use trialog_protocol::keys::{KeyRecord, VerifiedKeys, open_key_record, verifying_key};
use trialog_protocol::{AccountId, CaseId, Role};

use super::views::account_view;
use super::{ApiJson, ApiPath, ApiQuery, parse_id};
use crate::auth::{Session, issue};
use crate::db::{self, accounts::AccountRow, accounts::InvitationRow};
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

use trialog_protocol::audit::DIRECTORY_CHAIN;

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
    let rec = &keys.record;
    let now = now();
    let mut tx = st.db.write().await?;
    if let Some(existing) = db::accounts::get(&mut *tx, rec.account.as_str()).await? {
        // The same registration again (its answer was lost): answer it again, so a patient
        // whose `join` timed out is not left with a spent code and no account.
        let same_keys =
            existing.fingerprint == keys.fingerprint.as_str() && existing.role == rec.role;
        // The case's patient enrolling a new key for their own account with a code the
        // treating physician re-issued (a new device). Any other new key for an existing
        // account is refused below, as before.
        if let (false, Role::Patient, None, Some(code)) =
            (same_keys, rec.role, &req.invite_code, &req.enrolment_code)
            && existing.role == Role::Patient
            && db::cases::peek_enrolment(&mut *tx, &crate::codes::hash(code), now)
                .await?
                .is_some_and(|(_, patient, _)| patient.as_deref() == Some(existing.id.as_str()))
        {
            let case_id = reenrol(&mut tx, &existing, &req.key_record, &keys, code, now).await?;
            tx.commit().await?;
            let row = db::accounts::get(st.db.pool(), &existing.id)
                .await?
                .ok_or_else(|| ApiError::Internal("re-enrolled account".into()))?;
            tracing::info!(event = %"patient_reenrolled", account = %rec.account, "patient re-enrolled");
            return Ok((
                StatusCode::CREATED,
                ApiJson(RegisterResponse {
                    account: account_view(&row)?,
                    case_id: Some(case_id),
                }),
            ));
        }
        let case = match (&req.invite_code, &req.enrolment_code) {
            (Some(code), None) if same_keys => {
                db::accounts::invitation_used_by(&mut *tx, &crate::codes::hash(code))
                    .await?
                    .filter(|used_by| *used_by == existing.id)
                    .map(|_| None)
            }
            (None, Some(code)) if same_keys => {
                db::cases::enrolled_case(&mut *tx, &crate::codes::hash(code), &existing.id)
                    .await?
                    .map(|c| CaseId::parse(&c).ok())
            }
            _ => None,
        };
        return match case {
            Some(case_id) => Ok((
                StatusCode::OK,
                ApiJson(RegisterResponse {
                    account: account_view(&existing)?,
                    case_id,
                }),
            )),
            None => match (&req.invite_code, &req.enrolment_code) {
                (Some(code), None) if !same_keys => {
                    recover(tx, existing, &req.key_record, &keys, code, now).await
                }
                _ => Err(ApiError::AccountExists),
            },
        };
    }
    let mut row = AccountRow {
        id: rec.account.to_string(),
        role: rec.role,
        name: None,
        riziv: None,
        key_record: serde_json::to_string(&req.key_record)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        sign_key: keys.signing.to_bytes().to_vec(),
        fingerprint: keys.fingerprint.to_string(),
        created_at: now,
        attestation: None,
        recovered_from: None,
        devices: None,
    };
    let detail = Some(format!("role {}; key {}", rec.role, keys.fingerprint));
    let case_id = match (&req.invite_code, &req.enrolment_code) {
        (Some(code), None) => {
            let InvitationRow {
                role, riziv, name, ..
            } = db::accounts::take_invitation(
                &mut tx,
                &crate::codes::hash(code),
                rec.account.as_str(),
                now,
            )
            .await?
            .ok_or(ApiError::BadInvitation)?;
            if role != rec.role {
                return Err(ApiError::RoleMismatch(rec.role.as_str()));
            }
            // `invite` checks the name too; this catches invitations written before that
            // check or around it. Refusing drops `tx`: the invitation stays unused.
            let name =
                trialog_protocol::text::check_display_name(&name).map_err(ApiError::InvalidName)?;
            if db::accounts::riziv_taken(&mut *tx, &riziv).await? {
                return Err(ApiError::RizivTaken);
            }
            row.name = Some(name);
            row.riziv = Some(riziv);
            db::accounts::insert(&mut *tx, &row).await?;
            db::audit::append(
                &mut tx,
                DIRECTORY_CHAIN,
                now,
                AuditEvent::KeyRegistered,
                Some(&rec.account),
                Some(rec.account.as_str()),
                detail,
            )
            .await?;
            None
        }
        (None, Some(code)) => {
            if rec.role != Role::Patient {
                return Err(ApiError::RoleMismatch(rec.role.as_str()));
            }
            db::accounts::insert(&mut *tx, &row).await?;
            let case = db::cases::take_enrolment(
                &mut tx,
                &crate::codes::hash(code),
                rec.account.as_str(),
                now,
            )
            .await?
            .ok_or(ApiError::BadEnrolmentCode)?;
            db::audit::append(
                &mut tx,
                &case,
                now,
                AuditEvent::PatientJoined,
                Some(&rec.account),
                Some(rec.account.as_str()),
                detail,
            )
            .await?;
            Some(CaseId::parse(&case).map_err(|_| ApiError::Internal("stored case id".into()))?)
        }
        _ => return Err(ApiError::CodeKind),
    };
    tx.commit().await?;
    tracing::info!(event = %"key_registered", account = %rec.account, role = %rec.role, "account registered");
    Ok((
        StatusCode::CREATED,
        ApiJson(RegisterResponse {
            account: account_view(&row)?,
            case_id,
        }),
    ))
}

/// Re-enrolment: the key of `existing` (the patient of the case `code` was re-issued for)
/// is replaced by `record`. The replaced key, if it was confirmed, is kept with its binding
/// so that what it signed stays verifiable; the case's binding is cleared, so the new key
/// is unconfirmed until the treating physician confirms it. One transaction, with its
/// audit entry in the case's chain.
async fn reenrol(
    tx: &mut db::Tx,
    existing: &AccountRow,
    record: &Signed<trialog_protocol::keys::KeyRecord>,
    keys: &trialog_protocol::keys::VerifiedKeys,
    code: &str,
    now: i64,
) -> Result<CaseId, ApiError> {
    let hash = crate::codes::hash(code);
    let (case_id, patient, _) = db::cases::peek_enrolment(&mut **tx, &hash, now)
        .await?
        .ok_or(ApiError::BadEnrolmentCode)?;
    if patient.as_deref() != Some(existing.id.as_str()) {
        return Err(ApiError::BadEnrolmentCode);
    }
    let case = db::cases::get(&mut **tx, &case_id)
        .await?
        .ok_or(ApiError::BadEnrolmentCode)?;
    if let Some(binding) = &case.binding {
        db::cases::push_key_history(
            &mut **tx,
            &case.id,
            &existing.id,
            &existing.key_record,
            binding,
            now,
        )
        .await?;
    }
    db::cases::take_reenrolment(&mut *tx, &hash, &existing.id, now)
        .await?
        .ok_or(ApiError::BadEnrolmentCode)?;
    let json = serde_json::to_string(record).map_err(|e| ApiError::Internal(e.to_string()))?;
    db::accounts::replace_patient_key(
        &mut **tx,
        &existing.id,
        &json,
        &keys.signing.to_bytes(),
        keys.fingerprint.as_str(),
        now,
    )
    .await?;
    db::audit::append(
        tx,
        &case.id,
        now,
        AuditEvent::PatientReenrolled,
        Some(&keys.record.account),
        Some(&existing.id),
        Some(format!(
            "key {}; replaces key {}; unconfirmed until the treating physician confirms it",
            keys.fingerprint, existing.fingerprint
        )),
    )
    .await?;
    CaseId::parse(&case.id).map_err(|_| ApiError::Internal("stored case id".into()))
}

/// What an enrolment code stands for: its case, and the case's patient account when the
/// code was re-issued for a patient enrolling a new device. Public, like the invitation
/// look-up: the code is the secret.
pub async fn lookup_enrolment(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<EnrolmentLookup>,
) -> ApiResult<ApiJson<EnrolmentView>> {
    let (case, patient, expires_at) = db::cases::peek_enrolment(
        st.db.pool(),
        &crate::codes::hash(&req.enrolment_code),
        now(),
    )
    .await?
    .ok_or(ApiError::BadEnrolmentCode)?;
    let stored = || ApiError::Internal("stored id".into());
    Ok(ApiJson(EnrolmentView {
        case_id: CaseId::parse(&case).map_err(|_| stored())?,
        patient: patient
            .map(|p| AccountId::parse(&p).map_err(|_| stored()))
            .transpose()?,
        expires_at,
    }))
}

pub async fn lookup_invitation(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<InvitationLookup>,
) -> ApiResult<ApiJson<InvitationView>> {
    let (inv, expires_at) =
        db::accounts::peek_invitation(st.db.pool(), &crate::codes::hash(&req.invite_code), now())
            .await?
            .ok_or(ApiError::BadInvitation)?;
    Ok(ApiJson(InvitationView {
        role: inv.role,
        name: inv.name,
        riziv: inv.riziv,
        expires_at,
        recovers: inv
            .recovers
            .map(|a| AccountId::parse(&a))
            .transpose()
            .map_err(|_| ApiError::Internal("stored account id".into()))?,
    }))
}

/// A physician who lost every device registers a new key for their existing account with
/// the operator's recovery invitation. The key is published at once, but clients refuse it
/// until the operator attests it (`approve`), which also revokes the old one.
async fn recover(
    mut tx: db::Tx,
    existing: AccountRow,
    key_record: &Signed<KeyRecord>,
    keys: &VerifiedKeys,
    code: &str,
    now: i64,
) -> ApiResult<(StatusCode, ApiJson<RegisterResponse>)> {
    let account = &keys.record.account;
    let inv =
        db::accounts::take_invitation(&mut tx, &crate::codes::hash(code), account.as_str(), now)
            .await?
            .filter(|inv| inv.recovers.as_deref() == Some(existing.id.as_str()))
            .ok_or(ApiError::AccountExists)?;
    if inv.role != existing.role || inv.role != keys.record.role {
        return Err(ApiError::RoleMismatch(keys.record.role.as_str()));
    }
    // A second recovery before `approve` still revokes the key that was last in use.
    let recovered_from = existing
        .recovered_from
        .clone()
        .unwrap_or_else(|| existing.fingerprint.clone());
    let row = AccountRow {
        key_record: serde_json::to_string(key_record)
            .map_err(|e| ApiError::Internal(e.to_string()))?,
        sign_key: keys.signing.to_bytes().to_vec(),
        fingerprint: keys.fingerprint.to_string(),
        attestation: None,
        recovered_from: Some(recovered_from),
        // The new key starts on its one device; the old list was signed by the old key.
        devices: None,
        ..existing
    };
    db::accounts::replace_key(&mut *tx, &row).await?;
    db::audit::append(
        &mut tx,
        DIRECTORY_CHAIN,
        now,
        AuditEvent::KeyRecovered,
        Some(account),
        Some(account.as_str()),
        Some(format!(
            "new key {}; awaiting the operator's attestation",
            keys.fingerprint
        )),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(event = %"key_recovered", account = %account, "key replaced by a recovery invitation");
    Ok((
        StatusCode::CREATED,
        ApiJson(RegisterResponse {
            account: account_view(&row)?,
            case_id: None,
        }),
    ))
}

/// A signed, stateless challenge: nothing is written, so anonymous requests cannot fill a
/// table or lock an account out. Unknown accounts are refused before anything is signed.
pub async fn challenge(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> ApiResult<ApiJson<ChallengeResponse>> {
    if db::accounts::get(st.db.pool(), req.account.as_str())
        .await?
        .is_none()
    {
        return Err(ApiError::UnknownAccount(req.account.to_string()));
    }
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
    let account = db::accounts::get(st.db.pool(), req.account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(req.account.to_string()))?;
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
    if db::accounts::is_suspended(st.db.pool(), account.id.as_str()).await? {
        return Err(ApiError::AccountSuspended);
    }
    let digest = sha256_hex(&[&req.nonce.0]);
    let mut tx = st.db.write().await?;
    let fresh = db::accounts::use_challenge(&mut tx, &digest, challenge.expires_at, now).await?;
    tx.commit().await?;
    if !fresh {
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
    let a = db::accounts::get(st.db.pool(), s.account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(s.account.to_string()))?;
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
    let a = db::accounts::get(st.db.pool(), id.as_str())
        .await?
        .filter(|a| a.role != Role::Patient || a.id == s.account.as_str())
        .ok_or_else(|| ApiError::UnknownAccount(id.to_string()))?;
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
    let rows = db::accounts::search(st.db.pool(), q.role, text, 100).await?;
    Ok(ApiJson(
        rows.iter().map(account_view).collect::<Result<_, _>>()?,
    ))
}
