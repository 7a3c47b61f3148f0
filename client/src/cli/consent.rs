//! Output of `trialog consent …`: grant, list, revoke (patient).

use serde_json::json;
use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError, Grant, consent_words};
use trialog_protocol::time::format_date;
use trialog_protocol::{CaseId, ConsentId, Lang};

use super::args::{ConsentCmd, GrantArgs};
use super::output::{self, out};
use super::passphrase::open;

/// Every `consent` subcommand needs the unlocked keystore, so it is opened once, first.
pub async fn run(cmd: ConsentCmd, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    match cmd {
        ConsentCmd::Grant(a) => grant(&mut c, a, json, lang).await,
        ConsentCmd::List { case } => list(&mut c, case, json, lang).await,
        ConsentCmd::Revoke { consent } => revoke(&mut c, consent, json, lang).await,
    }
}

async fn grant(c: &mut Client, a: GrantArgs, json: bool, lang: Lang) -> Result<(), ClientError> {
    let until = match &a.until {
        Some(d) => Some(trialog_protocol::time::end_of_day(
            trialog_protocol::time::parse_date(d).ok_or_else(|| {
                ClientError::Invalid(format!(
                    "--until {d}: {}",
                    tr(
                        lang,
                        "geef een datum als JJJJ-MM-DD",
                        "donnez une date AAAA-MM-JJ",
                        "give a date as YYYY-MM-DD"
                    )
                ))
            })?,
        )),
        None => None,
    };
    let to = c.resolve(&a.case, &a.to).await?;
    let draft = c
        .prepare_grant(Grant {
            case: a.case,
            to,
            fields: a.fields,
            share_medically: a.share_medically,
            until,
            kinds: if a.kinds.is_empty() {
                None
            } else {
                Some(a.kinds)
            },
            senders: if a.senders.is_empty() {
                None
            } else {
                Some(a.senders)
            },
            purpose: a.purpose,
            lang,
        })
        .await?;
    // The patient reads what they sign (the text's hash is part of the signed consent) and,
    // for a new version, what changes and what it would destroy.
    let shown = format!("{}{}", draft.text, changes(&draft, lang));
    if !a.yes && !confirm(&shown, lang)? {
        return Err(ClientError::Invalid(
            tr(
                lang,
                "Niets ondertekend.",
                "Rien n'a été signé.",
                "Nothing was signed.",
            )
            .into(),
        ));
    }
    let (consent, text) = (draft.consent.clone(), draft.text.clone());
    let diff = draft.changes.clone();
    let changes_text = changes(&draft, lang);
    let r = c.sign_grant(draft).await?;
    out(
        json,
        json!({
            "consent": consent.consent_id,
            "recipient": consent.recipient,
            "supersedes": consent.supersedes,
            "fields": consent.fields,
            "valid_until": format_date(consent.valid_until),
            "text": text,
            "changes": diff,
            "purged": r.purged,
            "kept": r.kept,
        }),
        || {
            let mut s = format!(
                "{} {}\n\n{}\n",
                tr(
                    lang,
                    "Toestemming ondertekend en bezorgd:",
                    "Consentement signé et transmis :",
                    "Consent signed and submitted:"
                ),
                consent.consent_id,
                text
            );
            // Shown again after signing: a script that signed with --yes has it in its log.
            s.push_str(changes_text.trim_start_matches('\n'));
            if consent.supersedes.is_some() {
                s.push_str(&format!(
                    "{} {}; {} {}\n",
                    tr(
                        lang,
                        "Ongelezen berichten die niet meer gedekt zijn, vernietigd:",
                        "Messages non lus qui ne sont plus couverts, détruits :",
                        "Unread messages no longer covered, destroyed:"
                    ),
                    r.purged,
                    tr(lang, "behouden:", "conservés :", "kept:"),
                    r.kept
                ));
            }
            s
        },
    );
    Ok(())
}

