//! Several devices per account (DESIGN.md §2.5): the existing device shows a one-time code,
//! the new device claims it with its own encryption key and shows that key's fingerprint,
//! the person compares it on the existing device, which then signs a new device list and
//! seals the identity key to the new device. Removing a device publishes a list without
//! it: senders stop encrypting to it from their next message.

use serde::{Deserialize, Serialize};
use trialog_protocol::api::{
    AccountView, ApproveDeviceLink, ClaimDeviceLink, DeviceLinkView, PutDevices,
};
use trialog_protocol::devices::{self, Device, DeviceList, device_fingerprint};
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::{Identity, open_key_record};
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::{AccountId, Fingerprint, Role, Signed};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::{Client, now};
use crate::error::ClientError;

/// What the existing device seals to the new one: the identity key and who it is.
#[derive(Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
struct Bundle {
    #[zeroize(skip)]
    account: AccountId,
    #[zeroize(skip)]
    role: Role,
    ed25519_seed: String,
    #[zeroize(skip)]
    account_fingerprint: Fingerprint,
}

/// One device of the account, as `devices` lists it.
#[derive(Debug, Clone)]
pub struct DeviceInfo {
    pub device: Device,
    pub fingerprint: Fingerprint,
    /// The device this client runs on.
    pub this: bool,
}

/// A claimed device code on the new device, waiting for the existing device's approval.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    pub link_id: String,
    pub account: AccountId,
    pub expires_at: i64,
    /// What the person compares on the existing device.
    pub fingerprint: Fingerprint,
}

fn bad(what: &str) -> ClientError {
    ClientError::Verification(what.into())
}

/// The name given to the device that registered, in lists made before it had one.
const FIRST_DEVICE: &str = "first device";

impl Client {
    /// The fingerprint of this device's own encryption key.
    pub fn device_fingerprint(&self) -> Fingerprint {
        device_fingerprint(&self.identity.age_recipient())
    }

    /// The account's current device list, verified with its own identity key and against
    /// the newest this device saw (a server must not hand back a list with a removed device
    /// for us to sign again); the registration's single device when none was published.
    fn own_devices(&self, me: &AccountView) -> Result<DeviceList, ClientError> {
        let keys = open_key_record(&me.key_record).map_err(|e| bad(&e.to_string()))?;
        if keys.signing != self.identity.verifying_key() {
            return Err(bad("the account's identity key is not this device's"));
        }
        match self.verified_devices(&me.account, me.devices.as_ref(), &keys)? {
            Some(list) => Ok(list),
            None => Ok(DeviceList {
                account: me.account.clone(),
                version: 0,
                devices: vec![Device {
                    age_recipient: keys.record.age_recipient.clone(),
                    name: FIRST_DEVICE.into(),
                    added_at: keys.record.created_at,
                }],
                issued_at: keys.record.created_at,
            }),
        }
    }

    /// Every device of this account, this one marked.
    pub async fn devices(&mut self) -> Result<Vec<DeviceInfo>, ClientError> {
        let me = self.whoami().await?;
        let mine = self.identity.age_recipient();
        Ok(self
            .own_devices(&me)?
            .devices
            .into_iter()
            .map(|d| DeviceInfo {
                fingerprint: d.fingerprint(),
                this: d.age_recipient == mine,
                device: d,
            })
            .collect())
    }

    /// On the existing device: a one-time code for a new device, as an onboarding string
    /// (this server, its certificate, the operator key and the code), valid 10 minutes.
    pub async fn device_link(&mut self) -> Result<(Onboarding, i64), ClientError> {
        self.ensure_login().await?;
        let link = self.api.device_link().await?;
        Ok((self.onboarding(&link.code)?, link.expires_at))
    }

    /// On the new device (a home just made with `Client::init` from the link's onboarding
    /// string): claims the code with this device's encryption key.
    pub async fn request_device(
        &mut self,
        code: &str,
        name: &str,
    ) -> Result<DeviceRequest, ClientError> {
        if let Some(a) = &self.config.account {
            return Err(ClientError::AlreadyRegistered(a.to_string()));
        }
        devices::check_name(name).map_err(|e| ClientError::Invalid(e.to_string()))?;
        let claimed = self
            .api
            .claim_device_link(&ClaimDeviceLink {
                code: code.into(),
                age_recipient: self.identity.age_recipient(),
                name: name.into(),
            })
            .await?;
        Ok(DeviceRequest {
            link_id: claimed.link_id,
            account: claimed.account,
            expires_at: claimed.expires_at,
            fingerprint: self.device_fingerprint(),
        })
    }

