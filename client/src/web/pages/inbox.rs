//! A physician's messages: the inbox (updated without reloading), one message with its
//! verification in words and every withheld field marked, and a print view of it.
//!
//! **Reading is a POST.** Opening an unread message fetches it from the server, which
//! records the delivery in the patient's audit, and acknowledges it, which deletes the
//! server's copy: both change state, and a GET must not (a prefetching browser, a link
//! preview or a history reload would otherwise read a message on the physician's behalf).
//! So the inbox opens an unread message with a form button (`POST /messages/{id}/open`),
//! which reads it exactly as `trialog read` does and then sends the browser to
//! `GET /messages/{id}`. That GET shows only what this client already keeps (verified
//! again from the local copy); for a message not yet opened it offers the same button.
//! (The one server call a GET can still make is finishing an acknowledgement that failed
//! when the message was opened, as `trialog read` does: it deletes a copy this client
//! already holds, and repeating it changes nothing.)

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use std::sync::Arc;
use trialog_protocol::api::AccountView;
use trialog_protocol::catalogue::{FieldClass, ValueType};
use trialog_protocol::{Lang, MessageId, MessageKind, Role};

use super::{Failure, layout, name_of, riziv, safe, unlocked};
use crate::client::{GoneReason, MailItem, MailState, Withheld};
use crate::i18n::{explain, gone_reason, strip_reason};
use crate::web::App;
use crate::web::i18n::{Text, date, texts};
use crate::{ClientError, ReadMessage};