/// What a new version changes against the one it replaces, in words.
fn changes(d: &trialog_client::client::Draft, lang: Lang) -> String {
    let Some(c) = &d.changes else {
        return String::new();
    };
    let mut s = format!("\n\n{}\n", consent_words::replaces(lang));
    let lines = consent_words::change_lines(c, lang);
    for (label, v) in &lines {
        s.push_str(&format!("  {label} {v}\n"));
    }
    if lines.is_empty() {
        s.push_str(&format!("  {}\n", consent_words::same_terms(lang)));
    }
    s.push_str(&consent_words::would_destroy(d, lang));
    s.push('\n');
    s
}

async fn list(c: &mut Client, case: CaseId, json: bool, lang: Lang) -> Result<(), ClientError> {
    let list = c.consents(&case).await?;
    out(
        json,
        serde_json::to_value(&list).unwrap_or_default(),
        || {
            if list.is_empty() {
                return tr(
                    lang,
                    "Geen toestemmingen.",
                    "Aucun consentement.",
                    "No consents.",
                )
                .into();
            }
            let now = trialog_client::client::now();
            list.iter()
                .map(|ci| {
                    let state = if let Some(t) = ci.revoked_at {
                        format!(
                            "{} {}",
                            tr(lang, "ingetrokken op", "retiré le", "revoked on"),
                            format_date(t)
                        )
                    } else if ci.superseded_by.is_some() {
                        tr(lang, "vervangen", "remplacé", "superseded").into()
                    } else if !ci.is_current(now) {
                        tr(lang, "verlopen", "expiré", "expired").into()
                    } else {
                        format!(
                            "{} {}",
                            tr(lang, "geldig tot", "valable jusqu'au", "valid until"),
                            format_date(ci.consent.valid_until)
                        )
                    };
                    format!(
                        "{}  → {} ({}, {})  [{state}]\n    {}",
                        ci.consent.consent_id,
                        ci.consent.recipient_name,
                        ci.consent.recipient_role.label(lang),
                        ci.consent.recipient,
                        ci.consent
                            .fields
                            .iter()
                            .map(|f| f.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}

async fn revoke(
    c: &mut Client,
    consent: ConsentId,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let r = c.revoke(&consent).await?;
    out(json, serde_json::to_value(&r).unwrap_or_default(), || {
        format!(
            "{} {}\n{} {}\n{} {}\n{}",
            tr(
                lang,
                "Toestemming ingetrokken:",
                "Consentement retiré :",
                "Consent revoked:"
            ),
            r.consent_id,
            tr(
                lang,
                "Ongelezen berichten vernietigd:",
                "Messages non lus détruits :",
                "Unread messages destroyed:"
            ),
            r.purged,
            tr(
                lang,
                "Al afgeleverde berichten:",
                "Messages déjà remis :",
                "Messages already delivered:"
            ),
            r.already_delivered,
            tr(
                lang,
                "Wat al afgeleverd is, kan niet worden teruggehaald.",
                "Ce qui a déjà été remis ne peut pas être rappelé.",
                "What was already delivered cannot be recalled."
            )
        )
    });
    Ok(())
}

/// Shows the consent text and asks for a yes; without a terminal to ask on, `--yes` is
/// required, so a script never signs what nobody saw by accident.
fn confirm(text: &str, lang: Lang) -> Result<bool, ClientError> {
    use std::io::{BufRead, IsTerminal};
    if !std::io::stdin().is_terminal() {
        return Err(ClientError::Invalid(
            tr(
                lang,
                "Geen terminal om te bevestigen: lees de tekst met --json en onderteken met --yes.",
                "Pas de terminal pour confirmer : lisez le texte avec --json et signez avec --yes.",
                "No terminal to confirm on: read the text, then sign with --yes.",
            )
            .into(),
        ));
    }
    output::err(&format!("{text}\n"));
    output::prompt(tr(
        lang,
        "Ondertekenen? [j/N]",
        "Signer ? [o/N]",
        "Sign? [y/N]",
    ));
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| ClientError::Io("stdin".into(), e))?;
    Ok(matches!(
        answer.trim().to_lowercase().as_str(),
        "y" | "yes" | "j" | "ja" | "o" | "oui"
    ))
}
