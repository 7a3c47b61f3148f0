//! The client: every user action as one method, each verifying what the server returns
//! before acting on it. The CLI and the end-to-end tests both drive this.

use ed25519_dalek::{Signer, VerifyingKey};
use serde::Serialize;
use trialog_protocol::api::*;
use trialog_protocol::audit::{AuditEntry, verify_log};
use trialog_protocol::auth::login_message;
use trialog_protocol::binding::{PatientBinding, verify_patient};
use trialog_protocol::catalogue::FieldClass;
use trialog_protocol::consent::{
    Consent, Purpose, Revocation, SendContext, Standing, Stripped, consent_text, evaluate,
    open_consent,
};
use trialog_protocol::encoding::{B64, sha256_hex};
use trialog_protocol::envelope::{EnvelopeHeader, check_ciphertexts, open_field, seal};
use trialog_protocol::keys::{Identity, VerifiedKeys, open_key_record, verifying_key};
use trialog_protocol::leak_guard::{self, LeakHit};
use trialog_protocol::time::YEAR_SECS;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Fingerprint, Lang, MessageId, MessageKind, Role, Signed,
};

use crate::api::Api;
use crate::error::ClientError;
use crate::home::{AuditHead, Config, Home};

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// A case as the server described it, with every key in it checked.
#[derive(Debug, Clone)]
pub struct VerifiedCase {
    pub view: CaseView,
    pub treating: VerifiedKeys,
    /// Present only once the treating physician's binding verifies.
    pub patient: Option<VerifiedKeys>,
}

impl VerifiedCase {
    /// The treating physician or an active member, with their verified keys.
    pub fn physician(&self, account: &AccountId) -> Option<(&AccountView, VerifiedKeys)> {
        if &self.view.treating.account == account {
            return Some((&self.view.treating, self.treating.clone()));
        }
        self.view
            .members
            .iter()
            .filter(|m| m.status == MemberStatus::Active && &m.account.account == account)
            .find_map(|m| {
                open_key_record(&m.account.key_record)
                    .ok()
                    .map(|k| (&m.account, k))
            })
    }
}

/// What to grant.
#[derive(Debug, Clone)]
pub struct Grant {
    pub case: CaseId,
    pub to: AccountId,
    pub fields: Vec<FieldId>,
    /// Medical fields ticked one by one; each must also be in `fields`.
    pub share_medically: Vec<FieldId>,
    /// End of validity; default one year from now.
    pub until: Option<i64>,
    /// Default: what the recipient's role receives.
    pub kinds: Option<Vec<MessageKind>>,
    pub senders: Option<Vec<AccountId>>,
    pub purpose: Purpose,
    pub lang: Lang,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub case: CaseId,
    pub to: AccountId,
    pub kind: MessageKind,
    pub values: Vec<(FieldId, serde_json::Value)>,
    /// The physician read the leak guard's findings and sends anyway (recorded in the header).
    pub override_leak_guard: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct SendReport {
    pub message_id: MessageId,
    pub recipient: AccountId,
    pub recipient_name: Option<String>,
    pub consent_id: ConsentId,
    pub sent: Vec<FieldId>,
    pub stripped: Vec<Stripped>,
    pub leak_guard_overridden: Vec<LeakHit>,
}

/// A message that passed every check of DESIGN.md §7.
#[derive(Debug, Clone, Serialize)]
pub struct ReadMessage {
    pub message_id: MessageId,
    pub case_id: CaseId,
    pub kind: MessageKind,
    pub created_at: i64,
    pub sender: AccountId,
    pub sender_name: Option<String>,
    pub sender_role: Role,
    pub consent_id: ConsentId,
    pub leak_guard_override: bool,
    pub fields: Vec<(FieldId, serde_json::Value)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsentInfo {
    pub view_id: ConsentId,
    pub consent: Consent,
    pub revoked_at: Option<i64>,
    pub superseded_by: Option<ConsentId>,
}

impl ConsentInfo {
    pub fn is_current(&self, at: i64) -> bool {
        self.revoked_at.is_none() && self.superseded_by.is_none() && self.consent.valid_until > at
    }
}

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
        let identity = Identity::generate().map_err(|e| ClientError::Invalid(e.to_string()))?;
        crate::keystore::save(&home.keystore_path(), &identity, passphrase)?;
        let config = Config {
            server: server.to_owned(),
            cert_sha256: hex::encode(pin),
            server_key: hex::encode(server_key.as_bytes()),
            account: None,
            role: None,
        };
        home.save_config(&config)?;
        Ok(Client {
            home,
            config,
            identity,
            api,
            server_key,
            logged_in: false,
        })
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
        Ok(Client {
            home,
            config,
            identity,
            api,
            server_key,
            logged_in: false,
        })
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

