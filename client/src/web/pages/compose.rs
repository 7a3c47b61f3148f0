//! Composing a message: `GET /cases/{id}/compose?kind=bilan&to=ACCOUNT&to=ACCOUNT` shows the
//! form, `POST` to the same path checks, previews or sends it.
//!
//! The form is built from the field catalogue, grouped by class, with the consent of each
//! chosen recipient applied: a field no chosen recipient may receive is disabled with the
//! reason, one only some may receive names who will. Every decision is the library's
//! (`Client::coverage`, `Client::preview`, `Client::send`): this page only shows it. Values
//! travel only in POST bodies, never in a URL, and are never logged; a refusal re-shows the
//! form filled in, so nothing typed is lost.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use trialog_protocol::api::AccountView;
use trialog_protocol::catalogue::{FieldClass, ValueType, catalogue};
use trialog_protocol::consent::Decision;
use trialog_protocol::leak_guard::LeakHit;
use trialog_protocol::{AccountId, CaseId, FieldId, Lang, MessageKind};

use super::{Failure, layout, name_of, riziv, safe, unlocked};
use crate::i18n::{choice_label, explain, leak_term, strip_reason, value_error};
use crate::message_file::form_value;
use crate::web::App;
use crate::web::i18n::{Text, texts};
use crate::{ClientError, Outgoing, VerifiedCase};

