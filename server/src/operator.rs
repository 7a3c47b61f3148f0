//! The operator's offline commands on a data directory: invitations (create, list, revoke,
//! recover), the attestation of physicians' keys (`approve`), account suspension and TLS
//! certificate rotation. They refuse a data directory where no server was ever started,
//! so a mistyped `--data-dir` never becomes a silent new database.
//!
//! Never prints or stores a plain invitation code after `invite` returned it: only its hash
//! is stored, and listings show neither.

use std::path::{Path, PathBuf};

use serde::Serialize;
use trialog_protocol::attestation::Attestation;
use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::keys::{KeyRecord, open_key_record};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::text::NameError;
use trialog_protocol::{AccountId, Fingerprint, Role, Signed};

use crate::db::{self, Db};
use crate::operator_key::OperatorKey;
use crate::{Config, codes, state};

/// Days an invitation may be valid: at least one, at most about a quarter.
pub const VALID_DAYS: std::ops::RangeInclusive<i64> = 1..=90;

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "no Trialog server has been started in {0} (no server key or database there); check --data-dir, or run `trialog-server serve` there once first"
    )]
    NoServer(String),
    #[error("--name: {0}")]
    InvalidName(#[from] NameError),
    #[error("--valid-days must be between 1 and 90, not {0}")]
    ValidDays(i64),
    #[error(
        "RIZIV/INAMI number {riziv} is already registered (account {account}); for a physician who lost their keys, invite with --recovery"
    )]
    RizivRegistered { riziv: String, account: String },
    #[error(
        "no physician is registered with RIZIV/INAMI number {0}; a recovery is for an existing account"
    )]
    NothingToRecover(String),
    #[error("account {0} is a patient's: patients re-enrol through their treating physician")]
    NotAPhysician(String),
    #[error(
        "the fingerprint read out does not match the key registered for {0}: do NOT approve. Ask the physician to read it again from their own screen (`trialog whoami`); if it still differs, the key on the server is not theirs: tell the security contact"
    )]
    FingerprintMismatch(String),
    #[error(
        "--fingerprint must be at least the 32 hex digits the physician reads out (`trialog whoami` shows them)"
    )]
    FingerprintFormat,
    #[error(
        "the key of {0} replaced an earlier key through a recovery: approve it with --recovery, and only if you issued that physician a recovery invitation (it revokes the old key {1})"
    )]
    RecoveryNotSaid(String, String),
    #[error("the key of {0} is not a recovery: approve it without --recovery")]
    NotARecovery(String),
    #[error("the key of {0} is already attested (on {1}); nothing to do")]
    AlreadyAttested(String, String),
    #[error("the stored {0} is damaged; restore the database from a backup")]
    Corrupt(&'static str),
    #[error("{0}")]
    Key(#[from] crate::operator_key::OperatorKeyError),
    #[error(
        "RIZIV/INAMI number {0} already has a pending invitation; revoke it first (`trialog-server invitations revoke --riziv {0}`) or invite with --replace"
    )]
    InvitationPending(String),
    #[error("RIZIV/INAMI number {0} has no pending invitation to revoke")]
    NothingToRevoke(String),
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("account {0} is already suspended")]
    AlreadySuspended(String),
    #[error("account {0} is not suspended")]
    NotSuspended(String),
    #[error("{0} already exists and is not empty; a backup never overwrites a file")]
    BackupExists(String),
    #[error("the system's random number generator failed")]
    Randomness,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    ServerKey(#[from] crate::server_key::ServerKeyError),
    #[error("cannot read or write {0}: {1}")]
    Io(String, std::io::Error),
}

/// Refuses a data directory where `serve` never ran: it creates the directory, the server
/// key and the database together. Nothing is created when they are missing.
pub fn check_data_dir(config: &Config) -> Result<(), OperatorError> {
    let url = config.database_url();
    // A PostgreSQL database is not in the data directory: the server key says `serve` ran.
    let file_missing = match db::file_of(&url)? {
        Some(file) => !is_file(&file),
        None => db::Backend::of(&url) == db::Backend::Sqlite,
    };
    if !is_file(&config.data_dir.join("server-key.pem")) || file_missing {
        return Err(OperatorError::NoServer(
            config.data_dir.display().to_string(),
        ));
    }
    Ok(())
}

/// Opens the database of a data directory where `serve` has run (`check_data_dir`).
async fn open_existing(config: &Config) -> Result<Db, OperatorError> {
    check_data_dir(config)?;
    Ok(Db::open(&config.database_url()).await?)
}

