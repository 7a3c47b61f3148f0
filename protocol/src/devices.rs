//! An account's devices: the encryption keys it reads with, listed and signed by its
//! identity key (DESIGN.md §2.5).
//!
//! An account starts with one device, the one that registered: the age recipient of its
//! key record. Adding a device (a second laptop, a desktop) or removing one publishes a
//! new list, signed by the identity key, whose version is one higher; senders encrypt each
//! field to every device of the newest list they verified, and never accept a list older
//! than one they saw, so a server cannot bring a removed device back.
//!
//! Every device of an account holds the same identity (signing) key, handed over to a new
//! device sealed to that device's own age key after the person compared the device's
//! fingerprint on both screens; removal stops a device from reading what is sent after.
//! A stolen device, which still holds the identity key, calls for a recovery instead.

use serde::{Deserialize, Serialize};

use crate::encoding::sha256;
use crate::ids::{AccountId, Fingerprint};
use crate::keys::VerifiedKeys;
use crate::signed::{Signed, SignedKind};

/// Most devices an account may list: every field is encrypted to each of them.
pub const MAX_DEVICES: usize = 8;

/// Longest device name, in characters.
pub const MAX_NAME_CHARS: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// The age recipient (`age1…`) this device decrypts with.
    pub age_recipient: String,
    /// What the person called it ("laptop", "desktop at the practice").
    pub name: String,
    pub added_at: i64,
}

impl Device {
    /// What the person compares on both screens when adding a device.
    pub fn fingerprint(&self) -> Fingerprint {
        device_fingerprint(&self.age_recipient)
    }
}

/// The fingerprint of a device's encryption key.
pub fn device_fingerprint(age_recipient: &str) -> Fingerprint {
    Fingerprint::from_digest(sha256(&[b"trialog/v1/device\0", age_recipient.as_bytes()]))
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeviceList {
    pub account: AccountId,
    /// One higher with each change; the registration's single device is version 0.
    pub version: u64,
    pub devices: Vec<Device>,
    pub issued_at: i64,
}

impl SignedKind for DeviceList {
    const DOMAIN: &'static str = "trialog/v1/devices";
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("the device list is not signed by the account's identity key")]
    BadSignature,
    #[error("the device list is for another account")]
    WrongAccount,
    #[error("a device list holds between 1 and {MAX_DEVICES} devices")]
    Count,
    #[error("a device's encryption key is not a valid age X25519 recipient")]
    BadRecipient,
    #[error("a device is listed twice")]
    Duplicate,
    #[error("a device name is empty, too long or holds characters that are not shown")]
    BadName,
    #[error("the device list is older than one already seen (version {seen})")]
    Rollback { seen: u64 },
}

impl DeviceError {
    pub fn code(&self) -> crate::error::Code {
        match self {
            DeviceError::Rollback { .. } => crate::error::Code::DevicesRolledBack,
            _ => crate::error::Code::BadDeviceList,
        }
    }
}

/// The devices an account's messages are encrypted to: its verified list, or the key
/// record's own recipient when it has none.
#[derive(Debug, Clone)]
pub struct Devices {
    pub version: u64,
    pub recipients: Vec<age::x25519::Recipient>,
}

/// Checks a device list against the account's verified identity: signed by it, for it,
/// well formed. Returns the list.
pub fn verify(
    signed: &Signed<DeviceList>,
    identity: &VerifiedKeys,
) -> Result<DeviceList, DeviceError> {
    let list = signed
        .open(&identity.signing)
        .map_err(|_| DeviceError::BadSignature)?;
    if list.account != identity.record.account {
        return Err(DeviceError::WrongAccount);
    }
    check_shape(&list)?;
    Ok(list)
}

