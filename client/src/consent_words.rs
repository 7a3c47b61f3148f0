//! A new version of a consent in words: what changes against the version it replaces and
//! what it would destroy, shared by `trialog consent grant` and the web client's review.

use trialog_protocol::consent::{ConsentDiff, Party};
use trialog_protocol::time::format_date;
use trialog_protocol::{FieldId, Lang, MessageKind};

use crate::client::Draft;
use crate::i18n::tr;

/// One line per kind of change that is not empty: its label (`+ data:`) and the list, in
/// `lang`. Empty when the new version has the same terms.
pub fn change_lines(c: &ConsentDiff, lang: Lang) -> Vec<(&'static str, String)> {
    let fields = |v: &[FieldId]| {
        v.iter()
            .map(|f| format!("{} ({f})", f.def().label.get(lang)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kinds = |v: &[MessageKind]| v.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ");
    let parties = |v: &[Party]| {
        v.iter()
            .map(|p| format!("{} ({})", p.name, p.role.label(lang)))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut lines = vec![
        (
            tr(lang, "+ gegevens:", "+ données :", "+ data:"),
            fields(&c.fields_added),
        ),
        (
            tr(lang, "− gegevens:", "− données :", "− data:"),
            fields(&c.fields_removed),
        ),
        (
            tr(
                lang,
                "+ medisch gedeeld:",
                "+ partagé médicalement :",
                "+ shared medically:",
            ),
            fields(&c.medical_added),
        ),
        (
            tr(
                lang,
                "− medisch gedeeld:",
                "− partagé médicalement :",
                "− shared medically:",
            ),
            fields(&c.medical_removed),
        ),
        (
            tr(lang, "+ soorten:", "+ types :", "+ kinds:"),
            kinds(&c.kinds_added),
        ),
        (
            tr(lang, "− soorten:", "− types :", "− kinds:"),
            kinds(&c.kinds_removed),
        ),
        (
            tr(lang, "+ afzenders:", "+ expéditeurs :", "+ senders:"),
            parties(&c.senders_added),
        ),
        (
            tr(lang, "− afzenders:", "− expéditeurs :", "− senders:"),
            parties(&c.senders_removed),
        ),
    ];
    if let Some((old, new)) = c.period {
        lines.push((
            tr(lang, "einddatum:", "date de fin :", "end date:"),
            format!("{} → {}", format_date(old.1), format_date(new.1)),
        ));
    }
    if let Some((old, new)) = c.purpose {
        lines.push((
            tr(lang, "doel:", "finalité :", "purpose:"),
            format!("{} → {}", old.label(lang), new.label(lang)),
        ));
    }
    lines.retain(|(_, v)| !v.is_empty());
    lines
}

/// The sentence above the changes of a new version.
pub fn replaces(lang: Lang) -> &'static str {
    tr(
        lang,
        "Dit vervangt uw vorige toestemming voor deze arts. Wat verandert:",
        "Ceci remplace votre consentement précédent pour ce médecin. Ce qui change :",
        "This replaces your previous consent for this physician. What changes:",
    )
}

/// Said when a new version changes nothing.
pub fn same_terms(lang: Lang) -> &'static str {
    tr(
        lang,
        "niets (zelfde voorwaarden)",
        "rien (mêmes conditions)",
        "nothing (same terms)",
    )
}

/// How many unread messages the new version would destroy and keep, in one sentence.
pub fn would_destroy(d: &Draft, lang: Lang) -> String {
    format!(
        "{} {}; {} {}",
        tr(
            lang,
            "Ongelezen berichten die deze versie zou vernietigen:",
            "Messages non lus que cette version détruirait :",
            "Unread messages this version would destroy:"
        ),
        d.would_destroy,
        tr(
            lang,
            "blijven leesbaar:",
            "restent lisibles :",
            "stay readable:"
        ),
        d.would_keep
    )
}