texts! {
    /// The words of the compose page.
    pub enum T {
        Title => ("Nieuw bericht", "Nouveau message", "New message"),
        Intro => (
            "Kies de ontvangers, vul in wat u wilt meedelen en kijk het na. Wat de patiënt een ontvanger niet toestaat, gaat niet naar die ontvanger.",
            "Choisissez les destinataires, remplissez ce que vous voulez communiquer et vérifiez. Ce que le patient n'autorise pas pour un destinataire ne lui parvient pas.",
            "Choose the recipients, fill in what you want to share and check it. What the patient does not allow a recipient does not go to that recipient.",
        ),
        Recipients => ("Ontvangers", "Destinataires", "Recipients"),
        NoCandidates => (
            "Geen enkele arts van dit dossier kan dit soort bericht ontvangen.",
            "Aucun médecin de ce dossier ne peut recevoir ce type de message.",
            "No physician of this case can receive this kind of message.",
        ),
        Kind => ("Soort bericht", "Type de message", "Kind of message"),
        KindBilan => ("Functioneel bilan", "Bilan fonctionnel", "Functional bilan"),
        KindFeedback => ("Terugkoppeling", "Retour", "Feedback"),
        KindRequest => ("Vraag om een update", "Demande de mise à jour", "Request for an update"),
        Apply => (
            "Ontvangers en soort toepassen",
            "Appliquer destinataires et type",
            "Apply recipients and kind",
        ),
        ClassFunctional => ("Functioneren en werk", "Fonctionnement et travail", "Functioning and work"),
        ClassAdministrative => ("Administratief", "Administratif", "Administrative"),
        ClassMedical => ("Medisch", "Médical", "Medical"),
        MedicalHelp => (
            "Medische gegevens gaan enkel naar een arts met wie de patiënt dat veld uitdrukkelijk medisch deelde.",
            "Les données médicales ne vont qu'au médecin avec qui le patient a explicitement partagé ce champ médicalement.",
            "Medical fields go only to a physician the patient explicitly shared that field with medically.",
        ),
        GoesToAll => ("Gaat naar", "Va à", "Goes to"),
        OnlyTo => ("Gaat enkel naar", "Va seulement à", "Goes only to"),
        NotSent => ("Wordt niet verstuurd", "Ne sera pas envoyé", "Will not be sent"),
        ChooseRecipient => (
            "Kies eerst een ontvanger.",
            "Choisissez d'abord un destinataire.",
            "Choose a recipient first.",
        ),
        NoValidConsent => (
            "geen geldige toestemming van de patiënt",
            "pas de consentement valable du patient",
            "no valid consent from the patient",
        ),
        LeakGuard => ("Lekbewaking", "Garde-fou", "Leak guard"),
        LeakIntro => (
            "Vrije tekst kan de diagnose verraden. Pas de aangeduide velden aan, of verstuur toch (dat wordt in het bericht vastgelegd).",
            "Le texte libre peut révéler le diagnostic. Modifiez les champs signalés, ou envoyez quand même (ce sera consigné dans le message).",
            "Free text may reveal the diagnosis. Edit the fields marked, or send anyway (this is recorded in the message).",
        ),
        Override => (
            "Toch versturen: ik las de bevindingen van de lekbewaking (wordt in het bericht vastgelegd)",
            "Envoyer quand même : j'ai lu les constats du garde-fou (consigné dans le message)",
            "Send anyway: I have read the leak guard's findings (recorded in the message)",
        ),
        NoFindings => (
            "Nagekeken: de lekbewaking vond niets.",
            "Vérifié : le garde-fou n'a rien trouvé.",
            "Checked: the leak guard found nothing.",
        ),
        Check => ("Nakijken", "Vérifier", "Check"),
        Preview => ("Voorbeeld per ontvanger", "Aperçu par destinataire", "Preview per recipient"),
        Send => ("Versturen", "Envoyer", "Send"),
        Actions => ("Acties", "Actions", "Actions"),
        PreviewTitle => (
            "Wat elke ontvanger zal krijgen",
            "Ce que chaque destinataire recevra",
            "What each recipient will receive",
        ),
        PreviewNothingSent => (
            "Dit is een voorbeeld: er is nog niets verstuurd.",
            "Ceci est un aperçu : rien n'a encore été envoyé.",
            "This is a preview: nothing has been sent yet.",
        ),
        Receives => ("Krijgt", "Reçoit", "Receives"),
        Stripped => ("Weggelaten", "Retiré", "Left out"),
        NothingTyped => (
            "Vul minstens één veld in.",
            "Remplissez au moins un champ.",
            "Fill in at least one field.",
        ),
        NoRecipient => (
            "Kies minstens één ontvanger.",
            "Choisissez au moins un destinataire.",
            "Choose at least one recipient.",
        ),
        FixErrors => (
            "Niets verstuurd. Verbeter de aangeduide velden; wat u typte staat er nog.",
            "Rien n'a été envoyé. Corrigez les champs signalés ; ce que vous avez tapé est conservé.",
            "Nothing was sent. Correct the fields marked; what you typed is still there.",
        ),
        LeakBlocked => (
            "Niets verstuurd: de lekbewaking vond iets. Pas de tekst aan of vink 'Toch versturen' aan.",
            "Rien n'a été envoyé : le garde-fou a trouvé quelque chose. Modifiez le texte ou cochez « Envoyer quand même ».",
            "Nothing was sent: the leak guard found something. Edit the text or tick 'Send anyway'.",
        ),
        SentTitle => ("Bericht verstuurd", "Message envoyé", "Message sent"),
        PartlySentTitle => (
            "Niet alles is verstuurd",
            "Tout n'a pas été envoyé",
            "Not everything was sent",
        ),
        SentTo => ("Verstuurd naar", "Envoyé à", "Sent to"),
        NotSentTo => ("Niet verstuurd naar", "Pas envoyé à", "Not sent to"),
        Fields => ("velden", "champs", "fields"),
        LeakOverridden => (
            "Lekbewaking overschreven; dat staat in het bericht.",
            "Garde-fou outrepassé ; c'est consigné dans le message.",
            "Leak guard overridden; this is recorded in the message.",
        ),
        SomeFailed => (
            "Niet elke ontvanger kreeg het bericht. Het formulier staat hieronder nog ingevuld.",
            "Tous les destinataires n'ont pas reçu le message. Le formulaire est encore rempli ci-dessous.",
            "Not every recipient got the message. The form is still filled in below.",
        ),
        BackToCase => ("Terug naar het dossier", "Retour au dossier", "Back to the case"),
        WriteAnother => ("Nog een bericht schrijven", "Écrire un autre message", "Write another message"),
        LockedTitle => (
            "Uw sleutels zijn intussen vergrendeld",
            "Vos clés ont été verrouillées entre-temps",
            "Your keys were locked meanwhile",
        ),
        LockedBody => (
            "Na een pauze vergrendelt Trialog uw sleutels. Er is niets verstuurd, en wat u typte is bewaard op deze pagina. Ontgrendel in een nieuw tabblad en klik dan hier op 'Verder schrijven'.",
            "Après une pause, Trialog verrouille vos clés. Rien n'a été envoyé, et ce que vous avez tapé est conservé sur cette page. Déverrouillez dans un nouvel onglet, puis cliquez ici sur « Continuer la rédaction ».",
            "After a pause Trialog locks your keys. Nothing was sent, and what you typed is kept on this page. Unlock in a new tab, then click 'Continue writing' here.",
        ),
        UnlockInNewTab => (
            "Ontgrendelen in een nieuw tabblad",
            "Déverrouiller dans un nouvel onglet",
            "Unlock in a new tab",
        ),
        ContinueWriting => ("Verder schrijven", "Continuer la rédaction", "Continue writing"),
        WriteInstead => ("Schrijf in de plaats:", "Écrire plutôt\u{a0}:", "Write instead:"),
        Choose => ("— kiezen —", "— choisir —", "— choose —"),
        BadKind => (
            "Onbekende soort bericht. Kies bilan, feedback of request.",
            "Type de message inconnu. Choisissez bilan, feedback ou request.",
            "Unknown kind of message. Choose bilan, feedback or request.",
        ),
        KindNotForRole => (
            "Uw rol kan dit soort bericht niet versturen. Een bilan komt van de behandelend arts; terugkoppeling van de arbeidsarts of de adviserend arts.",
            "Votre rôle ne peut pas envoyer ce type de message. Un bilan vient du médecin traitant ; un retour, du médecin du travail ou du médecin-conseil.",
            "Your role cannot send this kind of message. A bilan comes from the treating physician; feedback from the occupational or advising physician.",
        ),
        NoKindForRole => (
            "Een patiënt verstuurt geen berichten: u beheert wie wat mag zien via uw toestemmingen.",
            "Un patient n'envoie pas de messages : vous décidez qui voit quoi par vos consentements.",
            "A patient sends no messages: you decide who sees what through your consents.",
        ),
        UnknownField => (
            "Dit formulier bevat een veld dat niet in de lijst van Trialog staat:",
            "Ce formulaire contient un champ absent de la liste de Trialog :",
            "This form holds a field that is not in Trialog's list:",
        ),
        FieldsAside => (
            "Apart gehouden, want ze horen niet bij dit soort bericht (ze komen terug als u weer de vorige soort kiest):",
            "Mis de côté, car ils ne font pas partie de ce type de message (ils reviennent si vous choisissez à nouveau le type précédent) :",
            "Kept aside, as they are not part of this kind of message (they come back if you choose the previous kind again):",
        ),
        CannotReceive => (
            "Deze arts kan dit soort bericht niet van u ontvangen:",
            "Ce médecin ne peut pas recevoir ce type de message de votre part :",
            "This physician cannot receive this kind of message from you:",
        ),
        BadAction => (
            "Onbekende actie. Gebruik de knoppen van het formulier.",
            "Action inconnue. Utilisez les boutons du formulaire.",
            "Unknown action. Use the buttons of the form.",
        ),
        BadForm => (
            "Dit formulier kon niet gelezen worden. Open de pagina opnieuw vanuit het dossier.",
            "Ce formulaire n'a pas pu être lu. Rouvrez la page depuis le dossier.",
            "This form could not be read. Open the page again from the case.",
        ),
    }
}

