//! Building API views from stored rows (shared by several areas).

use trialog_protocol::AccountId;
use trialog_protocol::api::{AccountView, ConsentView};

use crate::db::accounts::AccountRow;
use crate::db::consents::ConsentRow;
use crate::error::ApiError;

fn corrupt(what: &str) -> ApiError {
    ApiError::Internal(format!("stored {what} does not parse"))
}

pub fn account_view(a: &AccountRow) -> Result<AccountView, ApiError> {
    Ok(AccountView {
        account: AccountId::parse(&a.id).map_err(|_| corrupt("account id"))?,
        role: a.role,
        name: a.name.clone(),
        riziv: a.riziv.clone(),
        key_record: serde_json::from_str(&a.key_record).map_err(|_| corrupt("key record"))?,
        fingerprint: trialog_protocol::Fingerprint::parse(&a.fingerprint)
            .map_err(|_| corrupt("fingerprint"))?,
        attestation: a
            .attestation
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("attestation"))?,
        devices: a
            .devices
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .map_err(|_| corrupt("device list"))?,
    })
}

pub fn consent_view(c: &ConsentRow) -> Result<ConsentView, ApiError> {
    Ok(ConsentView {
        consent_id: trialog_protocol::ConsentId::parse(&c.id).map_err(|_| corrupt("consent id"))?,
        consent: serde_json::from_str(&c.signed).map_err(|_| corrupt("consent"))?,
        revoked_at: c.revoked_at,
        revocation: match &c.revocation {
            Some(r) => Some(serde_json::from_str(r).map_err(|_| corrupt("revocation"))?),
            None => None,
        },
        superseded_by: match &c.superseded_by {
            Some(s) => {
                Some(trialog_protocol::ConsentId::parse(s).map_err(|_| corrupt("consent id"))?)
            }
            None => None,
        },
        superseded_at: c.superseded_at,
        expired_at: c.expired_at,
        accepted_at: c.created_at,
    })
}
