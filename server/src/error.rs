//! The server's one error type, mapped to HTTP in one place.
//!
//! Every refusal has a status, a stable machine-readable `code` and a sentence a person can
//! act on. Internal causes (database, I/O) are logged here and answered with a generic 500
//! that says nothing about them.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use trialog_protocol::Code;
use trialog_protocol::api::ErrorBody;
use trialog_protocol::binding::BindingError;
use trialog_protocol::chain::ChainError;
use trialog_protocol::consent::{MalformedConsent, Refusal};
use trialog_protocol::decide::{AdmitRefusal, MembershipRefusal};
use trialog_protocol::envelope::EnvelopeError;
use trialog_protocol::text::NameError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    // --- request shape
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    MalformedJson(String),
    #[error("the request body is larger than this endpoint accepts")]
    BodyTooLarge,
    #[error("send the body as JSON with `Content-Type: application/json`")]
    UnsupportedMediaType,
    #[error("{0}")]
    BadRequest(String),
    #[error("bad parameter in the path or query: {0}")]
    BadParameter(String),
    #[error("no such endpoint")]
    NotFound,
    #[error("this endpoint does not accept that HTTP method")]
    MethodNotAllowed,
    #[error("the request took too long to arrive or to answer; send it again")]
    RequestTimeout,

    // --- authentication and roles
    #[error("this endpoint needs a session token (`Authorization: Bearer …`); log in first")]
    MissingToken,
    #[error("the session token is not valid")]
    InvalidToken,
    #[error("the session token has expired; log in again")]
    TokenExpired,
    #[error("this action is for {allowed} accounts, not {role}")]
    RoleForbidden {
        role: &'static str,
        allowed: &'static str,
    },
    #[error(
        "the operator has suspended this account: it can neither log in, send nor receive until the suspension is lifted"
    )]
    AccountSuspended,
    #[error("the device list is refused: {0}")]
    BadDeviceList(#[from] trialog_protocol::devices::DeviceError),
    #[error(
        "this device code or request is unknown, used or expired; ask on your existing device for a new one"
    )]
    BadDeviceLink,
    #[error("{0} devices are already waiting to be added; approve them or wait 10 minutes")]
    TooManyDeviceLinks(usize),
    #[error("the server cannot reach its database; try again shortly")]
    NotReady,
    /// A uniqueness rule of the database refused the write: another request wrote the same
    /// thing meanwhile. Never a 500: nothing is lost, the request can be looked at again.
    #[error(
        "{0} exists already (written by another request meanwhile); look again before retrying"
    )]
    Conflict(&'static str),
    #[error("the login challenge is unknown, used or expired; ask for a new one")]
    BadChallenge,
    #[error("the login signature does not verify for this account")]
    BadLoginSignature,

    // --- registration
    #[error("the invitation code is unknown, used or expired")]
    BadInvitation,
    #[error("the enrolment code is unknown, used or expired")]
    BadEnrolmentCode,
    #[error("give exactly one of an invitation code (physician) or an enrolment code (patient)")]
    CodeKind,
    #[error("the key record's role does not match the invitation ({0})")]
    RoleMismatch(&'static str),
    #[error("the key record is invalid: {0}")]
    BadKeyRecord(String),
    #[error("this account id is already registered")]
    AccountExists,
    #[error("an account with this RIZIV/INAMI number is already registered")]
    RizivTaken,
    #[error(
        "the name in the invitation cannot be shown safely ({0}); ask the operator for a new invitation"
    )]
    InvalidName(NameError),

    // --- lookups and membership
    #[error("no account {0}")]
    UnknownAccount(String),
    #[error("no case {0}, or you are not a member of it")]
    UnknownCase(String),
    #[error("no consent {0} in your cases")]
    UnknownConsent(String),
    #[error("no message {0} for you")]
    UnknownMessage(String),
    #[error("only the case's treating physician may do this")]
    NotCaseTreating,
    #[error("only the case's patient may do this")]
    NotCasePatient,
    #[error("{0} is not a member of this case")]
    NotAMember(String),
    #[error("{0} is already a member of this case")]
    AlreadyMember(String),
    #[error("only physicians can be added to a case")]
    NotAPhysician,
    #[error("the patient has not joined this case yet")]
    NoPatient,
    #[error("the patient's key is already confirmed for this case")]
    AlreadyConfirmed,
    #[error("the patient key confirmation does not match this case's patient and key")]
    BindingMismatch,
    #[error("{0}")]
    Binding(BindingError),

    // --- consent
    #[error("{0}")]
    Refused(Refusal),
    #[error("the consent is malformed: {0}")]
    MalformedConsent(MalformedConsent),
    #[error("a consent with this id already exists")]
    ConsentExists,
    #[error("the consent names the recipient with another name or role than the directory's")]
    RecipientMismatch,
    #[error(
        "the consent names {0} as the one it replaces, but that is not the current consent for this recipient"
    )]
    BadSupersedes(String),
    #[error("this consent is already revoked")]
    AlreadyRevoked,
    #[error(
        "this physician already has the most versions of this consent; revoke it and grant anew"
    )]
    TooManyVersions,
    #[error("the revocation is not signed by the case's patient, or names another consent")]
    BadRevocation,

    // --- envelopes
    #[error("the envelope signature does not verify with the sender's registered key")]
    BadEnvelopeSignature,
    #[error("the envelope's sender is not the logged-in account")]
    SenderMismatch,
    #[error("a {role} physician may not send a {kind}")]
    KindForbidden {
        role: &'static str,
        kind: &'static str,
    },
    #[error("message id {0} was already used")]
    Replay(String),
    #[error("the envelope's created-at is too far from the server's clock")]
    ClockSkew,
    #[error("the envelope is encrypted to a key that is not the recipient's current key")]
    RecipientKeyMismatch,
    #[error("the patient has not consented to {fields} for this recipient")]
    FieldsNotConsented { fields: String },
    #[error("{0}")]
    Envelope(EnvelopeError),
    #[error("message {id} is no longer on the server: {}", gone_why(reason.as_deref()))]
    MessageGone { id: String, reason: Option<String> },
    #[error("consent {0} is not a consent of this case for this recipient")]
    ConsentNotFound(String),

    #[error("{0}")]
    Admit(AdmitRefusal),
    #[error("{0}")]
    Membership(MembershipRefusal),
    #[error("the consents of this case do not form one history: {0}")]
    Chain(ChainError),
    #[error(
        "the recipient has {pending} unread messages ({bytes} bytes) waiting; nothing more is accepted for them until they read some"
    )]
    RecipientQuota { pending: i64, bytes: i64 },
    #[error("the inbox cursor is not one this server gave")]
    BadCursor,
    #[error("a case with this id already exists")]
    CaseExists,
    #[error("the sealed case label is empty or larger than {0} bytes")]
    LabelTooLarge(usize),

    // --- internal
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        use ApiError::*;
        match self {
            MalformedJson(_) | BadRequest(_) | BadParameter(_) | CodeKind | BadKeyRecord(_)
            | MalformedConsent(_) | Envelope(_) | BindingMismatch | RecipientMismatch
            | InvalidName(_) => StatusCode::BAD_REQUEST,
            BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotFound | UnknownAccount(_) | UnknownCase(_) | UnknownConsent(_)
            | UnknownMessage(_) | ConsentNotFound(_) => StatusCode::NOT_FOUND,
            MissingToken | InvalidToken | TokenExpired | BadChallenge | BadLoginSignature
            | BadInvitation | BadEnrolmentCode => StatusCode::UNAUTHORIZED,
            RoleForbidden { .. }
            | NotCaseTreating
            | NotCasePatient
            | NotAMember(_)
            | NotAPhysician
            | Refused(_)
            | SenderMismatch
            | KindForbidden { .. }
            | FieldsNotConsented { .. }
            | BadRevocation
            | Binding(_)
            | BadEnvelopeSignature
            | AccountSuspended
            | RoleMismatch(_) => StatusCode::FORBIDDEN,
            AccountExists | RizivTaken | AlreadyMember(_) | AlreadyConfirmed | ConsentExists
            | BadSupersedes(_) | AlreadyRevoked | Replay(_) | NoPatient => StatusCode::CONFLICT,
            ClockSkew | RecipientKeyMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            BadDeviceList(e) => match e {
                trialog_protocol::devices::DeviceError::Rollback { .. } => StatusCode::CONFLICT,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            },
            BadDeviceLink => StatusCode::NOT_FOUND,
            TooManyDeviceLinks(_) => StatusCode::TOO_MANY_REQUESTS,
            NotReady => StatusCode::SERVICE_UNAVAILABLE,
            Conflict(_) => StatusCode::CONFLICT,
            Admit(a) => a.status(),
            Membership(m) => match m {
                MembershipRefusal::AlreadyMember(_) => StatusCode::CONFLICT,
                MembershipRefusal::RemovalIncomplete(_) => StatusCode::CONFLICT,
                MembershipRefusal::BadRevocation(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::FORBIDDEN,
            },
            Chain(_) => StatusCode::CONFLICT,
            RecipientQuota { .. } => StatusCode::TOO_MANY_REQUESTS,
            BadCursor | LabelTooLarge(_) => StatusCode::BAD_REQUEST,
            CaseExists | TooManyVersions => StatusCode::CONFLICT,
            MessageGone { .. } => StatusCode::GONE,
            Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code; clients match on it.
    pub fn code(&self) -> Code {
        use ApiError::*;
        match self {
            MalformedJson(_) => Code::MalformedJson,
            BodyTooLarge => Code::BodyTooLarge,
            UnsupportedMediaType => Code::UnsupportedMediaType,
            BadRequest(_) => Code::BadRequest,
            BadParameter(_) => Code::BadParameter,
            NotFound => Code::NotFound,
            MethodNotAllowed => Code::MethodNotAllowed,
            RequestTimeout => Code::RequestTimeout,
            MissingToken => Code::MissingToken,
            InvalidToken => Code::InvalidToken,
            TokenExpired => Code::TokenExpired,
            RoleForbidden { .. } => Code::RoleForbidden,
            AccountSuspended => Code::AccountSuspended,
            BadDeviceList(e) => e.code(),
            BadDeviceLink => Code::BadDeviceLink,
            TooManyDeviceLinks(_) => Code::TooManyDeviceLinks,
            NotReady => Code::NotReady,
            Conflict(_) => Code::Conflict,
            BadChallenge => Code::BadChallenge,
            BadLoginSignature => Code::BadLoginSignature,
            BadInvitation => Code::BadInvitation,
            BadEnrolmentCode => Code::BadEnrolmentCode,
            CodeKind => Code::CodeKind,
            RoleMismatch(_) => Code::RoleMismatch,
            BadKeyRecord(_) => Code::BadKeyRecord,
            AccountExists => Code::AccountExists,
            RizivTaken => Code::RizivTaken,
            InvalidName(_) => Code::NameInvalid,
            UnknownAccount(_) => Code::UnknownAccount,
            UnknownCase(_) => Code::UnknownCase,
            UnknownConsent(_) => Code::UnknownConsent,
            UnknownMessage(_) => Code::UnknownMessage,
            NotCaseTreating => Code::NotCaseTreating,
            NotCasePatient => Code::NotCasePatient,
            NotAMember(_) => Code::NotAMember,
            AlreadyMember(_) => Code::AlreadyMember,
            NotAPhysician => Code::NotAPhysician,
            NoPatient => Code::NoPatient,
            AlreadyConfirmed => Code::AlreadyConfirmed,
            BindingMismatch => Code::BindingMismatch,
            Binding(e) => e.code(),
            Refused(r) => r.code(),
            MalformedConsent(e) => e.code(),
            ConsentExists => Code::ConsentExists,
            RecipientMismatch => Code::ConsentRecipientMismatch,
            BadSupersedes(_) => Code::BadSupersedes,
            AlreadyRevoked => Code::AlreadyRevoked,
            BadRevocation => Code::BadRevocation,
            BadEnvelopeSignature => Code::BadEnvelopeSignature,
            SenderMismatch => Code::SenderMismatch,
            KindForbidden { .. } => Code::KindForbidden,
            Replay(_) => Code::MessageReplayed,
            ClockSkew => Code::ClockSkew,
            RecipientKeyMismatch => Code::RecipientKeyMismatch,
            FieldsNotConsented { .. } => Code::FieldNotConsented,
            Envelope(e) => e.code(),
            ConsentNotFound(_) => Code::ConsentNotFound,
            MessageGone { .. } => Code::MessageGone,
            Admit(a) => a.code(),
            Membership(m) => m.code(),
            Chain(_) => Code::ConsentMalformed,
            RecipientQuota { .. } => Code::RecipientQuotaExceeded,
            BadCursor => Code::BadCursor,
            CaseExists => Code::CaseExists,
            TooManyVersions => Code::TooManyVersions,
            LabelTooLarge(_) => Code::LabelTooLarge,
            Internal(_) => Code::Internal,
        }
    }
}

trait Status {
    fn status(&self) -> StatusCode;
}

impl Status for AdmitRefusal {
    fn status(&self) -> StatusCode {
        match self {
            AdmitRefusal::Malformed(_) | AdmitRefusal::Envelope(_) => StatusCode::BAD_REQUEST,
            AdmitRefusal::Replay(_) => StatusCode::CONFLICT,
            AdmitRefusal::ClockSkew | AdmitRefusal::RecipientKeyMismatch => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            AdmitRefusal::UnknownCase(_) | AdmitRefusal::ConsentNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            AdmitRefusal::Consent(Refusal::Malformed(_)) => StatusCode::BAD_REQUEST,
            AdmitRefusal::KindForbidden { .. }
            | AdmitRefusal::SenderMismatch
            | AdmitRefusal::BadSignature
            | AdmitRefusal::NotAMember(_)
            | AdmitRefusal::Consent(_)
            | AdmitRefusal::FieldsNotConsented { .. } => StatusCode::FORBIDDEN,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(%cause, "internal error");
        } else {
            // One line per refusal, with its code: never the message, which may name ids,
            // nor anything of the request.
            tracing::info!(code = %self.code(), status = status.as_u16(), "request refused");
        }
        let reason = match &self {
            ApiError::MessageGone { reason, .. } => reason.clone(),
            _ => None,
        };
        let code = self.code();
        let body = ErrorBody {
            code,
            message: self.to_string(),
            reason,
        };
        let mut answer = (status, Json(body)).into_response();
        answer.extensions_mut().insert(ErrorCode(code));
        answer
    }
}

/// The code of an error answer, left in the response's extensions so that the metrics
/// middleware counts it without a second mapping from errors to codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub Code);

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        match e.as_database_error() {
            // Said by what, never by which value (a constraint's message may quote it).
            Some(d) if d.is_unique_violation() => ApiError::Conflict("the record"),
            _ => ApiError::Internal(format!("database: {e}")),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
            JsonRejection::BytesRejection(b) if b.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::BodyTooLarge
            }
            other => ApiError::MalformedJson(other.body_text()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        ApiError::BadParameter(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        ApiError::BadParameter(r.body_text())
    }
}

fn gone_why(reason: Option<&str>) -> &'static str {
    match reason {
        Some("revoked") => "the patient revoked the consent before it was read",
        Some("expired") => "the patient's consent expired before it was read",
        Some("no_longer_covered") => "the patient's new version of the consent no longer covers it",
        Some("member_removed") => "the patient removed the recipient from the case",
        _ => "the recipient acknowledged it and it was deleted",
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    /// A write refused by a uniqueness rule of a real database is a 409 `conflict` that
    /// names no value, not a 500.
    #[tokio::test]
    async fn a_unique_violation_is_a_conflict() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = crate::db::Db::open(&dir.path().join("t.db").display().to_string())
            .await
            .expect("db");
        let insert = || {
            sqlx::query(
                "INSERT INTO used_challenges (digest, expires_at) VALUES ('secret-digest', 1)",
            )
            .execute(db.pool())
        };
        insert().await.expect("first");
        let e = ApiError::from(insert().await.expect_err("second"));
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert_eq!(e.code(), Code::Conflict);
        assert!(!e.to_string().contains("secret-digest"), "{e}");
    }
}
