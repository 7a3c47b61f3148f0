//! Output of `trialog audit`: the verified audit log of a case, one event a line.

use trialog_client::ClientError;
use trialog_client::i18n::tr;
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::time::format_ts;
use trialog_protocol::{AccountId, CaseId, Lang};

use super::output::out;
use super::passphrase::open;

pub async fn audit(
    case: Option<CaseId>,
    directory: bool,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let (entries, view) = match case {
        Some(case) if !directory => {
            let entries = c.audit(&case).await?;
            // Names from the verified case where it can be read; else the ids stay.
            (entries, c.case(&case).await.ok())
        }
        _ => (c.directory_audit().await?, None),
    };
    let who = |id: &str| -> String {
        let Some(v) = &view else { return id.to_owned() };
        let Ok(a) = AccountId::parse(id) else {
            return id.to_owned();
        };
        if v.is_patient(&a) {
            return tr(lang, "de patiënt", "le patient", "the patient").to_owned();
        }
        v.person_name(&a).unwrap_or_else(|| id.to_owned())
    };
    out(
        json,
        serde_json::to_value(&entries).unwrap_or_default(),
        || {
            let mut s = format!(
                "{}{} ({} {})\n",
                view.as_ref()
                    .map(|v| format!("{}: ", v.name()))
                    .unwrap_or_default(),
                tr(
                    lang,
                    "Auditlog geverifieerd",
                    "Journal d'audit vérifié",
                    "Audit log verified"
                ),
                entries.len(),
                tr(lang, "gebeurtenissen", "événements", "events")
            );
            for e in &entries {
                s.push_str(&format!(
                    "{:>3}  {}  {:<28} {} {}\n",
                    e.seq,
                    format_ts(e.at),
                    event_label(e.event, lang),
                    e.subject.as_deref().map(who).unwrap_or_default()
                        + &e.actor
                            .as_ref()
                            .map(|a| {
                                format!(" [{} {}]", tr(lang, "door", "par", "by"), who(a.as_str()))
                            })
                            .unwrap_or_default(),
                    e.detail
                        .clone()
                        .map(|d| format!("({d})"))
                        .unwrap_or_default()
                ));
            }
            s
        },
    );
    Ok(())
}

fn event_label(e: AuditEvent, lang: Lang) -> &'static str {
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
            "message retiré",
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
    }
}