texts! {
    /// The words of the inbox, the message view and the print view.
    pub enum InboxText {
        Title => ("Postvak in", "Boîte de réception", "Inbox"),
        Intro => (
            "Alle berichten die u ontving, het nieuwste eerst. Nieuwe berichten verschijnen vanzelf.",
            "Tous les messages que vous avez reçus, les plus récents d'abord. Les nouveaux messages apparaissent d'eux-mêmes.",
            "Every message you received, newest first. New messages appear by themselves.",
        ),
        Refresh => ("Vernieuwen", "Actualiser", "Refresh"),
        Empty => ("Nog geen berichten.", "Pas encore de messages.", "No messages yet."),
        ColState => ("Status", "Statut", "Status"),
        ColFrom => ("Van", "De", "From"),
        ColCase => ("Dossier", "Dossier", "Case"),
        ColKind => ("Soort", "Type", "Kind"),
        ColDate => ("Verstuurd op", "Envoyé le", "Sent on"),
        ColAction => ("Actie", "Action", "Action"),
        Unread => ("Nieuw", "Nouveau", "New"),
        Read => ("Gelezen", "Lu", "Read"),
        Gone => ("Vernietigd", "Détruit", "Destroyed"),
        Open => ("Openen", "Ouvrir", "Open"),
        Show => ("Tonen", "Afficher", "Show"),
        UnreadCount => (
            "Ongelezen berichten:",
            "Messages non lus :",
            "Unread messages:",
        ),
        KindBilan => ("Functioneel bilan", "Bilan fonctionnel", "Functional bilan"),
        KindFeedback => ("Terugkoppeling", "Retour d'information", "Feedback"),
        KindRequest => ("Vraag om een update", "Demande de mise à jour", "Request for an update"),
        From => ("Van", "De", "From"),
        To => ("Aan", "À", "To"),
        SentOn => ("Verstuurd op", "Envoyé le", "Sent on"),
        ReceivedOn => ("Ontvangen op", "Reçu le", "Received on"),
        PrintedOn => ("Afgedrukt op", "Imprimé le", "Printed on"),
        Verification => ("Verificatie", "Vérification", "Verification"),
        SignedBy => ("Ondertekend door", "Signé par", "Signed by"),
        SignatureOk => (
            "De handtekening is geldig en de sleutel van de afzender werd bevestigd door de beheerder van Trialog op",
            "La signature est valide et la clé de l'expéditeur a été attestée par l'opérateur de Trialog le",
            "The signature is valid and the sender's key was attested by the Trialog operator on",
        ),
        SignaturePinned => (
            "De handtekening is geldig en de sleutel van de afzender is dezelfde die deze computer de eerste keer vastlegde.",
            "La signature est valide et la clé de l'expéditeur est celle que cet ordinateur a enregistrée la première fois.",
            "The signature is valid and the sender's key is the one this computer pinned the first time it saw it.",
        ),
        FingerprintWord => ("Vingerafdruk", "Empreinte", "Fingerprint"),
        NewKey => (
            "Nieuwe sleutel: de afzender verving een verloren sleutel, en de beheerder bevestigde de nieuwe op",
            "Nouvelle clé : l'expéditeur a remplacé une clé perdue, et l'opérateur a attesté la nouvelle le",
            "New key: the sender replaced a lost key, and the operator attested the new one on",
        ),
        ConsentLine => (
            "Aanvaard onder de toestemming van de patiënt die geldt vanaf",
            "Accepté sous le consentement du patient valable à partir du",
            "Accepted under the patient's consent valid from",
        ),
        ConsentVersion => ("versie", "version", "version"),
        CheckedLine => (
            "Elk veld werd aan die toestemming getoetst: niets daarbuiten wordt getoond.",
            "Chaque champ a été contrôlé par rapport à ce consentement : rien d'autre n'est affiché.",
            "Every field was checked against that consent: nothing outside it is shown.",
        ),
        LeakOverride => (
            "Let op: de afzender ging door ondanks een waarschuwing van de lekbewaking (vastgelegd in het ondertekende bericht).",
            "Attention : l'expéditeur a passé outre un avertissement du garde-fou (consigné dans le message signé).",
            "Note: the sender went on despite a leak guard warning (recorded in the signed message).",
        ),
        Fields => ("Inhoud", "Contenu", "Content"),
        Medical => ("medisch", "médical", "medical"),
        MedicalShared => (
            "medisch gegeven, door de patiënt medisch met u gedeeld",
            "donnée médicale, partagée médicalement avec vous par le patient",
            "medical field, shared medically with you by the patient",
        ),
        Withheld => (
            "Niet met u gedeeld",
            "Non partagé avec vous",
            "Not shared with you",
        ),
        WithheldIntro => (
            "Deze velden van dit soort bericht laat de toestemming van de patiënt niet door naar u. Als de afzender ze invulde, haalde zijn programma ze weg vóór het versturen.",
            "Le consentement du patient ne vous transmet pas ces champs de ce type de message. Si l'expéditeur les a remplis, son programme les a retirés avant l'envoi.",
            "The patient's consent does not let these fields of this kind of message through to you. If the sender filled them in, their program removed them before sending.",
        ),
        Stripped => ("weggelaten", "retiré", "withheld"),
        Reply => ("Antwoorden", "Répondre", "Reply"),
        AskUpdate => ("Een update vragen", "Demander une mise à jour", "Ask for an update"),
        SendBilan => ("Een bilan sturen", "Envoyer un bilan", "Send a bilan"),
        Print => ("Afdrukvoorbeeld", "Version imprimable", "Print view"),
        PrintNow => ("Afdrukken of als PDF bewaren", "Imprimer ou enregistrer en PDF", "Print or save as PDF"),
        PrintHelp => (
            "Gebruik Afdrukken in uw browser (Ctrl+P) en kies ‘Opslaan als PDF’ om het bij uw eigen dossier te voegen.",
            "Utilisez Imprimer dans votre navigateur (Ctrl+P) et choisissez « Enregistrer au format PDF » pour le joindre à votre propre dossier.",
            "Use your browser's Print (Ctrl+P) and choose ‘Save as PDF’ to attach it to your own record.",
        ),
        BackToInbox => ("Terug naar het postvak", "Retour à la boîte de réception", "Back to the inbox"),
        BackToMessage => ("Terug naar het bericht", "Retour au message", "Back to the message"),
        NotOpenedTitle => ("Nog niet geopend", "Pas encore ouvert", "Not opened yet"),
        NotOpenedBody => (
            "Dit bericht wacht op de server. Bij het openen haalt deze computer het op, controleert het, bewaart het en laat de server zijn kopie wissen; de patiënt ziet in het auditlogboek dat het afgeleverd werd.",
            "Ce message attend sur le serveur. À l'ouverture, cet ordinateur le récupère, le vérifie, le conserve et fait effacer la copie du serveur ; le patient voit dans le journal d'audit qu'il a été remis.",
            "This message is waiting on the server. Opening it makes this computer fetch, check and keep it and has the server delete its copy; the patient sees in the audit log that it was delivered.",
        ),
        GoneTitle => ("Dit bericht is vernietigd", "Ce message a été détruit", "This message was destroyed"),
        UnknownTitle => ("Bericht niet gevonden", "Message introuvable", "Message not found"),
        UnknownBody => (
            "Er is geen bericht met deze referentie voor u. Open uw berichten vanuit het postvak.",
            "Il n'y a pas de message avec cette référence pour vous. Ouvrez vos messages depuis la boîte de réception.",
            "There is no message with this reference for you. Open your messages from the inbox.",
        ),
        BadId => (
            "Dit is geen geldige berichtreferentie. Open uw berichten vanuit het postvak.",
            "Ce n'est pas une référence de message valide. Ouvrez vos messages depuis la boîte de réception.",
            "This is not a valid message reference. Open your messages from the inbox.",
        ),
        ForPhysicians => (
            "Het postvak is er voor artsen: patiënten ontvangen geen berichten. Uw toestemmingen en het auditlogboek vindt u bij uw dossiers.",
            "La boîte de réception est réservée aux médecins : les patients ne reçoivent pas de messages. Vos consentements et le journal d'audit se trouvent dans vos dossiers.",
            "The inbox is for physicians: patients receive no messages. Your consents and the audit log are under your cases.",
        ),
        Yes => ("ja", "oui", "yes"),
        No => ("nee", "non", "no"),
    }
}