    fn register_request(
        &self,
        role: Role,
    ) -> Result<(AccountId, Signed<trialog_protocol::keys::KeyRecord>), ClientError> {
        if let Some(a) = &self.config.account {
            return Err(ClientError::AlreadyRegistered(a.to_string()));
        }
        let account = AccountId::random().map_err(|e| ClientError::Invalid(e.to_string()))?;
        let record = self
            .identity
            .key_record(&account, role, now())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok((account, record))
    }

    fn registered(&mut self, view: &AccountView) -> Result<(), ClientError> {
        self.config.account = Some(view.account.clone());
        self.config.role = Some(view.role);
        self.home.save_config(&self.config)?;
        self.pin(&view.account, &self.identity.fingerprint())
    }

    /// What an invitation code stands for, before using it.
    pub async fn lookup_invitation(&self, code: &str) -> Result<InvitationView, ClientError> {
        self.api.lookup_invitation(code).await
    }

    /// Registers a physician with the operator's one-time invitation.
    pub async fn register(&mut self, invite_code: &str) -> Result<AccountView, ClientError> {
        let inv = self.api.lookup_invitation(invite_code).await?;
        let (_, key_record) = self.register_request(inv.role)?;
        let resp = self
            .api
            .register(&RegisterRequest {
                key_record,
                invite_code: Some(invite_code.into()),
                enrolment_code: None,
            })
            .await?;
        self.registered(&resp.account)?;
        Ok(resp.account)
    }

    /// Registers a patient with the enrolment code from their treating physician.
    pub async fn join(
        &mut self,
        enrolment_code: &str,
    ) -> Result<(AccountView, CaseId), ClientError> {
        let (_, key_record) = self.register_request(Role::Patient)?;
        let resp = self
            .api
            .register(&RegisterRequest {
                key_record,
                invite_code: None,
                enrolment_code: Some(enrolment_code.into()),
            })
            .await?;
        self.registered(&resp.account)?;
        let case = resp
            .case_id
            .ok_or_else(|| ClientError::BadResponse("no case in the answer".into()))?;
        Ok((resp.account, case))
    }

    pub async fn whoami(&mut self) -> Result<AccountView, ClientError> {
        self.ensure_login().await?;
        let me = self.api.me().await?;
        if me.fingerprint != self.identity.fingerprint() {
            return Err(ClientError::KeyChanged {
                account: me.account.to_string(),
                pinned: self.identity.fingerprint().short(),
                now: me.fingerprint.short(),
            });
        }
        Ok(me)
    }

    pub async fn directory(
        &mut self,
        role: Option<Role>,
        q: Option<&str>,
    ) -> Result<Vec<AccountView>, ClientError> {
        self.ensure_login().await?;
        let list = self.api.directory(role, q).await?;
        for a in &list {
            self.check_view(a)?;
        }
        Ok(list)
    }

    /// Checks an account view's key record against itself and against the pinned key.
    fn check_view(&self, a: &AccountView) -> Result<VerifiedKeys, ClientError> {
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
        self.pin(&a.account, &k.fingerprint)?;
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

    pub async fn open_case(&mut self, label: &str) -> Result<OpenCaseResponse, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        self.ensure_login().await?;
        self.api.open_case(label).await
    }

