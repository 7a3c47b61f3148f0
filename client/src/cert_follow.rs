//! Following a rotated server certificate: the one place, used by the CLI and the web client
//! alike (through `Api`), where the pinned certificate may change without a hand edit.
//!
//! When a handshake fails because the server presents another certificate than the pinned
//! one, one probe connection accepts whatever certificate is presented, records its SHA-256
//! and fetches `GET /v1/certificate` over it: no token, nothing secret is sent. The pin moves
//! to the observed certificate only if the statement verifies with the PINNED server key,
//! names exactly that certificate and is not older than the statement followed before
//! (`trialog_protocol::certificate::follow`). Anything else keeps the pinned-certificate
//! error, with the reason.

use ed25519_dalek::VerifyingKey;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use trialog_protocol::certificate::{CertificateRefusal, CertificateView, follow};

use crate::error::ClientError;
use crate::home::Home;
use crate::tls::{Pin, probe_config};

/// Told the new certificate's hex SHA-256 when a change was followed (the CLI prints a line).
pub type Notice = Box<dyn Fn(&str) + Send + Sync>;

/// A statement is a few hundred bytes; a server answering more is not read further.
const MAX_STATEMENT: usize = 16 * 1024;

pub struct Follow {
    server_key: VerifyingKey,
    home: Home,
    /// `issued_at` of the statement followed last (or seen at init), if known.
    issued_at: Mutex<Option<i64>>,
    notice: Mutex<Option<Notice>>,
    /// One follow at a time: concurrent requests that all met the new certificate wait for
    /// the first to settle it, then retry with the pin it left.
    busy: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Follow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Follow").finish_non_exhaustive()
    }
}

impl Follow {
    pub fn new(server_key: VerifyingKey, home: Home, issued_at: Option<i64>) -> Follow {
        Follow {
            server_key,
            home,
            issued_at: Mutex::new(issued_at),
            notice: Mutex::new(None),
            busy: tokio::sync::Mutex::new(()),
        }
    }

    pub fn issued_at(&self) -> Option<i64> {
        *self.issued_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn on_followed(&self, notice: Notice) {
        *self.notice.lock().unwrap_or_else(|p| p.into_inner()) = Some(notice);
    }

    /// Called when a request under the pin `before` failed on a certificate that is not the
    /// pinned one (`cause`). Ok: the pin now names a certificate the server key vouched for
    /// (saved in config.toml); retry the request once. Err: the change is refused.
    pub async fn follow(
        &self,
        base: &str,
        pin: &Pin,
        before: [u8; 32],
        cause: ClientError,
    ) -> Result<(), ClientError> {
        let _one = self.busy.lock().await;
        if pin.current() != before {
            // Another request followed the change meanwhile.
            return Ok(());
        }
        let refused = |refusal| ClientError::CertificateNotFollowed {
            cause: cause.to_string(),
            refusal,
        };
        let (view, observed) = probe(base).await.map_err(refused)?;
        let statement = follow(
            &view.statement,
            &self.server_key,
            &observed,
            self.issued_at(),
        )
        .map_err(refused)?;
        // Saved before it is used: a client that crashes now starts with the new pin.
        let mut config = self.home.load_config()?;
        config.cert_sha256 = hex::encode(observed);
        config.cert_issued_at = Some(statement.issued_at);
        self.home.save_config(&config)?;
        pin.set(observed);
        *self.issued_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(statement.issued_at);
        if let Some(n) = self
            .notice
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            n(&config.cert_sha256);
        }
        Ok(())
    }
}

/// Fetches the statement over a connection that records the certificate presented.
async fn probe(base: &str) -> Result<(CertificateView, [u8; 32]), CertificateRefusal> {
    let seen = Arc::new(Mutex::new(None));
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(probe_config(seen.clone()))
        .timeout(Duration::from_secs(20))
        .build()
        .map_err(|_| CertificateRefusal::NoStatement)?;
    let mut resp = http
        .get(format!("{base}/v1/certificate"))
        .send()
        .await
        .map_err(|_| CertificateRefusal::NoStatement)?;
    if !resp.status().is_success() {
        return Err(CertificateRefusal::NoStatement);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|_| CertificateRefusal::NoStatement)?
    {
        if body.len() + chunk.len() > MAX_STATEMENT {
            return Err(CertificateRefusal::Malformed);
        }
        body.extend_from_slice(&chunk);
    }
    let view: CertificateView =
        serde_json::from_slice(&body).map_err(|_| CertificateRefusal::Malformed)?;
    // The certificate of the connection the statement came over.
    let observed = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or(CertificateRefusal::NoStatement)?;
    Ok((view, observed))
}

/// Checks the statement the server gives for the certificate pinned at init, to remember
/// when it was issued (an older statement is then never followed). None if there is none
/// that checks out: following still works, only without that floor.
pub(crate) fn issued_at_of(
    view: &CertificateView,
    server_key: &VerifyingKey,
    pinned: &[u8; 32],
) -> Option<i64> {
    follow(&view.statement, server_key, pinned, None)
        .ok()
        .map(|s| s.issued_at)
}