/// The kind of a message in words.
pub fn kind_name(kind: MessageKind, lang: Lang) -> &'static str {
    match kind {
        MessageKind::Bilan => InboxText::KindBilan.get(lang),
        MessageKind::Feedback => InboxText::KindFeedback.get(lang),
        MessageKind::Request => InboxText::KindRequest.get(lang),
    }
}

/// A short page with a title, sentences and a way back, under `status`.
fn notice(
    status: StatusCode,
    lang: Lang,
    me: &AccountView,
    path: &str,
    title: &str,
    lines: &[String],
    open: Option<&MessageId>,
) -> Response {
    let is_error = status.is_client_error() || status.is_server_error();
    let body = html! {
        section.card.error[is_error] role=[is_error.then_some("alert")] {
            h1 { (title) }
            @for l in lines { p { (l) } }
            @if let Some(id) = open {
                form method="post" action={ "/messages/" (id) "/open" } {
                    button type="submit" { (InboxText::Open.get(lang)) }
                }
            }
            p { a href="/inbox" { (InboxText::BackToInbox.get(lang)) } }
        }
    };
    (status, layout(lang, Some(me), path, title, body)).into_response()
}

/// An error from the library, with the status that fits it: the server's own for a
/// refusal about this message (unknown, not yours, gone), else the shared error page's.
fn failure(lang: Lang, me: &AccountView, path: &str, e: &ClientError) -> Response {
    match e {
        ClientError::Api { status, .. } if (400..500).contains(status) => {
            let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST);
            let title = match GoneReason::of(e) {
                Some(_) => InboxText::GoneTitle,
                None if status == StatusCode::NOT_FOUND => InboxText::UnknownTitle,
                None => return super::error_page(lang, Some(me), path, e),
            };
            let lines: Vec<String> = explain(e, lang).lines().map(safe).collect();
            notice(status, lang, me, path, title.get(lang), &lines, None)
        }
        _ => super::error_page(lang, Some(me), path, e),
    }
}

