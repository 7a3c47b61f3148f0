//! Consent and revocation, and the one function that decides what may move.
//!
//! `evaluate` is called three times for every message (DESIGN.md §2.3): by the sender's
//! client to strip what is not covered, by the server to refuse an envelope whose manifest
//! is not covered, and by the recipient's client before it shows anything.

use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

use crate::catalogue::{FieldId, Lang};
use crate::encoding::sha256_hex;
use crate::error::Code;
use crate::ids::{AccountId, CaseId, ConsentId, Fingerprint};
use crate::roles::{MessageKind, Role};
use crate::signed::{Signed, SignedKind};
use crate::text::{NameError, check_display_name};
use crate::time::{format_date, max_valid_until};

/// Why the patient shares: TRIO's three purposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    ReturnToWork,
    Reintegration,
    PreResumptionVisit,
}

impl Purpose {
    pub fn label(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Purpose::ReturnToWork, Lang::Nl) => "werkhervatting",
            (Purpose::ReturnToWork, Lang::Fr) => "reprise du travail",
            (Purpose::ReturnToWork, Lang::En) => "return to work",
            (Purpose::Reintegration, Lang::Nl) => "re-integratietraject",
            (Purpose::Reintegration, Lang::Fr) => "trajet de réintégration",
            (Purpose::Reintegration, Lang::En) => "reintegration",
            (Purpose::PreResumptionVisit, Lang::Nl) => "bezoek voorafgaand aan de werkhervatting",
            (Purpose::PreResumptionVisit, Lang::Fr) => "visite de pré-reprise",
            (Purpose::PreResumptionVisit, Lang::En) => "pre-resumption visit",
        }
    }
}

impl std::str::FromStr for Purpose {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "return_to_work" | "return-to-work" => Ok(Purpose::ReturnToWork),
            "reintegration" => Ok(Purpose::Reintegration),
            "pre_resumption_visit" | "pre-resumption-visit" => Ok(Purpose::PreResumptionVisit),
            _ => Err(format!(
                "unknown purpose `{s}` (use return-to-work, reintegration or pre-resumption-visit)"
            )),
        }
    }
}

/// A patient's signed permission for one recipient to receive named fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consent {
    pub consent_id: ConsentId,
    /// The consent for the same recipient that this one replaces.
    pub supersedes: Option<ConsentId>,
    pub case_id: CaseId,
    pub patient: AccountId,
    pub recipient: AccountId,
    /// The recipient's key fingerprint when the patient signed.
    pub recipient_fingerprint: Fingerprint,
    /// The recipient as the patient read it in the consent text: name (from the operator's
    /// invitation) and role. The server checks both against its directory.
    pub recipient_name: String,
    pub recipient_role: Role,
    /// Who may send under this consent, named as the patient read them in the consent text
    /// (deny by default: no one else). The server checks names and roles against its
    /// directory; a physician sees a consent only if they are its recipient or a sender.
    pub senders: Vec<Party>,
    pub kinds: Vec<MessageKind>,
    /// The fields that may move (deny by default: nothing else).
    pub fields: Vec<FieldId>,
    /// Medical fields the patient ticked one by one to share medically with this recipient.
    pub share_medically: Vec<FieldId>,
    pub purpose: Purpose,
    pub valid_from: i64,
    pub valid_until: i64,
    /// Language of the consent text the patient was shown.
    pub lang: Lang,
    /// SHA-256 of that text (`consent_text`).
    pub text_sha256: String,
}

impl SignedKind for Consent {
    const DOMAIN: &'static str = "trialog/v1/consent";
}

/// A physician as a consent names them: account, and the name and role the patient read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub account: AccountId,
    pub name: String,
    pub role: Role,
}

/// A patient's signed withdrawal of one consent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Revocation {
    pub consent_id: ConsentId,
    pub case_id: CaseId,
    pub patient: AccountId,
    pub revoked_at: i64,
}

impl SignedKind for Revocation {
    const DOMAIN: &'static str = "trialog/v1/revocation";
}