/// The prefix of a field's input name: `value.limits.fatigue`.
const VALUE: &str = "value.";

/// What the person asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Show the form (a GET, or "apply recipients and kind").
    Show,
    Check,
    Preview,
    Send,
}

/// A request's form, as typed.
#[derive(Default)]
struct Input {
    kind: Option<String>,
    to: Vec<String>,
    /// Field id → the text typed, in the order received.
    values: Vec<(String, String)>,
    action: Option<String>,
    override_leak_guard: bool,
    /// POSTed: recipients are exactly those ticked, even none.
    posted: bool,
}

impl Input {
    fn from_pairs(pairs: Vec<(String, String)>, posted: bool) -> Input {
        let mut i = Input {
            posted,
            ..Input::default()
        };
        for (k, v) in pairs {
            match k.as_str() {
                "kind" => i.kind = Some(v),
                "to" => i.to.push(v),
                "action" => i.action = Some(v),
                "override" => i.override_leak_guard = v == "1",
                // Values are read from a POST body only: never from a URL.
                _ if posted => {
                    if let Some(id) = k.strip_prefix(VALUE) {
                        i.values.push((id.to_owned(), v));
                    }
                }
                _ => {}
            }
        }
        i
    }
}

/// `application/x-www-form-urlencoded` (also a query string) into its pairs, keys repeated
/// as sent; `None` if it is not UTF-8 once decoded.
fn pairs(s: &str) -> Option<Vec<(String, String)>> {
    fn decode(s: &str) -> Option<String> {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' => {
                    let hex = s.get(i + 1..i + 3)?;
                    out.push(u8::from_str_radix(hex, 16).ok()?);
                    i += 2;
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8(out).ok()
    }
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            Some((decode(k)?, decode(v)?))
        })
        .collect()
}

/// `GET /cases/{id}/compose?kind=…&to=…&to=…`
pub async fn page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = app.lang_of(&headers);
    let input = pairs(q.as_deref().unwrap_or("")).map(|p| Input::from_pairs(p, false));
    compose(&app, lang, &id, input).await
}

/// `POST /cases/{id}/compose`: `action` is `show`, `check`, `preview` or `send`.
pub async fn submit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: String,
) -> Response {
    let lang = app.lang_of(&headers);
    let input = pairs(&body).map(|p| Input::from_pairs(p, true));
    compose(&app, lang, &id, input).await
}

/// The kind's name, as physicians say it.
fn kind_label(kind: MessageKind, lang: Lang) -> &'static str {
    match kind {
        MessageKind::Bilan => T::KindBilan.get(lang),
        MessageKind::Feedback => T::KindFeedback.get(lang),
        MessageKind::Request => T::KindRequest.get(lang),
    }
}

fn class_label(class: FieldClass, lang: Lang) -> &'static str {
    match class {
        FieldClass::Functional => T::ClassFunctional.get(lang),
        FieldClass::Administrative => T::ClassAdministrative.get(lang),
        FieldClass::Medical => T::ClassMedical.get(lang),
    }
}

/// A typed value as the recipient will read it: a choice by its name.
fn shown_value(f: FieldId, typed: &str, lang: Lang) -> String {
    match f.def().value {
        ValueType::Choice(_) => choice_label(typed.trim(), lang).to_owned(),
        _ => typed.trim().to_owned(),
    }
}

/// ": ", or " : " as French writes it.
fn colon(lang: Lang) -> &'static str {
    match lang {
        Lang::Fr => "\u{a0}: ",
        Lang::Nl | Lang::En => ": ",
    }
}

/// The HTML id of a field's input.
fn input_id(f: FieldId) -> String {
    format!("f-{}", f.as_str().replace(['.', '_'], "-"))
}

/// A chosen recipient and what the patient's consent lets them receive.
struct Recipient {
    view: AccountView,
    /// The library's decision over every field of the kind, or why there is none.
    coverage: Result<Decision, String>,
}

