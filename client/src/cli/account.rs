//! Output of the account commands: init, register, join, whoami, directory.

use serde_json::json;
use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError, Home};
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::time::format_date;
use trialog_protocol::{Lang, Role};

use super::output::{self, name_of, out, riziv_display, role_label};
use super::passphrase::{open, passphrase};

pub async fn init(
    server: String,
    cert_sha256: String,
    operator_key: Option<String>,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let home = Home::from_env()?;
    let pass = passphrase(true, lang)?;
    let c = Client::init(
        home.clone(),
        &server,
        &cert_sha256,
        operator_key.as_deref(),
        &pass,
    )
    .await?;
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
                    "Registreer nu met `trialog register --invite CODE` (arts) of `trialog join --code CODE` (patiënt); met de volledige trialog:v1:-tekenreeks kan `--onboarding` in de plaats.",
                    "Enregistrez-vous avec `trialog register --invite CODE` (médecin) ou `trialog join --code CODE` (patient) ; avec la chaîne trialog:v1: complète, `--onboarding` convient aussi.",
                    "Now register with `trialog register --invite CODE` (physician) or `trialog join --code CODE` (patient); with the whole trialog:v1: string, `--onboarding` works too."
                )
            )
        },
    );
    Ok(())
}

/// With an onboarding string, the home is set up first if it is not yet (keys, keystore,
/// the server's pins), then the code is used: `init` and the next step in one command. A
/// home already set up for another server is refused rather than silently mixed.
async fn open_or_init(onboarding: &Onboarding, lang: Lang) -> Result<Client, ClientError> {
    let home = Home::from_env()?;
    if !home.config_path().exists() && !home.keystore_path().exists() {
        let pass = passphrase(true, lang)?;
        let c = Client::init_from(home, onboarding, &pass).await?;
        output::err(&format!(
            "{} {}",
            tr(
                lang,
                "Sleutels aangemaakt; vingerafdruk:",
                "Clés créées ; empreinte :",
                "Keys created; fingerprint:"
            ),
            c.fingerprint().short()
        ));
        return Ok(c);
    }
    let c = open(lang)?;
    let cfg = c.config();
    if cfg.server != onboarding.server || cfg.cert_sha256 != onboarding.cert_sha256 {
        return Err(ClientError::Invalid(format!(
            "{} {} ({}).",
            tr(
                lang,
                "Deze Trialog-map is ingesteld voor een andere server:",
                "Ce dossier Trialog est configuré pour un autre serveur :",
                "This Trialog home is set up for another server:"
            ),
            cfg.server,
            tr(
                lang,
                "gebruik een andere TRIALOG_HOME",
                "utilisez un autre TRIALOG_HOME",
                "use another TRIALOG_HOME"
            )
        )));
    }
    Ok(c)
}

pub async fn register(
    invite: Option<String>,
    onboarding: Option<Onboarding>,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let (mut c, invite) = match onboarding {
        Some(o) => (open_or_init(&o, lang).await?, o.code),
        None => (open(lang)?, invite.unwrap_or_default()),
    };
    let a = c.register(&invite).await?;
    out(
        json,
        json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint, "fingerprint_short": a.fingerprint.short(), "attested_at": null }),
        || {
            format!(
                "{} {} ({}, RIZIV/INAMI {})\n{} {}\n\n  {}\n\n{}",
                tr(lang, "Geregistreerd:", "Enregistré :", "Registered:"),
                name_of(&a),
                role_label(a.role, lang),
                riziv_display(&a.riziv),
                tr(lang, "Account:", "Compte :", "Account:"),
                a.account,
                a.fingerprint.short(),
                awaiting_approval(lang)
            )
        },
    );
    Ok(())
}

pub async fn join(
    code: Option<String>,
    onboarding: Option<Onboarding>,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let (mut c, code) = match onboarding {
        Some(o) => (open_or_init(&o, lang).await?, o.code),
        None => (open(lang)?, code.unwrap_or_default()),
    };
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
    let attested_at = c.attestation_of(&a).map(|t| t.attested_at);
    out(
        json,
        json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint, "fingerprint_short": a.fingerprint.short(), "attested_at": attested_at, "server": c.config().server }),
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
            match (a.role, attested_at) {
                (Role::Patient, _) => {}
                (_, Some(at)) => s.push_str(&format!(
                    "\n{} {}",
                    tr(
                        lang,
                        "Sleutel bevestigd door de beheerder op",
                        "Clé attestée par l'opérateur le",
                        "Key attested by the operator on"
                    ),
                    format_date(at)
                )),
                (_, None) => s.push_str(&format!("\n{}", awaiting_approval(lang))),
            }
            s
        },
    );
    Ok(())
}

/// What a physician does after registering: the operator attests the key over the phone.
fn awaiting_approval(lang: Lang) -> &'static str {
    tr(
        lang,
        "Lees deze vingerafdruk voor aan de beheerder van Trialog (telefonisch of ter plaatse). Pas wanneer de beheerder uw sleutel bevestigt, kunnen anderen u schrijven.",
        "Lisez cette empreinte à l'opérateur de Trialog (par téléphone ou sur place). Dès que l'opérateur atteste votre clé, les autres peuvent vous écrire.",
        "Read this fingerprint out to the Trialog operator (by phone or in person). Once the operator attests your key, others can write to you.",
    )
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