    /// Fetches a case and verifies every key in it, including the patient binding.
    pub async fn case(&mut self, id: &CaseId) -> Result<VerifiedCase, ClientError> {
        self.ensure_login().await?;
        let view = self.api.case(id).await?;
        if &view.case_id != id {
            return Err(ClientError::Verification(
                "the server answered with another case".into(),
            ));
        }
        let treating = self.check_view(&view.treating)?;
        if treating.record.role != Role::Treating {
            return Err(ClientError::Verification(
                "the case's treating physician has another role".into(),
            ));
        }
        for m in &view.members {
            self.check_view(&m.account)?;
        }
        let patient = match (&view.patient, &view.binding) {
            (Some(p), Some(_)) => {
                let k = verify_patient(id, &treating, view.binding.as_ref(), &p.key_record)
                    .map_err(|e| ClientError::Verification(e.to_string()))?;
                if k.record.account != p.account {
                    return Err(ClientError::Verification(
                        "the patient binding names another account".into(),
                    ));
                }
                // A patient checks that the confirmed key is their own.
                if self.config.account.as_ref() == Some(&p.account)
                    && k.fingerprint != self.identity.fingerprint()
                {
                    return Err(ClientError::Verification(
                        "the key confirmed for you on this case is not your key".into(),
                    ));
                }
                self.pin(&p.account, &k.fingerprint)?;
                Some(k)
            }
            _ => None,
        };
        Ok(VerifiedCase {
            view,
            treating,
            patient,
        })
    }

    pub async fn cases(&mut self) -> Result<Vec<CaseView>, ClientError> {
        self.ensure_login().await?;
        self.api.cases().await
    }

    /// The treating physician confirms the patient's key after comparing the fingerprint
    /// the patient read out (`typed`: full, or the 32 digits shown by `trialog join`).
    pub async fn confirm_patient(
        &mut self,
        id: &CaseId,
        typed: &str,
    ) -> Result<VerifiedCase, ClientError> {
        self.require_role(&[Role::Treating], "treating physician")?;
        let case = self.case(id).await?;
        let patient = case.view.patient.as_ref().ok_or_else(|| {
            ClientError::Invalid(
                "the patient has not joined this case yet: give them the enrolment code".into(),
            )
        })?;
        let keys = self.check_view(patient)?;
        if keys.record.role != Role::Patient {
            return Err(ClientError::Verification(
                "the case's patient account is not a patient".into(),
            ));
        }
        if !keys.fingerprint.matches_typed(typed) {
            return Err(ClientError::FingerprintMismatch {
                actual: keys.fingerprint.short(),
            });
        }
        let binding = PatientBinding {
            case_id: id.clone(),
            patient: patient.account.clone(),
            patient_fingerprint: keys.fingerprint.clone(),
            treating: self.account()?.clone(),
            confirmed_at: now(),
        };
        let binding = Signed::sign(&binding, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .confirm_patient(id, &ConfirmPatientRequest { binding })
            .await?;
        self.case(id).await
    }

    pub async fn add_member(
        &mut self,
        id: &CaseId,
        member: &AccountId,
    ) -> Result<VerifiedCase, ClientError> {
        self.ensure_login().await?;
        self.api.add_member(id, member).await?;
        self.case(id).await
    }

    /// Every consent of the case this account may see, each verified against the confirmed
    /// patient key.
    pub async fn consents(&mut self, id: &CaseId) -> Result<Vec<ConsentInfo>, ClientError> {
        let case = self.case(id).await?;
        let patient = case.patient.as_ref().ok_or_else(|| {
            ClientError::Invalid(
                "the patient's key is not confirmed yet, so there is no consent".into(),
            )
        })?;
        let mut out = Vec::new();
        for v in self.api.consents(id).await? {
            let consent = open_consent(&v.consent, &patient.signing)
                .map_err(|e| ClientError::Verification(e.to_string()))?;
            if &consent.case_id != id || consent.consent_id != v.consent_id {
                return Err(ClientError::Verification(
                    "a consent of another case was listed".into(),
                ));
            }
            if let Some(r) = &v.revocation {
                let r = r
                    .open(&patient.signing)
                    .map_err(|e| ClientError::Verification(e.to_string()))?;
                if r.consent_id != consent.consent_id {
                    return Err(ClientError::Verification(
                        "a revocation names another consent".into(),
                    ));
                }
            }
            out.push(ConsentInfo {
                view_id: v.consent_id,
                consent,
                revoked_at: v.revoked_at,
                superseded_by: v.superseded_by,
            });
        }
        Ok(out)
    }

    /// The patient signs a consent for one recipient (superseding their current one).
    pub async fn grant(&mut self, g: Grant) -> Result<(Consent, String), ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        for f in &g.fields {
            if f.class() == FieldClass::Medical && !g.share_medically.contains(f) {
                return Err(ClientError::Invalid(format!(
                    "{f} is medical: it is shared only if you also name it with --share-medically {f}"
                )));
            }
        }
        let case = self.case(&g.case).await?;
        if case.patient.is_none() {
            return Err(ClientError::Invalid(
                "your key is not confirmed by your treating physician yet: read them your fingerprint".into(),
            ));
        }
        let (view, keys) = case
            .physician(&g.to)
            .ok_or_else(|| ClientError::NotAMember {
                account: g.to.to_string(),
            })?;
        let recipient_role = view.role;
        let now = now();
        let previous = self
            .consents(&g.case)
            .await?
            .into_iter()
            .find(|c| {
                c.consent.recipient == g.to && c.revoked_at.is_none() && c.superseded_by.is_none()
            })
            .map(|c| c.consent.consent_id);
        let mut fields = g.fields.clone();
        for f in &g.share_medically {
            if !fields.contains(f) {
                fields.push(*f);
            }
        }
        let kinds = g.kinds.clone().unwrap_or_else(|| match recipient_role {
            Role::Treating => vec![MessageKind::Feedback, MessageKind::Request],
            _ => vec![MessageKind::Bilan, MessageKind::Request],
        });
        let valid_from = now - 60;
        let valid_until = g.until.unwrap_or(valid_from + YEAR_SECS - 1);
        let mut consent = Consent {
            consent_id: ConsentId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
            supersedes: previous,
            case_id: g.case.clone(),
            patient: self.account()?.clone(),
            recipient: g.to.clone(),
            recipient_fingerprint: keys.fingerprint.clone(),
            senders: g.senders.clone(),
            kinds,
            fields,
            share_medically: g.share_medically.clone(),
            purpose: g.purpose,
            valid_from,
            valid_until,
            lang: g.lang,
            text_sha256: String::new(),
        };
        let text = consent_text(&consent);
        consent.text_sha256 = sha256_hex(&[text.as_bytes()]);
        consent
            .check_well_formed()
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let signed = Signed::sign(&consent, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api
            .submit_consent(&SubmitConsentRequest { consent: signed })
            .await?;
        Ok((consent, text))
    }

    /// The patient revokes a consent: prospective and immediate.
    pub async fn revoke(&mut self, id: &ConsentId) -> Result<RevokeResponse, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        self.ensure_login().await?;
        let v = self.api.consent(id).await?;
        let c: Consent = v
            .consent
            .parse_unverified()
            .map_err(|e| ClientError::BadResponse(e.to_string()))?;
        let r = Revocation {
            consent_id: id.clone(),
            case_id: c.case_id,
            patient: self.account()?.clone(),
            revoked_at: now(),
        };
        let revocation = Signed::sign(&r, self.identity.signing_key())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        self.api.revoke(id, &RevokeRequest { revocation }).await
    }

