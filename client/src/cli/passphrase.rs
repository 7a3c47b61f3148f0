//! The keystore passphrase (from `TRIALOG_PASSPHRASE`, else asked without echo) and
//! opening the home with it.

use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError, Home};
use trialog_protocol::Lang;
use zeroize::Zeroizing;

pub fn passphrase(confirm: bool, lang: Lang) -> Result<Zeroizing<String>, ClientError> {
    if let Ok(p) = std::env::var("TRIALOG_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|_| ClientError::NoPassphrase)
    };
    let p = ask(tr(lang, "Wachtzin: ", "Phrase secrète : ", "Passphrase: "))?;
    if confirm && *ask(tr(lang, "Nogmaals: ", "Encore une fois : ", "Again: "))? != *p {
        return Err(ClientError::Invalid(
            tr(
                lang,
                "De wachtzinnen verschillen.",
                "Les phrases secrètes diffèrent.",
                "The passphrases differ.",
            )
            .into(),
        ));
    }
    Ok(p)
}

pub fn open(lang: Lang) -> Result<Client, ClientError> {
    let home = Home::from_env()?;
    home.load_config()?;
    let c = Client::open(home, &passphrase(false, lang)?)?;
    // One line on stderr when the client followed a certificate change: the user should know
    // the server changed its certificate, even though nothing needs doing.
    c.on_certificate_followed(move |sha256| {
        super::output::err(&format!(
            "trialog: {} {sha256}",
            tr(
                lang,
                "het TLS-certificaat van de server veranderde; de serversleutel staat in voor het nieuwe, dat nu vastgelegd is:",
                "le certificat TLS du serveur a changé ; la clé du serveur se porte garante du nouveau, désormais épinglé :",
                "the server's TLS certificate changed; the server key vouches for the new one, now pinned:"
            )
        ))
    });
    Ok(c)
}
