//! Several devices per account: an existing device asks for a one-time code, the new device
//! claims it with its own encryption key, the existing device approves it (a new device
//! list signed by the identity key, and the identity key sealed to the new device), and
//! the new device collects what was sealed to it. Removing a device is a new list.
//!
//! The server only checks signatures and versions and relays the sealed key, which it
//! cannot open; the person compares the new device's fingerprint on both screens.

use axum::extract::State;
use axum::http::StatusCode;
use trialog_protocol::AccountId;
use trialog_protocol::api::{
    ApproveDeviceLink, ClaimDeviceLink, ClaimedDeviceLink, DeviceLinkCode, DeviceLinkState,
    DeviceLinkView, PutDevices,
};
use trialog_protocol::devices::{self, DeviceError};
use trialog_protocol::encoding::{B64, random_bytes};

use super::{ApiJson, ApiPath};
use crate::auth::Session;
use crate::error::{ApiError, ApiResult};
use crate::state::{AppState, now};

/// `POST /v1/accounts/me/device-links`
pub async fn create_link(
    State(st): State<AppState>,
    s: Session,
) -> ApiResult<(StatusCode, ApiJson<DeviceLinkCode>)> {
    let code = crate::codes::generate().map_err(|_| ApiError::Internal("randomness".into()))?;
    let id = link_id()?;
    let expires_at = st
        .store
        .create_device_link(&s.account, &id, &code, now())
        .await?;
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
    let link = st
        .store
        .claim_device_link(&req.code, &req.age_recipient, &req.name, now())
        .await?;
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
    let rows = st.store.waiting_devices(&s.account, now()).await?;
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
    st.store
        .approve_device(&s.account, &id, &req.devices, &req.sealed.0, now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/device-links/{id}`: the link id is the new device's secret (128 random bits).
/// Once collected, the sealed identity key is deleted: it is handed over once.
pub async fn collect(
    State(st): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<ApiJson<DeviceLinkState>> {
    let sealed = st.store.collect_device_link(&id, now()).await?;
    Ok(ApiJson(DeviceLinkState {
        sealed: sealed.map(B64),
    }))
}

/// `PUT /v1/accounts/me/devices`: a new list, e.g. with a device removed.
pub async fn put(
    State(st): State<AppState>,
    s: Session,
    ApiJson(req): ApiJson<PutDevices>,
) -> ApiResult<StatusCode> {
    st.store
        .put_devices(&s.account, &req.devices, now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn link_id() -> Result<String, ApiError> {
    let bytes: [u8; 16] = random_bytes().map_err(|_| ApiError::Internal("randomness".into()))?;
    Ok(hex::encode(bytes))
}
