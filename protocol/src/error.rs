//! One vocabulary of error codes for the whole system: the server answers with them, the
//! clients match on them, and the CLI prints them under `--json`. A code is stable once
//! published; its sentence may change.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Every machine-readable error code of the API and the clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    MalformedJson,
    BodyTooLarge,
    UnsupportedMediaType,
    BadRequest,
    BadParameter,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    MissingToken,
    InvalidToken,
    TokenExpired,
    RoleForbidden,
    BadChallenge,
    BadLoginSignature,
    TooManyChallenges,
    BadInvitation,
    BadEnrolmentCode,
    CodeKind,
    RoleMismatch,
    BadKeyRecord,
    AccountExists,
    RizivTaken,
    /// The operator suspended this account: it can neither log in, send nor receive.
    AccountSuspended,
    /// A device list that is malformed or not signed by the account's identity key.
    BadDeviceList,
    /// A device list older than the newest one already stored or seen.
    DevicesRolledBack,
    /// A device link code or request that is unknown, used or expired.
    BadDeviceLink,
    /// Too many devices waiting to be added to one account.
    TooManyDeviceLinks,
    /// The server cannot reach its database (`/readyz`).
    NotReady,
    /// What the request would create exists already: another request wrote it meanwhile.
    Conflict,
    NameInvalid,
    UnknownAccount,
    UnknownCase,
    UnknownConsent,
    UnknownMessage,
    NotCaseTreating,
    NotCasePatient,
    NotAMember,
    AlreadyMember,
    NotAPhysician,
    NoPatient,
    AlreadyConfirmed,
    BindingMismatch,
    PatientNotConfirmed,
    BindingBadSignature,
    PatientKeySubstituted,
    CaseExists,
    LabelTooLarge,
    CannotRemoveTreating,
    RemovalIncomplete,
    ConsentBadSignature,
    ConsentMalformed,
    ConsentKindNotReceivable,
    ConsentRevoked,
    ConsentSuperseded,
    ConsentExpired,
    ConsentNotYetValid,
    ConsentWrongCase,
    ConsentWrongRecipient,
    ConsentKeyChanged,
    ConsentSenderNotAllowed,
    ConsentKindNotAllowed,
    ConsentNoLongerCovers,
    ConsentExists,
    ConsentRecipientMismatch,
    ConsentSenderMismatch,
    BadSupersedes,
    AlreadyRevoked,
    BadRevocation,
    BadEnvelopeSignature,
    SenderMismatch,
    KindForbidden,
    MessageReplayed,
    ClockSkew,
    RecipientKeyMismatch,
    FieldNotConsented,
    EnvelopeEmpty,
    TooManyFields,
    DuplicateField,
    ManifestMismatch,
    HashMismatch,
    FieldTooLarge,
    EncryptFailed,
    DecryptFailed,
    FieldRebound,
    BadValue,
    MalformedHeader,
    MessageGone,
    ConsentNotFound,
    RecipientQuotaExceeded,
    TooManyVersions,
    BadCursor,
    Internal,
    /// The sender's client found words that may reveal the diagnosis.
    LeakGuard,
    /// A pinned key changed.
    KeyChanged,
    /// A physician's key carries no attestation from the operator.
    KeyNotAttested,
    /// A physician's key attestation is forged or made for other keys.
    AttestationInvalid,
    /// The fingerprint typed does not match.
    FingerprintMismatch,
    /// What the server sent failed the client's verification.
    VerificationFailed,
    /// The audit log failed the client's verification.
    AuditFailed,
    /// The server could not be reached.
    Network,
    /// The server's answer could not be read.
    BadResponse,
    /// The keystore's passphrase is wrong.
    WrongPassphrase,
    /// A client-side failure that has no code of the server (I/O, keystore, arguments).
    Client,
    /// A code this build does not know (a newer server).
    #[serde(other)]
    Unknown,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedJson => "malformed_json",
            Code::BodyTooLarge => "body_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::BadRequest => "bad_request",
            Code::BadParameter => "bad_parameter",
            Code::NotFound => "not_found",
            Code::MethodNotAllowed => "method_not_allowed",
            Code::RequestTimeout => "request_timeout",
            Code::MissingToken => "missing_token",
            Code::InvalidToken => "invalid_token",
            Code::TokenExpired => "token_expired",
            Code::RoleForbidden => "role_forbidden",
            Code::BadChallenge => "bad_challenge",
            Code::BadLoginSignature => "bad_login_signature",
            Code::TooManyChallenges => "too_many_challenges",
            Code::BadInvitation => "bad_invitation",
            Code::BadEnrolmentCode => "bad_enrolment_code",
            Code::CodeKind => "code_kind",
            Code::RoleMismatch => "role_mismatch",
            Code::BadKeyRecord => "bad_key_record",
            Code::AccountExists => "account_exists",
            Code::RizivTaken => "riziv_taken",
            Code::AccountSuspended => "account_suspended",
            Code::BadDeviceList => "bad_device_list",
            Code::DevicesRolledBack => "devices_rolled_back",
            Code::BadDeviceLink => "bad_device_link",
            Code::TooManyDeviceLinks => "too_many_device_links",
            Code::NotReady => "not_ready",
            Code::Conflict => "conflict",
            Code::NameInvalid => "name_invalid",
            Code::UnknownAccount => "unknown_account",
            Code::UnknownCase => "unknown_case",
            Code::UnknownConsent => "unknown_consent",
            Code::UnknownMessage => "unknown_message",
            Code::NotCaseTreating => "not_case_treating",
            Code::NotCasePatient => "not_case_patient",
            Code::NotAMember => "not_a_member",
            Code::AlreadyMember => "already_member",
            Code::NotAPhysician => "not_a_physician",
            Code::NoPatient => "no_patient",
            Code::AlreadyConfirmed => "already_confirmed",
            Code::BindingMismatch => "binding_mismatch",
            Code::PatientNotConfirmed => "patient_not_confirmed",
            Code::BindingBadSignature => "binding_bad_signature",
            Code::PatientKeySubstituted => "patient_key_substituted",
            Code::CaseExists => "case_exists",
            Code::LabelTooLarge => "label_too_large",
            Code::CannotRemoveTreating => "cannot_remove_treating",
            Code::RemovalIncomplete => "removal_incomplete",
            Code::ConsentBadSignature => "consent_bad_signature",
            Code::ConsentMalformed => "consent_malformed",
            Code::ConsentKindNotReceivable => "consent_kind_not_receivable",
            Code::ConsentRevoked => "consent_revoked",
            Code::ConsentSuperseded => "consent_superseded",
            Code::ConsentExpired => "consent_expired",
            Code::ConsentNotYetValid => "consent_not_yet_valid",
            Code::ConsentWrongCase => "consent_wrong_case",
            Code::ConsentWrongRecipient => "consent_wrong_recipient",
            Code::ConsentKeyChanged => "consent_key_changed",
            Code::ConsentSenderNotAllowed => "consent_sender_not_allowed",
            Code::ConsentKindNotAllowed => "consent_kind_not_allowed",
            Code::ConsentNoLongerCovers => "consent_no_longer_covers",
            Code::ConsentExists => "consent_exists",
            Code::ConsentRecipientMismatch => "consent_recipient_mismatch",
            Code::ConsentSenderMismatch => "consent_sender_mismatch",
            Code::BadSupersedes => "bad_supersedes",
            Code::AlreadyRevoked => "already_revoked",
            Code::BadRevocation => "bad_revocation",
            Code::BadEnvelopeSignature => "bad_envelope_signature",
            Code::SenderMismatch => "sender_mismatch",
            Code::KindForbidden => "kind_forbidden",
            Code::MessageReplayed => "message_replayed",
            Code::ClockSkew => "clock_skew",
            Code::RecipientKeyMismatch => "recipient_key_mismatch",
            Code::FieldNotConsented => "field_not_consented",
            Code::EnvelopeEmpty => "envelope_empty",
            Code::TooManyFields => "too_many_fields",
            Code::DuplicateField => "duplicate_field",
            Code::ManifestMismatch => "manifest_mismatch",
            Code::HashMismatch => "hash_mismatch",
            Code::FieldTooLarge => "field_too_large",
            Code::EncryptFailed => "encrypt_failed",
            Code::DecryptFailed => "decrypt_failed",
            Code::FieldRebound => "field_rebound",
            Code::BadValue => "bad_value",
            Code::MalformedHeader => "malformed_header",
            Code::MessageGone => "message_gone",
            Code::ConsentNotFound => "consent_not_found",
            Code::RecipientQuotaExceeded => "recipient_quota_exceeded",
            Code::TooManyVersions => "too_many_versions",
            Code::BadCursor => "bad_cursor",
            Code::Internal => "internal",
            Code::LeakGuard => "leak_guard",
            Code::KeyChanged => "key_changed",
            Code::KeyNotAttested => "key_not_attested",
            Code::AttestationInvalid => "attestation_invalid",
            Code::FingerprintMismatch => "fingerprint_mismatch",
            Code::VerificationFailed => "verification_failed",
            Code::AuditFailed => "audit_failed",
            Code::Network => "network",
            Code::BadResponse => "bad_response",
            Code::WrongPassphrase => "wrong_passphrase",
            Code::Client => "client",
            Code::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_and_as_str_agree() {
        for c in [
            Code::ConsentRevoked,
            Code::RecipientQuotaExceeded,
            Code::MessageReplayed,
            Code::AccountSuspended,
        ] {
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Code>(&json).unwrap(), c);
        }
        assert_eq!(
            serde_json::from_str::<Code>("\"from_the_future\"").unwrap(),
            Code::Unknown
        );
    }
}