fn is_file(p: &Path) -> bool {
    p.metadata().map(|m| m.is_file()).unwrap_or(false)
}

/// Creates a one-time physician invitation; returns the plain code (to be printed once) and
/// its expiry. Refuses a number already registered or with a pending invitation.
pub async fn invite(
    config: &Config,
    role: Role,
    riziv: &Riziv,
    name: &str,
    valid_days: i64,
) -> Result<(String, i64), OperatorError> {
    invite_with(config, role, riziv, name, valid_days, false).await
}

/// `invite`; with `replace`, a pending invitation for the same number is revoked first (in
/// the same transaction) instead of refusing.
pub async fn invite_with(
    config: &Config,
    role: Role,
    riziv: &Riziv,
    name: &str,
    valid_days: i64,
    replace: bool,
) -> Result<(String, i64), OperatorError> {
    // Checked before the data directory is opened: a refused name writes nothing. The name
    // is shown in directories and in every consent text that names this physician.
    let name = trialog_protocol::text::check_display_name(name)?;
    let issued = issue(config, riziv, valid_days, replace, Some((role, name))).await?;
    Ok((issued.code, issued.expires_at))
}

/// A recovery invitation, for a physician who lost every device: it registers a new key
/// for their existing account (same role, number and name). Clients refuse that key until
/// `approve` attests it, which also revokes the old one.
pub async fn invite_recovery(
    config: &Config,
    riziv: &Riziv,
    valid_days: i64,
    replace: bool,
) -> Result<Issued, OperatorError> {
    issue(config, riziv, valid_days, replace, None).await
}

/// A new invitation, as `invite` prints it.
#[derive(Debug)]
pub struct Issued {
    /// The plain one-time code: printed once, never stored.
    pub code: String,
    pub expires_at: i64,
    pub role: Role,
    pub name: String,
    /// The account a recovery invitation recovers.
    pub recovers: Option<AccountId>,
}

/// Issues a new invitation (`new` = role and name) or a recovery one (`None`).
async fn issue(
    config: &Config,
    riziv: &Riziv,
    valid_days: i64,
    replace: bool,
    new: Option<(Role, String)>,
) -> Result<Issued, OperatorError> {
    if !VALID_DAYS.contains(&valid_days) {
        return Err(OperatorError::ValidDays(valid_days));
    }
    let db = open_existing(config).await?;
    let result = async {
        let code = codes::generate().map_err(|_| OperatorError::Randomness)?;
        let now = state::now();
        let expires_at = now + valid_days * 24 * 3600;
        let mut tx = db.write().await?;
        let existing = db::accounts::by_riziv(&mut *tx, riziv.digits()).await?;
        let (role, name, recovers) = match (new, existing) {
            (Some(_), Some(a)) => {
                return Err(OperatorError::RizivRegistered {
                    riziv: riziv.to_string(),
                    account: a.id,
                });
            }
            (Some((role, name)), None) => (role, name, None),
            (None, None) => return Err(OperatorError::NothingToRecover(riziv.to_string())),
            (None, Some(a)) => {
                let role = a.role;
                let id = AccountId::parse(&a.id).map_err(|_| OperatorError::Corrupt("account"))?;
                (
                    role,
                    a.name.ok_or(OperatorError::Corrupt("name"))?,
                    Some(id),
                )
            }
        };
        if replace {
            db::accounts::revoke_invitations(&mut *tx, riziv.digits(), now).await?;
        } else if db::accounts::pending_invitations(&mut *tx, riziv.digits(), now).await? > 0 {
            return Err(OperatorError::InvitationPending(riziv.to_string()));
        }
        let inv = db::accounts::InvitationRow {
            role,
            riziv: riziv.digits().into(),
            name: name.clone(),
            recovers: recovers.as_ref().map(|a| a.to_string()),
        };
        db::accounts::insert_invitation(&mut *tx, &codes::hash(&code), &inv, now, expires_at)
            .await?;
        tx.commit().await?;
        Ok(Issued {
            code,
            expires_at,
            role,
            name,
            recovers,
        })
    }
    .await;
    db.close().await;
    result
}

/// What `approve` signed.
#[derive(Debug)]
pub struct Approved {
    pub attestation: Attestation,
}

