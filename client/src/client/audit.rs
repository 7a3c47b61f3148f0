//! Audit logs, verified against the pinned server key and against the head this client
//! verified last time: the patient's log of a case, and the directory's key registrations.

use trialog_protocol::api::AuditView;
use trialog_protocol::audit::{AuditEntry, verify_log};
use trialog_protocol::{CaseId, Role};

use super::Client;
use crate::error::ClientError;
use crate::home::AuditHead;

use trialog_protocol::audit::DIRECTORY_CHAIN;

impl Client {
    /// The patient's audit log of a case.
    pub async fn audit(&mut self, id: &CaseId) -> Result<Vec<AuditEntry>, ClientError> {
        self.require_role(&[Role::Patient], "patient")?;
        self.ensure_login().await?;
        let view = self.api.audit(id).await?;
        self.verify_chain(id.as_str(), &view)
    }

    /// Every key registration on the server (DESIGN.md §2.5), for any account.
    pub async fn directory_audit(&mut self) -> Result<Vec<AuditEntry>, ClientError> {
        self.ensure_login().await?;
        let view = self.api.directory_audit().await?;
        self.verify_chain(DIRECTORY_CHAIN, &view)
    }

    fn verify_chain(&self, chain: &str, view: &AuditView) -> Result<Vec<AuditEntry>, ClientError> {
        let mut pins = self.home.load_pins()?;
        let seen = pins.audit.get(chain).map(|h| (h.seq, h.head.clone()));
        let entries = verify_log(
            chain,
            &view.records,
            &view.checkpoint,
            &self.server_key,
            seen.as_ref().map(|(s, h)| (*s, h.as_str())),
        )
        .map_err(|e| ClientError::Audit(e.to_string()))?;
        if let Some(last) = view.records.last() {
            pins.audit.insert(
                chain.to_owned(),
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
