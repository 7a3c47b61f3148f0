//! The client's error type. Each variant carries what a person needs to act; the CLI turns
//! them into sentences in Dutch, French or English (`i18n`).

use std::path::PathBuf;
use trialog_protocol::Code;
use trialog_protocol::consent::{Refusal, Stripped};
use trialog_protocol::leak_guard::LeakHit;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no home directory: set TRIALOG_HOME")]
    NoHome,
    #[error("no Trialog configuration in {0}: run `trialog init` first")]
    NotInitialized(PathBuf),
    #[error("{0} already holds a Trialog identity; use another TRIALOG_HOME")]
    AlreadyInitialized(PathBuf),
    #[error("this identity is not registered yet: run `trialog register` or `trialog join`")]
    NotRegistered,
    #[error("this identity is already registered as {0}")]
    AlreadyRegistered(String),
    #[error("{0} is damaged: {1}")]
    Corrupt(String, String),
    #[error("cannot read or write {0}: {1}")]
    Io(String, std::io::Error),
    #[error("wrong passphrase for the keystore")]
    WrongPassphrase,
    #[error(
        "the passphrase must have at least {} characters",
        crate::keystore::MIN_PASSPHRASE_CHARS
    )]
    WeakPassphrase,
    #[error("no passphrase: set TRIALOG_PASSPHRASE or run in a terminal")]
    NoPassphrase,
    #[error("`{0}` is not a valid server certificate fingerprint (64 hex digits)")]
    BadPin(String),
    #[error("cannot reach the server: {0}")]
    Network(String),
    #[error("the server answered {status}: {message} ({code})")]
    Api {
        status: u16,
        code: Code,
        message: String,
        /// The server's machine-readable detail, if any (why a message is gone).
        reason: Option<String>,
    },
    #[error("the server sent something this client cannot read: {0}")]
    BadResponse(String),
    #[error("this command is for {0} accounts")]
    WrongRole(&'static str),
    #[error("{0}")]
    Invalid(String),
    #[error("{0} is medical: it is shared only if you also name it with --share-medically {0}")]
    MedicalNotShared(trialog_protocol::FieldId),
    #[error(
        "the key of {account} changed (pinned {pinned}, now {now}); do not continue until you have checked with them"
    )]
    KeyChanged {
        account: String,
        pinned: String,
        now: String,
    },
    #[error(
        "the key of {name} has not been attested by the operator; nothing was sent: ask them to have the operator approve it, then try again"
    )]
    NotAttested { name: String },
    #[error(
        "the operator's attestation of {name}'s key does not verify (forged, or made for another key): the server may have changed the key; nothing was sent, do not continue and tell the operator"
    )]
    AttestationInvalid { name: String },
    #[error("the fingerprint you typed does not match the patient's key ({actual})")]
    FingerprintMismatch { actual: String },
    #[error("{account} is not a physician of this case")]
    NotAMember { account: String },
    #[error(
        "no physician of this case answers to `{to}`: give an account id, a role (occupational, advising, treating) or a RIZIV/INAMI number"
    )]
    UnknownRecipient { to: String },
    #[error("`{to}` names several physicians of this case: {}; give the account id or the RIZIV/INAMI number", candidates.join(", "))]
    AmbiguousRecipient { to: String, candidates: Vec<String> },
    #[error("{failed} of {total} recipients got nothing; the others were sent")]
    SomeNotSent { failed: usize, total: usize },
    #[error("the patient has no valid consent for {recipient} in this case")]
    NoConsent { recipient: String },
    #[error("the consent does not cover this message: {0}")]
    ConsentRefused(Refusal),
    #[error("nothing left to send: the consent covers none of the fields")]
    NothingToSend { stripped: Vec<Stripped> },
    #[error("free text may reveal the diagnosis")]
    LeakGuard { hits: Vec<LeakHit> },
    #[error("the message failed verification: {0}")]
    Verification(String),
    #[error("the audit log failed verification: {0}")]
    Audit(String),
    #[error("{0}")]
    File(String),
    /// The server presents another certificate than the pinned one, and the pinned server key
    /// does not vouch for it: still the pinned-certificate error, with the reason.
    #[error("{cause}; the change was not followed: {refusal}")]
    CertificateNotFollowed {
        cause: String,
        refusal: trialog_protocol::certificate::CertificateRefusal,
    },
}

impl ClientError {
    /// The server's error code, for an API error.
    pub fn api_code(&self) -> Option<&'static str> {
        match self {
            ClientError::Api { code, .. } => Some(code.as_str()),
            _ => None,
        }
    }

    /// The stable code of every error, in the API's vocabulary where one applies (the CLI
    /// prints it under `--json`, never null).
    pub fn code(&self) -> Code {
        use ClientError::*;
        match self {
            Api { code, .. } => *code,
            ConsentRefused(r) => r.code(),
            MedicalNotShared(_) => Code::ConsentMalformed,
            NotAMember { .. } | UnknownRecipient { .. } => Code::NotAMember,
            NoConsent { .. } => Code::ConsentNotFound,
            NothingToSend { .. } => Code::FieldNotConsented,
            LeakGuard { .. } => Code::LeakGuard,
            KeyChanged { .. } => Code::KeyChanged,
            NotAttested { .. } => Code::KeyNotAttested,
            AttestationInvalid { .. } => Code::AttestationInvalid,
            FingerprintMismatch { .. } => Code::FingerprintMismatch,
            Verification(_) => Code::VerificationFailed,
            Audit(_) => Code::AuditFailed,
            // The same code as any pinned-certificate failure: scripts keep working.
            Network(_) | CertificateNotFollowed { .. } => Code::Network,
            BadResponse(_) => Code::BadResponse,
            WrongPassphrase => Code::WrongPassphrase,
            WrongRole(_) => Code::RoleForbidden,
            NoHome
            | NotInitialized(_)
            | AlreadyInitialized(_)
            | NotRegistered
            | AlreadyRegistered(_)
            | Corrupt(..)
            | Io(..)
            | WeakPassphrase
            | NoPassphrase
            | BadPin(_)
            | Invalid(_)
            | AmbiguousRecipient { .. }
            | SomeNotSent { .. }
            | File(_) => Code::Client,
        }
    }
}

impl From<reqwest::Error> for ClientError {
    fn from(e: reqwest::Error) -> Self {
        // reqwest's Display hides the TLS cause (a pin mismatch); walk the chain.
        let mut msg = e.to_string();
        let mut src = std::error::Error::source(&e);
        while let Some(s) = src {
            msg = format!("{msg}: {s}");
            src = s.source();
        }
        ClientError::Network(msg)
    }
}
