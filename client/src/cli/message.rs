//! Output of the message commands: template, send, inbox, read.

use std::path::PathBuf;

use trialog_client::i18n::{strip_reason, tr};
use trialog_client::message_file;
use trialog_client::{ClientError, Outgoing};
use trialog_protocol::time::format_ts;
use trialog_protocol::{AccountId, CaseId, Lang, MessageId, MessageKind};

use super::output::{self, out, role_label};
use super::passphrase::open;

pub fn template(kind: MessageKind, lang: Lang) {
    output::text(&message_file::template(kind, lang));
}

pub async fn send(
    case: CaseId,
    to: AccountId,
    kind: MessageKind,
    file: PathBuf,
    override_leak_guard: bool,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    // The file is read and parsed before the passphrase prompt: a mistake in it costs no
    // passphrase.
    let text = std::fs::read_to_string(&file)
        .map_err(|e| ClientError::Io(file.display().to_string(), e))?;
    let values = message_file::parse(&text)?;
    let mut c = open(lang)?;
    let r = c
        .send(Outgoing {
            case,
            to,
            kind,
            values,
            override_leak_guard,
        })
        .await?;
    out(json, serde_json::to_value(&r).unwrap_or_default(), || {
        let who = r
            .recipient_name
            .clone()
            .unwrap_or_else(|| r.recipient.to_string());
        let mut s = format!(
            "{} {} → {who}\n{} {}",
            tr(lang, "Verstuurd:", "Envoyé :", "Sent:"),
            r.message_id,
            tr(lang, "Velden:", "Champs :", "Fields:"),
            r.sent
                .iter()
                .map(|f| f.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        for st in &r.stripped {
            s.push_str(&format!(
                "\n{} {} ({})",
                tr(lang, "Weggelaten:", "Retiré :", "Stripped:"),
                st.field,
                strip_reason(st.reason, lang)
            ));
        }
        if !r.leak_guard_overridden.is_empty() {
            s.push_str(&format!(
                "\n{}",
                tr(
                    lang,
                    "Lekbewaking overschreven (vastgelegd in het bericht).",
                    "Garde-fou outrepassé (consigné dans le message).",
                    "Leak guard overridden (recorded in the message)."
                )
            ));
        }
        s
    });
    Ok(())
}

pub async fn inbox(wait: u64, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let items = c.inbox_wait(wait).await?;
    out(
        json,
        serde_json::to_value(&items).unwrap_or_default(),
        || {
            if items.is_empty() {
                return tr(lang, "Geen berichten.", "Aucun message.", "No messages.").into();
            }
            items
                .iter()
                .map(|i| {
                    format!(
                        "{}  {:<8} {}  {}  {}",
                        i.message_id,
                        i.kind,
                        format_ts(i.created_at),
                        i.sender_name
                            .clone()
                            .unwrap_or_else(|| i.sender.to_string()),
                        i.case_id
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

pub async fn read(message: MessageId, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let m = c.read(&message).await?;
    out(json, serde_json::to_value(&m).unwrap_or_default(), || {
        let who = m
            .sender_name
            .clone()
            .unwrap_or_else(|| m.sender.to_string());
        let mut s = format!(
            "{} ({}) — {} {who}, {}, {}\n{} {}  {} {}\n{}\n",
            m.kind,
            m.message_id,
            tr(lang, "van", "de", "from"),
            role_label(m.sender_role, lang),
            format_ts(m.created_at),
            tr(lang, "Dossier", "Dossier", "Case"),
            m.case_id,
            tr(lang, "toestemming", "consentement", "consent"),
            m.consent_id,
            tr(
                lang,
                "Geverifieerd: handtekening, toestemming van de patiënt, inhoud.",
                "Vérifié : signature, consentement du patient, contenu.",
                "Verified: signature, patient consent, content."
            )
        );
        if m.leak_guard_override {
            s.push_str(&format!(
                "{}\n",
                tr(
                    lang,
                    "Let op: de afzender overschreef de lekbewaking.",
                    "Attention : l'expéditeur a outrepassé le garde-fou.",
                    "Note: the sender overrode the leak guard."
                )
            ));
        }
        for (f, v) in &m.fields {
            let v = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            s.push_str(&format!(
                "\n{} ({f}):\n  {}\n",
                f.def().label.get(lang),
                v.replace('\n', "\n  ")
            ));
        }
        s
    });
    Ok(())
}
