//! Certificate statements: the server key vouches for each TLS certificate the server
//! presents, so that clients which pinned an earlier one follow the change without a hand
//! edit (`trialog_protocol::certificate`). Each new statement is an entry of the directory's
//! audit chain, in the same transaction.

use trialog_protocol::Signed;
use trialog_protocol::audit::{AuditEvent, DIRECTORY_CHAIN};
use trialog_protocol::certificate::CertificateStatement;

use crate::db::{self, Db};
use crate::server_key::ServerKey;

/// The statement for the certificate with SHA-256 `cert_sha256`: the stored one, else a new
/// one signed now by `key`, stored and recorded in the directory chain (`how` says which
/// command made it, for the log). Returns the statement and whether it is new.
pub async fn vouch(
    db: &Db,
    key: &ServerKey,
    cert_sha256: &str,
    now: i64,
    how: &str,
) -> Result<(Signed<CertificateStatement>, bool), sqlx::Error> {
    let decode = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    let mut tx = db.write().await?;
    if let Some(bytes) = db::certificates::get(&mut *tx, cert_sha256).await? {
        return Ok((serde_json::from_slice(&bytes).map_err(decode)?, false));
    }
    let statement = Signed::sign(
        &CertificateStatement {
            cert_sha256: cert_sha256.to_owned(),
            issued_at: now,
        },
        &key.signing,
    )
    .map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let bytes = serde_json::to_vec(&statement).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    db::certificates::insert(&mut *tx, cert_sha256, &bytes, now).await?;
    // No actor: the server key signs, on the operator's command or at start-up.
    db::audit::append(
        &mut tx,
        DIRECTORY_CHAIN,
        now,
        AuditEvent::CertificateVouched,
        None,
        Some(cert_sha256),
        Some(how.to_owned()),
    )
    .await?;
    tx.commit().await?;
    // The hash is public (every client pins it); the certificate's key never leaves its file.
    tracing::info!(
        event = %"certificate_vouched",
        cert_sha256,
        how,
        "certificate vouched for by the server key"
    );
    Ok((statement, true))
}
