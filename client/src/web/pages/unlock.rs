//! Unlocking and locking the keystore, and the page for a browser without a session.

use axum::Form;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;
use trialog_protocol::Lang;
use zeroize::Zeroizing;

use super::{layout, safe};
use crate::i18n::explain;
use crate::web::App;
use crate::web::i18n::Text;
use crate::{Client, ClientError};

fn form(lang: Lang, error: Option<&str>) -> Markup {
    html! {
        section.card aria-labelledby="unlock" {
            h1 #unlock { (Text::UnlockTitle.get(lang)) }
            p { (Text::UnlockIntro.get(lang)) }
            @if let Some(e) = error {
                div.card.error role="alert" { p { (safe(e)) } }
            }
            form method="post" action="/unlock" {
                div.field {
                    label for="passphrase" { (Text::Passphrase.get(lang)) }
                    input #passphrase type="password" name="passphrase"
                        autocomplete="current-password" required autofocus;
                }
                button type="submit" { (Text::Unlock.get(lang)) }
            }
        }
    }
}

/// `GET /unlock`
pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    if app.vault.lock().await.client.is_some() {
        return Redirect::to("/").into_response();
    }
    // Nothing to unlock yet: the keys are made on the set-up page.
    if super::setup::stage(&app.home) != super::setup::Stage::Registered {
        return Redirect::to("/setup").into_response();
    }
    layout(
        lang,
        None,
        "/unlock",
        Text::UnlockTitle.get(lang),
        form(lang, None),
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct UnlockForm {
    passphrase: String,
}

/// `POST /unlock`: opens the keystore in this process; the passphrase goes no further.
pub async fn submit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<UnlockForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    // The request body it was parsed from is axum's and not zeroized; this copy is.
    let pass = Zeroizing::new(f.passphrase);
    let home = app.home.clone();
    // scrypt takes a moment of CPU: not on the async workers.
    let opened = tokio::task::spawn_blocking(move || Client::open(home, &pass))
        .await
        .unwrap_or_else(|_| Err(ClientError::NoPassphrase));
    match opened {
        Ok(client) => {
            let mut v = app.vault.lock().await;
            v.client = Some(client);
            v.me = None;
            // A stream never outlives the unlock it started under, even when this unlock
            // replaces one still open.
            app.locks.send_modify(|n| *n = n.wrapping_add(1));
            Redirect::to("/").into_response()
        }
        Err(e) => {
            let msg = explain(&e, lang);
            let page = layout(
                lang,
                None,
                "/unlock",
                Text::UnlockTitle.get(lang),
                form(lang, Some(&msg)),
            );
            (axum::http::StatusCode::UNAUTHORIZED, page).into_response()
        }
    }
}

/// `POST /lock`: drops the client now.
pub async fn lock(State(app): State<Arc<App>>) -> Response {
    app.lock().await;
    Redirect::to("/unlock").into_response()
}

/// `GET /welcome`: what a browser without a session sees.
pub async fn welcome(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let title = Text::WelcomeTitle.get(lang);
    let body = html! {
        section.card {
            h1 { (title) }
            p { (Text::WelcomeBody.get(lang)) }
            p.help { (Text::WelcomeAgain.get(lang)) }
        }
    };
    layout(lang, None, "/welcome", title, body).into_response()
}
