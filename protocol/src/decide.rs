//! Whole decisions, from plain facts: the server's admission of an envelope (`admit`),
//! whether an accepted envelope may still be delivered (`deliverable`), the recipient's
//! checks (`receive`), and changes of a case's membership (`add_member`, `remove_member`).
//!
//! Callers load facts, call one function, and act on its answer; no caller re-orders or
//! skips a step. Every refusal has its own stable code (`Code`).

use ed25519_dalek::VerifyingKey;

use crate::chain::Chain;
use crate::consent::{Refusal, Revocation, SendContext, covers, evaluate, happened_by, in_period};
use crate::envelope::{
    Envelope, EnvelopeError, EnvelopeHeader, MAX_CLOCK_SKEW, check_ciphertexts, check_manifest,
};
use crate::error::Code;
use crate::ids::{AccountId, CaseId, ConsentId, Fingerprint, MessageId};
use crate::roles::{MessageKind, Role};

/// A case as the deciding party knows it.
#[derive(Debug, Clone)]
pub struct CaseFacts {
    pub case_id: CaseId,
    pub treating: AccountId,
    /// Physicians the patient has added (status active), the treating physician excluded.
    pub active: Vec<AccountId>,
}

impl CaseFacts {
    /// The treating physician or an active member.
    pub fn is_active_physician(&self, a: &AccountId) -> bool {
        &self.treating == a || self.active.contains(a)
    }
}

/// What the server knows when an envelope arrives.
#[derive(Debug)]
pub struct AdmissionFacts<'a> {
    /// The logged-in account and its role (from the session token).
    pub session: (&'a AccountId, Role),
    /// The sender's registered signing key.
    pub sender_key: &'a VerifyingKey,
    /// Has this message id been accepted before?
    pub id_seen: bool,
    pub now: i64,
    /// The case the header names, if it exists.
    pub case: Option<&'a CaseFacts>,
    /// The recipient's registered key fingerprint, if the account exists.
    pub recipient_fingerprint: Option<&'a Fingerprint>,
    /// The case's consents, verified against the confirmed patient key.
    pub chain: &'a Chain,
}

/// Why an envelope is not accepted, in the order of DESIGN.md §7.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AdmitRefusal {
    #[error("the envelope header cannot be read: {0}")]
    Malformed(String),
    #[error("a {role} physician may not send a {kind}")]
    KindForbidden { role: Role, kind: MessageKind },
    #[error("the envelope's sender is not the logged-in account")]
    SenderMismatch,
    #[error("the envelope signature does not verify with the sender's registered key")]
    BadSignature,
    #[error("{0}")]
    Envelope(EnvelopeError),
    #[error("message id {0} was already used")]
    Replay(MessageId),
    #[error("the envelope's created-at is too far from the server's clock")]
    ClockSkew,
    #[error("no case {0}, or you are not a member of it")]
    UnknownCase(CaseId),
    #[error("{0} is not a member of this case")]
    NotAMember(AccountId),
    #[error("the envelope is encrypted to a key that is not the recipient's current key")]
    RecipientKeyMismatch,
    #[error("consent {0} is not a consent of this case for this recipient")]
    ConsentNotFound(ConsentId),
    #[error("{0}")]
    Consent(Refusal),
    #[error("the patient has not consented to {} for this recipient", fields.join(", "))]
    FieldsNotConsented { fields: Vec<String> },
}

impl AdmitRefusal {
    pub fn code(&self) -> Code {
        match self {
            AdmitRefusal::Malformed(_) => Code::MalformedJson,
            AdmitRefusal::KindForbidden { .. } => Code::KindForbidden,
            AdmitRefusal::SenderMismatch => Code::SenderMismatch,
            AdmitRefusal::BadSignature => Code::BadEnvelopeSignature,
            AdmitRefusal::Envelope(e) => e.code(),
            AdmitRefusal::Replay(_) => Code::MessageReplayed,
            AdmitRefusal::ClockSkew => Code::ClockSkew,
            AdmitRefusal::UnknownCase(_) => Code::UnknownCase,
            AdmitRefusal::NotAMember(_) => Code::NotAMember,
            AdmitRefusal::RecipientKeyMismatch => Code::RecipientKeyMismatch,
            AdmitRefusal::ConsentNotFound(_) => Code::ConsentNotFound,
            AdmitRefusal::Consent(r) => r.code(),
            AdmitRefusal::FieldsNotConsented { .. } => Code::FieldNotConsented,
        }
    }
}

