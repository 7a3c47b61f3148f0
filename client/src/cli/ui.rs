//! `trialog ui`: unlocks the keystore (terminal or `TRIALOG_PASSPHRASE`, else later on the
//! unlock page), starts the web client on 127.0.0.1 and prints its one-time address.

use std::time::Duration;
use trialog_client::i18n::tr;
use trialog_client::web::{Options, serve};
use trialog_client::{Client, ClientError, Home};
use trialog_protocol::Lang;

use super::output;
use super::passphrase::passphrase;

pub async fn run(
    port: u16,
    idle_lock_minutes: u64,
    open: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let home = Home::from_env()?;
    // A home without keys starts on the set-up page, where the person pastes their
    // enrolment sheet or invitation and chooses a passphrase.
    let client = if !home.config_path().exists() {
        None
    } else {
        home.load_config()?;
        // A wrong passphrase stops here as in every command; no terminal and no
        // `TRIALOG_PASSPHRASE` starts locked, and the first page asks for it.
        match passphrase(false, lang) {
            Ok(p) => Some(Client::open(home.clone(), &p)?),
            Err(ClientError::NoPassphrase) => None,
            Err(e) => return Err(e),
        }
    };
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| ClientError::Io(format!("127.0.0.1:{port}"), e))?;
    let options = Options {
        idle_lock: Duration::from_secs(idle_lock_minutes * 60),
        lang,
    };
    let (url, handle) = serve(home, client, listener, options)
        .await
        .map_err(|e| ClientError::Io("127.0.0.1".into(), e))?;
    output::line(tr(
        lang,
        "Open deze link in uw browser (hij werkt één keer; enkel op deze computer):",
        "Ouvrez ce lien dans votre navigateur (il ne fonctionne qu'une fois, sur cet ordinateur seulement) :",
        "Open this link in your browser (it works once, on this computer only):",
    ));
    output::line(&format!("  {url}"));
    output::line(tr(
        lang,
        "Stop met Ctrl+C.",
        "Arrêtez avec Ctrl+C.",
        "Stop with Ctrl+C.",
    ));
    if open {
        open_browser(&url, lang);
    }
    tokio::select! {
        _ = handle => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(())
}

/// Hands the address to the desktop's browser. Its command line is visible to other
/// processes of this user for a moment; the token in it works only once, and only from
/// this computer.
fn open_browser(url: &str, lang: Lang) {
    let opener = if cfg!(target_os = "macos") {
        "open"
    } else {
        "xdg-open"
    };
    if std::process::Command::new(opener)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .is_err()
    {
        output::err(tr(
            lang,
            "De browser kon niet gestart worden: open de link hierboven zelf.",
            "Le navigateur n'a pas pu être lancé : ouvrez vous-même le lien ci-dessus.",
            "The browser could not be started: open the link above yourself.",
        ));
    }
}