fn parse_id(raw: &str) -> Option<MessageId> {
    MessageId::parse(raw).ok()
}

fn bad_id(lang: Lang, me: &AccountView, path: &str) -> Response {
    notice(
        StatusCode::NOT_FOUND,
        lang,
        me,
        path,
        Text::ErrorTitle.get(lang),
        &[InboxText::BadId.get(lang).to_owned()],
        None,
    )
}

pub fn patients_have_no_inbox(lang: Lang, me: &AccountView, path: &str) -> Option<Response> {
    (me.role == Role::Patient).then(|| {
        notice(
            StatusCode::FORBIDDEN,
            lang,
            me,
            path,
            InboxText::Title.get(lang),
            &[InboxText::ForPhysicians.get(lang).to_owned()],
            None,
        )
    })
}

/// The rows of the inbox table, with the sentence the page announces when they change.
fn rows_markup(items: &[MailItem], lang: Lang) -> (Markup, String) {
    let unread = items
        .iter()
        .filter(|i| i.state == MailState::Unread)
        .count();
    let status = format!("{} {unread}", InboxText::UnreadCount.get(lang));
    let rows = html! {
        @if items.is_empty() {
            tr { td colspan="6" { (InboxText::Empty.get(lang)) } }
        }
        @for i in items {
            @let who = i.sender_name.as_deref().map(safe).unwrap_or_else(|| i.sender.to_string());
            @let case = safe(&i.case_name);
            @let reference = trialog_protocol::label::reference(&i.case_id);
            tr id={ "msg-" (i.message_id) } class=(match i.state {
                MailState::Unread => "mail-unread",
                MailState::Read { .. } => "mail-read",
                MailState::Gone { .. } => "mail-gone",
            }) {
                td {
                    @match i.state {
                        MailState::Unread => strong.status-wait { (InboxText::Unread.get(lang)) },
                        MailState::Read { .. } => span { (InboxText::Read.get(lang)) },
                        MailState::Gone { reason } => {
                            strong.status-gone { (InboxText::Gone.get(lang)) }
                            br;
                            span.help { (gone_reason(reason, lang)) }
                        },
                    }
                }
                td {
                    (who)
                    @if let Some(r) = i.sender_role { br; span.help { (r.label(lang)) } }
                }
                td.nowrap {
                    (case)
                    @if case != reference { br; span.help.fp { (reference) } }
                }
                td { (kind_name(i.kind, lang)) }
                td.nowrap { (date(i.created_at, lang)) }
                td {
                    @match i.state {
                        MailState::Unread => {
                            form.inline method="post" action={ "/messages/" (i.message_id) "/open" } {
                                button type="submit" aria-label={ (InboxText::Open.get(lang)) ": " (kind_name(i.kind, lang)) ", " (who) } {
                                    (InboxText::Open.get(lang))
                                }
                            }
                        },
                        MailState::Read { .. } => {
                            a href={ "/messages/" (i.message_id) } aria-label={ (InboxText::Show.get(lang)) ": " (kind_name(i.kind, lang)) ", " (who) } {
                                (InboxText::Show.get(lang))
                            }
                        },
                        MailState::Gone { .. } => {},
                    }
                }
            }
        }
    };
    (rows, status)
}

