//! The verified audit log of a case in words, shared by `trialog audit` and the web
//! client: what each event is called, who an account id is in the case, and which
//! messages each physician was sent and received, read from the log's non-content details.

use trialog_protocol::audit::{AuditEntry, AuditEvent};
use trialog_protocol::{AccountId, FieldId, Lang, MessageKind};

use crate::client::VerifiedCase;
use crate::i18n::tr;

/// Who an account id of the log is: "the patient", a name from the verified case, else the
/// id itself (an id that is no account, e.g. a message id, stays as it is).
pub fn who(case: Option<&VerifiedCase>, id: &str, lang: Lang) -> String {
    let Some(v) = case else { return id.to_owned() };
    let Ok(a) = AccountId::parse(id) else {
        return id.to_owned();
    };
    if v.is_patient(&a) {
        return tr(lang, "de patiënt", "le patient", "the patient").to_owned();
    }
    v.person_name(&a).unwrap_or_else(|| id.to_owned())
}

/// One message of the case as the log tells it: sent (accepted by the server), then
/// fetched by its recipient, or destroyed unread. Never a value: only kind and field ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub message: String,
    pub kind: MessageKind,
    pub sender: Option<AccountId>,
    pub recipient: AccountId,
    pub fields: Vec<FieldId>,
    pub sent_at: i64,
    /// When the recipient fetched it (they have received it).
    pub delivered_at: Option<i64>,
    /// When it was destroyed unread (revocation, a new version, expiry).
    pub destroyed_at: Option<i64>,
}

/// Every message of the log, oldest first. The details are the server's own wording
/// (`KIND to ACCOUNT; consent ID; fields A,B`), inside the verified, signed log; an entry
/// whose detail does not read that way is left out rather than guessed at.
pub fn messages(entries: &[AuditEntry]) -> Vec<Sent> {
    let mut out: Vec<Sent> = Vec::new();
    for e in entries {
        let Some(subject) = e.subject.as_deref() else {
            continue;
        };
        match e.event {
            AuditEvent::EnvelopeAccepted => {
                if let Some((kind, recipient, fields)) = e.detail.as_deref().and_then(parse_sent) {
                    out.push(Sent {
                        message: subject.to_owned(),
                        kind,
                        sender: e.actor.clone(),
                        recipient,
                        fields,
                        sent_at: e.at,
                        delivered_at: None,
                        destroyed_at: None,
                    });
                }
            }
            AuditEvent::EnvelopeDelivered => {
                if let Some(m) = out.iter_mut().find(|m| m.message == subject) {
                    m.delivered_at.get_or_insert(e.at);
                }
            }
            AuditEvent::EnvelopePurged => {
                if let Some(m) = out.iter_mut().find(|m| m.message == subject) {
                    m.destroyed_at.get_or_insert(e.at);
                }
            }
            _ => {}
        }
    }
    out
}

fn parse_sent(detail: &str) -> Option<(MessageKind, AccountId, Vec<FieldId>)> {
    let mut parts = detail.split("; ");
    let (kind, recipient) = parts.next()?.split_once(" to ")?;
    let kind = kind.parse().ok()?;
    let recipient = AccountId::parse(recipient).ok()?;
    let fields = parts
        .find_map(|p| p.strip_prefix("fields "))
        .map(|l| {
            l.split(',')
                .filter_map(|f| FieldId::parse(f.trim()).ok())
                .collect()
        })
        .unwrap_or_default();
    Some((kind, recipient, fields))
}