/// Why a consent is not a valid consent at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MalformedConsent {
    #[error("the consent names no field")]
    NoFields,
    #[error("the consent names no message kind")]
    NoKinds,
    #[error("field {0} is named twice")]
    Duplicate(FieldId),
    #[error("medical field {0} is only allowed when the patient shares it medically")]
    MedicalNotShared(FieldId),
    #[error("{0} is not a medical field, or is not among the consented fields")]
    ShareMedicallyMismatch(FieldId),
    #[error("the consent ends before it starts")]
    EmptyPeriod,
    #[error("a consent lasts one calendar year at most")]
    TooLong,
    #[error("the recipient's name cannot be shown as it is: {0}")]
    BadRecipientName(NameError),
    #[error("a sender's name cannot be shown as it is: {0}")]
    BadSenderName(NameError),
    #[error("the consent names no one who may send")]
    NoSenders,
    #[error("the consent names {0} twice among those who may send")]
    DuplicateSender(AccountId),
    #[error("the recipient cannot also be a sender of the same consent")]
    SenderIsRecipient,
    #[error("a {role} cannot receive messages of kind {kind}")]
    KindNotReceivable { role: Role, kind: MessageKind },
    #[error("the hash of the consent text does not match the text for these terms")]
    TextMismatch,
    #[error("the signed consent cannot be read: {0}")]
    Unparsable(String),
}

impl MalformedConsent {
    pub fn code(&self) -> Code {
        match self {
            MalformedConsent::KindNotReceivable { .. } => Code::ConsentKindNotReceivable,
            _ => Code::ConsentMalformed,
        }
    }
}

impl Consent {
    /// Rules every consent must satisfy, whoever checks it.
    pub fn check_well_formed(&self) -> Result<(), MalformedConsent> {
        if self.fields.is_empty() {
            return Err(MalformedConsent::NoFields);
        }
        if self.kinds.is_empty() {
            return Err(MalformedConsent::NoKinds);
        }
        if self.senders.is_empty() {
            return Err(MalformedConsent::NoSenders);
        }
        let mut senders = BTreeSet::new();
        for p in &self.senders {
            check_display_name(&p.name).map_err(MalformedConsent::BadSenderName)?;
            if p.account == self.recipient {
                return Err(MalformedConsent::SenderIsRecipient);
            }
            if !senders.insert(p.account.as_str()) {
                return Err(MalformedConsent::DuplicateSender(p.account.clone()));
            }
        }
        for k in &self.kinds {
            if !self.recipient_role.may_receive(*k) {
                return Err(MalformedConsent::KindNotReceivable {
                    role: self.recipient_role,
                    kind: *k,
                });
            }
        }
        let mut seen = BTreeSet::new();
        for f in &self.fields {
            if !seen.insert(*f) {
                return Err(MalformedConsent::Duplicate(*f));
            }
        }
        if let Some(f) = unshared_medical(&self.fields, &self.share_medically) {
            return Err(MalformedConsent::MedicalNotShared(f));
        }
        for f in &self.share_medically {
            if !f.is_medical() || !self.fields.contains(f) {
                return Err(MalformedConsent::ShareMedicallyMismatch(*f));
            }
        }
        if self.valid_until <= self.valid_from {
            return Err(MalformedConsent::EmptyPeriod);
        }
        // A start outside the calendar's range has no acceptable end (`i64::MIN`), so
        // extreme dates from the network are refused here without arithmetic on them.
        if self.valid_until > max_valid_until(self.valid_from) {
            return Err(MalformedConsent::TooLong);
        }
        // The name is part of the text the patient reads and signs: a name with a line
        // break, a bidi override or an invisible character could make that text say
        // something else than the terms (a server could try to rewrite it).
        check_display_name(&self.recipient_name).map_err(MalformedConsent::BadRecipientName)?;
        if sha256_hex(&[consent_text(self).as_bytes()]) != self.text_sha256 {
            return Err(MalformedConsent::TextMismatch);
        }
        Ok(())
    }
}

/// Need to know (DESIGN.md §6): who may see a consent. The case's patient sees all of
/// them; a physician only those they receive or may send under.
pub fn visible_to(consent: &Consent, who: &AccountId) -> bool {
    &consent.patient == who
        || &consent.recipient == who
        || consent.senders.iter().any(|p| &p.account == who)
}

