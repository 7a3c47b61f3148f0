//! The client: every user action as one method, each verifying what the server returns
//! before acting on it. The CLI and the end-to-end tests both drive this.
//!
//! This module holds the `Client` itself (opening a home, logging in, pinning keys); the
//! actions live in one `impl Client` block per area:
//!
//! - `account`: register, join, whoami, directory;
//! - `cases`: open, confirm, extend and verify cases;
//! - `consents`: list, grant and revoke consents;
//! - `messages`: send, inbox, read (with the recipient's verification);
//! - `mailbox`: every message of a physician, unread, read or gone, and what was withheld;
//! - `audit`: the patient's verified audit log.

mod account;
mod audit;
mod cases;
mod consents;
mod devices;
mod live;
mod mailbox;
mod messages;

use ed25519_dalek::{Signer, VerifyingKey};
use trialog_protocol::api::{AccountView, LoginRequest, ServerInfo};
use trialog_protocol::attestation::{self, Attestation, AttestationError, Claimed};
use trialog_protocol::auth::login_message;
use trialog_protocol::devices::DeviceList;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::{Identity, VerifiedKeys, open_key_record, verifying_key};
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::{AccountId, Fingerprint, Role, Signed};

use crate::api::Api;
use crate::cert_follow::Follow;
use crate::error::ClientError;
use crate::home::{Config, Home, KeyChange};
use std::sync::Arc;

pub use cases::VerifiedCase;
pub use consents::{ConsentInfo, Draft, Grant};
pub use devices::{DeviceInfo, DeviceRequest};
pub use live::Follower;
pub use mailbox::{GoneReason, MailItem, MailState, Withheld};
pub use messages::{Outgoing, Preview, ReadMessage, SendReport};

pub use trialog_protocol::time::now;

pub struct Client {
    home: Home,
    config: Config,
    identity: Identity,
    api: Api,
    server_key: VerifyingKey,
    /// The operator key pinned at init: physicians' keys must carry its attestation.
    operator_key: Option<VerifyingKey>,
    logged_in: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("home", &self.home.dir)
            .field("account", &self.config.account)
            .finish()
    }
}

fn pin_bytes(pin: &str) -> Result<[u8; 32], ClientError> {
    crate::tls::parse_pin(pin).ok_or_else(|| ClientError::BadPin(pin.to_owned()))
}

impl Client {
    /// Creates keys and the keystore, pins the server's certificate, its signing key and
    /// the operator's key: the one from the onboarding string, else (a home set up from the
    /// parts typed by hand) the one the server publishes.
    pub async fn init(
        home: Home,
        server: &str,
        cert_sha256: &str,
        operator_key: Option<&str>,
        passphrase: &str,
    ) -> Result<Client, ClientError> {
        if home.keystore_path().exists() || home.config_path().exists() {
            return Err(ClientError::AlreadyInitialized(home.dir.clone()));
        }
        let server = server.trim().trim_end_matches('/');
        if !server.starts_with("https://") {
            return Err(ClientError::Invalid(
                "the server address must start with https://".into(),
            ));
        }
        let pin = pin_bytes(cert_sha256)?;
        let api = Api::new(server, pin)?;
        let info = api.server_info().await?;
        let server_key = verifying_key(&info.server_key.0).map_err(|_| {
            ClientError::BadResponse("the server key is not a valid Ed25519 key".into())
        })?;
        let operator_key = match operator_key {
            Some(k) => Some(parse_operator_key(k).ok_or_else(|| {
                ClientError::Invalid(
                    "the operator key is not 64 hex digits of an Ed25519 key".into(),
                )
            })?),
            None => published_operator_key(&info),
        };
        // The pin was typed (or came with an onboarding string), not taken from the server;
        // the server key's statement for it sets the floor below which a later certificate
        // change is never followed. Without one (a statement withheld), no floor would hold
        // a leaked older certificate off: refused.
        let view = api.certificate().await?;
        let cert_issued_at = Some(
            crate::cert_follow::issued_at_of(&view, &server_key, &pin).ok_or_else(|| {
                ClientError::Verification(
                    "the server key does not vouch for the certificate pinned here".into(),
                )
            })?,
        );
        let identity = Identity::generate().map_err(|e| ClientError::Invalid(e.to_string()))?;
        crate::keystore::save(&home.keystore_path(), &identity, passphrase)?;
        let config = Config {
            server: server.to_owned(),
            cert_sha256: hex::encode(pin),
            server_key: hex::encode(server_key.as_bytes()),
            operator_key: operator_key.map(|k| hex::encode(k.as_bytes())),
            cert_issued_at,
            account: None,
            role: None,
            account_fingerprint: None,
            pending: None,
        };
        home.save_config(&config)?;
        Ok(Client::assemble(home, config, identity, api, server_key))
    }

