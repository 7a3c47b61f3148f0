//! Request and response bodies of the HTTP API (`/v1/...`), shared by server and client.

use serde::{Deserialize, Serialize};

use crate::attestation::Attestation;
use crate::audit::{AuditRecord, Checkpoint};
use crate::binding::PatientBinding;
use crate::consent::{Consent, Revocation};
use crate::devices::DeviceList;
use crate::encoding::B64;
use crate::envelope::Envelope;
use crate::ids::{AccountId, CaseId, ConsentId, Fingerprint, MessageId};
use crate::keys::KeyRecord;
use crate::roles::{MessageKind, Role};
use crate::signed::Signed;

/// Every error response: a stable machine-readable code and a sentence for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub code: crate::error::Code,
    pub message: String,
    /// A machine-readable detail where the code alone does not say what to tell a person:
    /// for `message_gone`, why the message is gone (`revoked`, `expired`,
    /// `no_longer_covered`, `member_removed`; absent once the recipient acknowledged it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ServerInfo {
    pub service: String,
    pub version: String,
    /// The server's Ed25519 public key (signs tokens and audit checkpoints): clients pin it.
    pub server_key: B64,
    /// The operator's Ed25519 public key, for clients set up without an onboarding string
    /// (which carries it): taken from here, it is only as trustworthy as this server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operator_key: Option<B64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    pub key_record: Signed<KeyRecord>,
    /// A physician's one-time invitation from the operator.
    #[serde(default)]
    pub invite_code: Option<String>,
    /// A patient's one-time enrolment code from their treating physician.
    #[serde(default)]
    pub enrolment_code: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub account: AccountView,
    /// For a patient: the case they joined.
    pub case_id: Option<CaseId>,
}