/// The first medical field among `fields` that the patient did not also tick to share
/// medically: such a consent is not valid (medical fields are never in a consent by default).
pub fn unshared_medical(fields: &[FieldId], share_medically: &[FieldId]) -> Option<FieldId> {
    fields
        .iter()
        .find(|f| f.is_medical() && !share_medically.contains(f))
        .copied()
}

/// The text the patient reads before signing, in the consent's language. Its hash is
/// signed with the consent, so the terms shown and the terms enforced cannot drift apart.
pub fn consent_text(c: &Consent) -> String {
    let lang = c.lang;
    let mut fields: Vec<String> = c
        .fields
        .iter()
        .map(|f| {
            let label = f.def().label.get(lang);
            if f.is_medical() {
                let tag = match lang {
                    Lang::Nl => "MEDISCH gedeeld",
                    Lang::Fr => "partagé MÉDICALEMENT",
                    Lang::En => "shared MEDICALLY",
                };
                format!("- {label} ({}) [{tag}]", f.as_str())
            } else {
                format!("- {label} ({})", f.as_str())
            }
        })
        .collect();
    fields.sort();
    let kinds: Vec<&str> = c.kinds.iter().map(|k| k.as_str()).collect();
    let senders = c
        .senders
        .iter()
        .map(|p| format!("{} {} ({})", p.role.label(lang), p.name, p.account))
        .collect::<Vec<_>>()
        .join(", ");
    let (from, until) = (format_date(c.valid_from), format_date(c.valid_until));
    let purpose = c.purpose.label(lang);
    let fields = fields.join("\n");
    let kinds = kinds.join(", ");
    match lang {
        Lang::Nl => format!(
            "Ik geef toestemming dat {senders} de volgende gegevens uit dossier {case} \
             versleuteld bezorgt aan {role} {name} ({rcpt}, sleutel {fp}), voor {purpose}, \
             in berichten van het type {kinds}, van {from} tot {until}:\n{fields}\n\
             Ik kan deze toestemming altijd intrekken. Wat al bezorgd is, kan niet worden teruggehaald.",
            case = c.case_id,
            rcpt = c.recipient,
            fp = c.recipient_fingerprint.short(),
            role = c.recipient_role.label(lang),
            name = c.recipient_name,
        ),
        Lang::Fr => format!(
            "J'autorise {senders} à transmettre, chiffrées, les données suivantes du dossier {case} \
             au {role} {name} ({rcpt}, clé {fp}), pour {purpose}, dans des messages de type {kinds}, \
             du {from} au {until} :\n{fields}\n\
             Je peux retirer ce consentement à tout moment. Ce qui a déjà été remis ne peut pas être rappelé.",
            case = c.case_id,
            rcpt = c.recipient,
            fp = c.recipient_fingerprint.short(),
            role = c.recipient_role.label(lang),
            name = c.recipient_name,
        ),
        Lang::En => format!(
            "I allow {senders} to send the following data from case {case}, encrypted, \
             to the {role} {name} ({rcpt}, key {fp}), for {purpose}, in messages of kind {kinds}, \
             from {from} until {until}:\n{fields}\n\
             I can revoke this consent at any time. What was already delivered cannot be recalled.",
            case = c.case_id,
            rcpt = c.recipient,
            fp = c.recipient_fingerprint.short(),
            role = c.recipient_role.label(lang),
            name = c.recipient_name,
        ),
    }
}

/// Verifies a consent's signature by the patient's key, then its well-formedness.
pub fn open_consent(signed: &Signed<Consent>, patient: &VerifyingKey) -> Result<Consent, Refusal> {
    let c = signed.open(patient).map_err(|e| match e {
        crate::signed::SignedError::Malformed(m) => {
            Refusal::Malformed(MalformedConsent::Unparsable(m))
        }
        _ => Refusal::BadPatientSignature,
    })?;
    c.check_well_formed().map_err(Refusal::Malformed)?;
    Ok(c)
}

/// What has happened to a consent since it was signed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Standing {
    pub revoked_at: Option<i64>,
    pub superseded_at: Option<i64>,
}

/// The one time rule of Trialog: something that happened at `event` stops what happens at
/// `at` from the same second on. Used for revocation and replacement everywhere.
pub fn happened_by(event: Option<i64>, at: i64) -> bool {
    event.is_some_and(|t| t <= at)
}

