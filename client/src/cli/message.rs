//! Output of the message commands: template, send, inbox, read.

use std::path::PathBuf;

use serde_json::json;
use trialog_client::i18n::{explain, leak_hit, strip_reason, tr};
use trialog_client::message_file;
use trialog_client::{Client, ClientError, Outgoing};
use trialog_protocol::consent::Stripped;
use trialog_protocol::time::format_ts;
use trialog_protocol::{CaseId, Lang, MessageId, MessageKind};

use super::output::{self, out, role_label};
use super::passphrase::open;

pub fn template(kind: MessageKind, lang: Lang) {
    output::text(&message_file::template(kind, lang));
}

/// `trialog send`'s arguments.
pub struct SendArgs {
    pub case: CaseId,
    pub to: Vec<String>,
    pub kind: MessageKind,
    pub file: PathBuf,
    pub override_leak_guard: bool,
    pub dry_run: bool,
}

/// One message per recipient, each under that recipient's consent; a failure for one does
/// not stop the others. With one recipient its error is the command's; with several, each
/// failure is listed and the command ends in error if any failed.
pub async fn send(a: SendArgs, json: bool, lang: Lang) -> Result<(), ClientError> {
    // The file is read and parsed before the passphrase prompt: a mistake in it costs no
    // passphrase.
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| ClientError::Io(a.file.display().to_string(), e))?;
    let values = message_file::parse(&text)?;
    let mut c = open(lang)?;
    let total = a.to.len();
    let mut results = Vec::with_capacity(total);
    for to in &a.to {
        let r = one(&mut c, &a, to, values.clone(), lang).await;
        results.push((to.clone(), r));
    }
    if total == 1 {
        let (_, r) = results.remove(0);
        let (v, s) = r?;
        out(json, v, || s);
        return Ok(());
    }
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    if json {
        let list: Vec<serde_json::Value> = results
            .iter()
            .map(|(to, r)| match r {
                Ok((v, _)) => json!({ "to": to, "ok": v }),
                Err(e) => {
                    json!({ "to": to, "error": { "code": e.code(), "message": explain(e, lang) } })
                }
            })
            .collect();
        output::json(&serde_json::Value::Array(list));
    } else {
        let mut blocks = Vec::new();
        for (to, r) in &results {
            match r {
                Ok((_, s)) => blocks.push(s.clone()),
                Err(e) => output::err(&format!("trialog: --to {to}: {}", explain(e, lang))),
            }
        }
        if !blocks.is_empty() {
            output::line(&blocks.join("\n\n"));
        }
    }
    if failed > 0 {
        return Err(ClientError::SomeNotSent { failed, total });
    }
    Ok(())
}

/// Resolves, then sends to (or previews for) one recipient: its JSON and its text.
async fn one(
    c: &mut Client,
    a: &SendArgs,
    to: &str,
    values: Vec<(trialog_protocol::FieldId, serde_json::Value)>,
    lang: Lang,
) -> Result<(serde_json::Value, String), ClientError> {
    let recipient = c.resolve(&a.case, to).await?;
    let o = Outgoing {
        case: a.case.clone(),
        to: recipient,
        kind: a.kind,
        values,
        override_leak_guard: a.override_leak_guard,
    };
    if a.dry_run {
        let p = c.preview(o).await?;
        let who = p
            .recipient_name
            .clone()
            .unwrap_or_else(|| p.recipient.to_string());
        let mut s = format!(
            "{} {who} ({})\n{} {}",
            tr(
                lang,
                "Proef, niets verstuurd. Zou gaan naar",
                "Essai, rien n'est envoyé. Irait à",
                "Dry run, nothing sent. Would go to"
            ),
            p.recipient,
            tr(lang, "Velden:", "Champs :", "Fields:"),
            field_names(&p.sent)
        );
        s.push_str(&stripped_lines(&p.stripped, lang));
        for h in &p.leak_guard {
            s.push_str(&format!(
                "\n{} {}",
                tr(lang, "Lekbewaking:", "Garde-fou :", "Leak guard:"),
                leak_hit(h, lang)
            ));
        }
        if !p.leak_guard.is_empty() && !a.override_leak_guard {
            s.push_str(&format!(
                "\n{}",
                tr(
                    lang,
                    "Zo zou het bericht geweigerd worden: pas de tekst aan of gebruik --override-leak-guard.",
                    "Ainsi le message serait refusé : modifiez le texte ou utilisez --override-leak-guard.",
                    "As it stands the message would be refused: edit the text or use --override-leak-guard."
                )
            ));
        }
        return Ok((serde_json::to_value(&p).unwrap_or_default(), s));
    }
    let r = c.send(o).await?;
    let who = r
        .recipient_name
        .clone()
        .unwrap_or_else(|| r.recipient.to_string());
    let mut s = format!(
        "{} {} → {who}\n{} {}",
        tr(lang, "Verstuurd:", "Envoyé :", "Sent:"),
        r.message_id,
        tr(lang, "Velden:", "Champs :", "Fields:"),
        field_names(&r.sent)
    );
    s.push_str(&stripped_lines(&r.stripped, lang));
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
    Ok((serde_json::to_value(&r).unwrap_or_default(), s))
}

