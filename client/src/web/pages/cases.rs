//! The person's cases, and one case: its physicians by name and role, and whether the
//! patient has joined and been confirmed.

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use serde::Deserialize;
use std::sync::Arc;
use trialog_protocol::api::{CaseView, MemberStatus};
use trialog_protocol::{Lang, Role};

use super::{Failure, enrolment, layout, members, name_of, riziv, safe, unlocked};
use crate::web::App;
use crate::web::i18n::{Text, date, member_status, texts};

texts! {
    pub enum T {
        Actions => ("Acties", "Actions", "Actions"),
        Write => ("Een bericht schrijven", "Écrire un message", "Write a message"),
        Consents => ("Toestemmingen", "Consentements", "Consents"),
        YourConsents => ("Uw toestemmingen", "Vos consentements", "Your consents"),
        Audit => ("Logboek", "Journal", "Audit log"),
        You => ("u", "vous", "you"),
    }
}

/// The patient's state in a case, as a phrase and whether it is done.
fn patient_state(view: &CaseView, confirmed: bool, lang: Lang) -> (&'static str, bool) {
    match (&view.patient, confirmed) {
        (Some(_), true) => (Text::PatientConfirmed.get(lang), true),
        (Some(_), false) => (Text::PatientJoinedNotConfirmed.get(lang), false),
        (None, _) => (Text::PatientNotJoined.get(lang), false),
    }
}

/// `GET /cases`
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/cases";
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, path),
    };
    let cases = match client.cases().await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).render(lang, Some(&me), path),
    };
    let rows: Vec<_> = cases
        .iter()
        .map(|v| {
            // The list's binding is verified only on the case's own page: here it says
            // only whether the treating physician has confirmed.
            let (state, done) = patient_state(v, v.binding.is_some(), lang);
            (
                v,
                safe(&client.case_name(v)),
                trialog_protocol::label::reference(&v.case_id),
                state,
                done,
            )
        })
        .collect();
    let awaiting = super::awaiting_approval(client, &me, lang).await;
    let title = Text::Cases.get(lang);
    let body = html! {
        @if let Some(notice) = awaiting { (notice) }
        section.card aria-labelledby="cases" {
            h1 #cases { (title) }
            @if rows.is_empty() {
                p { (Text::NoCases.get(lang)) }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { (Text::Case.get(lang)) }
                        th scope="col" { (Text::Opened.get(lang)) }
                        th scope="col" { (Text::TreatingPhysician.get(lang)) }
                        th scope="col" { (Text::Patient.get(lang)) }
                    } }
                    tbody {
                        @for (v, name, reference, state, done) in &rows {
                            tr {
                                td {
                                    a href={ "/cases/" (v.case_id) } { (name) }
                                    @if name != reference {
                                        br; span.help.fp { (reference) }
                                    }
                                }
                                td { (date(v.opened_at, lang)) }
                                td { (name_of(&v.treating, lang)) }
                                td class=(if *done { "status-ok" } else { "status-wait" }) { (state) }
                            }
                        }
                    }
                }
            }
        }
    };
    let body = html! {
        @if enrolment::may_open(me.role) { (enrolment::open_form(lang, None, "")) }
        (body)
    };
    layout(lang, Some(&me), path, title, body).into_response()
}

#[derive(Deserialize)]
pub struct CaseQuery {
    done: Option<String>,
}