    /// `init` with what an onboarding string carries: the server, its certificate and the
    /// operator key.
    pub async fn init_from(
        home: Home,
        onboarding: &Onboarding,
        passphrase: &str,
    ) -> Result<Client, ClientError> {
        let o = onboarding;
        Client::init(
            home,
            &o.server,
            &o.cert_sha256,
            o.operator_key.as_deref(),
            passphrase,
        )
        .await
    }

    fn assemble(
        home: Home,
        config: Config,
        identity: Identity,
        mut api: Api,
        server_key: VerifyingKey,
    ) -> Client {
        let operator_key = config.operator_key.as_deref().and_then(parse_operator_key);
        api.follow_certificates(Arc::new(Follow::new(
            server_key,
            home.clone(),
            config.cert_issued_at,
        )));
        Client {
            home,
            config,
            identity,
            api,
            server_key,
            operator_key,
            logged_in: false,
        }
    }

    /// Opens an initialised home with its passphrase.
    pub fn open(home: Home, passphrase: &str) -> Result<Client, ClientError> {
        let config = home.load_config()?;
        let identity = crate::keystore::load(&home.keystore_path(), passphrase)?;
        let api = Api::new(&config.server, pin_bytes(&config.cert_sha256)?)?;
        let mut key = [0u8; 32];
        hex::decode_to_slice(&config.server_key, &mut key)
            .map_err(|_| ClientError::Corrupt("config.toml".into(), "server_key".into()))?;
        let server_key = verifying_key(&key)
            .map_err(|_| ClientError::Corrupt("config.toml".into(), "server_key".into()))?;
        Ok(Client::assemble(home, config, identity, api, server_key))
    }

    /// Called with the new certificate's SHA-256 when a certificate change vouched for by
    /// the server key was followed (the CLI says so on stderr).
    pub fn on_certificate_followed(&self, notice: impl Fn(&str) + Send + Sync + 'static) {
        if let Some(f) = self.api.follower() {
            f.on_followed(Box::new(notice));
        }
    }

    /// The certificate pinned now, hex: what an enrolment sheet must carry. `config()` keeps
    /// the pin this client was opened with; a followed rotation moves this one.
    pub fn cert_sha256(&self) -> String {
        hex::encode(self.api.pin().current())
    }

    /// Saves config.toml with the certificate pin as it is now: a followed change already
    /// saved it, and this copy must not put the old pin back.
    fn save_config(&mut self) -> Result<(), ClientError> {
        self.config.cert_sha256 = hex::encode(self.api.pin().current());
        if let Some(f) = self.api.follower() {
            self.config.cert_issued_at = f.issued_at();
        }
        self.home.save_config(&self.config)
    }