/// Looking an invitation up before registering, so the physician sees (and signs) the role
/// and identity the operator bound to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvitationLookup {
    pub invite_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InvitationView {
    pub role: Role,
    pub name: String,
    pub riziv: String,
    pub expires_at: i64,
    /// Set on a recovery invitation: the existing account whose key the registration
    /// replaces (the operator attests the new key and revokes the old one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovers: Option<AccountId>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChallengeRequest {
    pub account: AccountId,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeResponse {
    pub nonce: B64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub account: AccountId,
    pub nonce: B64,
    /// Ed25519 signature over `auth::login_message(account, nonce)`.
    pub sig: B64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: i64,
    pub role: Role,
}

/// An account as others see it. Patients have no name on the server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccountView {
    pub account: AccountId,
    pub role: Role,
    pub name: Option<String>,
    pub riziv: Option<String>,
    pub key_record: Signed<KeyRecord>,
    pub fingerprint: Fingerprint,
    /// The operator's attestation of a physician's key (`attestation`); none for patients,
    /// whose keys the treating physician confirms, and none until the operator approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Signed<Attestation>>,
    /// The account's devices, signed by its identity key (`devices`); none while it reads
    /// on the one device that registered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub devices: Option<Signed<DeviceList>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenCaseRequest {
    /// Chosen by the client, so the sealed label can name the case it belongs to.
    pub case_id: CaseId,
    /// The label, sealed by the treating physician's client to their own key
    /// (`label::seal`): the server never sees it in clear.
    pub sealed_label: B64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OpenCaseResponse {
    pub case_id: CaseId,
    pub enrolment_code: String,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberStatus {
    /// Added or accepted by the patient.
    Active,
    /// Invited by the treating physician; waits for the patient.
    Invited,
    /// Removed by the patient: sees nothing of the case any more. Still listed, so that
    /// what they sent before can be verified and the patient sees who was removed.
    Removed,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberView {
    pub account: AccountView,
    pub status: MemberStatus,
    pub added_by: AccountId,
    pub added_at: i64,
    #[serde(default)]
    pub removed_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseView {
    pub case_id: CaseId,
    /// The label sealed to the treating physician and the patient; `None` for anyone else,
    /// who sees a neutral reference (`label::reference`).
    pub sealed_label: Option<B64>,
    pub opened_at: i64,
    pub treating: AccountView,
    pub patient: Option<AccountView>,
    /// The treating physician's signed confirmation of the patient's key.
    pub binding: Option<Signed<PatientBinding>>,
    pub members: Vec<MemberView>,
    /// Patient keys replaced by re-enrolments, each with its binding, oldest first: what
    /// they signed is verified against them.
    #[serde(default)]
    pub past_patient_keys: Vec<crate::binding::PastPatientKey>,
}

/// `POST /v1/enrolments/lookup`: what an enrolment code stands for, before joining with it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentLookup {
    pub enrolment_code: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnrolmentView {
    pub case_id: CaseId,
    /// The case's patient account for a re-issued code (re-enrolment on a new device): the
    /// new key is registered for that same account. `None` for a first enrolment.
    pub patient: Option<AccountId>,
    pub expires_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmPatientRequest {
    pub binding: Signed<PatientBinding>,
    /// The label sealed anew to the treating physician and the confirmed patient.
    pub sealed_label: B64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddMemberRequest {
    pub account: AccountId,
}

/// The patient removes a physician, revoking every standing consent to them in the same step.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoveMemberRequest {
    pub revocations: Vec<Signed<Revocation>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RemoveMemberResponse {
    pub account: AccountId,
    pub revoked: Vec<ConsentId>,
    /// Messages to them destroyed unread.
    pub purged: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmitConsentRequest {
    pub consent: Signed<Consent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsentView {
    pub consent_id: ConsentId,
    pub consent: Signed<Consent>,
    pub revoked_at: Option<i64>,
    pub revocation: Option<Signed<Revocation>>,
    pub superseded_by: Option<ConsentId>,
    pub superseded_at: Option<i64>,
    /// When the server acted on its expiry (destroying what was unread).
    #[serde(default)]
    pub expired_at: Option<i64>,
    /// When the server accepted it.
    pub accepted_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitConsentResponse {
    pub consent: ConsentView,
    /// Unread messages the new version no longer covers, destroyed when it was accepted.
    pub purged: u64,
    /// Unread messages it still covers: they stay readable.
    pub kept: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub revocation: Signed<Revocation>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevokeResponse {
    pub consent_id: ConsentId,
    pub revoked_at: i64,
    /// Envelopes under this consent destroyed before anyone fetched them.
    pub purged: u64,
    /// Envelopes already delivered: these cannot be recalled.
    pub already_delivered: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubmitEnvelopeResponse {
    pub message_id: MessageId,
    pub accepted_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvelopeState {
    Accepted,
    Delivered,
    Acknowledged,
    Purged,
}

impl EnvelopeState {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvelopeState::Accepted => "accepted",
            EnvelopeState::Delivered => "delivered",
            EnvelopeState::Acknowledged => "acknowledged",
            EnvelopeState::Purged => "purged",
        }
    }
}

impl std::str::FromStr for EnvelopeState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accepted" => Ok(EnvelopeState::Accepted),
            "delivered" => Ok(EnvelopeState::Delivered),
            "acknowledged" => Ok(EnvelopeState::Acknowledged),
            "purged" => Ok(EnvelopeState::Purged),
            _ => Err(format!("unknown envelope state `{s}`")),
        }
    }
}

crate::roles::parse_stored!(EnvelopeState);

/// One page of an inbox, oldest first; `next` is the cursor of the following page.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxPage {
    pub items: Vec<InboxItem>,
    pub next: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InboxItem {
    pub message_id: MessageId,
    pub case_id: CaseId,
    pub sender: AccountId,
    pub sender_name: Option<String>,
    pub kind: MessageKind,
    pub created_at: i64,
    pub accepted_at: i64,
    pub state: EnvelopeState,
}

/// One event of `GET /v1/events` (a server-sent event whose `id` is `id` and whose data is
/// this, as JSON): something that happened to what the account sent or may receive. Ids
/// and a reason code only; the client fetches what it wants to see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveEvent {
    /// Increasing in the order events were committed; resume with `Last-Event-ID`.
    pub id: i64,
    pub kind: LiveEventKind,
    /// The message (or, for `consent_revoked`, the consent) the event is about.
    pub subject: String,
    pub case_id: CaseId,
    /// `gone`: why the ciphertext was destroyed (`revoked`, `expired`, …).
    pub reason: Option<String>,
    pub at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveEventKind {
    /// A new envelope for this account (its recipient).
    Message,
    /// The recipient verified and acknowledged what this account sent.
    Acknowledged,
    /// An envelope for this account was destroyed unread (revocation, expiry, removal).
    Gone,
    /// The patient revoked a consent that named this account.
    ConsentRevoked,
}

impl LiveEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LiveEventKind::Message => "message",
            LiveEventKind::Acknowledged => "acknowledged",
            LiveEventKind::Gone => "gone",
            LiveEventKind::ConsentRevoked => "consent_revoked",
        }
    }

    pub fn parse(s: &str) -> Option<LiveEventKind> {
        [
            LiveEventKind::Message,
            LiveEventKind::Acknowledged,
            LiveEventKind::Gone,
            LiveEventKind::ConsentRevoked,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EnvelopeView {
    pub envelope: Envelope,
    pub accepted_at: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuditView {
    pub records: Vec<AuditRecord>,
    pub checkpoint: Signed<Checkpoint>,
}

/// `POST /v1/accounts/me/device-links`: a one-time code for adding a device, for the
/// existing device to show (in an onboarding string) to the new one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceLinkCode {
    pub code: String,
    pub expires_at: i64,
}

/// `POST /v1/device-links`: the new device claims the code with its own encryption key.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimDeviceLink {
    pub code: String,
    /// The new device's age recipient (`age1…`).
    pub age_recipient: String,
    pub name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ClaimedDeviceLink {
    /// Secret to the new device: it polls `GET /v1/device-links/{link_id}` with it.
    pub link_id: String,
    pub account: AccountId,
    pub expires_at: i64,
}

/// A device waiting for approval, as the account's existing devices see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceLinkView {
    pub link_id: String,
    pub age_recipient: String,
    pub name: String,
    pub expires_at: i64,
}

/// `POST /v1/accounts/me/device-links/{id}/approve`: the new device list (one version up,
/// with the new device) and the identity key sealed to the new device.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApproveDeviceLink {
    pub devices: Signed<DeviceList>,
    /// age-encrypted to the new device's recipient (`client` decides the content).
    pub sealed: B64,
}

/// `GET /v1/device-links/{id}`: whether the new device was approved, and if so what was
/// sealed to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeviceLinkState {
    pub sealed: Option<B64>,
}

/// `PUT /v1/accounts/me/devices`: a new device list (a device removed or renamed).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutDevices {
    pub devices: Signed<DeviceList>,
}

/// `GET /healthz` and `GET /readyz`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Health {
    /// `alive` or `ready`.
    pub status: String,
}