    /// Strips what the consent does not cover, runs the leak guard, encrypts each field to
    /// the recipient, signs and submits. The first of the three consent checks.
    pub async fn send(&mut self, out: Outgoing) -> Result<SendReport, ClientError> {
        let role = self.role()?;
        if !role.may_send(out.kind) {
            return Err(ClientError::WrongRole(match out.kind {
                MessageKind::Bilan => "treating physician",
                MessageKind::Feedback => "occupational or advising physician",
                MessageKind::Request => "physician",
            }));
        }
        if out.values.is_empty() {
            return Err(ClientError::Invalid("the message has no field".into()));
        }
        let case = self.case(&out.case).await?;
        let (view, keys) = case
            .physician(&out.to)
            .ok_or_else(|| ClientError::NotAMember {
                account: out.to.to_string(),
            })?;
        let recipient_name = view.name.clone();
        let me = self.account()?.clone();
        let now = now();
        let consents = self.consents(&out.case).await?;
        let current = consents
            .iter()
            .filter(|c| c.consent.recipient == out.to)
            .max_by_key(|c| {
                (
                    c.revoked_at.is_none() && c.superseded_by.is_none(),
                    c.consent.valid_from,
                )
            })
            .ok_or_else(|| ClientError::NoConsent {
                recipient: recipient_name.clone().unwrap_or_else(|| out.to.to_string()),
            })?;
        let standing = Standing {
            revoked_at: current.revoked_at,
            superseded_at: current.superseded_by.as_ref().map(|_| now),
        };
        let ctx = SendContext {
            case_id: &out.case,
            sender: &me,
            recipient: &out.to,
            recipient_fingerprint: &keys.fingerprint,
            kind: out.kind,
            at: now,
        };
        let ids: Vec<FieldId> = out.values.iter().map(|(f, _)| *f).collect();
        let decision = evaluate(&current.consent, &standing, &ctx, &ids)
            .map_err(ClientError::ConsentRefused)?;
        if decision.allowed.is_empty() {
            return Err(ClientError::NothingToSend {
                stripped: decision.stripped,
            });
        }
        // The leak guard reads every value of the message, medical ones as the reference,
        // and reports hits only in fields that would actually go.
        let texts: Vec<(FieldId, &str)> = out
            .values
            .iter()
            .filter_map(|(f, v)| v.as_str().map(|s| (*f, s)))
            .collect();
        let hits: Vec<LeakHit> = leak_guard::check(&texts)
            .into_iter()
            .filter(|h| decision.allowed.contains(&h.field))
            .collect();
        if !hits.is_empty() && !out.override_leak_guard {
            return Err(ClientError::LeakGuard { hits });
        }
        let values: Vec<(FieldId, serde_json::Value)> = out
            .values
            .iter()
            .filter(|(f, _)| decision.allowed.contains(f))
            .cloned()
            .collect();
        let header = EnvelopeHeader {
            message_id: MessageId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
            created_at: now,
            kind: out.kind,
            case_id: out.case.clone(),
            sender: me,
            recipient: out.to.clone(),
            recipient_fingerprint: keys.fingerprint.clone(),
            consent_id: current.consent.consent_id.clone(),
            manifest: Vec::new(),
            leak_guard_override: !hits.is_empty(),
        };
        let env = seal(&self.identity, header, &keys.recipient, &values)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let resp = self.api.submit_envelope(&env).await?;
        Ok(SendReport {
            message_id: resp.message_id,
            recipient: out.to,
            recipient_name,
            consent_id: current.consent.consent_id.clone(),
            sent: decision.allowed,
            stripped: decision.stripped,
            leak_guard_overridden: hits,
        })
    }