fn context(h: &EnvelopeHeader, at: i64) -> SendContext<'_> {
    SendContext {
        case_id: &h.case_id,
        sender: &h.sender,
        recipient: &h.recipient,
        recipient_fingerprint: &h.recipient_fingerprint,
        kind: h.kind,
        at,
    }
}

/// The server's decision on an envelope: every check of DESIGN.md §7, in order. Returns the
/// verified header.
pub fn admit(f: &AdmissionFacts<'_>, env: &Envelope) -> Result<EnvelopeHeader, AdmitRefusal> {
    // 1. Role allowed to send this kind, as the logged-in account.
    let claimed: EnvelopeHeader = env
        .header
        .parse_unverified()
        .map_err(|e| AdmitRefusal::Malformed(e.to_string()))?;
    let (me, role) = f.session;
    if !role.may_send(claimed.kind) {
        return Err(AdmitRefusal::KindForbidden {
            role,
            kind: claimed.kind,
        });
    }
    if &claimed.sender != me {
        return Err(AdmitRefusal::SenderMismatch);
    }
    // 2. Signature by the sender's registered key.
    let h = env
        .header
        .open(f.sender_key)
        .map_err(|_| AdmitRefusal::BadSignature)?;
    check_manifest(&h).map_err(AdmitRefusal::Envelope)?;
    // 3. Message id new.
    if f.id_seen {
        return Err(AdmitRefusal::Replay(h.message_id));
    }
    // 4. Created-at within the skew (abs_diff: created_at may be i64::MIN).
    if h.created_at.abs_diff(f.now) > MAX_CLOCK_SKEW.unsigned_abs() {
        return Err(AdmitRefusal::ClockSkew);
    }
    // 5. Case exists, sender and recipient are its active physicians, key is current.
    let case = f
        .case
        .filter(|c| c.case_id == h.case_id && c.is_active_physician(&h.sender))
        .ok_or_else(|| AdmitRefusal::UnknownCase(h.case_id.clone()))?;
    if h.recipient == h.sender || !case.is_active_physician(&h.recipient) {
        return Err(AdmitRefusal::NotAMember(h.recipient.clone()));
    }
    if f.recipient_fingerprint != Some(&h.recipient_fingerprint) {
        return Err(AdmitRefusal::RecipientKeyMismatch);
    }
    // 6. The consent: in this case, for this recipient, the current version, standing, in
    //    its period, covering sender and kind; 7. manifest ⊆ consented fields. Evaluated at
    //    the server's clock (a backdated header cannot slip under a revoked or expired
    //    consent) and at created-at (when the recipient evaluates it).
    let v = f
        .chain
        .get(&h.consent_id)
        .ok_or_else(|| AdmitRefusal::ConsentNotFound(h.consent_id.clone()))?;
    let standing = f.chain.standing(&h.consent_id);
    for at in [f.now, h.created_at] {
        let d = evaluate(&v.consent, &standing, &context(&h, at), &h.fields())
            .map_err(AdmitRefusal::Consent)?;
        if !d.stripped.is_empty() {
            return Err(AdmitRefusal::FieldsNotConsented {
                fields: d.stripped.iter().map(|s| s.field.to_string()).collect(),
            });
        }
    }
    // 8. Ciphertext hashes and sizes.
    check_ciphertexts(&h, &env.fields).map_err(AdmitRefusal::Envelope)?;
    Ok(h)
}

/// Was a message covered by its own consent when it was created: that version names its
/// case, recipient and key, sender and kind, every field of its manifest, and its period
/// holds at the header's created-at?
pub fn covered_at_creation(chain: &Chain, h: &EnvelopeHeader) -> Result<(), Refusal> {
    let v = chain.get(&h.consent_id).ok_or(Refusal::WrongRecipient)?;
    let own = covers(&v.consent, &context(h, h.created_at), &h.fields())?;
    if !own.stripped.is_empty() {
        return Err(Refusal::NoLongerCovered);
    }
    in_period(&v.consent, h.created_at)
}