/// `GET /inbox`
pub async fn list(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/inbox";
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, path),
    };
    if let Some(r) = patients_have_no_inbox(lang, &me, path) {
        return r;
    }
    let items = match client.mailbox().await {
        Ok(i) => i,
        Err(e) => return Failure::from(e).render(lang, Some(&me), path),
    };
    drop(vault);
    let (rows, status) = rows_markup(&items, lang);
    let title = InboxText::Title.get(lang);
    let body = html! {
        section.card aria-labelledby="inbox" {
            div.inbox-head {
                h1 #inbox { (title) }
                a.button.quiet href="/inbox" { (InboxText::Refresh.get(lang)) }
            }
            p.help { (InboxText::Intro.get(lang)) }
            p #inbox-status .help role="status" aria-live="polite" { (status) }
            div.table-wrap {
                table #inbox-table {
                    thead { tr {
                        th scope="col" { (InboxText::ColState.get(lang)) }
                        th scope="col" { (InboxText::ColFrom.get(lang)) }
                        th scope="col" { (InboxText::ColCase.get(lang)) }
                        th scope="col" { (InboxText::ColKind.get(lang)) }
                        th scope="col" { (InboxText::ColDate.get(lang)) }
                        th scope="col" { (InboxText::ColAction.get(lang)) }
                    } }
                    tbody #inbox-rows data-status=(status) { (rows) }
                }
            }
        }
        script src="/assets/inbox.js" defer {}
    };
    layout(lang, Some(&me), path, title, body).into_response()
}

/// `GET /inbox/rows`: the table body alone, for the page's script to swap in. The lock
/// around the client is held for one short listing, never across a long poll.
pub async fn rows(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/inbox";
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, path),
    };
    if let Some(r) = patients_have_no_inbox(lang, &me, path) {
        return r;
    }
    let items = match client.mailbox().await {
        Ok(i) => i,
        Err(e) => return Failure::from(e).render(lang, Some(&me), path),
    };
    drop(vault);
    let (rows, status) = rows_markup(&items, lang);
    let body = html! { tbody #inbox-rows data-status=(status) { (rows) } };
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert("x-trialog-fragment", HeaderValue::from_static("inbox-rows"));
    resp
}

/// `POST /messages/{id}/open`: reads the message as `trialog read` does (fetch, verify,
/// keep, acknowledge), then shows it.
pub async fn open(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/inbox";
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(f) => return f.render(lang, None, path),
    };
    if let Some(r) = patients_have_no_inbox(lang, &me, path) {
        return r;
    }
    let Some(id) = parse_id(&raw) else {
        return bad_id(lang, &me, path);
    };
    match client.read(&id).await {
        Ok(_) => Redirect::to(&format!("/messages/{id}")).into_response(),
        Err(e) => {
            if let Some(r) = GoneReason::of(&e) {
                // Remembered, so the inbox says why from now on. A failure to write the
                // index costs only that memory.
                let _ = client.note_gone(&id, r);
            }
            failure(lang, &me, path, &e)
        }
    }
}

/// What a message page needs: the message read from this client's copy, and the facts of
/// its verification.
struct Shown {
    m: ReadMessage,
    /// `None` if the consent could not be fetched again: the message itself was verified.
    withheld: Option<Withheld>,
    sender: Option<AccountView>,
    sender_fingerprint: Option<String>,
    /// What this computer knows of the sender's key: attested when, changed when.
    sender_trust: crate::client::KeyTrust,
    reference: String,
    received_at: Option<i64>,
}

enum Lookup {
    Shown(Box<Shown>),
    NotOpened,
    Gone(GoneReason),
    Unknown,
}