/// A consent's period holds at `at`: from `valid_from` to `valid_until`, both inclusive.
pub fn in_period(consent: &Consent, at: i64) -> Result<(), Refusal> {
    if at < consent.valid_from {
        return Err(Refusal::NotYetValid);
    }
    if at > consent.valid_until {
        return Err(Refusal::Expired);
    }
    Ok(())
}

impl Standing {
    /// Revoked or replaced by `at`: from then on the consent allows nothing new.
    pub fn check(&self, at: i64) -> Result<(), Refusal> {
        if happened_by(self.revoked_at, at) {
            return Err(Refusal::Revoked);
        }
        if happened_by(self.superseded_at, at) {
            return Err(Refusal::Superseded);
        }
        Ok(())
    }

    /// Does a consent ending at `valid_until` still stand at `at`? Expiry acts like
    /// revocation (DESIGN.md §6): what was not delivered by then is not delivered.
    pub fn live_at(&self, valid_until: i64, at: i64) -> Result<(), Refusal> {
        self.check(at)?;
        if at > valid_until {
            return Err(Refusal::Expired);
        }
        Ok(())
    }
}

/// The message a consent is being asked to cover.
#[derive(Debug, Clone)]
pub struct SendContext<'a> {
    pub case_id: &'a CaseId,
    pub sender: &'a AccountId,
    pub recipient: &'a AccountId,
    /// The recipient key the message is encrypted to.
    pub recipient_fingerprint: &'a Fingerprint,
    pub kind: MessageKind,
    /// When the message is sent (the header's created-at).
    pub at: i64,
}

/// Why a consent cannot cover a message at all. Each has its own stable code.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("the consent is not signed by the case's confirmed patient key")]
    BadPatientSignature,
    #[error("the consent is malformed: {0}")]
    Malformed(MalformedConsent),
    #[error("the patient revoked this consent")]
    Revoked,
    #[error("the patient replaced this consent by a newer one")]
    Superseded,
    #[error("the consent has expired")]
    Expired,
    #[error("the consent is not valid yet")]
    NotYetValid,
    #[error("the consent is for another case")]
    WrongCase,
    #[error("the consent is for another recipient")]
    WrongRecipient,
    #[error("the recipient's key changed since the patient signed; the patient must consent again")]
    RecipientKeyChanged,
    #[error("the consent does not allow this sender")]
    SenderNotAllowed,
    #[error("the consent does not allow messages of this kind")]
    KindNotAllowed,
    #[error("the patient's newer version of this consent no longer covers this message")]
    NoLongerCovered,
}

impl Refusal {
    pub fn code(&self) -> Code {
        match self {
            Refusal::BadPatientSignature => Code::ConsentBadSignature,
            Refusal::Malformed(m) => m.code(),
            Refusal::Revoked => Code::ConsentRevoked,
            Refusal::Superseded => Code::ConsentSuperseded,
            Refusal::Expired => Code::ConsentExpired,
            Refusal::NotYetValid => Code::ConsentNotYetValid,
            Refusal::WrongCase => Code::ConsentWrongCase,
            Refusal::WrongRecipient => Code::ConsentWrongRecipient,
            Refusal::RecipientKeyChanged => Code::ConsentKeyChanged,
            Refusal::SenderNotAllowed => Code::ConsentSenderNotAllowed,
            Refusal::KindNotAllowed => Code::ConsentKindNotAllowed,
            Refusal::NoLongerCovered => Code::ConsentNoLongerCovers,
        }
    }
}

/// Why one field cannot go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StripReason {
    /// The patient did not consent to this field for this recipient.
    NotConsented,
    /// A medical field the patient did not share medically with this recipient.
    MedicalNotShared,
    /// This kind of message does not carry this field.
    NotForKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stripped {
    pub field: FieldId,
    pub reason: StripReason,
}

/// The fields that may go and those that may not, with why.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Decision {
    pub allowed: Vec<FieldId>,
    pub stripped: Vec<Stripped>,
}