/// May an accepted message still be delivered at `at`? It must have been covered by its own
/// consent when it was created, and the newest version of that consent's line must stand
/// at `at` and still cover it: a new version keeps what it still allows and destroys the
/// rest; revocation and expiry of the newest version stop everything.
pub fn deliverable(chain: &Chain, h: &EnvelopeHeader, at: i64) -> Result<(), Refusal> {
    covered_at_creation(chain, h)?;
    let v = chain.get(&h.consent_id).ok_or(Refusal::WrongRecipient)?;
    // Revoked before it was replaced: the line ends here.
    if happened_by(v.revoked_at, at) {
        return Err(Refusal::Revoked);
    }
    let head = chain.head(&h.consent_id).ok_or(Refusal::WrongRecipient)?;
    if happened_by(head.revoked_at, at) {
        return Err(Refusal::Revoked);
    }
    if at > head.consent.valid_until {
        return Err(Refusal::Expired);
    }
    if head.consent.consent_id != v.consent.consent_id {
        let d = covers(&head.consent, &context(h, at), &h.fields())
            .map_err(|_| Refusal::NoLongerCovered)?;
        if !d.stripped.is_empty() {
            return Err(Refusal::NoLongerCovered);
        }
    }
    Ok(())
}

/// What the recipient's client knows when it opens a message.
#[derive(Debug)]
pub struct ReceiveFacts<'a> {
    pub me: &'a AccountId,
    pub my_fingerprint: &'a Fingerprint,
    /// The message asked for.
    pub message_id: &'a MessageId,
    /// The sender's verified keys and role, as the case shows them.
    pub sender_key: &'a VerifyingKey,
    pub sender_role: Role,
    /// The case's consents, verified against the confirmed patient key.
    pub chain: &'a Chain,
    /// How the message reaches this client.
    pub receipt: Receipt,
}

/// A message is judged once against the consent's standing, when it arrives; what was
/// delivered then cannot be recalled (DESIGN.md §2.6), so reading the client's own copy
/// again checks everything but the standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Receipt {
    /// Fetched from the server now (at this time).
    Fetched { at: i64 },
    /// Read again from the copy this client verified and stored when it arrived.
    Kept,
}

/// Why the recipient refuses to show a message.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ReceiveRefusal {
    #[error("the sender's signature does not verify")]
    BadSignature,
    #[error("the envelope is not the message asked for")]
    WrongMessage,
    #[error("a {role} physician may not send a {kind}")]
    KindForbidden { role: Role, kind: MessageKind },
    #[error("the message was addressed to another recipient or key")]
    NotForMe,
    #[error("the message names a consent this case does not have")]
    UnknownConsent,
    #[error("the consent does not cover this message: {0}")]
    Consent(Refusal),
    #[error("{0}")]
    Envelope(EnvelopeError),
}

/// The recipient's checks of DESIGN.md §7 before anything is decrypted: signature, address,
/// consent (and its newest version) covering the manifest, ciphertext hashes.
pub fn receive(f: &ReceiveFacts<'_>, env: &Envelope) -> Result<EnvelopeHeader, ReceiveRefusal> {
    let h = env
        .header
        .open(f.sender_key)
        .map_err(|_| ReceiveRefusal::BadSignature)?;
    if &h.message_id != f.message_id {
        return Err(ReceiveRefusal::WrongMessage);
    }
    if !f.sender_role.may_send(h.kind) {
        return Err(ReceiveRefusal::KindForbidden {
            role: f.sender_role,
            kind: h.kind,
        });
    }
    if &h.recipient != f.me || &h.recipient_fingerprint != f.my_fingerprint {
        return Err(ReceiveRefusal::NotForMe);
    }
    if f.chain.get(&h.consent_id).is_none() {
        return Err(ReceiveRefusal::UnknownConsent);
    }
    match f.receipt {
        Receipt::Fetched { at } => deliverable(f.chain, &h, at),
        Receipt::Kept => covered_at_creation(f.chain, &h),
    }
    .map_err(ReceiveRefusal::Consent)?;
    check_ciphertexts(&h, &env.fields).map_err(ReceiveRefusal::Envelope)?;
    Ok(h)
}

/// Who is changing a case's membership.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    Patient,
    Treating,
    Other,
}

/// A member's status, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberStatus {
    /// Added or accepted by the patient.
    Active,
    /// Invited by the treating physician; waits for the patient.
    Invited,
    /// Removed by the patient: sees nothing of the case any more.
    Removed,
}

impl MemberStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberStatus::Active => "active",
            MemberStatus::Invited => "invited",
            MemberStatus::Removed => "removed",
        }
    }
}

impl std::str::FromStr for MemberStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "active" => Ok(MemberStatus::Active),
            "invited" => Ok(MemberStatus::Invited),
            "removed" => Ok(MemberStatus::Removed),
            _ => Err(format!("unknown member status `{s}`")),
        }
    }
}