/// Attests a physician's registered key after comparing its fingerprint with the one the
/// physician read out (`typed`, at least 32 hex digits). The running server never holds
/// the operator key, so this is the only way a key becomes one that clients accept. After
/// a recovery, the attestation names the key it replaces: the old one is revoked.
///
/// `recovery` says the operator means to approve a replacement key (after issuing a
/// recovery invitation): the database alone, which a compromised server writes, never
/// turns a first approval into the revocation of someone's key.
pub async fn approve(
    config: &Config,
    who: &AccountRef,
    typed: &str,
    key: &OperatorKey,
    recovery: bool,
) -> Result<Approved, OperatorError> {
    let digits = typed.chars().filter(char::is_ascii_hexdigit).count();
    let separators = |c: char| c.is_ascii_hexdigit() || matches!(c, ' ' | '-' | ':' | '.');
    if !(32..=64).contains(&digits) || !typed.chars().all(separators) {
        return Err(OperatorError::FingerprintFormat);
    }
    let db = open_existing(config).await?;
    let result = async {
        let now = state::now();
        let mut tx = db.write().await?;
        let row = account_of(&mut tx, who).await?;
        let id = AccountId::parse(&row.id).map_err(|_| OperatorError::Corrupt("account id"))?;
        let role = row.role;
        let (Some(name), Some(riziv)) = (row.name.clone(), row.riziv.clone()) else {
            return Err(OperatorError::NotAPhysician(id.to_string()));
        };
        if role == Role::Patient {
            return Err(OperatorError::NotAPhysician(id.to_string()));
        }
        let record: Signed<KeyRecord> =
            serde_json::from_str(&row.key_record).map_err(|_| OperatorError::Corrupt("key"))?;
        let keys = open_key_record(&record).map_err(|_| OperatorError::Corrupt("key"))?;
        if keys.record.account != id || keys.fingerprint.as_str() != row.fingerprint {
            return Err(OperatorError::Corrupt("key"));
        }
        if !keys.fingerprint.matches_typed(typed) {
            return Err(OperatorError::FingerprintMismatch(who.to_string()));
        }
        // The attestation in place, if any: the same key is already done. A recovery
        // cleared it and noted the key it replaces; this attestation revokes that one.
        if let Some(json) = &row.attestation {
            let signed: Signed<Attestation> =
                serde_json::from_str(json).map_err(|_| OperatorError::Corrupt("attestation"))?;
            let p = signed
                .open(&key.public())
                .map_err(|_| OperatorError::Corrupt("attestation"))?;
            if p.fingerprint == keys.fingerprint {
                return Err(OperatorError::AlreadyAttested(
                    who.to_string(),
                    trialog_protocol::time::format_date(p.attested_at),
                ));
            }
        }
        let replaces = row
            .recovered_from
            .as_deref()
            .map(Fingerprint::parse)
            .transpose()
            .map_err(|_| OperatorError::Corrupt("fingerprint"))?;
        match (&replaces, recovery) {
            (Some(old), false) => {
                return Err(OperatorError::RecoveryNotSaid(who.to_string(), old.short()));
            }
            (None, true) => return Err(OperatorError::NotARecovery(who.to_string())),
            _ => {}
        }
        let attestation = Attestation {
            account: id.clone(),
            role,
            riziv,
            name,
            fingerprint: keys.fingerprint.clone(),
            attested_at: now,
            replaces,
        };
        let signed = Signed::sign(&attestation, key.signing_key())
            .map_err(|_| OperatorError::Corrupt("attestation"))?;
        let json =
            serde_json::to_string(&signed).map_err(|_| OperatorError::Corrupt("attestation"))?;
        db::accounts::set_attestation(&mut *tx, id.as_str(), &json).await?;
        let (event, detail, name) = match &attestation.replaces {
            None => (
                AuditEvent::KeyAttested,
                format!("key {}", keys.fingerprint),
                "key_attested",
            ),
            Some(old) => (
                AuditEvent::KeyRevoked,
                format!("key {} replaces revoked key {old}", keys.fingerprint),
                "key_revoked",
            ),
        };
        operator_event(&mut tx, now, event, &id, detail).await?;
        tx.commit().await?;
        tracing::info!(event = %name, account = %id, "key attested by the operator");
        Ok(Approved { attestation })
    }
    .await;
    db.close().await;
    result
}