    /// Messages waiting (or all, with `all`).
    pub async fn inbox(&mut self, all: bool) -> Result<Vec<InboxItem>, ClientError> {
        self.inbox_wait(all, 0).await
    }

    /// With `wait` > 0 and nothing waiting, the server holds the request until a message
    /// arrives or `wait` seconds pass (long poll).
    pub async fn inbox_wait(
        &mut self,
        all: bool,
        wait: u64,
    ) -> Result<Vec<InboxItem>, ClientError> {
        self.require_role(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )?;
        self.ensure_login().await?;
        self.api.inbox_wait(all, wait).await
    }

    /// Fetches (or reads the local copy of) a message, verifies everything of DESIGN.md §7
    /// on the recipient's side, decrypts, stores the envelope locally and acknowledges it.
    pub async fn read(&mut self, id: &MessageId) -> Result<ReadMessage, ClientError> {
        self.require_role(
            &[Role::Treating, Role::Occupational, Role::Advising],
            "physician",
        )?;
        self.ensure_login().await?;
        let local = self.home.messages_dir().join(format!("{id}.json"));
        let (view, fetched) = match std::fs::read(&local) {
            Ok(bytes) => (
                serde_json::from_slice::<EnvelopeView>(&bytes).map_err(|e| {
                    ClientError::Corrupt(local.display().to_string(), e.to_string())
                })?,
                false,
            ),
            Err(_) => (self.api.envelope(id).await?, true),
        };
        let msg = self.verify_envelope(id, &view).await?;
        if fetched {
            let bytes =
                serde_json::to_vec(&view).map_err(|e| ClientError::Invalid(e.to_string()))?;
            crate::home::write_file(&local, &bytes, true)?;
            self.api.acknowledge(id).await?;
        }
        Ok(msg)
    }

