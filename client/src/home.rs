//! The client's home directory (`TRIALOG_HOME`, default `~/.trialog`): configuration,
//! encrypted keystore, pinned keys, verified audit heads and received messages.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use trialog_protocol::{AccountId, Role};

use crate::error::ClientError;

#[derive(Debug, Clone)]
pub struct Home {
    pub dir: PathBuf,
}

/// `config.toml`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// `https://host:port`
    pub server: String,
    /// Hex SHA-256 of the server's TLS certificate.
    pub cert_sha256: String,
    /// Hex Ed25519 public key of the server (signs audit checkpoints), pinned at init.
    pub server_key: String,
    /// Hex Ed25519 public key of the operator (signs physicians' key attestations), pinned
    /// at init from the onboarding string. Homes made before it existed take it from the
    /// server at the next login.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_key: Option<String>,
    /// When the server key vouched for the pinned certificate, if known: a certificate change
    /// is followed only with a statement at least as recent (`cert_follow`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_issued_at: Option<i64>,
    pub account: Option<AccountId>,
    pub role: Option<Role>,
    /// On a device added to an existing account: the account's fingerprint (its identity
    /// key with the first device's encryption key), which this device's own keys do not
    /// give. None on the device that registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_fingerprint: Option<String>,
    /// The registration under way, saved before the request: if its answer is lost,
    /// registering again repeats the same registration instead of spending a new code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<Pending>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pending {
    pub account: AccountId,
    pub role: Role,
}

/// `pins.toml`: the key fingerprint of every account this client has dealt with.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Pins {
    #[serde(default)]
    pub keys: BTreeMap<String, String>,
    /// Per case: the audit (seq, head) verified last.
    #[serde(default)]
    pub audit: BTreeMap<String, AuditHead>,
    /// Per physician: when the operator attested the pinned key. A later key is accepted
    /// only on an operator statement that is newer and revokes an old key.
    #[serde(default)]
    pub attested: BTreeMap<String, i64>,
    /// Per physician: the last key change accepted on the operator's statement, so that it
    /// can be shown ("new key, attested by the operator on DATE").
    #[serde(default)]
    pub changes: BTreeMap<String, KeyChange>,
    /// Per account: the newest device list version verified. An older one, or none after
    /// one was seen, is a server bringing a removed device back.
    #[serde(default)]
    pub devices: BTreeMap<String, u64>,
    /// Per account: the SHA-256 of that list's signed payload, so that another list under
    /// the same version is refused too.
    #[serde(default)]
    pub device_hashes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyChange {
    /// Fingerprints, hex.
    pub from: String,
    pub to: String,
    pub attested_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditHead {
    pub seq: u64,
    pub head: String,
}

impl Home {
    /// `TRIALOG_HOME`, else `~/.trialog`.
    pub fn from_env() -> Result<Home, ClientError> {
        if let Some(d) = std::env::var_os("TRIALOG_HOME") {
            return Ok(Home {
                dir: PathBuf::from(d),
            });
        }
        let home = std::env::var_os("HOME").ok_or(ClientError::NoHome)?;
        Ok(Home {
            dir: PathBuf::from(home).join(".trialog"),
        })
    }

    pub fn new(dir: impl Into<PathBuf>) -> Home {
        Home { dir: dir.into() }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    pub fn keystore_path(&self) -> PathBuf {
        self.dir.join("keystore.age")
    }
    pub fn pins_path(&self) -> PathBuf {
        self.dir.join("pins.toml")
    }
    pub fn messages_dir(&self) -> PathBuf {
        self.dir.join("messages")
    }
    /// The messages this client has seen in the server's inbox (`client::mailbox`).
    pub fn inbox_index_path(&self) -> PathBuf {
        self.dir.join("inbox.json")
    }

    pub fn load_config(&self) -> Result<Config, ClientError> {
        let p = self.config_path();
        let text = std::fs::read_to_string(&p)
            .map_err(|_| ClientError::NotInitialized(self.dir.clone()))?;
        toml::from_str(&text)
            .map_err(|e| ClientError::Corrupt(p.display().to_string(), e.to_string()))
    }

    pub fn save_config(&self, c: &Config) -> Result<(), ClientError> {
        let text =
            toml::to_string(c).map_err(|e| ClientError::Corrupt("config".into(), e.to_string()))?;
        write_file(&self.config_path(), text.as_bytes(), false)
    }

    pub fn load_pins(&self) -> Result<Pins, ClientError> {
        let p = self.pins_path();
        match std::fs::read_to_string(&p) {
            Ok(text) => toml::from_str(&text)
                .map_err(|e| ClientError::Corrupt(p.display().to_string(), e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Pins::default()),
            Err(e) => Err(ClientError::Io(p.display().to_string(), e)),
        }
    }

    pub fn save_pins(&self, pins: &Pins) -> Result<(), ClientError> {
        let text = toml::to_string(pins)
            .map_err(|e| ClientError::Corrupt("pins".into(), e.to_string()))?;
        write_file(&self.pins_path(), text.as_bytes(), true)
    }
}

/// Writes atomically (temp file + rename); `private` files are readable by the owner only.
pub fn write_file(path: &Path, bytes: &[u8], private: bool) -> Result<(), ClientError> {
    use std::io::Write;
    let io = |e| ClientError::Io(path.display().to_string(), e);
    if let Some(dir) = path.parent() {
        // The home holds the keystore and the pinned keys: owner only.
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(if private { 0o600 } else { 0o644 });
    }
    let mut f = opts.open(&tmp).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}
