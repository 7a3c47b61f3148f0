//! Accounts: registration (with a recovery or a patient's re-enrolment), login challenges,
//! the directory, invitations and enrolment codes as their holder may look them up.

use trialog_protocol::api::{EnrolmentView, InvitationView};
use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::keys::{KeyRecord, VerifiedKeys, open_key_record};
use trialog_protocol::{AccountId, CaseId, Role, Signed};

use super::Store;
use crate::db::{self, Tx, accounts::AccountRow, accounts::InvitationRow, accounts::Standing};
use crate::error::ApiError;

/// What a registration did: the account as stored, the case a patient joined, and whether
/// it is new (false: the same registration answered again, its first answer was lost).
#[derive(Debug)]
pub struct Registered {
    pub account: AccountRow,
    pub case_id: Option<CaseId>,
    pub created: bool,
}

/// The keys of a stored account, verified from its stored key record.
pub(super) fn verified_keys(a: &AccountRow) -> Result<VerifiedKeys, ApiError> {
    let corrupt = || ApiError::Internal("stored key record does not parse".into());
    let rec: Signed<KeyRecord> = serde_json::from_str(&a.key_record).map_err(|_| corrupt())?;
    open_key_record(&rec).map_err(|_| corrupt())
}

fn stored_case_id(id: &str) -> Result<CaseId, ApiError> {
    CaseId::parse(id).map_err(|_| ApiError::Internal("stored case id".into()))
}

impl Store {
    /// Account `id`, or `unknown_account`.
    pub async fn account(&self, id: &AccountId) -> Result<AccountRow, ApiError> {
        self.account_row(id.as_str()).await
    }

    /// The same by a stored id (a case's or a member's).
    pub(super) async fn account_row(&self, id: &str) -> Result<AccountRow, ApiError> {
        db::accounts::get(self.db.pool(), id)
            .await?
            .ok_or_else(|| ApiError::UnknownAccount(id.into()))
    }

    /// Account `id` as `viewer` may see it: physicians are public to every signed-in
    /// account; a patient only to themself (others see a patient through the cases they
    /// share).
    pub async fn visible_account(
        &self,
        viewer: &AccountId,
        id: &AccountId,
    ) -> Result<AccountRow, ApiError> {
        db::accounts::get(self.db.pool(), id.as_str())
            .await?
            .filter(|a| a.role != Role::Patient || a.id == viewer.as_str())
            .ok_or_else(|| ApiError::UnknownAccount(id.to_string()))
    }

    /// What every authenticated request checks about its account (`None`: no such account).
    pub async fn standing(&self, id: &AccountId) -> Result<Option<Standing>, ApiError> {
        Ok(db::accounts::standing(self.db.pool(), id.as_str()).await?)
    }

    /// Whether the operator suspended `id`.
    pub async fn is_suspended(&self, id: &AccountId) -> Result<bool, ApiError> {
        Ok(db::accounts::is_suspended(self.db.pool(), id.as_str()).await?)
    }

    /// Spends a login challenge (by its digest); false if it was spent before.
    pub async fn use_challenge(
        &self,
        digest: &str,
        expires_at: i64,
        now: i64,
    ) -> Result<bool, ApiError> {
        let mut tx = self.db.write().await?;
        let fresh = db::accounts::use_challenge(&mut tx, digest, expires_at, now).await?;
        tx.commit().await?;
        Ok(fresh)
    }

    /// Physicians of `role` (any, if `None`) whose name, RIZIV number or id holds `text`; at
    /// most `limit`. Patients are never listed.
    pub async fn search(
        &self,
        role: Option<Role>,
        text: Option<&str>,
        limit: i64,
    ) -> Result<Vec<AccountRow>, ApiError> {
        Ok(db::accounts::search(self.db.pool(), role, text, limit).await?)
    }

    /// What an enrolment code stands for: its case, and the case's patient account when the
    /// code was re-issued for a patient enrolling a new device.
    pub async fn enrolment(&self, code: &str, now: i64) -> Result<EnrolmentView, ApiError> {
        let (case, patient, expires_at) =
            db::cases::peek_enrolment(self.db.pool(), &crate::codes::hash(code), now)
                .await?
                .ok_or(ApiError::BadEnrolmentCode)?;
        let stored = || ApiError::Internal("stored id".into());
        Ok(EnrolmentView {
            case_id: CaseId::parse(&case).map_err(|_| stored())?,
            patient: patient
                .map(|p| AccountId::parse(&p).map_err(|_| stored()))
                .transpose()?,
            expires_at,
        })
    }

