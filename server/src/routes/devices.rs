//! Several devices per account: an existing device asks for a one-time code, the new device
//! claims it with its own encryption key, the existing device approves it (a new device
//! list signed by the identity key, and the identity key sealed to the new device), and
//! the new device collects what was sealed to it. Removing a device is a new list.
//!
//! The server only checks signatures and versions and relays the sealed key, which it
//! cannot open; the person compares the new device's fingerprint on both screens.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::api::{
    ApproveDeviceLink, ClaimDeviceLink, ClaimedDeviceLink, DeviceLinkCode, DeviceLinkState,
    DeviceLinkView, PutDevices,
};
use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::devices::{self, DeviceError, DeviceList};
use trialog_protocol::encoding::{B64, random_bytes};
use trialog_protocol::{AccountId, Signed};

use super::views::verified_keys;
use super::{ApiJson, ApiPath};
use crate::auth::Session;
use crate::db;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

/// How long a device code and its request live.
const LINK_TTL: i64 = 10 * 60;
/// Devices that may wait to be added to one account at a time.
const MAX_LIVE_LINKS: usize = 3;

/// `POST /v1/accounts/me/device-links`
pub async fn create_link(
    State(st): State<AppState>,
    s: Session,
) -> ApiResult<(StatusCode, ApiJson<DeviceLinkCode>)> {
    let code = crate::codes::generate().map_err(|_| ApiError::Internal("randomness".into()))?;
    let id = link_id()?;
    let now = now();
    let mut tx = st.db.write().await?;
    let live = db::devices::live_links(&mut tx, s.account.as_str(), now).await?;
    if live >= MAX_LIVE_LINKS {
        return Err(ApiError::TooManyDeviceLinks(live));
    }
    let expires_at = now + LINK_TTL;
    db::devices::insert_link(
        &mut *tx,
        &id,
        s.account.as_str(),
        &crate::codes::hash(&code),
        now,
        expires_at,
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(DeviceLinkCode { code, expires_at }),
    ))
}

/// `POST /v1/device-links` (no session: the new device has no key of the account yet).
pub async fn claim(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<ClaimDeviceLink>,
) -> ApiResult<(StatusCode, ApiJson<ClaimedDeviceLink>)> {
    devices::check_name(&req.name)?;
    let recipient: age::x25519::Recipient = req
        .age_recipient
        .parse()
        .map_err(|_| DeviceError::BadRecipient)?;
    if recipient.to_string() != req.age_recipient {
        return Err(DeviceError::BadRecipient.into());
    }
    let hash = crate::codes::hash(&req.code);
    if !db::devices::claimable(st.db.pool(), &hash, now()).await? {
        return Err(ApiError::BadDeviceLink);
    }
    let mut tx = st.db.write().await?;
    let link = db::devices::claim(&mut tx, &hash, &req.age_recipient, &req.name, now())
        .await?
        .ok_or(ApiError::BadDeviceLink)?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(ClaimedDeviceLink {
            link_id: link.id,
            account: AccountId::parse(&link.account)
                .map_err(|_| ApiError::Internal("stored account id".into()))?,
            expires_at: link.expires_at,
        }),
    ))
}

/// `GET /v1/accounts/me/device-links`: devices waiting for this account's approval.
pub async fn waiting(
    State(st): State<AppState>,
    s: Session,
) -> ApiResult<ApiJson<Vec<DeviceLinkView>>> {
    let rows = db::devices::waiting(st.db.pool(), s.account.as_str(), now()).await?;
    Ok(ApiJson(
        rows.into_iter()
            .filter_map(|r| {
                Some(DeviceLinkView {
                    link_id: r.id,
                    age_recipient: r.age_recipient?,
                    name: r.name?,
                    expires_at: r.expires_at,
                })
            })
            .collect(),
    ))
}

/// `POST /v1/accounts/me/device-links/{id}/approve`
pub async fn approve(
    State(st): State<AppState>,
    s: Session,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<ApproveDeviceLink>,
) -> ApiResult<StatusCode> {
    let now = now();
    let mut tx = st.db.write().await?;
    let link = db::devices::get(&mut *tx, &id, now)
        .await?
        .filter(|l| l.account == s.account.as_str() && l.sealed.is_none())
        .ok_or(ApiError::BadDeviceLink)?;
    let new_key = link.age_recipient.clone().ok_or(ApiError::BadDeviceLink)?;
    let list = store_list(&mut tx, &s.account, &req.devices).await?;
    let added = list
        .devices
        .iter()
        .find(|d| d.age_recipient == new_key)
        .ok_or_else(|| {
            ApiError::BadRequest("the new device list does not hold the device to add".into())
        })?;
    db::devices::set_sealed(&mut *tx, &link.id, &req.sealed.0).await?;
    db::audit::append(
        &mut tx,
        DIRECTORY_CHAIN,
        now,
        AuditEvent::DeviceAdded,
        Some(&s.account),
        Some(s.account.as_str()),
        Some(format!(
            "device {}; devices version {}",
            added.fingerprint(),
            list.version
        )),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(event = %"device_added", account = %s.account, version = list.version, "device added");
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/device-links/{id}`: the link id is the new device's secret (128 random bits).
/// Once collected, the sealed identity key is deleted: it is handed over once.
pub async fn collect(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<DeviceLinkState>> {
    let link = db::devices::get(st.db.pool(), &id, now())
        .await?
        .ok_or(ApiError::BadDeviceLink)?;
    if link.sealed.is_some() {
        let mut tx = st.db.write().await?;
        db::devices::delete(&mut *tx, &link.id).await?;
        tx.commit().await?;
    }
    Ok(ApiJson(DeviceLinkState {
        sealed: link.sealed.map(B64),
    }))
}

/// `PUT /v1/accounts/me/devices`: a new list, e.g. with a device removed.
pub async fn put(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<PutDevices>,
) -> ApiResult<StatusCode> {
    let mut tx = st.db.write().await?;
    let list = store_list(&mut tx, &s.account, &req.devices).await?;
    db::audit::append(
        &mut tx,
        DIRECTORY_CHAIN,
        now(),
        AuditEvent::DevicesChanged,
        Some(&s.account),
        Some(s.account.as_str()),
        Some(format!(
            "devices version {}: {}",
            list.version,
            list.devices
                .iter()
                .map(|d| d.fingerprint().short())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    )
    .await?;
    tx.commit().await?;
    tracing::info!(event = %"devices_changed", account = %s.account, version = list.version, "device list changed");
    Ok(StatusCode::NO_CONTENT)
}

/// Verifies a list against the account's identity key and stores it if it is exactly one
/// version above the stored one.
async fn store_list(
    tx: &mut db::Tx,
    account: &AccountId,
    signed: &Signed<DeviceList>,
) -> Result<DeviceList, ApiError> {
    let row = db::accounts::get(&mut **tx, account.as_str())
        .await?
        .ok_or_else(|| ApiError::UnknownAccount(account.to_string()))?;
    let list = devices::verify(signed, &verified_keys(&row)?)?;
    let json = serde_json::to_string(signed).map_err(|e| ApiError::Internal(e.to_string()))?;
    if !db::devices::set_list(tx, account.as_str(), list.version, &json).await? {
        let seen = db::devices::version(&mut **tx, account.as_str()).await?;
        return Err(DeviceError::Rollback { seen }.into());
    }
    Ok(list)
}

fn link_id() -> Result<String, ApiError> {
    let bytes: [u8; 16] = random_bytes().map_err(|_| ApiError::Internal("randomness".into()))?;
    Ok(hex::encode(bytes))
}