/// An entry of the directory's audit chain for what the operator did to `account`. No
/// actor: the operator has no account.
async fn operator_event(
    tx: &mut db::Tx,
    now: i64,
    event: AuditEvent,
    account: &AccountId,
    detail: String,
) -> Result<(), sqlx::Error> {
    db::audit::append(
        tx,
        DIRECTORY_CHAIN,
        now,
        event,
        None,
        Some(account.as_str()),
        Some(detail),
    )
    .await?;
    Ok(())
}

async fn account_of(
    tx: &mut db::Tx,
    who: &AccountRef,
) -> Result<db::accounts::AccountRow, OperatorError> {
    match who {
        AccountRef::Id(id) => db::accounts::get(&mut **tx, id.as_str()).await?,
        AccountRef::Riziv(r) => db::accounts::by_riziv(&mut **tx, r.digits()).await?,
    }
    .ok_or_else(|| OperatorError::UnknownAccount(who.to_string()))
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Used,
    Expired,
    Revoked,
}

impl InvitationState {
    pub fn as_str(self) -> &'static str {
        match self {
            InvitationState::Pending => "pending",
            InvitationState::Used => "used",
            InvitationState::Expired => "expired",
            InvitationState::Revoked => "revoked",
        }
    }
}

/// One line of `trialog-server invitations list`. Holds no code and no code hash.
#[derive(Debug, Clone, Serialize)]
pub struct InvitationInfo {
    pub role: Role,
    pub riziv: String,
    pub name: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub state: InvitationState,
    /// The account that registered with it, once used.
    pub used_by: Option<String>,
}

/// Every invitation of the data directory, oldest first, with its state at `now`.
pub async fn list_invitations(config: &Config) -> Result<Vec<InvitationInfo>, OperatorError> {
    let db = open_existing(config).await?;
    let rows = db::accounts::list_invitations(db.pool()).await;
    db.close().await;
    let now = state::now();
    Ok(rows?
        .into_iter()
        .map(|r| {
            let state = if r.used_by.is_some() {
                InvitationState::Used
            } else if r.revoked_at.is_some() {
                InvitationState::Revoked
            } else if r.expires_at <= now {
                InvitationState::Expired
            } else {
                InvitationState::Pending
            };
            InvitationInfo {
                riziv: Riziv::parse(&r.riziv)
                    .map(|n| n.to_string())
                    .unwrap_or(r.riziv),
                role: r.role,
                name: r.name,
                created_at: r.created_at,
                expires_at: r.expires_at,
                state,
                used_by: r.used_by,
            }
        })
        .collect())
}

/// Revokes the pending invitations for `riziv`; returns how many (at least one).
pub async fn revoke_invitation(config: &Config, riziv: &Riziv) -> Result<u64, OperatorError> {
    let db = open_existing(config).await?;
    let n = db::accounts::revoke_invitations(db.pool(), riziv.digits(), state::now()).await;
    db.close().await;
    match n? {
        0 => Err(OperatorError::NothingToRevoke(riziv.to_string())),
        n => Ok(n),
    }
}

/// `trialog-server backup --to FILE`: a consistent copy of the database of a data
/// directory, while `serve` runs on it. It holds what the server holds: accounts and their
/// public keys, cases, signed consents, the audit chains, and the ciphertext of messages
/// not yet acknowledged, revoked or expired (never anything in clear, never a key).
pub async fn backup(config: &Config, to: &Path) -> Result<(), OperatorError> {
    if to.metadata().map(|m| m.len() > 0).unwrap_or(false) {
        return Err(OperatorError::BackupExists(to.display().to_string()));
    }
    let db = open_existing(config).await?;
    let r = db.backup_to(to).await;
    db.close().await;
    Ok(r?)
}

/// Which account an operator command acts on.
#[derive(Debug, Clone)]
pub enum AccountRef {
    Id(AccountId),
    Riziv(Riziv),
}

impl std::fmt::Display for AccountRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AccountRef::Id(id) => write!(f, "{id}"),
            AccountRef::Riziv(r) => write!(f, "with RIZIV/INAMI number {r}"),
        }
    }
}

/// Suspends an account: from the commit on, its tokens, login, sending and receiving are
/// refused, and what is sent to it is held. Recorded in the directory's audit chain.
/// Returns the account id.
pub async fn suspend(config: &Config, who: &AccountRef) -> Result<AccountId, OperatorError> {
    set_suspension(config, who, true).await
}

/// Lifts a suspension: the account works again and what was held for it is delivered.
pub async fn unsuspend(config: &Config, who: &AccountRef) -> Result<AccountId, OperatorError> {
    set_suspension(config, who, false).await
}