impl Recipient {
    fn name(&self, lang: Lang) -> String {
        name_of(&self.view, lang)
    }
    fn gets(&self, f: FieldId) -> bool {
        self.coverage.as_ref().is_ok_and(|d| d.allowed.contains(&f))
    }
    /// Why `f` would not go to this recipient, in words.
    fn why_not(&self, f: FieldId, lang: Lang) -> String {
        match &self.coverage {
            Ok(d) => d
                .stripped
                .iter()
                .find(|s| s.field == f)
                .map(|s| strip_reason(s.reason, lang).to_owned())
                .unwrap_or_else(|| T::NoValidConsent.get(lang).to_owned()),
            Err(_) => T::NoValidConsent.get(lang).to_owned(),
        }
    }
}

/// Everything the form shows besides the catalogue.
#[derive(Default)]
struct Shown {
    /// Field → what is wrong with its value.
    errors: BTreeMap<FieldId, String>,
    /// Field → the leak guard's findings in it.
    findings: BTreeMap<FieldId, Vec<LeakHit>>,
    /// The leak guard ran (a check, preview or send) and found nothing.
    checked_clean: bool,
    /// Messages at the top of the form.
    notices: Vec<String>,
    /// Per recipient, what the library said about the message (preview or refusal).
    previews: Vec<(String, Result<crate::Preview, String>)>,
}

/// A page that says what is wrong with the request itself, with a 4xx status.
fn bad_request(
    status: StatusCode,
    lang: Lang,
    me: Option<&AccountView>,
    path: &str,
    case: Option<&CaseId>,
    lines: &[String],
) -> Response {
    let body = html! {
        section.card.error role="alert" {
            h1 { (Text::ErrorTitle.get(lang)) }
            @for l in lines { p { (l) } }
            @if let Some(c) = case {
                p { a href={ "/cases/" (c) } { (T::BackToCase.get(lang)) } }
            } @else {
                p { a href="/cases" { (Text::BackToCases.get(lang)) } }
            }
        }
    };
    (
        status,
        layout(lang, me, path, Text::ErrorTitle.get(lang), body),
    )
        .into_response()
}