    /// On the new device: whether the existing device approved; once it has, takes the
    /// identity key it sealed here, checks it is the account's (attested, for a
    /// physician), and keeps it under `passphrase`. Returns false while still waiting.
    pub async fn complete_device(
        &mut self,
        request: &DeviceRequest,
        passphrase: &str,
    ) -> Result<bool, ClientError> {
        let state = self.api.collect_device_link(&request.link_id).await?;
        let Some(sealed) = state.sealed else {
            return Ok(false);
        };
        let plain = Zeroizing::new(
            age::decrypt(self.identity.age_identity(), &sealed.0)
                .map_err(|_| bad("what was sealed to this device does not open"))?,
        );
        let bundle: Bundle = serde_json::from_slice(&plain)
            .map_err(|_| bad("what was sealed to this device is malformed"))?;
        if bundle.account != request.account {
            return Err(bad(
                "the identity sealed to this device is for another account",
            ));
        }
        let seed = Zeroizing::new(
            B64::decode(&bundle.ed25519_seed).map_err(|_| bad("the sealed identity key"))?,
        );
        let age_secret = self.identity.secrets().1;
        let identity = Identity::from_secrets(&seed, &age_secret)
            .map_err(|_| bad("the sealed identity key is damaged"))?;
        // Become that account on this device, then check with the server's own view of
        // it that the key is the account's, and (for a physician) the operator's word.
        let previous = (
            std::mem::replace(&mut self.identity, identity),
            self.config.clone(),
        );
        self.config.account = Some(bundle.account.clone());
        self.config.role = Some(bundle.role);
        self.config.account_fingerprint = Some(bundle.account_fingerprint.to_string());
        self.logged_in = false;
        let checked = self.check_added(&bundle).await;
        if let Err(e) = checked {
            (self.identity, self.config) = previous;
            self.logged_in = false;
            return Err(e);
        }
        crate::keystore::save(&self.home.keystore_path(), &self.identity, passphrase)?;
        self.save_config()?;
        let fp = self.fingerprint();
        self.pin(&bundle.account, &fp, None)?;
        Ok(true)
    }

    async fn check_added(&mut self, bundle: &Bundle) -> Result<(), ClientError> {
        let me = self.whoami().await?;
        let listed = self.own_devices(&me)?;
        if !listed
            .devices
            .iter()
            .any(|d| d.age_recipient == self.identity.age_recipient())
        {
            return Err(bad("this device is not in the account's device list"));
        }
        if me.role != bundle.role {
            return Err(bad("the account has another role"));
        }
        if me.role != Role::Patient && self.attestation_of(&me).is_none() {
            let name = me.name.clone().unwrap_or_else(|| me.account.to_string());
            return Err(ClientError::NotAttested { name });
        }
        Ok(())
    }

    /// On the existing device: the devices waiting to be added, each with the fingerprint
    /// the new device shows.
    pub async fn waiting_devices(
        &mut self,
    ) -> Result<Vec<(DeviceLinkView, Fingerprint)>, ClientError> {
        self.ensure_login().await?;
        Ok(self
            .api
            .waiting_devices()
            .await?
            .into_iter()
            .map(|w| {
                let fp = device_fingerprint(&w.age_recipient);
                (w, fp)
            })
            .collect())
    }

    /// On the existing device: approves the waiting device whose fingerprint the person
    /// typed from the new device's screen: signs the device list with it added and seals
    /// the identity key to it.
    pub async fn approve_device(&mut self, typed: &str) -> Result<Device, ClientError> {
        let waiting = self.waiting_devices().await?;
        let Some((link, _)) = waiting.into_iter().find(|(_, fp)| fp.matches_typed(typed)) else {
            return Err(ClientError::Invalid(
                "no device waiting to be added shows that fingerprint: compare it again on the new device's screen (codes live 10 minutes)".into(),
            ));
        };
        let me = self.whoami().await?;
        let mut list = self.own_devices(&me)?;
        let device = Device {
            age_recipient: link.age_recipient.clone(),
            name: link.name.clone(),
            added_at: now(),
        };
        list.devices.push(device.clone());
        let signed = self.next_list(list)?;
        let recipient: age::x25519::Recipient = link
            .age_recipient
            .parse()
            .map_err(|_| bad("the waiting device's key"))?;
        let (seed, _) = self.identity.secrets();
        let bundle = Bundle {
            account: me.account.clone(),
            role: me.role,
            ed25519_seed: B64::encode(&seed),
            account_fingerprint: me.fingerprint.clone(),
        };
        let plain = Zeroizing::new(
            serde_json::to_vec(&bundle).map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        let sealed =
            age::encrypt(&recipient, &plain).map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .approve_device(
                &link.link_id,
                &ApproveDeviceLink {
                    devices: signed.clone(),
                    sealed: B64(sealed),
                },
            )
            .await?;
        self.pin_own_devices(&me, &signed)?;
        Ok(device)
    }

    /// Removes the device with this fingerprint (from another device of the account): what
    /// is sent from now on is no longer encrypted to it.
    pub async fn remove_device(&mut self, typed: &str) -> Result<Device, ClientError> {
        let me = self.whoami().await?;
        let mut list = self.own_devices(&me)?;
        let Some(i) = list
            .devices
            .iter()
            .position(|d| d.fingerprint().matches_typed(typed))
        else {
            return Err(ClientError::Invalid(
                "no device of this account has that fingerprint (`trialog device list`)".into(),
            ));
        };
        if list.devices[i].age_recipient == self.identity.age_recipient() {
            return Err(ClientError::Invalid(
                "this is the device you are using: remove it from another of your devices".into(),
            ));
        }
        let removed = list.devices.remove(i);
        let signed = self.next_list(list)?;
        self.api
            .put_devices(&PutDevices { devices: signed })
            .await?;
        Ok(removed)
    }

    /// Pins the list this device just published, so that the server cannot hand the
    /// previous one back.
    fn pin_own_devices(
        &self,
        me: &AccountView,
        signed: &Signed<DeviceList>,
    ) -> Result<(), ClientError> {
        let keys = open_key_record(&me.key_record).map_err(|e| bad(&e.to_string()))?;
        self.verified_devices(&me.account, Some(signed), &keys)
            .map(|_| ())
    }

    /// `list` one version up, signed by the identity key.
    fn next_list(&self, mut list: DeviceList) -> Result<Signed<DeviceList>, ClientError> {
        list.version += 1;
        list.issued_at = now();
        devices::check_shape(&list).map_err(|e| ClientError::Invalid(e.to_string()))?;
        Signed::sign(&list, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))
    }
}