    /// An unused, unexpired invitation, without taking it.
    pub async fn invitation(&self, code: &str, now: i64) -> Result<InvitationView, ApiError> {
        let (inv, expires_at) =
            db::accounts::peek_invitation(self.db.pool(), &crate::codes::hash(code), now)
                .await?
                .ok_or(ApiError::BadInvitation)?;
        Ok(InvitationView {
            role: inv.role,
            name: inv.name,
            riziv: inv.riziv,
            expires_at,
            recovers: inv
                .recovers
                .map(|a| AccountId::parse(&a))
                .transpose()
                .map_err(|_| ApiError::Internal("stored account id".into()))?,
        })
    }

    /// Registers the account of `key_record` (verified by the caller as `keys`) with an
    /// operator's invitation or a case's enrolment code, in one transaction with its audit
    /// entry. Also: the same registration again, a recovery, a patient's re-enrolment.
    pub async fn register(
        &self,
        key_record: &Signed<KeyRecord>,
        keys: &VerifiedKeys,
        invite_code: Option<&str>,
        enrolment_code: Option<&str>,
        now: i64,
    ) -> Result<Registered, ApiError> {
        let rec = &keys.record;
        let mut tx = self.db.write().await?;
        if let Some(existing) = db::accounts::get(&mut *tx, rec.account.as_str()).await? {
            // The same registration again (its answer was lost): answer it again, so a
            // patient whose `join` timed out is not left with a spent code and no account.
            let same_keys =
                existing.fingerprint == keys.fingerprint.as_str() && existing.role == rec.role;
            // The case's patient enrolling a new key for their own account with a code the
            // treating physician re-issued (a new device). Any other new key for an
            // existing account is refused below, as before.
            if let (false, Role::Patient, None, Some(code)) =
                (same_keys, rec.role, invite_code, enrolment_code)
                && existing.role == Role::Patient
                && db::cases::peek_enrolment(&mut *tx, &crate::codes::hash(code), now)
                    .await?
                    .is_some_and(|(_, patient, _)| patient.as_deref() == Some(existing.id.as_str()))
            {
                let case_id = reenrol(&mut tx, &existing, key_record, keys, code, now).await?;
                tx.commit().await?;
                let row = db::accounts::get(self.db.pool(), &existing.id)
                    .await?
                    .ok_or_else(|| ApiError::Internal("re-enrolled account".into()))?;
                tracing::info!(event = %"patient_reenrolled", account = %rec.account, "patient re-enrolled");
                return Ok(Registered {
                    account: row,
                    case_id: Some(case_id),
                    created: true,
                });
            }
            let case = match (invite_code, enrolment_code) {
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
                Some(case_id) => Ok(Registered {
                    account: existing,
                    case_id,
                    created: false,
                }),
                None => match (invite_code, enrolment_code) {
                    (Some(code), None) if !same_keys => {
                        recover(tx, existing, key_record, keys, code, now).await
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
            key_record: serde_json::to_string(key_record)
                .map_err(|e| ApiError::Internal(e.to_string()))?,
            sign_key: keys.signing.to_bytes().to_vec(),
            fingerprint: keys.fingerprint.to_string(),
            created_at: now,
            attestation: None,
            recovered_from: None,
            devices: None,
            suspended_at: None,
        };
        let detail = Some(format!("role {}; key {}", rec.role, keys.fingerprint));
        let case_id = match (invite_code, enrolment_code) {
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
                let name = trialog_protocol::text::check_display_name(&name)
                    .map_err(ApiError::InvalidName)?;
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
                Some(stored_case_id(&case)?)
            }
            _ => return Err(ApiError::CodeKind),
        };
        tx.commit().await?;
        tracing::info!(event = %"key_registered", account = %rec.account, role = %rec.role, "account registered");
        Ok(Registered {
            account: row,
            case_id,
            created: true,
        })
    }
}

/// Re-enrolment: the key of `existing` (the patient of the case `code` was re-issued for)
/// is replaced by `record`. The replaced key, if it was confirmed, is kept with its binding
/// so that what it signed stays verifiable; the case's binding is cleared, so the new key
/// is unconfirmed until the treating physician confirms it. One transaction, with its
/// audit entry in the case's chain.
async fn reenrol(
    tx: &mut Tx,
    existing: &AccountRow,
    record: &Signed<KeyRecord>,
    keys: &VerifiedKeys,
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
    stored_case_id(&case.id)
}

/// A physician who lost every device registers a new key for their existing account with
/// the operator's recovery invitation. The key is published at once, but clients refuse it
/// until the operator attests it (`approve`), which also revokes the old one.
async fn recover(
    mut tx: Tx,
    existing: AccountRow,
    key_record: &Signed<KeyRecord>,
    keys: &VerifiedKeys,
    code: &str,
    now: i64,
) -> Result<Registered, ApiError> {
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
    Ok(Registered {
        account: row,
        case_id: None,
        created: true,
    })
}