async fn compose(app: &App, lang: Lang, id: &str, input: Option<Input>) -> Response {
    let path = format!("/cases/{}/compose", safe(id));
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        // Locked after a pause while the physician was writing: keep what they typed.
        Err(Failure::Locked) if input.as_ref().is_some_and(|i| i.posted) => {
            if let Some(i) = input {
                return locked_page(lang, &path, &i);
            }
            return Failure::Locked.render(lang, None, &path);
        }
        Err(f) => return f.render(lang, None, &path),
    };
    let bad = |status: StatusCode, case: Option<&CaseId>, lines: &[String]| {
        bad_request(status, lang, Some(&me), &path, case, lines)
    };
    let Ok(case_id) = CaseId::parse(id) else {
        return bad(
            StatusCode::NOT_FOUND,
            None,
            &[Text::BadCaseId.get(lang).to_owned()],
        );
    };
    let Some(input) = input else {
        return bad(
            StatusCode::BAD_REQUEST,
            Some(&case_id),
            &[T::BadForm.get(lang).to_owned()],
        );
    };
    let action = match input.action.as_deref() {
        None | Some("show") => Action::Show,
        Some("check") => Action::Check,
        Some("preview") => Action::Preview,
        Some("send") => Action::Send,
        Some(_) => {
            return bad(
                StatusCode::BAD_REQUEST,
                Some(&case_id),
                &[T::BadAction.get(lang).to_owned()],
            );
        }
    };
    let sendable: Vec<MessageKind> = MessageKind::ALL
        .into_iter()
        .filter(|k| me.role.may_send(*k))
        .collect();
    let Some(&first_kind) = sendable.first() else {
        return bad(
            StatusCode::FORBIDDEN,
            Some(&case_id),
            &[T::NoKindForRole.get(lang).to_owned()],
        );
    };
    let kind = match input.kind.as_deref() {
        None | Some("") => first_kind,
        Some(k) => match k.parse::<MessageKind>() {
            Ok(k) if sendable.contains(&k) => k,
            Ok(_) => {
                // The way on: the same recipients (those named by account id, which need no
                // escaping), with a kind this role sends.
                let mut href = format!("/cases/{case_id}/compose?kind={first_kind}");
                for a in input
                    .to
                    .iter()
                    .filter_map(|t| AccountId::parse(t.trim()).ok())
                {
                    href.push_str(&format!("&to={a}"));
                }
                let body = html! {
                    section.card.error role="alert" {
                        h1 { (Text::ErrorTitle.get(lang)) }
                        p { (T::KindNotForRole.get(lang)) }
                        p { a #instead href=(href) { (T::WriteInstead.get(lang)) " " (kind_label(first_kind, lang)) } }
                        p { a href={ "/cases/" (case_id) } { (T::BackToCase.get(lang)) } }
                    }
                };
                let page = layout(lang, Some(&me), &path, Text::ErrorTitle.get(lang), body);
                return (StatusCode::FORBIDDEN, page).into_response();
            }
            Err(_) => {
                return bad(
                    StatusCode::BAD_REQUEST,
                    Some(&case_id),
                    &[T::BadKind.get(lang).to_owned()],
                );
            }
        },
    };
    // Values: every name must be a catalogue field. Those the kind does not carry (typed
    // before the kind was switched) are kept aside in the form, never sent.
    let mut typed: Vec<(FieldId, String)> = Vec::new();
    let mut aside: Vec<(FieldId, String)> = Vec::new();
    for (name, v) in &input.values {
        let Ok(f) = FieldId::parse(name) else {
            return bad(
                StatusCode::BAD_REQUEST,
                Some(&case_id),
                &[format!("{} {}", T::UnknownField.get(lang), safe(name))],
            );
        };
        let list = if f.def().kinds.contains(&kind) {
            &mut typed
        } else if v.trim().is_empty() {
            continue;
        } else {
            &mut aside
        };
        list.retain(|(g, _)| *g != f);
        list.push((f, v.clone()));
    }
    let case = match client.case(&case_id).await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
    };
    let candidates: Vec<AccountView> = case
        .physicians()
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| v.account != me.account && v.role.may_receive(kind))
        .cloned()
        .collect();
    // Recipients: as named (account id, role or RIZIV/INAMI number, resolved by the
    // library), else on a first visit those a kind usually goes to.
    let mut chosen: Vec<AccountId> = Vec::new();
    if input.to.is_empty() && !input.posted {
        if kind != MessageKind::Request {
            chosen = candidates.iter().map(|v| v.account.clone()).collect();
        }
    } else {
        for to in input.to.iter().filter(|t| !t.trim().is_empty()) {
            let account = match case.resolve(to) {
                Ok(a) => a,
                Err(e) => {
                    return bad(
                        StatusCode::BAD_REQUEST,
                        Some(&case_id),
                        &[explain(&e, lang)],
                    );
                }
            };
            if !candidates.iter().any(|c| c.account == account) {
                let line = if case.physician(&account).is_some() {
                    format!("{} {}", T::CannotReceive.get(lang), safe(to))
                } else {
                    explain(&ClientError::NotAMember { account: safe(to) }, lang)
                };
                return bad(StatusCode::BAD_REQUEST, Some(&case_id), &[line]);
            }
            if !chosen.contains(&account) {
                chosen.push(account);
            }
        }
    }
    let mut recipients = Vec::new();
    for a in &chosen {
        let Some(view) = candidates.iter().find(|c| &c.account == a).cloned() else {
            continue;
        };
        let coverage = client
            .coverage(&case_id, a, kind)
            .await
            .map_err(|e| explain(&e, lang));
        recipients.push(Recipient { view, coverage });
    }

    let mut shown = Shown::default();
    let mut values: Vec<(FieldId, serde_json::Value)> = Vec::new();
    for (f, t) in &typed {
        match form_value(*f, t) {
            Ok(Some(v)) => values.push((*f, v)),
            Ok(None) => {}
            Err(e) => {
                shown.errors.insert(*f, value_error(&e, lang));
            }
        }
    }
    let form = FormState {
        case: &case,
        kind,
        sendable: &sendable,
        candidates: &candidates,
        recipients: &recipients,
        typed: &typed,
        aside: &aside,
        override_leak_guard: input.override_leak_guard,
    };
    if action == Action::Show {
        return page_with(lang, &me, &path, &form, &shown, StatusCode::OK, None);
    }
    // Check, preview, send: the form must be complete first.
    if recipients.is_empty() {
        shown.notices.push(T::NoRecipient.get(lang).to_owned());
    }
    if values.is_empty() && shown.errors.is_empty() {
        shown.notices.push(T::NothingTyped.get(lang).to_owned());
    }
    if !shown.errors.is_empty() {
        shown.notices.push(T::FixErrors.get(lang).to_owned());
    }
    if !shown.notices.is_empty() {
        return page_with(
            lang,
            &me,
            &path,
            &form,
            &shown,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
        );
    }
    let outgoing = |to: &AccountId| Outgoing {
        case: case_id.clone(),
        to: to.clone(),
        kind,
        values: values.clone(),
        override_leak_guard: input.override_leak_guard,
    };
    // The same decision `send` takes, for every recipient: the leak guard's findings.
    for r in &recipients {
        let p = client
            .preview(outgoing(&r.view.account))
            .await
            .map_err(|e| explain(&e, lang));
        if let Ok(p) = &p {
            for h in &p.leak_guard {
                let list = shown.findings.entry(h.field).or_default();
                if !list.contains(h) {
                    list.push(h.clone());
                }
            }
        }
        shown.previews.push((r.name(lang), p));
    }
    shown.checked_clean = shown.findings.is_empty();
    match action {
        Action::Check | Action::Show => {
            shown.previews.clear();
            page_with(lang, &me, &path, &form, &shown, StatusCode::OK, None)
        }
        Action::Preview => page_with(lang, &me, &path, &form, &shown, StatusCode::OK, None),
        Action::Send => {
            if !shown.findings.is_empty() && !input.override_leak_guard {
                shown.previews.clear();
                shown.notices.push(T::LeakBlocked.get(lang).to_owned());
                return page_with(
                    lang,
                    &me,
                    &path,
                    &form,
                    &shown,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    None,
                );
            }
            shown.previews.clear();
            let mut results = Vec::new();
            for r in &recipients {
                let sent = client.send(outgoing(&r.view.account)).await;
                results.push((r, sent));
            }
            let outcome = sent_report(lang, &case_id, &results);
            let all_failed = results.iter().all(|(_, s)| s.is_err());
            let any_failed = results.iter().any(|(_, s)| s.is_err());
            let status = if !all_failed {
                StatusCode::OK
            } else if results.iter().any(|(_, s)| {
                matches!(
                    s,
                    Err(ClientError::Api { .. }
                        | ClientError::Network(_)
                        | ClientError::BadResponse(_))
                )
            }) {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            if any_failed {
                shown.notices.push(T::SomeFailed.get(lang).to_owned());
                page_with(lang, &me, &path, &form, &shown, status, Some(outcome))
            } else {
                let body = html! { (outcome) };
                (
                    status,
                    layout(lang, Some(&me), &path, T::SentTitle.get(lang), body),
                )
                    .into_response()
            }
        }
    }
}