async fn set_suspension(
    config: &Config,
    who: &AccountRef,
    suspend: bool,
) -> Result<AccountId, OperatorError> {
    let db = open_existing(config).await?;
    let result = async {
        let now = state::now();
        let mut tx = db.write().await?;
        let account = account_of(&mut tx, who).await?;
        let id = AccountId::parse(&account.id)
            .map_err(|_| OperatorError::UnknownAccount(account.id.clone()))?;
        if !db::accounts::set_suspended(&mut *tx, id.as_str(), suspend.then_some(now)).await? {
            return Err(if suspend {
                OperatorError::AlreadySuspended(id.to_string())
            } else {
                OperatorError::NotSuspended(id.to_string())
            });
        }
        let (event, name) = if suspend {
            (AuditEvent::AccountSuspended, "account_suspended")
        } else {
            (AuditEvent::AccountUnsuspended, "account_unsuspended")
        };
        operator_event(&mut tx, now, event, &id, "by the operator".into()).await?;
        tx.commit().await?;
        tracing::info!(event = %name, account = %id, "suspension changed by the operator");
        Ok(id)
    }
    .await;
    db.close().await;
    result
}

/// What `rotate-cert` did.
#[derive(Debug, Clone)]
pub struct Rotated {
    /// Hex SHA-256 of the new certificate.
    pub cert_sha256: String,
    /// When the server key vouched for it.
    pub issued_at: i64,
    /// Where it now is: `serve` presents it from its next start (without --tls-cert).
    pub cert_path: PathBuf,
}

/// Replaces the data directory's TLS certificate and key by a new self-signed pair, or by
/// copies of `given` (certificate chain, key; PEM), after the server key has vouched for the
/// new certificate (stored statement and directory audit entry, one transaction). A running
/// server keeps presenting the old certificate until it is restarted.
pub async fn rotate_cert(
    config: &Config,
    given: Option<(&Path, &Path)>,
) -> Result<Rotated, OperatorError> {
    let db = open_existing(config).await?;
    let dir = &config.data_dir;
    let new_cert = dir.join("tls-cert.pem.new");
    let new_key = dir.join("tls-key.pem.new");
    let result = async {
        let key = crate::server_key::ServerKey::load_or_create(&dir.join("server-key.pem"))?;
        // Left over by an interrupted rotation: never served, safe to replace.
        for p in [&new_cert, &new_key] {
            remove_file_if_any(p)?;
        }
        match given {
            Some((cert, tls_key)) => {
                for (from, to) in [(cert, &new_cert), (tls_key, &new_key)] {
                    let bytes = zeroize::Zeroizing::new(
                        std::fs::read(from).map_err(|e| io_error(from, e))?,
                    );
                    crate::files::write_private(to, &bytes).map_err(|e| io_error(to, e))?;
                }
            }
            None => crate::tls::create_self_signed(&new_cert, &new_key)?,
        }
        // Loaded as `serve` will load it: a pair that is no usable TLS configuration is
        // refused before anything is vouched for or replaced.
        let tls = crate::tls::load(Some((&new_cert, &new_key)), dir)?;
        let (statement, _) =
            crate::certificates::vouch(&db, &key, &tls.cert_sha256, state::now(), "rotate-cert")
                .await?;
        let issued_at = statement
            .parse_unverified()
            .map(|s| s.issued_at)
            .unwrap_or_else(|_| state::now());
        // The statement is committed first: if a rename fails, the server key has vouched
        // for a certificate never served, which is harmless. A crash between the two renames
        // leaves a pair that `serve` refuses to load (the key does not match), never a
        // certificate served without its statement; running `rotate-cert` again repairs it.
        let cert_path = dir.join("tls-cert.pem");
        for (from, to) in [
            (&new_key, &dir.join("tls-key.pem")),
            (&new_cert, &cert_path),
        ] {
            std::fs::rename(from, to).map_err(|e| io_error(to, e))?;
        }
        Ok(Rotated {
            cert_sha256: tls.cert_sha256,
            issued_at,
            cert_path,
        })
    }
    .await;
    if result.is_err() {
        let _ = remove_file_if_any(&new_cert);
        let _ = remove_file_if_any(&new_key);
    }
    db.close().await;
    result
}

fn io_error(p: &Path, e: std::io::Error) -> OperatorError {
    OperatorError::Io(p.display().to_string(), e)
}

fn remove_file_if_any(p: &Path) -> Result<(), OperatorError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error(p, e)),
    }
}
