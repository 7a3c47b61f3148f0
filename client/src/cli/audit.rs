//! Output of `trialog audit`: the verified audit log of a case, one event a line.

use trialog_client::i18n::tr;
use trialog_client::{ClientError, audit_words};
use trialog_protocol::time::format_ts;
use trialog_protocol::{CaseId, Lang};

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
    let who = |id: &str| audit_words::who(view.as_ref(), id, lang);
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
                    audit_words::event_label(e.event, lang),
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