async fn look_up(client: &mut crate::Client, id: &MessageId) -> Result<Lookup, ClientError> {
    if client.is_kept(id) {
        let m = client.read(id).await?;
        let withheld = client.withheld(&m).await.ok();
        let case = client.case(&m.case_id).await?;
        let (sender, fp) = match case.past_or_present_physician(&m.sender) {
            Some((v, k)) => (Some(v.clone()), Some(k.fingerprint.short())),
            None => (None, None),
        };
        return Ok(Lookup::Shown(Box::new(Shown {
            received_at: client.received_at(id)?,
            sender_trust: client.key_trust(&m.sender)?,
            reference: case.reference.clone(),
            m,
            withheld,
            sender,
            sender_fingerprint: fp,
        })));
    }
    if let Some(r) = client.gone_reason(id)? {
        return Ok(Lookup::Gone(r));
    }
    let waiting = client.mailbox().await?;
    Ok(
        match waiting
            .iter()
            .find(|i| &i.message_id == id)
            .map(|i| i.state)
        {
            Some(MailState::Unread) => Lookup::NotOpened,
            Some(MailState::Gone { reason }) => Lookup::Gone(reason),
            _ => Lookup::Unknown,
        },
    )
}

/// The page of a message not shown: not opened yet, gone, or unknown.
fn not_shown(lang: Lang, me: &AccountView, path: &str, id: &MessageId, l: &Lookup) -> Response {
    match l {
        Lookup::NotOpened => notice(
            StatusCode::OK,
            lang,
            me,
            path,
            InboxText::NotOpenedTitle.get(lang),
            &[InboxText::NotOpenedBody.get(lang).to_owned()],
            Some(id),
        ),
        Lookup::Gone(r) => notice(
            StatusCode::GONE,
            lang,
            me,
            path,
            InboxText::GoneTitle.get(lang),
            &[gone_reason(*r, lang).to_owned()],
            None,
        ),
        Lookup::Shown(_) | Lookup::Unknown => notice(
            StatusCode::NOT_FOUND,
            lang,
            me,
            path,
            InboxText::UnknownTitle.get(lang),
            &[InboxText::UnknownBody.get(lang).to_owned()],
            None,
        ),
    }
}

/// A field's value as a person reads it: dates written out, yes/no in words.
fn value_text(field: trialog_protocol::FieldId, v: &serde_json::Value, lang: Lang) -> String {
    match (field.def().value, v) {
        (ValueType::Date, serde_json::Value::String(s)) => {
            match trialog_protocol::time::parse_date(s) {
                Some(d) => date(trialog_protocol::time::end_of_day(d), lang),
                None => safe(s),
            }
        }
        (_, serde_json::Value::String(s)) => safe(s),
        (_, serde_json::Value::Bool(true)) => InboxText::Yes.get(lang).to_owned(),
        (_, serde_json::Value::Bool(false)) => InboxText::No.get(lang).to_owned(),
        (_, other) => safe(&other.to_string()),
    }
}

/// The message's fields in catalogue order.
fn ordered(m: &ReadMessage) -> Vec<&(trialog_protocol::FieldId, serde_json::Value)> {
    let pos = |f: &trialog_protocol::FieldId| {
        trialog_protocol::catalogue::catalogue()
            .iter()
            .position(|d| d.id == f.as_str())
            .unwrap_or(usize::MAX)
    };
    let mut v: Vec<_> = m.fields.iter().collect();
    v.sort_by_key(|(f, _)| pos(f));
    v
}

