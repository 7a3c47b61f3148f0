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
mod mailbox;
mod messages;

use ed25519_dalek::{Signer, VerifyingKey};
use trialog_protocol::api::{AccountView, LoginRequest};
use trialog_protocol::auth::login_message;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::{Identity, VerifiedKeys, open_key_record, verifying_key};
use trialog_protocol::{AccountId, Fingerprint, Role};

use crate::api::Api;
use crate::cert_follow::Follow;
use crate::error::ClientError;
use crate::home::{Config, Home};
use std::sync::Arc;

pub use cases::VerifiedCase;
pub use consents::{ConsentInfo, Draft, Grant};
pub use mailbox::{GoneReason, MailItem, MailState, Withheld};
pub use messages::{Outgoing, Preview, ReadMessage, SendReport};

pub use trialog_protocol::time::now;

pub struct Client {
    home: Home,
    config: Config,
    identity: Identity,
    api: Api,
    server_key: VerifyingKey,
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
    /// Creates keys and the keystore, pins the server's certificate and its signing key.
    pub async fn init(
        home: Home,
        server: &str,
        cert_sha256: &str,
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
        // The pin was typed (or came with an onboarding string), not taken from the server;
        // the statement for it, if it checks out, only sets the floor below which a later
        // certificate change is never followed.
        let cert_issued_at = match api.certificate().await {
            Ok(view) => crate::cert_follow::issued_at_of(&view, &server_key, &pin),
            Err(_) => None,
        };
        let identity = Identity::generate().map_err(|e| ClientError::Invalid(e.to_string()))?;
        crate::keystore::save(&home.keystore_path(), &identity, passphrase)?;
        let config = Config {
            server: server.to_owned(),
            cert_sha256: hex::encode(pin),
            server_key: hex::encode(server_key.as_bytes()),
            cert_issued_at,
            account: None,
            role: None,
            pending: None,
        };
        home.save_config(&config)?;
        Ok(Client::assemble(home, config, identity, api, server_key))
    }

    fn assemble(
        home: Home,
        config: Config,
        identity: Identity,
        mut api: Api,
        server_key: VerifyingKey,
    ) -> Client {
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
    pub fn fingerprint(&self) -> Fingerprint {
        self.identity.fingerprint()
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

    /// Checks an account view's key record against itself and against the pinned key.
    fn check_view(&self, a: &AccountView) -> Result<VerifiedKeys, ClientError> {
        let k = self.check_view_unpinned(a)?;
        self.pin(&a.account, &k.fingerprint)?;
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

    /// Trust on first use, then refuse a changed key (DESIGN.md §2.5).
    fn pin(&self, account: &AccountId, fp: &Fingerprint) -> Result<(), ClientError> {
        let mut pins = self.home.load_pins()?;
        match pins.keys.get(account.as_str()) {
            Some(p) if p == fp.as_str() => Ok(()),
            Some(p) => Err(ClientError::KeyChanged {
                account: account.to_string(),
                pinned: Fingerprint::parse(p)
                    .map(|f| f.short())
                    .unwrap_or_else(|_| p.clone()),
                now: fp.short(),
            }),
            None => {
                pins.keys.insert(account.to_string(), fp.to_string());
                self.home.save_pins(&pins)
            }
        }
    }
}
