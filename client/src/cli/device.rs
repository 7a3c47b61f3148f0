//! Output of the device commands: link, add, approve, list, remove.

use serde_json::json;
use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError, Home};
use trialog_protocol::Lang;
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::time::{format_date, format_ts};

use super::args::DeviceCmd;
use super::output::{self, out};
use super::passphrase::{open, passphrase};

/// How often the new device asks whether it was approved.
const POLL: std::time::Duration = std::time::Duration::from_secs(2);

pub async fn run(cmd: DeviceCmd, json: bool, lang: Lang) -> Result<(), ClientError> {
    match cmd {
        DeviceCmd::Add { onboarding, name } => add(onboarding, name, json, lang).await,
        DeviceCmd::Link => link(&mut open(lang)?, json, lang).await,
        DeviceCmd::Approve { fingerprint } => {
            let d = open(lang)?.approve_device(&fingerprint).await?;
            out(
                json,
                json!({ "approved": d.name, "fingerprint": d.fingerprint() }),
                || {
                    format!(
                        "{} \"{}\" ({}). {}",
                        tr(
                            lang,
                            "Toestel toegevoegd:",
                            "Appareil ajouté :",
                            "Device added:"
                        ),
                        d.name,
                        d.fingerprint().short(),
                        tr(
                            lang,
                            "Berichten die vanaf nu verstuurd worden, zijn er ook leesbaar.",
                            "Les messages envoyés dès maintenant y sont lisibles aussi.",
                            "Messages sent from now on can be read there too."
                        )
                    )
                },
            );
            Ok(())
        }
        DeviceCmd::List => list(&mut open(lang)?, json, lang).await,
        DeviceCmd::Remove { fingerprint } => {
            let d = open(lang)?.remove_device(&fingerprint).await?;
            out(
                json,
                json!({ "removed": d.name, "fingerprint": d.fingerprint() }),
                || {
                    format!(
                        "{} \"{}\" ({}). {}",
                        tr(
                            lang,
                            "Toestel verwijderd:",
                            "Appareil retiré :",
                            "Device removed:"
                        ),
                        d.name,
                        d.fingerprint().short(),
                        tr(
                            lang,
                            "Wat vanaf nu verstuurd wordt, is er niet meer leesbaar. Werd het gestolen, vraag dan de beheerder om een herstel: het kent uw sleutel nog.",
                            "Ce qui est envoyé dès maintenant n'y est plus lisible. S'il a été volé, demandez une récupération à l'opérateur : il connaît encore votre clé.",
                            "What is sent from now on cannot be read there. If it was stolen, ask the operator for a recovery: it still holds your key."
                        )
                    )
                },
            );
            Ok(())
        }
    }
}

async fn link(c: &mut Client, json: bool, lang: Lang) -> Result<(), ClientError> {
    let (onboarding, expires_at) = c.device_link().await?;
    let s = onboarding.encode();
    out(
        json,
        json!({ "onboarding": s, "expires_at": expires_at }),
        || {
            format!(
                "{}\n\n  {s}\n\n{} {}",
                tr(
                    lang,
                    "Op het nieuwe toestel: trialog device add --name \"…\" --onboarding met deze tekst:",
                    "Sur le nouvel appareil : trialog device add --name \"…\" --onboarding avec ce texte :",
                    "On the new device: trialog device add --name \"…\" --onboarding with this text:"
                ),
                tr(lang, "Geldig tot", "Valable jusqu'à", "Valid until"),
                format_ts(expires_at)
            )
        },
    );
    Ok(())
}

async fn add(
    onboarding: Onboarding,
    name: String,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let home = Home::from_env()?;
    let pass = passphrase(true, lang)?;
    let mut c = Client::init_from(home, &onboarding, &pass).await?;
    let request = c.request_device(&onboarding.code, &name).await?;
    output::err(&format!(
        "{}\n\n  {}\n\n{}",
        tr(
            lang,
            "Vingerafdruk van dit toestel:",
            "Empreinte de cet appareil :",
            "This device's fingerprint:"
        ),
        request.fingerprint.short(),
        tr(
            lang,
            "Keur het goed op uw andere toestel met trialog device approve --fingerprint en deze vingerafdruk, na ze vergeleken te hebben. Wachten…",
            "Approuvez-le sur votre autre appareil avec trialog device approve --fingerprint et cette empreinte, après les avoir comparées. En attente…",
            "Approve it on your other device with trialog device approve --fingerprint and this fingerprint, after comparing them. Waiting…"
        )
    ));
    loop {
        if c.complete_device(&request, &pass).await? {
            break;
        }
        if trialog_client::client::now() >= request.expires_at {
            return Err(ClientError::Invalid(
                tr(
                    lang,
                    "Niet goedgekeurd binnen 10 minuten; vraag een nieuwe tekst met trialog device link.",
                    "Pas approuvé dans les 10 minutes ; demandez un nouveau texte avec trialog device link.",
                    "Not approved within 10 minutes; ask for a new string with trialog device link.",
                )
                .into(),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
    out(
        json,
        json!({ "account": c.account()?, "device": c.device_fingerprint(), "fingerprint": c.fingerprint() }),
        || {
            format!(
                "{} {}",
                tr(
                    lang,
                    "Dit toestel is toegevoegd aan account",
                    "Cet appareil est ajouté au compte",
                    "This device is added to account"
                ),
                request.account
            )
        },
    );
    Ok(())
}

async fn list(c: &mut Client, json: bool, lang: Lang) -> Result<(), ClientError> {
    let devices = c.devices().await?;
    out(
        json,
        json!(
            devices
                .iter()
                .map(|d| json!({ "name": d.device.name, "fingerprint": d.fingerprint, "added_at": d.device.added_at, "this": d.this }))
                .collect::<Vec<_>>()
        ),
        || {
            devices
                .iter()
                .map(|d| {
                    format!(
                        "{}  {}  {} {}{}",
                        d.fingerprint.short(),
                        d.device.name,
                        tr(lang, "sinds", "depuis le", "since"),
                        format_date(d.device.added_at),
                        if d.this {
                            tr(lang, "  (dit toestel)", "  (cet appareil)", "  (this device)")
                        } else {
                            ""
                        }
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}
