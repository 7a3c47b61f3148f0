//! The operator's offline commands on a data directory: invitations (create, list, revoke),
//! account suspension and TLS certificate rotation. They refuse a data directory where no server was ever started,
//! so a mistyped `--data-dir` never becomes a silent new database.
//!
//! Never prints or stores a plain invitation code after `invite` returned it: only its hash
//! is stored, and listings show neither.

use std::path::{Path, PathBuf};

use serde::Serialize;
use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::riziv::Riziv;
use trialog_protocol::text::NameError;
use trialog_protocol::{AccountId, Role};

use crate::db::{self, Db};
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
        "RIZIV/INAMI number {riziv} is already registered (account {account}); a physician who lost their keys will get a recovery invitation (not yet available)"
    )]
    RizivRegistered { riziv: String, account: String },
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

/// Opens the database of a data directory where `serve` has run: it created the directory,
/// the server key and the database together. Nothing is created when they are missing.
async fn open_existing(config: &Config) -> Result<Db, OperatorError> {
    let no_server = || OperatorError::NoServer(config.data_dir.display().to_string());
    let url = config.database_url();
    let file: PathBuf = db::file_of(&url)?;
    if !is_file(&config.data_dir.join("server-key.pem"))
        || file.as_os_str() == ":memory:"
        || !is_file(&file)
    {
        return Err(no_server());
    }
    Ok(Db::open(&url).await?)
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
    if !VALID_DAYS.contains(&valid_days) {
        return Err(OperatorError::ValidDays(valid_days));
    }
    let db = open_existing(config).await?;
    let result = async {
        let code = codes::generate().map_err(|_| OperatorError::Randomness)?;
        let now = state::now();
        let expires_at = now + valid_days * 24 * 3600;
        let mut tx = db.write().await?;
        if let Some(a) = db::accounts::by_riziv(&mut *tx, riziv.digits()).await? {
            return Err(OperatorError::RizivRegistered {
                riziv: riziv.to_string(),
                account: a.id,
            });
        }
        if replace {
            db::accounts::revoke_invitations(&mut *tx, riziv.digits(), now).await?;
        } else if db::accounts::pending_invitations(&mut *tx, riziv.digits(), now).await? > 0 {
            return Err(OperatorError::InvitationPending(riziv.to_string()));
        }
        let inv = db::accounts::InvitationRow {
            role: role.as_str().into(),
            riziv: riziv.digits().into(),
            name,
        };
        db::accounts::insert_invitation(&mut *tx, &codes::hash(&code), &inv, now, expires_at)
            .await?;
        tx.commit().await?;
        Ok((code, expires_at))
    }
    .await;
    db.close().await;
    result
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
    pub role: String,
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
        let account = match who {
            AccountRef::Id(id) => db::accounts::get(&mut *tx, id.as_str()).await?,
            AccountRef::Riziv(r) => db::accounts::by_riziv(&mut *tx, r.digits()).await?,
        }
        .ok_or_else(|| OperatorError::UnknownAccount(who.to_string()))?;
        let id = AccountId::parse(&account.id)
            .map_err(|_| OperatorError::UnknownAccount(account.id.clone()))?;
        if !db::accounts::set_suspended(&mut *tx, id.as_str(), suspend.then_some(now)).await? {
            return Err(if suspend {
                OperatorError::AlreadySuspended(id.to_string())
            } else {
                OperatorError::NotSuspended(id.to_string())
            });
        }
        let event = if suspend {
            AuditEvent::AccountSuspended
        } else {
            AuditEvent::AccountUnsuspended
        };
        // No actor: the operator has no account. The subject is the account acted on.
        db::audit::append(
            &mut tx,
            DIRECTORY_CHAIN,
            now,
            event,
            None,
            Some(id.as_str()),
            Some("by the operator".into()),
        )
        .await?;
        tx.commit().await?;
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
