//! The audit log: an append-only hash chain per case, with checkpoints signed by the server.
//!
//! ```text
//! record_i = { entry: base64(E_i), hash: hex(H_i) }
//! E_i      = JSON of AuditEntry (seq = i, starting at 1), stored and sent as produced
//! H_i      = SHA-256( "trialog/v1/audit" || 0x00 || H_{i-1} || E_i ),   H_0 = 32 zero bytes
//! checkpoint = Signed<Checkpoint { chain, seq, head = H_seq, at }>  by the server key
//! ```
//!
//! The patient's client recomputes the chain, checks the checkpoint signature with the
//! pinned server key, and checks that the log still extends the head it saw last time, so
//! an entry cannot be removed or rewritten without the patient noticing.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};

use crate::encoding::{B64, sha256};
use crate::ids::AccountId;
use crate::signed::{Signed, SignedKind};

/// The chain of key events that belong to no case (registrations, later rotations).
pub const DIRECTORY_CHAIN: &str = "directory";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditEvent {
    CaseOpened,
    PatientJoined,
    PatientConfirmed,
    MemberInvited,
    MemberAdded,
    KeyRegistered,
    ConsentGranted,
    ConsentSuperseded,
    ConsentRevoked,
    EnvelopeAccepted,
    EnvelopeDelivered,
    EnvelopeAcknowledged,
    EnvelopePurged,
    ConsentExpired,
    MemberRemoved,
    /// The operator suspended an account (directory chain).
    AccountSuspended,
    /// The operator lifted a suspension (directory chain).
    AccountUnsuspended,
    /// The operator attested a physician's key (directory chain).
    KeyAttested,
    /// A physician registered a new key with a recovery invitation (directory chain).
    KeyRecovered,
    /// The operator attested a recovered key and so revoked the old one (directory chain).
    KeyRevoked,
    /// An account added a device (directory chain).
    DeviceAdded,
    /// An account published a new device list, e.g. with a device removed (directory chain).
    DevicesChanged,
    /// The server key vouched for a TLS certificate (directory chain; the subject is the
    /// certificate's SHA-256): clients follow a certificate change only with such a statement.
    CertificateVouched,
    /// The treating physician issued a new enrolment code for the case; an earlier unused
    /// one no longer works.
    EnrolmentReissued,
    /// The case's patient enrolled a new key with a re-issued code (a new device). The key
    /// is unconfirmed until the treating physician confirms it again.
    PatientReenrolled,
}

/// One event. Never carries a field value: only ids, kinds and field ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// The chain: a case id.
    pub chain: String,
    pub seq: u64,
    pub at: i64,
    pub event: AuditEvent,
    pub actor: Option<AccountId>,
    /// The object: a message id, consent id or account id.
    pub subject: Option<String>,
    /// Non-content details, e.g. the field ids of a manifest or a key fingerprint.
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub entry: B64,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub chain: String,
    pub seq: u64,
    pub head: String,
    pub at: i64,
}

impl SignedKind for Checkpoint {
    const DOMAIN: &'static str = "trialog/v1/checkpoint";
}

pub const GENESIS: [u8; 32] = [0; 32];

/// The hash of an entry given the previous hash.
pub fn chain_hash(prev: &[u8; 32], entry_json: &[u8]) -> [u8; 32] {
    sha256(&[b"trialog/v1/audit\0", prev, entry_json])
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuditError {
    #[error("audit entry {0} is malformed")]
    Malformed(u64),
    #[error("audit entry {0} is out of sequence or belongs to another case")]
    Sequence(u64),
    #[error("audit entry {0} does not chain to the one before it: the log was altered")]
    Broken(u64),
    #[error("the audit checkpoint is not signed by the server key you pinned")]
    BadCheckpoint,
    #[error("the audit checkpoint does not match the log")]
    CheckpointMismatch,
    #[error("the log no longer contains what you saw before (entry {0}): it was rewritten")]
    Rewritten(u64),
}

/// Verifies a whole chain against a signed checkpoint. `seen` is the (seq, head) the client
/// verified last time, if any. Returns the entries.
pub fn verify_log(
    chain: &str,
    records: &[AuditRecord],
    checkpoint: &Signed<Checkpoint>,
    server: &VerifyingKey,
    seen: Option<(u64, &str)>,
) -> Result<Vec<AuditEntry>, AuditError> {
    let cp = checkpoint
        .open(server)
        .map_err(|_| AuditError::BadCheckpoint)?;
    let mut prev = GENESIS;
    let mut out = Vec::with_capacity(records.len());
    for (i, r) in records.iter().enumerate() {
        let seq = i as u64 + 1;
        let e: AuditEntry =
            serde_json::from_slice(&r.entry.0).map_err(|_| AuditError::Malformed(seq))?;
        if e.seq != seq || e.chain != chain {
            return Err(AuditError::Sequence(seq));
        }
        let h = chain_hash(&prev, &r.entry.0);
        if hex::encode(h) != r.hash {
            return Err(AuditError::Broken(seq));
        }
        if let Some((s, head)) = seen
            && s == seq
            && r.hash != head
        {
            return Err(AuditError::Rewritten(seq));
        }
        prev = h;
        out.push(e);
    }
    if let Some((s, _)) = seen
        && s > records.len() as u64
    {
        return Err(AuditError::Rewritten(s));
    }
    if cp.chain != chain || cp.seq != records.len() as u64 || cp.head != hex::encode(prev) {
        return Err(AuditError::CheckpointMismatch);
    }
    Ok(out)
}