/// `GET /cases/{id}`: the case with every key in it verified by the client.
pub async fn one(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Response {
    render(&app, &headers, &id, q.done.as_deref(), None).await
}

/// The case page, with a notice after a change (`done`) or a refusal (`error`) on top.
pub async fn render(
    app: &App,
    headers: &HeaderMap,
    id: &str,
    done: Option<&str>,
    error: Option<&str>,
) -> Response {
    let lang = app.lang_of(headers);
    let path = format!("/cases/{}", safe(id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match super::case_page(&mut vault, lang, &path, id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let case = match client.case(&id).await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
    };
    let confirmed = case.patient.is_some();
    let joined = case.view.patient.is_some();
    let is_patient = me.role == Role::Patient;
    let is_treating = case.view.treating.account == me.account;
    // The directory is asked only by those who may add someone.
    let directory = if is_patient || is_treating {
        match client.directory(None, None).await {
            Ok(d) => d,
            Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
        }
    } else {
        Vec::new()
    };
    let name = safe(case.name());
    let (state, ok) = patient_state(&case.view, confirmed, lang);
    let members: Vec<_> = case.view.members.iter().collect();
    let notice = done.and_then(|d| members::done_notice(d, lang));
    let body = html! {
        @if let Some(n) = notice {
            div.card.notice role="status" { p { (n) } }
        }
        @if let Some(e) = error {
            div.card.error role="alert" { @for l in e.lines() { p { (safe(l)) } } }
        }
        section.card aria-labelledby="case" {
            h1 #case { (name) }
            dl.facts {
                dt { (Text::Reference.get(lang)) }
                dd.fp { (case.reference) }
                dt { (Text::Opened.get(lang)) }
                dd { (date(case.view.opened_at, lang)) }
                dt { (Text::TreatingPhysician.get(lang)) }
                dd {
                    (name_of(&case.view.treating, lang))
                    @if let Some(r) = riziv(&case.view.treating) { " · " (Text::Riziv.get(lang)) " " (r) }
                }
                dt { (Text::Patient.get(lang)) }
                dd class=(if ok { "status-ok" } else { "status-wait" }) {
                    @if is_patient { (T::You.get(lang)) ", " }
                    (state)
                }
            }
            nav.actions aria-label=(T::Actions.get(lang)) {
                @if !is_patient && confirmed {
                    a.button href={ "/cases/" (id) "/compose" } { (T::Write.get(lang)) }
                }
                a.button.secondary href={ "/cases/" (id) "/consents" } {
                    @if is_patient { (T::YourConsents.get(lang)) } @else { (T::Consents.get(lang)) }
                }
                // The verified audit is the patient's (the server shows it to them only).
                @if is_patient {
                    a.button.secondary href={ "/cases/" (id) "/audit" } { (T::Audit.get(lang)) }
                }
            }
        }
        @if is_treating && joined && !confirmed {
            (members::confirm_form(lang, &id, None))
        }
        @if is_treating {
            (enrolment::reissue_form(lang, &id))
        }
        section.card aria-labelledby="members" {
            h2 #members { (Text::Members.get(lang)) }
            @if members.is_empty() {
                p { (Text::NoOtherMembers.get(lang)) }
            } @else {
                table {
                    thead { tr {
                        th scope="col" { (Text::Name.get(lang)) }
                        th scope="col" { (Text::Role.get(lang)) }
                        th scope="col" { (Text::Riziv.get(lang)) }
                        th scope="col" { (Text::Status.get(lang)) }
                        th scope="col" { (Text::Since.get(lang)) }
                        @if is_patient { th scope="col" { span.visually-hidden { (T::Actions.get(lang)) } } }
                    } }
                    tbody {
                        @for m in &members {
                            tr {
                                td { (name_of(&m.account, lang)) }
                                td { (m.account.role.label(lang)) }
                                td { (riziv(&m.account).unwrap_or_default()) }
                                td class=(if m.status == MemberStatus::Active { "status-ok" } else { "status-wait" }) {
                                    (member_status(m.status, lang))
                                }
                                td { (date(m.removed_at.unwrap_or(m.added_at), lang)) }
                                @if is_patient {
                                    td {
                                        @if m.status != MemberStatus::Removed {
                                            a href={ "/cases/" (id) "/members/" (m.account.account) "/remove" }
                                                aria-label={ (members::T::Remove.get(lang)) ": " (name_of(&m.account, lang)) } {
                                                (members::T::Remove.get(lang))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            p { a href="/cases" { (Text::BackToCases.get(lang)) } }
        }
        @if is_patient || is_treating {
            (members::add_form(lang, &me, &case, &directory))
        }
    };
    layout(lang, Some(&me), &path, &name, body).into_response()
}
