//! Several devices per account: the links that add one (a one-time code, claimed by the new
//! device with its own encryption key, approved by an existing device with a new signed
//! device list and the identity key sealed to the new device, collected once), and the
//! device list itself. The store checks signatures and versions and relays the sealed key,
//! which it cannot open.

use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::devices::{self, DeviceError, DeviceList};
use trialog_protocol::{AccountId, Signed};

use super::Store;
use super::accounts::verified_keys;
use crate::db::{self, Tx, devices::LinkRow};
use crate::error::ApiError;

/// How long a device code and its request live.
const LINK_TTL: i64 = 10 * 60;
/// Devices that may wait to be added to one account at a time.
const MAX_LIVE_LINKS: usize = 3;

impl Store {
    /// Opens link `id` for `account`, claimable with `code` until the expiry it returns.
    pub async fn create_device_link(
        &self,
        account: &AccountId,
        id: &str,
        code: &str,
        now: i64,
    ) -> Result<i64, ApiError> {
        let mut tx = self.db.write().await?;
        let live = db::devices::live_links(&mut tx, account.as_str(), now).await?;
        if live >= MAX_LIVE_LINKS {
            return Err(ApiError::TooManyDeviceLinks(live));
        }
        let expires_at = now + LINK_TTL;
        db::devices::insert_link(
            &mut *tx,
            id,
            account.as_str(),
            &crate::codes::hash(code),
            now,
            expires_at,
        )
        .await?;
        tx.commit().await?;
        Ok(expires_at)
    }

    /// The new device claims `code` with its encryption key and name.
    pub async fn claim_device_link(
        &self,
        code: &str,
        age_recipient: &str,
        name: &str,
        now: i64,
    ) -> Result<LinkRow, ApiError> {
        let hash = crate::codes::hash(code);
        // Read without the write lock: a flood of wrong codes never queues behind (or holds
        // up) the server's writes.
        if !db::devices::claimable(self.db.pool(), &hash, now).await? {
            return Err(ApiError::BadDeviceLink);
        }
        let mut tx = self.db.write().await?;
        let link = db::devices::claim(&mut tx, &hash, age_recipient, name, now)
            .await?
            .ok_or(ApiError::BadDeviceLink)?;
        tx.commit().await?;
        Ok(link)
    }

    /// `account`'s claimed links that wait for its approval.
    pub async fn waiting_devices(
        &self,
        account: &AccountId,
        now: i64,
    ) -> Result<Vec<LinkRow>, ApiError> {
        Ok(db::devices::waiting(self.db.pool(), account.as_str(), now).await?)
    }

    /// `account` approves the device that claimed link `id`: `list` (signed by the identity
    /// key, one version above the stored one) must hold it, and `sealed` is the identity
    /// key sealed to it. One transaction with its audit entry.
    pub async fn approve_device(
        &self,
        account: &AccountId,
        id: &str,
        list: &Signed<DeviceList>,
        sealed: &[u8],
        now: i64,
    ) -> Result<(), ApiError> {
        let mut tx = self.db.write().await?;
        let link = db::devices::get(&mut *tx, id, now)
            .await?
            .filter(|l| l.account == account.as_str() && l.sealed.is_none())
            .ok_or(ApiError::BadDeviceLink)?;
        let new_key = link.age_recipient.clone().ok_or(ApiError::BadDeviceLink)?;
        let list = store_list(&mut tx, account, list).await?;
        let added = list
            .devices
            .iter()
            .find(|d| d.age_recipient == new_key)
            .ok_or_else(|| {
                ApiError::BadRequest("the new device list does not hold the device to add".into())
            })?;
        db::devices::set_sealed(&mut *tx, &link.id, sealed).await?;
        db::audit::append(
            &mut tx,
            DIRECTORY_CHAIN,
            now,
            AuditEvent::DeviceAdded,
            Some(account),
            Some(account.as_str()),
            Some(format!(
                "device {}; devices version {}",
                added.fingerprint(),
                list.version
            )),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(event = %"device_added", account = %account, version = list.version, "device added");
        Ok(())
    }

    /// What was sealed to the device of link `id`, once approved (`None` before). Once
    /// collected, the sealed identity key is deleted: it is handed over once.
    pub async fn collect_device_link(
        &self,
        id: &str,
        now: i64,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        let link = db::devices::get(self.db.pool(), id, now)
            .await?
            .ok_or(ApiError::BadDeviceLink)?;
        if link.sealed.is_some() {
            let mut tx = self.db.write().await?;
            db::devices::delete(&mut *tx, &link.id).await?;
            tx.commit().await?;
        }
        Ok(link.sealed)
    }

    /// A new device list for `account` (e.g. with a device removed), with its audit entry.
    pub async fn put_devices(
        &self,
        account: &AccountId,
        list: &Signed<DeviceList>,
        now: i64,
    ) -> Result<(), ApiError> {
        let mut tx = self.db.write().await?;
        let list = store_list(&mut tx, account, list).await?;
        db::audit::append(
            &mut tx,
            DIRECTORY_CHAIN,
            now,
            AuditEvent::DevicesChanged,
            Some(account),
            Some(account.as_str()),
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
        tracing::info!(event = %"devices_changed", account = %account, version = list.version, "device list changed");
        Ok(())
    }
}

/// Verifies a list against the account's identity key and stores it if it is exactly one
/// version above the stored one.
async fn store_list(
    tx: &mut Tx,
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