    /// The home this client was opened from: where the web client unlocks it again.
    pub fn home(&self) -> &Home {
        &self.home
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// The account's fingerprint: what the person reads out and others see.
    pub fn fingerprint(&self) -> Fingerprint {
        self.config
            .account_fingerprint
            .as_deref()
            .and_then(|f| Fingerprint::parse(f).ok())
            .unwrap_or_else(|| self.identity.fingerprint())
    }
    pub fn account(&self) -> Result<&AccountId, ClientError> {
        self.config
            .account
            .as_ref()
            .ok_or(ClientError::NotRegistered)
    }
    pub fn role(&self) -> Result<Role, ClientError> {
        self.config.role.ok_or(ClientError::NotRegistered)
    }

    /// The raw API, logged in: for tests that play a hostile client.
    pub async fn api(&mut self) -> Result<&Api, ClientError> {
        self.ensure_login().await?;
        Ok(&self.api)
    }

    async fn ensure_login(&mut self) -> Result<(), ClientError> {
        if self.logged_in {
            return Ok(());
        }
        if self.operator_key.is_none() {
            // A home made before operator keys existed: pin the one the server publishes,
            // once, as such homes pinned everything else on first use.
            if let Some(k) = published_operator_key(&self.api.server_info().await?) {
                self.config.operator_key = Some(hex::encode(k.as_bytes()));
                self.save_config()?;
                self.operator_key = Some(k);
            }
        }
        let account = self.account()?.clone();
        let ch = self.api.challenge(&account).await?;
        let sig = self
            .identity
            .signing_key()
            .sign(&login_message(&account, &ch.nonce.0));
        let resp = self
            .api
            .login(&LoginRequest {
                account,
                nonce: ch.nonce,
                sig: B64(sig.to_bytes().to_vec()),
            })
            .await?;
        self.api.set_token(resp.token);
        self.logged_in = true;
        Ok(())
    }

    fn require_role(&self, roles: &[Role], name: &'static str) -> Result<(), ClientError> {
        if roles.contains(&self.role()?) {
            Ok(())
        } else {
            Err(ClientError::WrongRole(name))
        }
    }

    /// Checks an account view's key record against itself, a physician's against the
    /// operator's attestation, and both against the pinned key; then its device list
    /// against its identity key and the newest version seen, so that `k.devices` are the
    /// devices to encrypt to.
    fn check_view(&self, a: &AccountView) -> Result<VerifiedKeys, ClientError> {
        let mut k = self.check_view_unpinned(a)?;
        // Patients are vouched for by the treating physician's binding, not the operator;
        // our own key we hold, and `pin` compares it with the one we registered.
        let attested =
            if a.role == Role::Patient || self.config.account.as_ref() == Some(&a.account) {
                None
            } else {
                Some(self.check_attestation(a, &k)?)
            };
        self.pin(&a.account, &k.fingerprint, attested.as_ref())?;
        k.devices = self.check_devices(a, &k)?;
        Ok(k)
    }

    /// Checks an account view's key record against itself only.
    fn check_view_unpinned(&self, a: &AccountView) -> Result<VerifiedKeys, ClientError> {
        let k =
            open_key_record(&a.key_record).map_err(|e| ClientError::Verification(e.to_string()))?;
        if k.record.account != a.account
            || k.fingerprint != a.fingerprint
            || k.record.role != a.role
        {
            return Err(ClientError::Verification(format!(
                "the key record of {} does not match its account",
                a.account
            )));
        }
        Ok(k)
    }

    /// The recipients of an account's devices (`verified_devices`).
    fn check_devices(
        &self,
        a: &AccountView,
        k: &VerifiedKeys,
    ) -> Result<Vec<age::x25519::Recipient>, ClientError> {
        let list = self.verified_devices(&a.account, a.devices.as_ref(), k)?;
        Ok(trialog_protocol::devices::recipients(k, list.as_ref()).recipients)
    }

    /// An account's device list, verified with its identity key and against the newest
    /// one this client verified before: never an older version, never another list under
    /// the same version, never none after one was seen. The newer one is pinned.
    fn verified_devices(
        &self,
        account: &AccountId,
        signed: Option<&Signed<DeviceList>>,
        k: &VerifiedKeys,
    ) -> Result<Option<DeviceList>, ClientError> {
        let refused =
            |e: &dyn std::fmt::Display| ClientError::Verification(format!("{account}: {e}"));
        let list = signed
            .map(|d| trialog_protocol::devices::verify(d, k))
            .transpose()
            .map_err(|e| refused(&e))?;
        let version = list.as_ref().map_or(0, |l| l.version);
        let hash = signed.map(|d| trialog_protocol::encoding::sha256_hex(&[&d.payload.0]));
        let mut pins = self.home.load_pins()?;
        let id = account.as_str();
        let seen = pins.devices.get(id).copied().unwrap_or(0);
        let rollback = trialog_protocol::devices::DeviceError::Rollback { seen };
        if version < seen
            || (version == seen
                && pins
                    .device_hashes
                    .get(id)
                    .is_some_and(|h| Some(h) != hash.as_ref()))
        {
            return Err(refused(&rollback));
        }
        if version > seen || (hash.is_some() && !pins.device_hashes.contains_key(id)) {
            pins.devices.insert(id.to_owned(), version);
            if let Some(h) = hash {
                pins.device_hashes.insert(id.to_owned(), h);
            }
            self.home.save_pins(&pins)?;
        }
        Ok(list)
    }

    /// A physician's key must carry the pinned operator's attestation of exactly these
    /// keys, account, role, number and name.
    fn check_attestation(
        &self,
        a: &AccountView,
        k: &VerifiedKeys,
    ) -> Result<Attestation, ClientError> {
        let name = a.name.clone().unwrap_or_else(|| a.account.to_string());
        let Some(operator) = &self.operator_key else {
            return Err(ClientError::NotAttested { name });
        };
        let claimed = Claimed {
            role: a.role,
            name: a.name.as_deref(),
            riziv: a.riziv.as_deref(),
        };
        attestation::verify(operator, a.attestation.as_ref(), k, claimed).map_err(|e| match e {
            AttestationError::Missing => ClientError::NotAttested { name },
            AttestationError::BadSignature | AttestationError::Mismatch => {
                ClientError::AttestationInvalid { name }
            }
        })
    }

    /// Pins a key the first time it is seen, then refuses a changed one (DESIGN.md §2.5),
    /// unless the operator attested the new key in a statement that revokes an old one
    /// and is newer than the attestation pinned: a recovery, shown as such.
    fn pin(
        &self,
        account: &AccountId,
        fp: &Fingerprint,
        attested: Option<&Attestation>,
    ) -> Result<(), ClientError> {
        let mut pins = self.home.load_pins()?;
        let id = account.as_str();
        let at = attested.map(|a| a.attested_at);
        match pins.keys.get(id) {
            Some(p) if p == fp.as_str() => {
                if let Some(at) = at
                    && pins.attested.get(id) != Some(&at)
                {
                    pins.attested.insert(id.to_owned(), at);
                    self.home.save_pins(&pins)?;
                }
                Ok(())
            }
            Some(p) => {
                let since = pins.attested.get(id).copied().unwrap_or(i64::MIN);
                match attested {
                    // Same second as the pinned one is allowed: a recovery approved right
                    // after the first approval. Replays of older statements are not.
                    Some(a) if a.replaces.is_some() && a.attested_at >= since => {
                        let change = KeyChange {
                            from: p.clone(),
                            to: fp.to_string(),
                            attested_at: a.attested_at,
                        };
                        pins.changes.insert(id.to_owned(), change);
                        // The new key starts again from its own first device.
                        pins.devices.remove(id);
                        pins.device_hashes.remove(id);
                        pins.keys.insert(id.to_owned(), fp.to_string());
                        pins.attested.insert(id.to_owned(), a.attested_at);
                        self.home.save_pins(&pins)
                    }
                    _ => Err(ClientError::KeyChanged {
                        account: account.to_string(),
                        pinned: Fingerprint::parse(p)
                            .map(|f| f.short())
                            .unwrap_or_else(|_| p.clone()),
                        now: fp.short(),
                    }),
                }
            }
            None => {
                pins.keys.insert(id.to_owned(), fp.to_string());
                if let Some(at) = at {
                    pins.attested.insert(id.to_owned(), at);
                }
                self.home.save_pins(&pins)
            }
        }
    }

    /// The operator's attestation of a physician's key in `a`, verified against the pinned
    /// operator key; `None` for a patient, or while the operator has not approved it. For
    /// one's own account this says whether others can write to us yet.
    pub fn attestation_of(&self, a: &AccountView) -> Option<Attestation> {
        let k = open_key_record(&a.key_record).ok()?;
        (a.role != Role::Patient)
            .then(|| self.check_attestation(a, &k).ok())
            .flatten()
    }

    /// The onboarding string of an enrolment sheet for `code`: this server, its pinned
    /// certificate and the operator key this client pinned, so the patient's client pins
    /// the same ones.
    pub fn onboarding(&self, code: &str) -> Result<Onboarding, ClientError> {
        let o = Onboarding::new(&self.config.server, &self.cert_sha256(), code);
        match &self.config.operator_key {
            Some(k) => o.and_then(|o| o.with_operator_key(k)),
            None => o,
        }
        .map_err(|e| ClientError::Invalid(e.to_string()))
    }

    /// When the operator attested the key pinned for `account`, and the last key change
    /// accepted on the operator's statement, if any: what a person is shown about a key.
    pub fn key_trust(&self, account: &AccountId) -> Result<KeyTrust, ClientError> {
        let pins = self.home.load_pins()?;
        Ok(KeyTrust {
            attested_at: pins.attested.get(account.as_str()).copied(),
            change: pins.changes.get(account.as_str()).cloned(),
        })
    }
}

/// What this computer knows about a physician's key (`Client::key_trust`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyTrust {
    pub attested_at: Option<i64>,
    pub change: Option<KeyChange>,
}

fn parse_operator_key(hex_key: &str) -> Option<VerifyingKey> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(hex_key.trim(), &mut bytes).ok()?;
    verifying_key(&bytes).ok()
}

fn published_operator_key(info: &ServerInfo) -> Option<VerifyingKey> {
    info.operator_key
        .as_ref()
        .and_then(|k| verifying_key(&k.0).ok())
}