/// The header facts, verification, fields and withheld fields: shared by the message page
/// and its print view.
fn message_body(s: &Shown, me: &AccountView, lang: Lang, heading: &str) -> Markup {
    let m = &s.m;
    let who = match &s.sender {
        Some(v) => name_of(v, lang),
        None => m
            .sender_name
            .as_deref()
            .map(safe)
            .unwrap_or_else(|| m.sender.to_string()),
    };
    let sender_riziv = s.sender.as_ref().and_then(riziv);
    let case = safe(&m.case_name);
    html! {
        h1 #message { (heading) }
        dl.facts {
            dt { (InboxText::From.get(lang)) }
            dd {
                (who) ", " (m.sender_role.label(lang))
                @if let Some(r) = &sender_riziv { " · " (Text::Riziv.get(lang)) " " (r) }
            }
            dt { (InboxText::To.get(lang)) }
            dd {
                (name_of(me, lang)) ", " (me.role.label(lang))
                @if let Some(r) = riziv(me) { " · " (Text::Riziv.get(lang)) " " (r) }
            }
            dt { (Text::Case.get(lang)) }
            dd {
                (case)
                @if case != s.reference { " · " span.fp { (s.reference) } }
            }
            dt { (InboxText::SentOn.get(lang)) }
            dd { (date(m.created_at, lang)) }
            @if let Some(at) = s.received_at {
                dt { (InboxText::ReceivedOn.get(lang)) }
                dd { (date(at, lang)) }
            }
        }
        section.verified aria-labelledby="verification" {
            h2 #verification { (InboxText::Verification.get(lang)) }
            p {
                strong.status-ok { "✓ " (InboxText::SignedBy.get(lang)) " " (who) }
                " (" (m.sender_role.label(lang)) "). "
                @match s.sender_trust.attested_at {
                    Some(at) => { (InboxText::SignatureOk.get(lang)) " " (date(at, lang)) ". " }
                    None => { (InboxText::SignaturePinned.get(lang)) " " }
                }
                (InboxText::FingerprintWord.get(lang)) ": "
                span.fp { (s.sender_fingerprint.as_deref().unwrap_or("—")) }
            }
            @if let Some(change) = &s.sender_trust.change {
                p.status-wait role="note" {
                    (InboxText::NewKey.get(lang)) " " (date(change.attested_at, lang)) "."
                }
            }
            p {
                (InboxText::ConsentLine.get(lang))
                @if let Some(w) = &s.withheld { " " (date(w.consent_from, lang)) }
                " (" (InboxText::ConsentVersion.get(lang)) " " span.fp { (m.consent_id) } "). "
                (InboxText::CheckedLine.get(lang))
            }
            @if m.leak_guard_override {
                p.status-wait role="note" { (InboxText::LeakOverride.get(lang)) }
            }
        }
        section aria-labelledby="fields" {
            h2 #fields { (InboxText::Fields.get(lang)) }
            dl.message-fields {
                @for (f, v) in ordered(m) {
                    @let medical = f.class() == FieldClass::Medical;
                    div.message-field.medical[medical] data-field=(f.as_str()) {
                        dt {
                            (f.def().label.get(lang))
                            @if medical {
                                " " span.tag.tag-medical title=(InboxText::MedicalShared.get(lang)) {
                                    (InboxText::Medical.get(lang))
                                }
                            }
                        }
                        dd { (value_text(*f, v, lang)) }
                    }
                }
            }
        }
        @if let Some(w) = s.withheld.as_ref().filter(|w| !w.stripped.is_empty()) {
            section.withheld aria-labelledby="withheld" {
                h2 #withheld { (InboxText::Withheld.get(lang)) }
                p.help { (InboxText::WithheldIntro.get(lang)) }
                ul.stripped-list {
                    @for st in &w.stripped {
                        li.stripped data-field=(st.field.as_str()) {
                            span.tag.tag-stripped { (InboxText::Stripped.get(lang)) }
                            " "
                            strong { (st.field.def().label.get(lang)) }
                            ": " (strip_reason(st.reason, lang))
                        }
                    }
                }
            }
        }
    }
}

/// The message of the address, as this client keeps it, with who is reading; or the page
/// that says why not (locked, a patient, a malformed id, not kept here). The keys are
/// released before the page is rendered.
async fn kept_message(
    app: &App,
    lang: Lang,
    path: &str,
    raw: &str,
) -> Result<(AccountView, MessageId, Box<Shown>), Response> {
    let mut vault = app.vault.lock().await;
    let (client, me) = unlocked(&mut vault)
        .await
        .map_err(|f| f.render(lang, None, path))?;
    if let Some(r) = patients_have_no_inbox(lang, &me, path) {
        return Err(r);
    }
    let Some(id) = parse_id(raw) else {
        return Err(bad_id(lang, &me, path));
    };
    let found = look_up(client, &id)
        .await
        .map_err(|e| failure(lang, &me, path, &e))?;
    drop(vault);
    match found {
        Lookup::Shown(s) => Ok((me, id, s)),
        other => Err(not_shown(lang, &me, path, &id, &other)),
    }
}