/// Does `consent` cover this message (case, recipient and key, sender, kind), whatever the
/// time? Returns which of `fields` may go. Deny by default: a field goes only if the
/// consent names it, the kind carries it, and (for medical fields) the patient shared it
/// medically.
pub fn covers(
    consent: &Consent,
    ctx: &SendContext<'_>,
    fields: &[FieldId],
) -> Result<Decision, Refusal> {
    if &consent.case_id != ctx.case_id {
        return Err(Refusal::WrongCase);
    }
    if &consent.recipient != ctx.recipient {
        return Err(Refusal::WrongRecipient);
    }
    if &consent.recipient_fingerprint != ctx.recipient_fingerprint {
        return Err(Refusal::RecipientKeyChanged);
    }
    if !consent.senders.iter().any(|p| &p.account == ctx.sender) {
        return Err(Refusal::SenderNotAllowed);
    }
    if !consent.kinds.contains(&ctx.kind) {
        return Err(Refusal::KindNotAllowed);
    }
    let mut d = Decision::default();
    for &f in fields {
        let reason = if !f.def().kinds.contains(&ctx.kind) {
            Some(StripReason::NotForKind)
        } else if f.is_medical() && !consent.share_medically.contains(&f) {
            Some(StripReason::MedicalNotShared)
        } else if !consent.fields.contains(&f) {
            Some(StripReason::NotConsented)
        } else {
            None
        };
        match reason {
            None => d.allowed.push(f),
            Some(reason) => d.stripped.push(Stripped { field: f, reason }),
        }
    }
    Ok(d)
}

/// Decides, for a message described by `ctx` carrying `fields`, under `consent` with its
/// `standing`, which fields may move: the consent stands and is in its period at `ctx.at`,
/// and covers the message.
pub fn evaluate(
    consent: &Consent,
    standing: &Standing,
    ctx: &SendContext<'_>,
    fields: &[FieldId],
) -> Result<Decision, Refusal> {
    standing.check(ctx.at)?;
    let d = covers(consent, ctx, fields)?;
    in_period(consent, ctx.at)?;
    Ok(d)
}

/// What changes between a consent and the version that replaces it: what the patient sees
/// before signing.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ConsentDiff {
    pub fields_added: Vec<FieldId>,
    pub fields_removed: Vec<FieldId>,
    pub medical_added: Vec<FieldId>,
    pub medical_removed: Vec<FieldId>,
    pub kinds_added: Vec<MessageKind>,
    pub kinds_removed: Vec<MessageKind>,
    pub senders_added: Vec<Party>,
    pub senders_removed: Vec<Party>,
    /// `(old, new)` when the period changes.
    pub period: Option<((i64, i64), (i64, i64))>,
    pub purpose: Option<(Purpose, Purpose)>,
}

impl ConsentDiff {
    pub fn is_empty(&self) -> bool {
        *self == ConsentDiff::default()
    }
}

fn minus<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    a.iter().filter(|x| !b.contains(x)).cloned().collect()
}

/// The difference from `old` to `new`.
pub fn diff(old: &Consent, new: &Consent) -> ConsentDiff {
    let old_senders: Vec<&AccountId> = old.senders.iter().map(|p| &p.account).collect();
    let new_senders: Vec<&AccountId> = new.senders.iter().map(|p| &p.account).collect();
    ConsentDiff {
        fields_added: minus(&new.fields, &old.fields),
        fields_removed: minus(&old.fields, &new.fields),
        medical_added: minus(&new.share_medically, &old.share_medically),
        medical_removed: minus(&old.share_medically, &new.share_medically),
        kinds_added: minus(&new.kinds, &old.kinds),
        kinds_removed: minus(&old.kinds, &new.kinds),
        senders_added: new
            .senders
            .iter()
            .filter(|p| !old_senders.contains(&&p.account))
            .cloned()
            .collect(),
        senders_removed: old
            .senders
            .iter()
            .filter(|p| !new_senders.contains(&&p.account))
            .cloned()
            .collect(),
        // A new version always starts now; only a new end is a change the patient decides.
        period: (old.valid_until != new.valid_until).then_some((
            (old.valid_from, old.valid_until),
            (new.valid_from, new.valid_until),
        )),
        purpose: (old.purpose != new.purpose).then_some((old.purpose, new.purpose)),
    }
}
