//! The patient's audit log of a case, verified against the pinned server key.

use trialog_protocol::audit::{AuditEntry, verify_log};
use trialog_protocol::{CaseId, Role};

use super::Client;
use crate::error::ClientError;
use crate::home::AuditHead;

impl Client {
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
