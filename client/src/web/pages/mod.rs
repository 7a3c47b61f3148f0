//! The pages: one file per area, and here the layout every page shares (who is signed
//! in, the menu, the language switch), the refusal and error pages, and the unlocked
//! client every page works with.
//!
//! maud escapes every value it inserts; text that other people wrote (names, labels) is
//! also passed through `trialog_protocol::text::sanitize`, as on the terminal, so no
//! bidi override or invisible character reaches the page.

pub mod audit;
pub mod cases;
pub mod compose;
pub mod consents;
pub mod enrolment;
pub mod home;
pub mod inbox;
pub mod lang;
pub mod members;
pub mod setup;
pub mod unlock;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{DOCTYPE, Markup, html};
use std::sync::Arc;
use trialog_protocol::api::AccountView;
use trialog_protocol::{CaseId, Lang, Role};

use super::i18n::{Text, lang_name};
use super::{App, Vault};
use crate::i18n::explain;
use crate::{Client, ClientError};

/// Text someone else wrote, made safe to show.
pub fn safe(s: &str) -> String {
    trialog_protocol::text::sanitize(s).into_owned()
}

/// What to call an account: its name, else "the patient" for a patient, else its id.
pub fn name_of(v: &AccountView, lang: Lang) -> String {
    match (&v.name, v.role) {
        (Some(n), _) => safe(n),
        (None, Role::Patient) => Text::ThePatient.get(lang).to_owned(),
        (None, _) => v.account.to_string(),
    }
}

/// `1-23456-25-580`, as physicians write it.
pub fn riziv(v: &AccountView) -> Option<String> {
    v.riziv.as_deref().map(|d| {
        trialog_protocol::riziv::Riziv::parse(d)
            .map(|r| r.to_string())
            .unwrap_or_else(|_| safe(d))
    })
}

/// Why a page cannot be shown with the client.
pub enum Failure {
    /// The keystore is locked: ask for the passphrase.
    Locked,
    Client(ClientError),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

impl Failure {
    pub fn render(self, lang: Lang, me: Option<&AccountView>, path: &str) -> Response {
        match self {
            Failure::Locked => Redirect::to("/unlock").into_response(),
            Failure::Client(e) => error_page(lang, me, path, &e),
        }
    }
}

/// The unlocked client and who it is (asked of the server once per unlock).
/// For a physician whose key the operator has not attested yet, the notice that says so,
/// with the fingerprint to read out: it is why nobody's messages arrive. Shown first on
/// the pages a physician lands on. The account view kept since unlocking may predate the
/// approval: the server is asked again then.
pub async fn awaiting_approval(
    client: &mut Client,
    me: &AccountView,
    lang: Lang,
) -> Option<maud::Markup> {
    if me.role == trialog_protocol::Role::Patient || client.attestation_of(me).is_some() {
        return None;
    }
    if let Ok(now) = client.whoami().await
        && client.attestation_of(&now).is_some()
    {
        return None;
    }
    Some(maud::html! {
        section.card.notice role="status" {
            p { (Text::AwaitingApproval.get(lang)) }
            p.fingerprint.fp { (me.fingerprint.short()) }
        }
    })
}

pub async fn unlocked(vault: &mut Vault) -> Result<(&mut Client, AccountView), Failure> {
    let Some(client) = vault.client.as_mut() else {
        return Err(Failure::Locked);
    };
    let me = match &vault.me {
        Some(me) => me.clone(),
        None => {
            let me = client.whoami().await?;
            vault.me = Some(me.clone());
            me
        }
    };
    Ok((client, me))
}

/// What every page about one case starts with: the unlocked client, who it is, and the
/// case id of the address; or the page that says why not (keys locked, malformed id).
pub async fn case_page<'v>(
    vault: &'v mut Vault,
    lang: Lang,
    path: &str,
    id: &str,
) -> Result<(&'v mut Client, AccountView, CaseId), Response> {
    let (client, me) = unlocked(vault)
        .await
        .map_err(|f| f.render(lang, None, path))?;
    match CaseId::parse(id) {
        Ok(id) => Ok((client, me, id)),
        Err(_) => Err(bad_case_id(lang, &me, path)),
    }
}

