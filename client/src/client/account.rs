//! Becoming an account and looking others up: register, join, whoami, directory.

use trialog_protocol::api::{AccountView, InvitationView, RegisterRequest};
use trialog_protocol::keys::KeyRecord;
use trialog_protocol::{AccountId, CaseId, Role, Signed};

use super::{Client, now};
use crate::error::ClientError;
use crate::home::Pending;

impl Client {
    /// `as_account`: the existing account a re-enrolment registers a new key for; else a
    /// new random account id.
    fn register_request(
        &mut self,
        role: Role,
        as_account: Option<AccountId>,
    ) -> Result<(AccountId, Signed<KeyRecord>), ClientError> {
        if let Some(a) = &self.config.account {
            return Err(ClientError::AlreadyRegistered(a.to_string()));
        }
        let account = match &self.config.pending {
            Some(p) if p.role == role && as_account.as_ref().is_none_or(|r| *r == p.account) => {
                p.account.clone()
            }
            _ => {
                let account = match as_account {
                    Some(a) => a,
                    None => AccountId::random().map_err(|e| ClientError::Invalid(e.to_string()))?,
                };
                self.config.pending = Some(Pending {
                    account: account.clone(),
                    role,
                });
                self.save_config()?;
                account
            }
        };
        let record = self
            .identity
            .key_record(&account, role, now())
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        Ok((account, record))
    }

    /// A refusal from the server means nothing was committed: forget the pending
    /// registration so the next attempt starts afresh. A network failure keeps it, since
    /// the server may have committed and the next attempt must repeat the same one.
    fn settle<T>(&mut self, r: Result<T, ClientError>) -> Result<T, ClientError> {
        if let Err(ClientError::Api { .. }) = &r {
            self.config.pending = None;
            self.save_config()?;
        }
        r
    }

    fn registered(&mut self, view: &AccountView) -> Result<(), ClientError> {
        self.config.account = Some(view.account.clone());
        self.config.role = Some(view.role);
        self.config.pending = None;
        self.save_config()?;
        self.pin(&view.account, &self.fingerprint(), None)
    }

    /// What an invitation code stands for, before using it.
    pub async fn lookup_invitation(&self, code: &str) -> Result<InvitationView, ClientError> {
        self.api.lookup_invitation(code).await
    }

    /// Registers a physician with the operator's one-time invitation; a recovery invitation
    /// registers this computer's new key for the physician's existing account.
    pub async fn register(&mut self, invite_code: &str) -> Result<AccountView, ClientError> {
        // A repeated registration (the first answer lost) already knows its role and
        // account; the invitation itself is spent and no longer looks anything up.
        let (role, recovers) = match &self.config.pending {
            Some(p) if p.role != Role::Patient => (p.role, None),
            _ => {
                let inv = self.api.lookup_invitation(invite_code).await?;
                (inv.role, inv.recovers)
            }
        };
        let (_, key_record) = self.register_request(role, recovers)?;
        let resp = self
            .api
            .register(&RegisterRequest {
                key_record,
                invite_code: Some(invite_code.into()),
                enrolment_code: None,
            })
            .await;
        let resp = self.settle(resp)?;
        self.registered(&resp.account)?;
        Ok(resp.account)
    }

    /// Registers a patient with the enrolment code from their treating physician. A code
    /// the treating physician re-issued for a case that already has its patient enrols this
    /// device's new key for that same account (the patient lost their device); the treating
    /// physician then confirms the new key as the first time.
    pub async fn join(
        &mut self,
        enrolment_code: &str,
    ) -> Result<(AccountView, CaseId), ClientError> {
        // A repeated join (the first answer lost) already knows its account; the code itself
        // is spent and no longer looks anything up.
        let as_account = match &self.config.pending {
            Some(p) if p.role == Role::Patient => None,
            _ => self.api.lookup_enrolment(enrolment_code).await?.patient,
        };
        let (_, key_record) = self.register_request(Role::Patient, as_account)?;
        let resp = self
            .api
            .register(&RegisterRequest {
                key_record,
                invite_code: None,
                enrolment_code: Some(enrolment_code.into()),
            })
            .await;
        let resp = self.settle(resp)?;
        self.registered(&resp.account)?;
        let case = resp
            .case_id
            .ok_or_else(|| ClientError::BadResponse("no case in the answer".into()))?;
        Ok((resp.account, case))
    }

    pub async fn whoami(&mut self) -> Result<AccountView, ClientError> {
        self.ensure_login().await?;
        let me = self.api.me().await?;
        if me.fingerprint != self.fingerprint() {
            return Err(ClientError::KeyChanged {
                account: me.account.to_string(),
                pinned: self.fingerprint().short(),
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
        let mut list = self.api.directory(role, q).await?;
        // A physician whose key the operator has not attested yet cannot be chosen: they
        // are left out until then. Anything worse (a forged attestation, a changed key)
        // fails the whole listing.
        let mut kept = Vec::with_capacity(list.len());
        for a in list.drain(..) {
            match self.check_view(&a) {
                Ok(_) => kept.push(a),
                Err(ClientError::NotAttested { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(kept)
    }
}