/// The keys were locked (idle) when a filled-in form came in: nothing is done, and the
/// form comes back as hidden fields with a button to continue once unlocked in another
/// tab, so not a word typed is lost.
fn locked_page(lang: Lang, path: &str, i: &Input) -> Response {
    let body = html! {
        section.card.warning role="alert" aria-labelledby="locked" {
            h1 #locked { (T::LockedTitle.get(lang)) }
            p { (T::LockedBody.get(lang)) }
            p { a href="/unlock" target="_blank" rel="noopener" { (T::UnlockInNewTab.get(lang)) } }
            form method="post" action=(path) {
                @if let Some(k) = &i.kind { input type="hidden" name="kind" value=(k); }
                @for t in &i.to { input type="hidden" name="to" value=(t); }
                @for (f, v) in &i.values { input type="hidden" name={ (VALUE) (f) } value=(v); }
                @if i.override_leak_guard { input type="hidden" name="override" value="1"; }
                button #continue type="submit" name="action" value="show" { (T::ContinueWriting.get(lang)) }
            }
        }
    };
    (
        StatusCode::UNAUTHORIZED,
        layout(lang, None, path, T::LockedTitle.get(lang), body),
    )
        .into_response()
}

/// What the form is built from.
struct FormState<'a> {
    case: &'a VerifiedCase,
    kind: MessageKind,
    sendable: &'a [MessageKind],
    candidates: &'a [AccountView],
    recipients: &'a [Recipient],
    typed: &'a [(FieldId, String)],
    /// Values of fields the kind does not carry, carried along unsent.
    aside: &'a [(FieldId, String)],
    override_leak_guard: bool,
}

impl FormState<'_> {
    fn typed(&self, f: FieldId) -> &str {
        self.typed
            .iter()
            .find(|(g, _)| *g == f)
            .map_or("", |(_, v)| v.as_str())
    }
    fn is_chosen(&self, a: &AccountId) -> bool {
        self.recipients.iter().any(|r| &r.view.account == a)
    }
}

/// Per recipient: sent (with the fields) or not (with why), and the way back.
fn sent_report(
    lang: Lang,
    case: &CaseId,
    results: &[(&Recipient, Result<crate::SendReport, ClientError>)],
) -> Markup {
    html! {
        section.card.sent aria-labelledby="sent" role="status" {
            h1 #sent {
                @if results.iter().all(|(_, r)| r.is_ok()) {
                    (T::SentTitle.get(lang))
                } @else {
                    (T::PartlySentTitle.get(lang))
                }
            }
            ul.outcomes {
                @for (r, res) in results {
                    @match res {
                        Ok(rep) => {
                            li.status-ok {
                                strong { (T::SentTo.get(lang)) " " (r.name(lang)) }
                                " (" (r.view.role.label(lang)) ")" (colon(lang))
                                (rep.sent.len()) " " (T::Fields.get(lang)) (colon(lang))
                                (rep.sent.iter().map(|f| f.def().label.get(lang)).collect::<Vec<_>>().join(", "))
                                @if !rep.stripped.is_empty() {
                                    br;
                                    span.help { (T::Stripped.get(lang)) (colon(lang))
                                        (rep.stripped.iter().map(|s| format!("{} ({})", s.field.def().label.get(lang), strip_reason(s.reason, lang))).collect::<Vec<_>>().join("; ")) }
                                }
                                @if !rep.leak_guard_overridden.is_empty() {
                                    br; span.help { (T::LeakOverridden.get(lang)) }
                                }
                            }
                        }
                        Err(e) => {
                            li.refused {
                                strong { (T::NotSentTo.get(lang)) " " (r.name(lang)) }
                                " (" (r.view.role.label(lang)) ")" (colon(lang))
                                (safe(&explain(e, lang)))
                            }
                        }
                    }
                }
            }
            p.links {
                a href={ "/cases/" (case) } { (T::BackToCase.get(lang)) }
                " · "
                a href={ "/cases/" (case) "/compose" } { (T::WriteAnother.get(lang)) }
            }
        }
    }
}