/// The page around every page's content.
pub fn layout(
    lang: Lang,
    me: Option<&AccountView>,
    path: &str,
    title: &str,
    content: Markup,
) -> Markup {
    // Patients receive no messages: their menu has no inbox.
    let mut nav = vec![("/", Text::NavHome), ("/cases", Text::NavCases)];
    if me.is_some_and(|m| m.role != Role::Patient) {
        nav.push(("/inbox", Text::NavInbox));
    }
    html! {
        (DOCTYPE)
        html lang=(lang.as_str()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · " (Text::AppName.get(lang)) }
                link rel="stylesheet" href="/assets/style.css";
            }
            body {
                a.skip href="#content" { (Text::SkipToContent.get(lang)) }
                header.top {
                    div.inner {
                        a.brand href="/" { (Text::AppName.get(lang)) }
                        @if let Some(me) = me {
                            p.who {
                                strong { (name_of(me, lang)) }
                                " · " (me.role.label(lang))
                                @if let Some(r) = riziv(me) {
                                    " · " (Text::Riziv.get(lang)) " " (r)
                                }
                                br;
                                (Text::YourFingerprint.get(lang)) " "
                                span.fp { (me.fingerprint.short()) }
                            }
                        }
                        div.tools {
                            (lang_switch(lang, path))
                            @if me.is_some() {
                                form method="post" action="/lock" {
                                    button.quiet type="submit" { (Text::LockNow.get(lang)) }
                                }
                            }
                        }
                    }
                    @if me.is_some() {
                        div.inner {
                            nav.main aria-label=(Text::MainNav.get(lang)) {
                                ul {
                                    @for (href, text) in nav {
                                        @let current = path == href || (href != "/" && path.starts_with(href));
                                        li {
                                            @if current {
                                                a href=(href) aria-current="page" { (text.get(lang)) }
                                            } @else {
                                                a href=(href) { (text.get(lang)) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                main #content {
                    (content)
                }
            }
        }
    }
}

/// Three buttons, one per language, each named in its own language; works without
/// JavaScript and comes back to the same page.
fn lang_switch(lang: Lang, path: &str) -> Markup {
    html! {
        form method="post" action="/lang" aria-label=(Text::Language.get(lang)) {
            input type="hidden" name="back" value=(path);
            span.help { (Text::Language.get(lang)) ":" }
            @for l in Lang::ALL {
                button.quiet type="submit" name="lang" value=(l.as_str()) lang=(l.as_str())
                    aria-pressed=(if l == lang { "true" } else { "false" }) {
                    (lang_name(l))
                }
            }
        }
    }
}

/// The HTTP status of a page that shows a library error: the request's fault (4xx, the
/// server's own status passed on), the server's or the network's (502), or this client's
/// own home (500). Every page maps errors here, so one error has one status everywhere.
pub fn status_of(e: &ClientError) -> StatusCode {
    use ClientError::*;
    match e {
        Api { status, .. } if (400..500).contains(status) => {
            StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST)
        }
        Api { .. }
        | Network(_)
        | CertificateNotFollowed { .. }
        | BadResponse(_)
        | Verification(_)
        | Audit(_)
        | KeyChanged { .. }
        | AttestationInvalid { .. } => StatusCode::BAD_GATEWAY,
        // The physician exists but cannot be written to yet: the request conflicts with
        // where their key stands, and the sentence says what to do.
        NotAttested { .. } => StatusCode::CONFLICT,
        WrongRole(_) => StatusCode::FORBIDDEN,
        WrongPassphrase => StatusCode::UNAUTHORIZED,
        FingerprintMismatch { .. } | WeakPassphrase | LeakGuard { .. } => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        NotAMember { .. }
        | UnknownRecipient { .. }
        | AmbiguousRecipient { .. }
        | MedicalNotShared(_)
        | ConsentRefused(_)
        | NoConsent { .. }
        | NothingToSend { .. }
        | SomeNotSent { .. }
        | BadPin(_)
        | Invalid(_) => StatusCode::BAD_REQUEST,
        NoHome
        | NotInitialized(_)
        | AlreadyInitialized(_)
        | NotRegistered
        | AlreadyRegistered(_)
        | Corrupt(..)
        | Io(..)
        | NoPassphrase
        | File(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error from the client as a sentence that says what to do.
pub fn error_page(lang: Lang, me: Option<&AccountView>, path: &str, e: &ClientError) -> Response {
    let status = status_of(e);
    let title = Text::ErrorTitle.get(lang);
    let body = html! {
        section.card.error role="alert" {
            h1 { (title) }
            @for line in explain(e, lang).lines() {
                p { (safe(line)) }
            }
        }
    };
    (status, layout(lang, me, path, title, body)).into_response()
}

/// The page for a case id that is not one (a hand-typed or truncated address): 404.
pub fn bad_case_id(lang: Lang, me: &AccountView, path: &str) -> Response {
    let body = html! {
        section.card.error role="alert" {
            h1 { (Text::ErrorTitle.get(lang)) }
            p { (Text::BadCaseId.get(lang)) }
            p { a href="/cases" { (Text::BackToCases.get(lang)) } }
        }
    };
    let page = layout(lang, Some(me), path, Text::ErrorTitle.get(lang), body);
    (StatusCode::NOT_FOUND, page).into_response()
}

/// A short page for a request refused before any page was reached.
pub fn refusal(status: StatusCode, lang: Lang, text: Text) -> Response {
    let body = html! {
        section.card.error role="alert" {
            h1 { (text.get(lang)) }
            @if text == Text::LinkUsedTitle {
                p { (Text::LinkUsedBody.get(lang)) }
            }
        }
    };
    // No language switch path to come back to: a refused request has no page.
    (status, layout(lang, None, "/", text.get(lang), body)).into_response()
}

/// Any other path.
pub async fn not_found(State(app): State<Arc<App>>, headers: HeaderMap, uri: Uri) -> Response {
    let lang = app.lang_of(&headers);
    let me = app.vault.lock().await.me.clone();
    let body = html! {
        section.card {
            h1 { (Text::NotFoundTitle.get(lang)) }
            p { (Text::NotFoundBody.get(lang)) }
            p { a href="/cases" { (Text::BackToCases.get(lang)) } }
        }
    };
    let page = layout(
        lang,
        me.as_ref(),
        uri.path(),
        Text::NotFoundTitle.get(lang),
        body,
    );
    (StatusCode::NOT_FOUND, page).into_response()
}