fn field_names(fields: &[trialog_protocol::FieldId]) -> String {
    fields
        .iter()
        .map(|f| f.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn stripped_lines(stripped: &[Stripped], lang: Lang) -> String {
    stripped
        .iter()
        .map(|st| {
            format!(
                "\n{} {} ({})",
                tr(lang, "Weggelaten:", "Retiré :", "Stripped:"),
                st.field,
                strip_reason(st.reason, lang)
            )
        })
        .collect()
}

pub async fn inbox(wait: u64, follow: bool, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    // Following starts before the listing, so nothing that arrives in between is missed
    // (it may be shown twice, never not at all).
    let mut follower = if follow {
        Some(c.follow_now().await?)
    } else {
        None
    };
    let items = c.inbox_wait(wait).await?;
    let mut names = CaseNames::default();
    names.learn(&mut c, &items).await;
    let value = serde_json::Value::Array(
        items
            .iter()
            .map(|i| {
                let mut v = serde_json::to_value(i).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("case_name".into(), json!(names.of(&i.case_id)));
                }
                v
            })
            .collect(),
    );
    if follow && items.is_empty() && !json {
        // Nothing waiting: the first line a follower prints is the first new message.
    } else {
        out(json, value, || {
            if items.is_empty() {
                return tr(lang, "Geen berichten.", "Aucun message.", "No messages.").into();
            }
            items
                .iter()
                .map(|i| item_line(lang, i, &names.of(&i.case_id)))
                .collect::<Vec<_>>()
                .join("\n")
        });
    }
    if let Some(f) = follower.as_mut() {
        if !json {
            // On stderr, so that stdout stays one line per message for a script.
            output::err(tr(
                lang,
                "Wacht op nieuwe berichten… (Ctrl-C stopt)",
                "En attente de nouveaux messages… (Ctrl-C pour arrêter)",
                "Waiting for new messages… (Ctrl-C stops)",
            ));
        }
        self::follow(&mut c, f, &mut names, json, lang).await?;
    }
    Ok(())
}

/// `inbox --follow`: one line per event as it comes (one JSON object a line with `--json`),
/// until interrupted or the server stays unreachable.
async fn follow(
    c: &mut Client,
    follower: &mut trialog_client::Follower,
    names: &mut CaseNames,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    use trialog_protocol::api::LiveEventKind;
    loop {
        let e = c.next_event(follower).await?;
        if json {
            output::line(&serde_json::to_string(&e).unwrap_or_default());
            continue;
        }
        let line = match e.kind {
            LiveEventKind::Message => {
                let items = c.inbox_wait(0).await?;
                let Some(i) = items.iter().find(|i| i.message_id.as_str() == e.subject) else {
                    continue; // read elsewhere meanwhile
                };
                names.learn(c, std::slice::from_ref(i)).await;
                item_line(lang, i, &names.of(&i.case_id))
            }
            LiveEventKind::Acknowledged => format!(
                "{}  {}",
                e.subject,
                tr(
                    lang,
                    "gelezen en bevestigd door de ontvanger",
                    "lu et confirmé par le destinataire",
                    "read and acknowledged by the recipient"
                )
            ),
            LiveEventKind::Gone => {
                use trialog_client::client::GoneReason;
                let why = match e.reason.as_deref().and_then(GoneReason::destroyed) {
                    Some(known) => trialog_client::i18n::gone_reason(known, lang),
                    // A reason this version does not know: still destroyed, never read.
                    None => tr(
                        lang,
                        "Ongelezen vernietigd op de server.",
                        "Détruit sur le serveur sans avoir été lu.",
                        "Destroyed unread on the server.",
                    ),
                };
                format!("{}  {why}", e.subject)
            }
            LiveEventKind::ConsentRevoked => format!(
                "{}  {} {}",
                e.subject,
                tr(
                    lang,
                    "toestemming ingetrokken in dossier",
                    "consentement révoqué dans le dossier",
                    "consent revoked in case"
                ),
                names.of(&e.case_id)
            ),
        };
        output::line(&line);
    }
}

/// Each case once: its label where this account may read it, else its reference. A case
/// that cannot be fetched keeps its id.
#[derive(Default)]
struct CaseNames(std::collections::BTreeMap<CaseId, String>);

impl CaseNames {
    async fn learn(&mut self, c: &mut Client, items: &[trialog_protocol::api::InboxItem]) {
        for i in items {
            if !self.0.contains_key(&i.case_id) {
                let name = match c.case(&i.case_id).await {
                    Ok(v) => v.name().to_owned(),
                    Err(_) => i.case_id.to_string(),
                };
                self.0.insert(i.case_id.clone(), name);
            }
        }
    }

    fn of(&self, id: &CaseId) -> String {
        self.0.get(id).cloned().unwrap_or_else(|| id.to_string())
    }
}

fn item_line(lang: Lang, i: &trialog_protocol::api::InboxItem, case_name: &str) -> String {
    format!(
        "{}  {:<8} {}  {} {}  {} {}",
        i.message_id,
        i.kind,
        format_ts(i.created_at),
        tr(lang, "van", "de", "from"),
        i.sender_name
            .clone()
            .unwrap_or_else(|| i.sender.to_string()),
        tr(lang, "dossier", "dossier", "case"),
        case_name
    )
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
            m.case_name,
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
