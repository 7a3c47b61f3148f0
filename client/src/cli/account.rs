//! Output of the account commands: init, register, join, whoami, directory.

use serde_json::json;
use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError, Home};
use trialog_protocol::{Lang, Role};

use super::output::{name_of, out, riziv_display, role_label};
use super::passphrase::{open, passphrase};

pub async fn init(
    server: String,
    cert_sha256: String,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let home = Home::from_env()?;
    let pass = passphrase(true, lang)?;
    let c = Client::init(home.clone(), &server, &cert_sha256, &pass).await?;
    let fp = c.fingerprint();
    out(
        json,
        json!({ "home": home.dir, "server": server, "fingerprint": fp }),
        || {
            format!(
                "{} {}\n{} {}\n{}",
                tr(
                    lang,
                    "Sleutels aangemaakt in",
                    "Clés créées dans",
                    "Keys created in"
                ),
                home.dir.display(),
                tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                fp.short(),
                tr(
                    lang,
                    "Registreer nu met `trialog register --invite CODE` (arts) of `trialog join --code CODE` (patiënt).",
                    "Enregistrez-vous avec `trialog register --invite CODE` (médecin) ou `trialog join --code CODE` (patient).",
                    "Now register with `trialog register --invite CODE` (physician) or `trialog join --code CODE` (patient)."
                )
            )
        },
    );
    Ok(())
}

pub async fn register(invite: String, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let a = c.register(&invite).await?;
    out(
        json,
        json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint }),
        || {
            format!(
                "{} {} ({}, RIZIV/INAMI {})\n{} {}\n{} {}",
                tr(lang, "Geregistreerd:", "Enregistré :", "Registered:"),
                name_of(&a),
                role_label(a.role, lang),
                riziv_display(&a.riziv),
                tr(lang, "Account:", "Compte :", "Account:"),
                a.account,
                tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                a.fingerprint.short()
            )
        },
    );
    Ok(())
}

pub async fn join(code: String, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let (a, case) = c.join(&code).await?;
    out(
        json,
        json!({ "account": a.account, "case": case, "fingerprint": a.fingerprint, "fingerprint_short": a.fingerprint.short() }),
        || {
            format!(
                "{} {case}\n{} {}\n\n  {}\n\n{}",
                tr(
                    lang,
                    "U nam deel aan dossier",
                    "Vous avez rejoint le dossier",
                    "You joined case"
                ),
                tr(lang, "Uw account:", "Votre compte :", "Your account:"),
                a.account,
                a.fingerprint.short(),
                tr(
                    lang,
                    "Lees deze vingerafdruk voor aan uw behandelend arts; pas na bevestiging kan u toestemming geven.",
                    "Lisez cette empreinte à votre médecin traitant ; vous pourrez consentir après sa confirmation.",
                    "Read this fingerprint out to your treating physician; once they confirm it you can grant consents."
                )
            )
        },
    );
    Ok(())
}

pub async fn whoami(json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let a = c.whoami().await?;
    out(
        json,
        json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint, "server": c.config().server }),
        || {
            let mut s = format!("{} ({})\n", a.account, role_label(a.role, lang));
            if let Some(n) = &a.name {
                s.push_str(&format!("{n}, RIZIV/INAMI {}\n", riziv_display(&a.riziv)));
            }
            s.push_str(&format!(
                "{} {}\n{} {}",
                tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                a.fingerprint.short(),
                tr(lang, "Server:", "Serveur :", "Server:"),
                c.config().server
            ));
            s
        },
    );
    Ok(())
}

pub async fn directory(
    role: Option<Role>,
    query: Option<String>,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    let list = c.directory(role, query.as_deref()).await?;
    out(
        json,
        serde_json::to_value(&list).unwrap_or_default(),
        || {
            if list.is_empty() {
                return tr(
                    lang,
                    "Niemand gevonden.",
                    "Personne trouvé.",
                    "Nobody found.",
                )
                .into();
            }
            list.iter()
                .map(|a| {
                    format!(
                        "{}  {:<28} {:<24} RIZIV/INAMI {}  [{}]",
                        a.account,
                        name_of(a),
                        role_label(a.role, lang),
                        riziv_display(&a.riziv),
                        a.fingerprint.short()
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}