/// The shape of a list alone: 1 to `MAX_DEVICES` devices, each key canonical and once,
/// each name shown as typed.
pub fn check_shape(list: &DeviceList) -> Result<(), DeviceError> {
    if list.devices.is_empty() || list.devices.len() > MAX_DEVICES {
        return Err(DeviceError::Count);
    }
    let mut seen = std::collections::BTreeSet::new();
    for d in &list.devices {
        let r: age::x25519::Recipient = d
            .age_recipient
            .parse()
            .map_err(|_| DeviceError::BadRecipient)?;
        if r.to_string() != d.age_recipient {
            return Err(DeviceError::BadRecipient);
        }
        if !seen.insert(d.age_recipient.as_str()) {
            return Err(DeviceError::Duplicate);
        }
        check_name(&d.name)?;
    }
    Ok(())
}

/// A device name: one short line of visible text.
pub fn check_name(name: &str) -> Result<(), DeviceError> {
    let n = name.chars().count();
    if n == 0
        || n > MAX_NAME_CHARS
        || name.trim() != name
        || crate::text::check_display_name(name).is_err()
    {
        return Err(DeviceError::BadName);
    }
    Ok(())
}

/// The recipients to encrypt to for an account: every device of its verified list, or the
/// key record's recipient if it never listed devices.
pub fn recipients(identity: &VerifiedKeys, list: Option<&DeviceList>) -> Devices {
    match list {
        Some(l) => Devices {
            version: l.version,
            recipients: l
                .devices
                .iter()
                .filter_map(|d| d.age_recipient.parse().ok())
                .collect(),
        },
        None => Devices {
            version: 0,
            recipients: vec![identity.recipient.clone()],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Identity, open_key_record};

    fn identity() -> (Identity, VerifiedKeys) {
        let id = Identity::generate().unwrap();
        let account = AccountId::random().unwrap();
        let keys = open_key_record(
            &id.key_record(&account, crate::Role::Occupational, 1)
                .unwrap(),
        )
        .unwrap();
        (id, keys)
    }

    fn device(name: &str) -> Device {
        Device {
            age_recipient: age::x25519::Identity::generate().to_public().to_string(),
            name: name.into(),
            added_at: 1,
        }
    }

    #[test]
    fn a_list_signed_by_the_identity_verifies_and_gives_its_recipients() {
        let (id, keys) = identity();
        let list = DeviceList {
            account: keys.record.account.clone(),
            version: 1,
            devices: vec![device("laptop"), device("desktop")],
            issued_at: 2,
        };
        let signed = Signed::sign(&list, id.signing_key()).unwrap();
        let got = verify(&signed, &keys).unwrap();
        assert_eq!(recipients(&keys, Some(&got)).recipients.len(), 2);
        assert_eq!(recipients(&keys, None).recipients.len(), 1);
    }

    #[test]
    fn foreign_empty_duplicated_and_misnamed_lists_are_refused() {
        let (id, keys) = identity();
        let (other, _) = identity();
        let base = DeviceList {
            account: keys.record.account.clone(),
            version: 1,
            devices: vec![device("laptop")],
            issued_at: 2,
        };
        let sign = |l: &DeviceList, by: &Identity| Signed::sign(l, by.signing_key()).unwrap();
        assert_eq!(
            verify(&sign(&base, &other), &keys),
            Err(DeviceError::BadSignature)
        );
        let mut l = base.clone();
        l.account = AccountId::random().unwrap();
        assert_eq!(
            verify(&sign(&l, &id), &keys),
            Err(DeviceError::WrongAccount)
        );
        let mut l = base.clone();
        l.devices.clear();
        assert_eq!(verify(&sign(&l, &id), &keys), Err(DeviceError::Count));
        let mut l = base.clone();
        l.devices.push(l.devices[0].clone());
        assert_eq!(verify(&sign(&l, &id), &keys), Err(DeviceError::Duplicate));
        let mut l = base.clone();
        l.devices[0].name = "laptop\u{202e}".into();
        assert_eq!(verify(&sign(&l, &id), &keys), Err(DeviceError::BadName));
        let mut l = base;
        l.devices[0].age_recipient = l.devices[0].age_recipient.to_uppercase();
        assert_eq!(
            verify(&sign(&l, &id), &keys),
            Err(DeviceError::BadRecipient)
        );
    }
}