/// `GET /messages/{id}`: a message this client keeps, verified again, with its
/// verification in words and every withheld field marked.
pub async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/messages/{}", safe(&raw));
    let (me, id, s) = match kept_message(&app, lang, &path, &raw).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let m = &s.m;
    let heading = kind_name(m.kind, lang);
    let actions = replies(&me, m, lang);
    let body = html! {
        article.card.message aria-labelledby="message" {
            (message_body(&s, &me, lang, heading))
            div.actions {
                @for (href, text) in &actions {
                    a.button href=(href) { (text) }
                }
                a.button.quiet href={ "/messages/" (id) "/print" } { (InboxText::Print.get(lang)) }
                a href="/inbox" { (InboxText::BackToInbox.get(lang)) }
            }
        }
    };
    layout(lang, Some(&me), &path, heading, body).into_response()
}

/// The answers this physician may send to the sender, as links to the compose page.
fn replies(me: &AccountView, m: &ReadMessage, lang: Lang) -> Vec<(String, &'static str)> {
    let to =
        |kind: MessageKind| format!("/cases/{}/compose?kind={kind}&to={}", m.case_id, m.sender);
    let mut out = Vec::new();
    // Feedback answers a bilan (occupational and advising physicians to the treating one).
    if me.role.may_send(MessageKind::Feedback) && m.sender_role.may_receive(MessageKind::Feedback) {
        out.push((to(MessageKind::Feedback), InboxText::Reply.get(lang)));
    }
    // The treating physician answers feedback or a request with a new bilan.
    if me.role.may_send(MessageKind::Bilan) && m.sender_role.may_receive(MessageKind::Bilan) {
        out.push((to(MessageKind::Bilan), InboxText::SendBilan.get(lang)));
    }
    if me.role.may_send(MessageKind::Request) && m.sender_role.may_receive(MessageKind::Request) {
        out.push((to(MessageKind::Request), InboxText::AskUpdate.get(lang)));
    }
    out
}

/// `GET /messages/{id}/print`: the message as a clean sheet for the physician's own record
/// (the browser prints it, or saves it as PDF).
pub async fn print(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(raw): Path<String>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/messages/{}/print", safe(&raw));
    let (me, id, s) = match kept_message(&app, lang, &path, &raw).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let heading = kind_name(s.m.kind, lang);
    let body = html! {
        div.print-tools.no-print {
            button type="button" data-print hidden { (InboxText::PrintNow.get(lang)) }
            p.help { (InboxText::PrintHelp.get(lang)) }
            p { a href={ "/messages/" (id) } { (InboxText::BackToMessage.get(lang)) } }
        }
        article.print-sheet aria-labelledby="message" {
            p.print-brand { (Text::AppName.get(lang)) " · " span.fp { (id) } }
            (message_body(&s, &me, lang, heading))
            p.help.print-foot {
                (InboxText::PrintedOn.get(lang)) " " (date(trialog_protocol::time::now(), lang))
            }
        }
        script src="/assets/inbox.js" defer {}
    };
    layout(lang, Some(&me), &path, heading, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inbox_text_has_three_translations() {
        for t in InboxText::ALL {
            let (nl, fr, en) = t.all();
            assert!(!nl.is_empty() && !fr.is_empty() && !en.is_empty(), "{t:?}");
        }
        for t in [
            InboxText::Intro,
            InboxText::NotOpenedBody,
            InboxText::WithheldIntro,
        ] {
            let (nl, fr, en) = t.all();
            assert!(nl != en && fr != en, "{t:?} is not translated");
        }
    }
}