crate::roles::parse_stored!(MemberStatus);

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MembershipRefusal {
    #[error("only physicians can be members of a case")]
    NotAPhysician,
    #[error("only the case's patient may do this")]
    NotPatient,
    #[error("{0} is already a member of this case")]
    AlreadyMember(AccountId),
    #[error("the patient removed {0} from this case; only the patient can add them again")]
    RemovedByPatient(AccountId),
    #[error("{0} is not a member of this case")]
    NotAMember(AccountId),
    #[error("the treating physician cannot be removed from their own case")]
    CannotRemoveTreating,
    #[error("consent {0} to the physician being removed must be revoked in the same step")]
    RemovalIncomplete(ConsentId),
    #[error("a revocation sent with the removal is not valid: {0}")]
    BadRevocation(String),
}

impl MembershipRefusal {
    pub fn code(&self) -> Code {
        match self {
            MembershipRefusal::NotAPhysician => Code::NotAPhysician,
            MembershipRefusal::NotPatient => Code::NotCasePatient,
            MembershipRefusal::AlreadyMember(_) => Code::AlreadyMember,
            MembershipRefusal::RemovedByPatient(_) => Code::NotCasePatient,
            MembershipRefusal::NotAMember(_) => Code::NotAMember,
            MembershipRefusal::CannotRemoveTreating => Code::CannotRemoveTreating,
            MembershipRefusal::RemovalIncomplete(_) => Code::RemovalIncomplete,
            MembershipRefusal::BadRevocation(_) => Code::BadRevocation,
        }
    }
}

/// Adding `target` (of `target_role`, currently `current`) to a case: the patient adds (the
/// member is active at once, also after a removal); the treating physician only invites
/// (active when the patient adds them too). Returns the new status.
pub fn add_member(
    actor: Actor,
    case: &CaseFacts,
    target: &AccountId,
    target_role: Role,
    current: Option<MemberStatus>,
) -> Result<MemberStatus, MembershipRefusal> {
    if !target_role.is_physician() {
        return Err(MembershipRefusal::NotAPhysician);
    }
    if target == &case.treating {
        return Err(MembershipRefusal::AlreadyMember(target.clone()));
    }
    match (actor, current) {
        (Actor::Patient, Some(MemberStatus::Active)) => {
            Err(MembershipRefusal::AlreadyMember(target.clone()))
        }
        (Actor::Patient, _) => Ok(MemberStatus::Active),
        // A removed physician comes back only by the patient's hand.
        (Actor::Treating, None) => Ok(MemberStatus::Invited),
        (Actor::Treating, Some(MemberStatus::Removed)) => {
            Err(MembershipRefusal::RemovedByPatient(target.clone()))
        }
        (Actor::Treating, Some(_)) => Err(MembershipRefusal::AlreadyMember(target.clone())),
        (Actor::Other, _) => Err(MembershipRefusal::NotPatient),
    }
}

/// The patient removes `target` from a case: allowed when `target` is an active or invited
/// member (not the treating physician), and `revocations` (verified by the caller against
/// the patient key) revoke every standing consent to `target` in the same step. Returns
/// the consents those revocations end.
pub fn remove_member(
    actor: Actor,
    case: &CaseFacts,
    target: &AccountId,
    current: Option<MemberStatus>,
    chain: &Chain,
    revocations: &[Revocation],
) -> Result<Vec<ConsentId>, MembershipRefusal> {
    if actor != Actor::Patient {
        return Err(MembershipRefusal::NotPatient);
    }
    if target == &case.treating {
        return Err(MembershipRefusal::CannotRemoveTreating);
    }
    if !matches!(current, Some(MemberStatus::Active | MemberStatus::Invited)) {
        return Err(MembershipRefusal::NotAMember(target.clone()));
    }
    let mut ended = Vec::new();
    for r in revocations {
        let v = chain
            .check_revocation(r)
            .map_err(|e| MembershipRefusal::BadRevocation(e.to_string()))?;
        if ended.contains(&r.consent_id) {
            return Err(MembershipRefusal::BadRevocation(format!(
                "consent {} is revoked twice",
                r.consent_id
            )));
        }
        if &v.consent.recipient != target {
            return Err(MembershipRefusal::BadRevocation(format!(
                "consent {} is not to the physician being removed",
                r.consent_id
            )));
        }
        ended.push(r.consent_id.clone());
    }
    if let Some(c) = chain.current(target)
        && !ended.contains(&c.consent.consent_id)
    {
        return Err(MembershipRefusal::RemovalIncomplete(
            c.consent.consent_id.clone(),
        ));
    }
    Ok(ended)
}
