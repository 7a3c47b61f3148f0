//! "Who am I": the person's name, role, RIZIV/INAMI number, account and key fingerprint.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use std::sync::Arc;

use super::{layout, name_of, riziv, unlocked};
use crate::web::App;
use crate::web::i18n::Text;

/// `GET /`
pub async fn page(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, "/"),
    };
    let server = client.config().server.clone();
    let awaiting = super::awaiting_approval(client, &me, lang).await;
    let title = Text::WhoAmI.get(lang);
    let body = html! {
        @if let Some(notice) = awaiting { (notice) }
        section.card aria-labelledby="who" {
            h1 #who { (title) }
            dl.facts {
                dt { (Text::Name.get(lang)) }
                dd { (name_of(&me, lang)) }
                dt { (Text::Role.get(lang)) }
                dd { (me.role.label(lang)) }
                @if let Some(r) = riziv(&me) {
                    dt { (Text::Riziv.get(lang)) }
                    dd { (r) }
                }
                dt { (Text::Account.get(lang)) }
                dd.fp { (me.account) }
                dt { (Text::Fingerprint.get(lang)) }
                dd.fp { (me.fingerprint.short()) }
                dt { (Text::Server.get(lang)) }
                dd { (server) }
            }
            p.help { (Text::FingerprintHelp.get(lang)) }
            p { a.button href="/cases" { (Text::GoToCases.get(lang)) } }
        }
    };
    layout(lang, Some(&me), "/", title, body).into_response()
}