    async fn verify_envelope(
        &mut self,
        id: &MessageId,
        view: &EnvelopeView,
    ) -> Result<ReadMessage, ClientError> {
        let bad = |s: String| ClientError::Verification(s);
        let env = &view.envelope;
        let claimed: EnvelopeHeader = env
            .header
            .parse_unverified()
            .map_err(|e| bad(e.to_string()))?;
        let case = self.case(&claimed.case_id).await?;
        let (sender_view, sender_keys) = case
            .physician(&claimed.sender)
            .ok_or_else(|| bad("the sender is not a physician of this case".into()))?;
        let (sender_name, sender_role) = (sender_view.name.clone(), sender_view.role);
        let h = env
            .header
            .open(&sender_keys.signing)
            .map_err(|_| bad("the sender's signature does not verify".into()))?;
        if &h.message_id != id {
            return Err(bad("the envelope is not the message asked for".into()));
        }
        if !sender_role.may_send(h.kind) {
            return Err(bad(format!(
                "a {sender_role} physician may not send a {}",
                h.kind
            )));
        }
        let me = self.account()?.clone();
        if h.recipient != me || h.recipient_fingerprint != self.identity.fingerprint() {
            return Err(bad(
                "the message was addressed to another recipient or key".into()
            ));
        }
        let patient = case
            .patient
            .as_ref()
            .ok_or_else(|| bad("the patient's key is not confirmed on this case".into()))?;
        let cv = self.api.consent(&h.consent_id).await?;
        let consent =
            open_consent(&cv.consent, &patient.signing).map_err(|e| bad(e.to_string()))?;
        if consent.consent_id != h.consent_id {
            return Err(bad("the server returned another consent".into()));
        }
        // Times are whole seconds: a revocation in the very second the message was created
        // cannot be ordered against it here. The server refused everything after the
        // revocation committed, so only a strictly earlier revocation disqualifies it.
        let before = |t: &i64| *t < h.created_at;
        let standing = Standing {
            revoked_at: cv.revoked_at.filter(before),
            superseded_at: cv.superseded_at.filter(before),
        };
        let ctx = SendContext {
            case_id: &h.case_id,
            sender: &h.sender,
            recipient: &me,
            recipient_fingerprint: &h.recipient_fingerprint,
            kind: h.kind,
            at: h.created_at,
        };
        let decision =
            evaluate(&consent, &standing, &ctx, &h.fields()).map_err(|e| bad(e.to_string()))?;
        if !decision.stripped.is_empty() {
            let f: Vec<&str> = decision.stripped.iter().map(|s| s.field.as_str()).collect();
            return Err(bad(format!(
                "the message carries fields the patient did not consent to: {}",
                f.join(", ")
            )));
        }
        check_ciphertexts(&h, &env.fields).map_err(|e| bad(e.to_string()))?;
        let mut fields = Vec::with_capacity(env.fields.len());
        for f in &env.fields {
            fields.push((
                f.field,
                open_field(&self.identity, &h, f).map_err(|e| bad(e.to_string()))?,
            ));
        }
        Ok(ReadMessage {
            message_id: h.message_id,
            case_id: h.case_id,
            kind: h.kind,
            created_at: h.created_at,
            sender: h.sender,
            sender_name,
            sender_role,
            consent_id: h.consent_id,
            leak_guard_override: h.leak_guard_override,
            fields,
        })
    }

    /// The patient's audit log of a case, verified against the pinned server key and
    /// against the head this client verified last time.
    pub async fn audit(&mut self, id: &CaseId) -> Result<Vec<AuditEntry>, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        self.ensure_login().await?;
        let view = self.api.audit(id).await?;
        let mut pins = self.home.load_pins()?;
        let seen = pins.audit.get(id.as_str()).map(|h| (h.seq, h.head.clone()));
        let entries = verify_log(
            id.as_str(),
            &view.records,
            &view.checkpoint,
            &self.server_key,
            seen.as_ref().map(|(s, h)| (*s, h.as_str())),
        )
        .map_err(|e| ClientError::Audit(e.to_string()))?;
        if let Some(last) = view.records.last() {
            pins.audit.insert(
                id.to_string(),
                AuditHead {
                    seq: view.records.len() as u64,
                    head: last.hash.clone(),
                },
            );
            self.home.save_pins(&pins)?;
        }
        Ok(entries)
    }
}