/// What an event is called.
pub fn event_label(e: AuditEvent, lang: Lang) -> &'static str {
    use AuditEvent::*;
    match e {
        CaseOpened => tr(lang, "dossier geopend", "dossier ouvert", "case opened"),
        PatientJoined => tr(
            lang,
            "patiënt ingeschreven",
            "patient inscrit",
            "patient joined",
        ),
        PatientConfirmed => tr(
            lang,
            "sleutel patiënt bevestigd",
            "clé du patient confirmée",
            "patient key confirmed",
        ),
        MemberInvited => tr(
            lang,
            "arts uitgenodigd",
            "médecin invité",
            "physician invited",
        ),
        MemberAdded => tr(lang, "arts toegevoegd", "médecin ajouté", "physician added"),
        KeyRegistered => tr(
            lang,
            "sleutel geregistreerd",
            "clé enregistrée",
            "key registered",
        ),
        ConsentGranted => tr(
            lang,
            "toestemming gegeven",
            "consentement donné",
            "consent granted",
        ),
        ConsentSuperseded => tr(
            lang,
            "toestemming vervangen",
            "consentement remplacé",
            "consent superseded",
        ),
        ConsentRevoked => tr(
            lang,
            "toestemming ingetrokken",
            "consentement retiré",
            "consent revoked",
        ),
        EnvelopeAccepted => tr(
            lang,
            "bericht aanvaard",
            "message accepté",
            "message accepted",
        ),
        EnvelopeDelivered => tr(
            lang,
            "bericht afgehaald",
            "message récupéré",
            "message delivered",
        ),
        EnvelopeAcknowledged => tr(
            lang,
            "bericht ontvangen bevestigd",
            "réception confirmée",
            "message acknowledged",
        ),
        EnvelopePurged => tr(
            lang,
            "bericht vernietigd",
            "message détruit",
            "message destroyed",
        ),
        ConsentExpired => tr(
            lang,
            "toestemming verlopen",
            "consentement expiré",
            "consent expired",
        ),
        MemberRemoved => tr(
            lang,
            "arts verwijderd uit het dossier",
            "médecin retiré du dossier",
            "physician removed from the case",
        ),
        AccountSuspended => tr(
            lang,
            "account geschorst door de beheerder",
            "compte suspendu par l'opérateur",
            "account suspended by the operator",
        ),
        AccountUnsuspended => tr(
            lang,
            "schorsing van het account opgeheven",
            "suspension du compte levée",
            "account suspension lifted",
        ),
        KeyAttested => tr(
            lang,
            "sleutel bevestigd door de beheerder",
            "clé attestée par l'opérateur",
            "key attested by the operator",
        ),
        KeyRecovered => tr(
            lang,
            "nieuwe sleutel geregistreerd na verlies",
            "nouvelle clé enregistrée après une perte",
            "new key registered after a loss",
        ),
        KeyRevoked => tr(
            lang,
            "oude sleutel ingetrokken, nieuwe bevestigd door de beheerder",
            "ancienne clé révoquée, nouvelle clé attestée par l'opérateur",
            "old key revoked, new key attested by the operator",
        ),
        DeviceAdded => tr(
            lang,
            "toestel toegevoegd",
            "appareil ajouté",
            "device added",
        ),
        DevicesChanged => tr(
            lang,
            "lijst van toestellen gewijzigd",
            "liste des appareils modifiée",
            "device list changed",
        ),
        CertificateVouched => tr(
            lang,
            "nieuw TLS-certificaat van de server bevestigd met de serversleutel",
            "nouveau certificat TLS du serveur confirmé par la clé du serveur",
            "new TLS certificate of the server vouched for by the server key",
        ),
        EnrolmentReissued => tr(
            lang,
            "nieuwe inschrijvingscode uitgegeven",
            "nouveau code d'inscription émis",
            "new enrolment code issued",
        ),
        PatientReenrolled => tr(
            lang,
            "patiënt opnieuw ingeschreven met een nieuwe sleutel",
            "patient réinscrit avec une nouvelle clé",
            "patient re-enrolled with a new key",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64, event: AuditEvent, subject: &str, detail: Option<&str>) -> AuditEntry {
        AuditEntry {
            chain: "case_0123456789abcdef0123456789abcdef".into(),
            seq,
            at: 1_796_000_000 + seq as i64,
            event,
            actor: None,
            subject: Some(subject.into()),
            detail: detail.map(str::to_owned),
        }
    }

    const R: &str = "acc_0123456789abcdef0123456789abcdef";

    #[test]
    fn messages_are_read_from_the_log_with_what_became_of_them() {
        let sent = format!(
            "bilan to {R}; consent cons_0123456789abcdef0123456789abcdef; fields capacity.hours_per_week,limits.fatigue"
        );
        let log = [
            entry(1, AuditEvent::EnvelopeAccepted, "msg_1", Some(&sent)),
            entry(2, AuditEvent::EnvelopeAccepted, "msg_2", Some(&sent)),
            entry(3, AuditEvent::EnvelopeDelivered, "msg_1", None),
            entry(
                4,
                AuditEvent::EnvelopePurged,
                "msg_2",
                Some("destroyed unread: revoked"),
            ),
            // Not the server's wording: left out, not guessed at.
            entry(
                5,
                AuditEvent::EnvelopeAccepted,
                "msg_3",
                Some("something else"),
            ),
        ];
        let m = messages(&log);
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].kind, MessageKind::Bilan);
        assert_eq!(m[0].recipient.as_str(), R);
        assert_eq!(
            m[0].fields.iter().map(|f| f.as_str()).collect::<Vec<_>>(),
            ["capacity.hours_per_week", "limits.fatigue"]
        );
        assert_eq!(m[0].delivered_at, Some(1_796_000_003));
        assert_eq!(m[0].destroyed_at, None);
        assert_eq!(m[1].delivered_at, None);
        assert_eq!(m[1].destroyed_at, Some(1_796_000_004));
    }

    #[test]
    fn every_event_has_a_label_in_each_language() {
        for l in Lang::ALL {
            assert!(!event_label(AuditEvent::ConsentRevoked, l).is_empty());
        }
        assert_eq!(
            event_label(AuditEvent::ConsentRevoked, Lang::Fr),
            "consentement retiré"
        );
    }
}