/// The note under a field: who will get it, or why nobody will.
fn field_note(f: FieldId, form: &FormState<'_>, lang: Lang) -> (bool, Markup) {
    let rs = form.recipients;
    if rs.is_empty() {
        return (true, html! { (T::ChooseRecipient.get(lang)) });
    }
    let getting: Vec<&Recipient> = rs.iter().filter(|r| r.gets(f)).collect();
    let missing: Vec<&Recipient> = rs.iter().filter(|r| !r.gets(f)).collect();
    let reasons = |list: &[&Recipient]| {
        list.iter()
            .map(|r| format!("{}{}{}", r.name(lang), colon(lang), r.why_not(f, lang)))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let names = |list: &[&Recipient]| {
        list.iter()
            .map(|r| r.name(lang))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if getting.is_empty() {
        (
            false,
            html! { span.not-sent { (T::NotSent.get(lang)) ". " (reasons(&missing)) "." } },
        )
    } else if missing.is_empty() {
        (
            true,
            html! { (T::GoesToAll.get(lang)) " " (names(&getting)) "." },
        )
    } else {
        (
            true,
            html! { span.partial { (T::OnlyTo.get(lang)) " " (names(&getting)) ". " (reasons(&missing)) "." } },
        )
    }
}

/// One field: label, explanation, input of its type, who gets it, and what is wrong.
fn field_markup(f: FieldId, form: &FormState<'_>, shown: &Shown, lang: Lang) -> Markup {
    let def = f.def();
    let id = input_id(f);
    let name = format!("{VALUE}{}", f.as_str());
    let (enabled, note) = field_note(f, form, lang);
    let value = form.typed(f);
    let error = shown.errors.get(&f);
    let findings = shown.findings.get(&f);
    let described = format!("{id}-hint {id}-note {id}-findings");
    let invalid = if error.is_some() || findings.is_some() {
        "true"
    } else {
        "false"
    };
    html! {
        div.field.compose-field.disabled[!enabled] {
            label for=(id) { (def.label.get(lang)) }
            p.help id={ (id) "-hint" } { (def.hint.get(lang)) }
            @match def.value {
                ValueType::Text => {
                    textarea id=(id) name=(name) rows="3" disabled[!enabled]
                        aria-describedby=(described) aria-invalid=(invalid) { (value) }
                }
                ValueType::Date => {
                    input id=(id) name=(name) type="date" value=(value) disabled[!enabled]
                        aria-describedby=(described) aria-invalid=(invalid);
                }
                ValueType::Number { min, max } => {
                    input.number id=(id) name=(name) type="text" inputmode="decimal" value=(value)
                        disabled[!enabled] data-min=(min) data-max=(max)
                        aria-describedby=(described) aria-invalid=(invalid);
                }
                ValueType::Choice(choices) => {
                    select id=(id) name=(name) disabled[!enabled]
                        aria-describedby=(described) aria-invalid=(invalid) {
                        option value="" { (T::Choose.get(lang)) }
                        @for c in choices {
                            option value=(c) selected[*c == value] { (choice_label(c, lang)) }
                        }
                    }
                }
            }
            @if !enabled && !value.is_empty() {
                // A disabled input is not submitted: what was typed rides along, so that
                // choosing another recipient loses nothing (the library strips it).
                input type="hidden" name=(name) value=(value);
            }
            p.note id={ (id) "-note" } { (note) }
            div.findings id={ (id) "-findings" } data-findings=(id) {
                @if let Some(e) = error {
                    p.field-error role="alert" { (e) }
                }
                @if let Some(hits) = findings {
                    @for h in hits {
                        p.leak role="alert" {
                            strong { (T::LeakGuard.get(lang)) (colon(lang)) }
                            (def.label.get(lang)) (colon(lang)) (safe(&leak_term(h, lang)))
                        }
                    }
                }
            }
        }
    }
}

fn page_with(
    lang: Lang,
    me: &AccountView,
    path: &str,
    form: &FormState<'_>,
    shown: &Shown,
    status: StatusCode,
    before: Option<Markup>,
) -> Response {
    let case_id = &form.case.view.case_id;
    let case_name = safe(form.case.name());
    let title = format!("{} · {}", T::Title.get(lang), case_name);
    let fields: Vec<FieldId> = catalogue()
        .iter()
        .filter(|d| d.kinds.contains(&form.kind))
        .filter_map(|d| FieldId::parse(d.id).ok())
        .collect();
    let any_findings = !shown.findings.is_empty();
    let body = html! {
        @if let Some(b) = before { (b) }
        section.card.compose aria-labelledby="compose-title" {
            h1 #compose-title { (T::Title.get(lang)) }
            p.help { (Text::Case.get(lang)) (colon(lang)) a href={ "/cases/" (case_id) } { (case_name) } }
            p { (T::Intro.get(lang)) }
            @if !shown.notices.is_empty() {
                div.card.error #notices role="alert" {
                    @for n in &shown.notices { p { (n) } }
                }
            }
            @if any_findings {
                div.card.warning #leak-summary role="alert" {
                    p { strong { (T::LeakGuard.get(lang)) (colon(lang)) } (T::LeakIntro.get(lang)) }
                    ul {
                        @for hits in shown.findings.values() {
                            @for h in hits {
                                li { a href={ "#" (input_id(h.field)) } { (h.field.def().label.get(lang)) } (colon(lang)) (safe(&leak_term(h, lang))) }
                            }
                        }
                    }
                }
            } @else if shown.checked_clean {
                p.status-ok #leak-clean role="status" { (T::NoFindings.get(lang)) }
            }
            form #compose-form method="post" action={ "/cases/" (case_id) "/compose" } novalidate {
                fieldset.recipients {
                    legend { (T::Recipients.get(lang)) }
                    @if form.candidates.is_empty() {
                        p { (T::NoCandidates.get(lang)) }
                    }
                    ul.choices {
                        @for (i, c) in form.candidates.iter().enumerate() {
                            @let cid = format!("to-{i}");
                            li {
                                input id=(cid) type="checkbox" name="to" value=(c.account)
                                    checked[form.is_chosen(&c.account)] data-autosubmit="1";
                                label.inline for=(cid) {
                                    strong { (name_of(c, lang)) }
                                    " · " (c.role.label(lang))
                                    @if let Some(r) = riziv(c) { " · " (Text::Riziv.get(lang)) " " (r) }
                                }
                                @if let Some(r) = form.recipients.iter().find(|r| r.view.account == c.account) {
                                    @if let Err(e) = &r.coverage {
                                        p.help.not-sent { (safe(e)) }
                                    }
                                }
                            }
                        }
                    }
                }
                @if form.sendable.len() > 1 {
                    fieldset.kinds {
                        legend { (T::Kind.get(lang)) }
                        ul.choices {
                            @for k in form.sendable {
                                @let kid = format!("kind-{}", k.as_str());
                                li {
                                    input id=(kid) type="radio" name="kind" value=(k.as_str())
                                        checked[*k == form.kind] data-autosubmit="1";
                                    label.inline for=(kid) { (kind_label(*k, lang)) }
                                }
                            }
                        }
                    }
                } @else {
                    input type="hidden" name="kind" value=(form.kind.as_str());
                    p { (T::Kind.get(lang)) (colon(lang)) strong { (kind_label(form.kind, lang)) } }
                }
                @if !form.aside.is_empty() {
                    p.help #aside {
                        (T::FieldsAside.get(lang)) " "
                        (form.aside.iter().map(|(f, _)| f.def().label.get(lang)).collect::<Vec<_>>().join(", "))
                    }
                    @for (f, v) in form.aside {
                        input type="hidden" name={ (VALUE) (f.as_str()) } value=(v);
                    }
                }
                p { button.quiet #apply type="submit" name="action" value="show" { (T::Apply.get(lang)) } }
                @for class in [FieldClass::Functional, FieldClass::Administrative, FieldClass::Medical] {
                    @let in_class: Vec<FieldId> = fields.iter().copied().filter(|f| f.class() == class).collect();
                    @if !in_class.is_empty() {
                        fieldset.class {
                            legend { (class_label(class, lang)) }
                            @if class == FieldClass::Medical {
                                p.help { (T::MedicalHelp.get(lang)) }
                            }
                            @for f in in_class {
                                (field_markup(f, form, shown, lang))
                            }
                        }
                    }
                }
                @if any_findings || form.override_leak_guard {
                    div.field.override {
                        input #override type="checkbox" name="override" value="1" checked[form.override_leak_guard];
                        label.inline for="override" { (T::Override.get(lang)) }
                    }
                }
                div.actions role="group" aria-label=(T::Actions.get(lang)) {
                    button.quiet #check type="submit" name="action" value="check" { (T::Check.get(lang)) }
                    button.quiet #preview type="submit" name="action" value="preview" { (T::Preview.get(lang)) }
                    button #send type="submit" name="action" value="send" { (T::Send.get(lang)) }
                }
            }
        }
        @if !shown.previews.is_empty() {
            section.card.preview #preview-result aria-labelledby="preview-title" {
                h2 #preview-title { (T::PreviewTitle.get(lang)) }
                p.help { (T::PreviewNothingSent.get(lang)) }
                @for (who, p) in &shown.previews {
                    article.recipient {
                        h3 { (who) }
                        @match p {
                            Ok(p) => {
                                h4 { (T::Receives.get(lang)) }
                                dl.facts {
                                    @for f in &p.sent {
                                        dt { (f.def().label.get(lang)) }
                                        dd { (shown_value(*f, form.typed(*f), lang)) }
                                    }
                                }
                                @if !p.stripped.is_empty() {
                                    h4 { (T::Stripped.get(lang)) }
                                    ul {
                                        @for s in &p.stripped {
                                            li { (s.field.def().label.get(lang)) (colon(lang)) (strip_reason(s.reason, lang)) }
                                        }
                                    }
                                }
                                @for h in &p.leak_guard {
                                    p.leak { strong { (T::LeakGuard.get(lang)) (colon(lang)) } (h.field.def().label.get(lang)) (colon(lang)) (safe(&leak_term(h, lang))) }
                                }
                            }
                            Err(e) => { p.not-sent { (safe(e)) } }
                        }
                    }
                }
            }
        }
        script src="/assets/compose.js" {}
    };
    (status, layout(lang, Some(me), path, &title, body)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_bodies_keep_repeated_keys_and_decode() {
        let p = pairs("to=a&to=b&value.remarks=caf%C3%A9+ok&kind=bilan").unwrap();
        assert_eq!(
            p,
            vec![
                ("to".into(), "a".into()),
                ("to".into(), "b".into()),
                ("value.remarks".into(), "café ok".into()),
                ("kind".into(), "bilan".into()),
            ]
        );
        assert!(pairs("x=%FF").is_none());
        assert!(pairs("x=%4").is_none());
    }

    #[test]
    fn values_are_never_read_from_a_url() {
        let p = pairs("kind=bilan&value.remarks=secret").unwrap();
        assert!(Input::from_pairs(p, false).values.is_empty());
    }

    #[test]
    fn every_word_has_three_translations() {
        for t in T::ALL {
            let (nl, fr, en) = t.all();
            assert!(!nl.is_empty() && !fr.is_empty() && !en.is_empty(), "{t:?}");
        }
    }
}
