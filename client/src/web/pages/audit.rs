//! The verified audit log of a case in words, newest first: names instead of ids, dates
//! as people write them, and for each consent and message whom it concerns and which
//! information it named (never a value: the log holds none).

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use std::sync::Arc;
use trialog_protocol::audit::{AuditEntry, AuditEvent};
use trialog_protocol::chain::Chain;
use trialog_protocol::time::format_ts;
use trialog_protocol::{ConsentId, Lang, Role};

use super::consents::W;
use super::{case_page, error_page, layout, safe};
use crate::audit_words::{self, Sent};
use crate::client::VerifiedCase;
use crate::web::App;
use crate::web::i18n::date;

/// `12 March 2026, 14:05`: the date as people write it and the Brussels time.
fn when(ts: i64, lang: Lang) -> String {
    let full = format_ts(ts);
    match full.get(11..16) {
        Some(hm) => format!("{}, {hm}", date(ts, lang)),
        None => date(ts, lang),
    }
}

fn field_list(fields: &[trialog_protocol::FieldId], lang: Lang) -> String {
    fields
        .iter()
        .map(|f| {
            if f.is_medical() {
                format!(
                    "{} ({})",
                    f.def().label.get(lang),
                    W::SharedMedically.get(lang)
                )
            } else {
                f.def().label.get(lang).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// What an entry is about, in words.
fn about(
    e: &AuditEntry,
    case: &VerifiedCase,
    chain: Option<&Chain>,
    sent: &[Sent],
    lang: Lang,
) -> Markup {
    let who = |id: &str| safe(&audit_words::who(Some(case), id, lang));
    let Some(subject) = e.subject.as_deref() else {
        return html! {};
    };
    match e.event {
        AuditEvent::ConsentGranted
        | AuditEvent::ConsentSuperseded
        | AuditEvent::ConsentRevoked
        | AuditEvent::ConsentExpired => {
            let version = ConsentId::parse(subject)
                .ok()
                .and_then(|id| chain.and_then(|c| c.get(&id)));
            match version {
                Some(v) => html! {
                    (W::ConsentFor.get(lang)) " " strong { (who(v.consent.recipient.as_str())) }
                    @if e.event == AuditEvent::ConsentGranted {
                        br; span.help { (field_list(&v.consent.fields, lang)) }
                    }
                },
                None => html! { span.fp { (safe(subject)) } },
            }
        }
        AuditEvent::EnvelopeAccepted
        | AuditEvent::EnvelopeDelivered
        | AuditEvent::EnvelopeAcknowledged
        | AuditEvent::EnvelopePurged => match sent.iter().find(|m| m.message == subject) {
            Some(m) => html! {
                (kind_of(m, lang)) " " (W::To.get(lang)) " " strong { (who(m.recipient.as_str())) }
                @if e.event == AuditEvent::EnvelopeAccepted {
                    br; span.help { (field_list(&m.fields, lang)) }
                }
            },
            None => html! { span.fp { (safe(subject)) } },
        },
        // The case itself: its name is at the top of the page.
        AuditEvent::CaseOpened => html! {},
        _ => html! { (who(subject)) },
    }
}

fn kind_of(m: &Sent, lang: Lang) -> &'static str {
    match m.kind {
        trialog_protocol::MessageKind::Bilan => W::KindBilan.get(lang),
        trialog_protocol::MessageKind::Feedback => W::KindFeedback.get(lang),
        trialog_protocol::MessageKind::Request => W::KindRequest.get(lang),
    }
}

/// `GET /cases/{id}/audit`
pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/audit", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        // The server keeps a case's log for its patient only (DESIGN.md §2.7).
        let body = html! {
            section.card.error role="alert" {
                h1 { (W::Audit.get(lang)) }
                p { (W::AuditOnlyPatient.get(lang)) }
                p { a href={ "/cases/" (id) } { (W::BackToCase.get(lang)) } }
            }
        };
        let page = layout(lang, Some(&me), &path, W::Audit.get(lang), body);
        return (StatusCode::FORBIDDEN, page).into_response();
    }
    let entries = match client.audit(&id).await {
        Ok(e) => e,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let case = match client.case(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    // Names the recipient of each consent; without a confirmed patient there is none yet.
    let chain = client.chain(&id).await.ok();
    let sent = audit_words::messages(&entries);
    let name = safe(case.name());
    let title = format!("{} · {}", W::Audit.get(lang), name);
    let body = html! {
        section.card aria-labelledby="audit" {
            h1 #audit { (W::Audit.get(lang)) }
            p.help { (name) }
            p { (W::AuditIntro.get(lang)) }
            p {
                a href={ "/cases/" (id) "/consents" } { (W::BackToConsents.get(lang)) }
                " · "
                a href={ "/cases/" (id) } { (W::BackToCase.get(lang)) }
            }
            @if entries.is_empty() {
                p { (W::NoEvents.get(lang)) }
            } @else {
                table.audit {
                    thead { tr {
                        th scope="col" { (W::When.get(lang)) }
                        th scope="col" { (W::What.get(lang)) }
                        th scope="col" { (W::Who.get(lang)) }
                        th scope="col" { (W::About.get(lang)) }
                    } }
                    tbody {
                        @for e in entries.iter().rev() {
                            tr {
                                td { (when(e.at, lang)) }
                                td { (audit_words::event_label(e.event, lang)) }
                                td {
                                    @match &e.actor {
                                        Some(a) => (safe(&audit_words::who(Some(&case), a.as_str(), lang))),
                                        None => (W::Server.get(lang)),
                                    }
                                }
                                td { (about(e, &case, chain.as_ref(), &sent, lang)) }
                            }
                        }
                    }
                }
            }
        }
    };
    layout(lang, Some(&me), &path, &title, body).into_response()
}
