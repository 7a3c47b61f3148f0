//! Who is in a case, changed from its page: the treating physician confirms the patient's
//! key; the patient adds physicians from the directory (the treating physician invites
//! them, and the patient's own addition makes them active) and removes them.
//!
//! Every change is a POST that redirects back to the case with `?done=…`, so a reload
//! does not repeat it; a refusal re-shows the case with the sentence that says why.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;
use trialog_protocol::api::{AccountView, MemberStatus};
use trialog_protocol::{AccountId, CaseId, Lang, Role};

use super::{Failure, layout, name_of, riziv, safe, unlocked};
use crate::i18n::explain;
use crate::web::App;
use crate::web::i18n::{Text, texts};
use crate::{ClientError, VerifiedCase};

texts! {
    pub enum T {
        ConfirmTitle => ("Sleutel van de patiënt bevestigen", "Confirmer la clé du patient", "Confirm the patient's key"),
        ConfirmIntro => (
            "Laat de patiënt de vingerafdruk voorlezen die zijn Trialog toont, en typ hem hier. Pas na deze bevestiging telt zijn toestemming.",
            "Demandez au patient de lire l'empreinte que son Trialog affiche, et tapez-la ici. Son consentement ne compte qu'après cette confirmation.",
            "Have the patient read out the fingerprint their Trialog shows, and type it here. Their consent counts only after this confirmation.",
        ),
        FingerprintReadOut => ("Voorgelezen vingerafdruk", "Empreinte lue", "Fingerprint read out"),
        FingerprintFormat => (
            "32 tekens in groepjes, zoals de patiënt ze leest; spaties tellen niet.",
            "32 caractères par groupes, comme le patient les lit ; les espaces ne comptent pas.",
            "32 characters in groups, as the patient reads them; spaces do not count.",
        ),
        Confirm => ("Bevestigen", "Confirmer", "Confirm"),
        Confirmed => ("De sleutel van de patiënt is bevestigd.", "La clé du patient est confirmée.", "The patient's key is confirmed."),
        AddTitle => ("Een arts toevoegen", "Ajouter un médecin", "Add a physician"),
        AddIntroPatient => (
            "Kies uw arbeidsarts en de adviserend arts van uw ziekenfonds. Ze zien niets van u voordat u hen toestemming geeft.",
            "Choisissez votre médecin du travail et le médecin-conseil de votre mutualité. Ils ne voient rien de vous avant que vous leur donniez votre consentement.",
            "Choose your occupational physician and your health-insurance fund's advising physician. They see nothing of yours until you grant them consent.",
        ),
        AddIntroTreating => (
            "U nodigt een arts uit; hij wordt lid zodra de patiënt hem ook toevoegt.",
            "Vous invitez un médecin ; il devient membre dès que le patient l'ajoute aussi.",
            "You invite a physician; they become a member once the patient adds them too.",
        ),
        Physician => ("Arts", "Médecin", "Physician"),
        Add => ("Toevoegen", "Ajouter", "Add"),
        Invite => ("Uitnodigen", "Inviter", "Invite"),
        NobodyToAdd => (
            "Alle geregistreerde arbeidsartsen en adviserend artsen zijn al lid van dit dossier.",
            "Tous les médecins du travail et médecins-conseils enregistrés sont déjà membres de ce dossier.",
            "Every registered occupational and advising physician is already a member of this case.",
        ),
        Added => ("De arts is toegevoegd.", "Le médecin a été ajouté.", "The physician was added."),
        Invited => (
            "De arts is uitgenodigd; de patiënt moet hem nog toevoegen.",
            "Le médecin est invité ; le patient doit encore l'ajouter.",
            "The physician is invited; the patient still has to add them.",
        ),
        Remove => ("Verwijderen", "Retirer", "Remove"),
        RemoveTitle => ("Een arts uit het dossier verwijderen", "Retirer un médecin du dossier", "Remove a physician from the case"),
        RemoveWhat => (
            "Als u deze arts verwijdert: wordt uw toestemming aan hem ingetrokken (u ondertekent dat nu), worden de berichten die hij nog niet gelezen heeft vernietigd, en ziet hij het dossier niet meer. Wat hij al gelezen heeft, kan niet teruggehaald worden.",
            "Si vous retirez ce médecin : votre consentement envers lui est révoqué (vous le signez maintenant), les messages qu'il n'a pas encore lus sont détruits, et il ne voit plus le dossier. Ce qu'il a déjà lu ne peut pas être repris.",
            "If you remove this physician: your consent to them is revoked (you sign that now), the messages they have not read yet are destroyed, and they no longer see the case. What they have already read cannot be taken back.",
        ),
        RemoveConfirm => ("Ja, verwijderen", "Oui, retirer", "Yes, remove"),
        Cancel => ("Annuleren", "Annuler", "Cancel"),
        Removed => ("De arts is uit het dossier verwijderd.", "Le médecin a été retiré du dossier.", "The physician was removed from the case."),
        NotAMember => ("Deze arts is geen lid van dit dossier.", "Ce médecin n'est pas membre de ce dossier.", "This physician is not a member of this case."),
        BadAccount => ("Dit is geen geldig account.", "Ce n'est pas un compte valide.", "This is not a valid account."),
    }
}

/// The sentence for `?done=…` after a change, if it is one of ours.
pub fn done_notice(done: &str, lang: Lang) -> Option<&'static str> {
    Some(match done {
        "confirmed" => T::Confirmed.get(lang),
        "added" => T::Added.get(lang),
        "invited" => T::Invited.get(lang),
        "removed" => T::Removed.get(lang),
        _ => return None,
    })
}

/// The confirm form: for the treating physician, while the patient has joined but their
/// key is not yet confirmed.
pub fn confirm_form(lang: Lang, case: &CaseId, error: Option<&str>) -> Markup {
    html! {
        section.card aria-labelledby="confirm" {
            h2 #confirm { (T::ConfirmTitle.get(lang)) }
            p { (T::ConfirmIntro.get(lang)) }
            @if let Some(e) = error {
                div.card.error role="alert" { @for l in e.lines() { p { (safe(l)) } } }
            }
            form method="post" action={ "/cases/" (case) "/confirm" } {
                div.field {
                    label for="fingerprint" { (T::FingerprintReadOut.get(lang)) }
                    input #fingerprint type="text" name="fingerprint" required autocomplete="off"
                        spellcheck="false" aria-describedby="fingerprint-help";
                    p.help #fingerprint-help { (T::FingerprintFormat.get(lang)) }
                }
                button type="submit" { (T::Confirm.get(lang)) }
            }
        }
    }
}

/// The add form: for the patient (adds) and the treating physician (invites), listing the
/// registered work-side physicians who are not active members yet.
pub fn add_form(
    lang: Lang,
    me: &AccountView,
    case: &VerifiedCase,
    directory: &[AccountView],
) -> Markup {
    let member = |a: &AccountId| {
        case.view
            .members
            .iter()
            .find(|m| &m.account.account == a)
            .map(|m| m.status)
    };
    let patient = me.role == Role::Patient;
    let candidates: Vec<&AccountView> = directory
        .iter()
        .filter(|a| matches!(a.role, Role::Occupational | Role::Advising))
        .filter(|a| match member(&a.account) {
            Some(MemberStatus::Active) => false,
            // The patient's addition is what makes an invited physician active.
            Some(MemberStatus::Invited) => patient,
            _ => true,
        })
        .collect();
    html! {
        section.card aria-labelledby="add" {
            h2 #add { (T::AddTitle.get(lang)) }
            p.help {
                @if patient { (T::AddIntroPatient.get(lang)) } @else { (T::AddIntroTreating.get(lang)) }
            }
            @if candidates.is_empty() {
                p { (T::NobodyToAdd.get(lang)) }
            } @else {
                form method="post" action={ "/cases/" (case.view.case_id) "/members" } {
                    div.field {
                        label for="member" { (T::Physician.get(lang)) }
                        select #member name="member" required {
                            @for a in &candidates {
                                option value=(a.account) {
                                    (name_of(a, lang)) " · " (a.role.label(lang))
                                    @if let Some(r) = riziv(a) { " · " (Text::Riziv.get(lang)) " " (r) }
                                    @if member(&a.account) == Some(MemberStatus::Invited) {
                                        " (" (crate::web::i18n::member_status(MemberStatus::Invited, lang)) ")"
                                    }
                                }
                            }
                        }
                    }
                    button type="submit" {
                        @if patient { (T::Add.get(lang)) } @else { (T::Invite.get(lang)) }
                    }
                }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    fingerprint: String,
}

/// Re-renders the case page with a refusal above it.
async fn case_with_error(
    app: &App,
    headers: &HeaderMap,
    id: &str,
    status: StatusCode,
    msg: &str,
) -> Response {
    let mut resp = super::cases::render(app, headers, id, None, Some(msg)).await;
    if resp.status().is_success() {
        *resp.status_mut() = status;
    }
    resp
}

/// After a change: back to the case with its notice (`done`, see [`done_notice`]), or the
/// case again with the refusal in words.
async fn outcome(
    app: &App,
    headers: &HeaderMap,
    id: &str,
    case: &CaseId,
    result: Result<&'static str, ClientError>,
) -> Response {
    match result {
        Ok(done) => Redirect::to(&format!("/cases/{case}?done={done}")).into_response(),
        Err(e) => {
            let msg = explain(&e, app.lang_of(headers));
            case_with_error(app, headers, id, super::status_of(&e), &msg).await
        }
    }
}

fn parse_case(id: &str) -> Option<CaseId> {
    CaseId::parse(id).ok()
}

/// `POST /cases/{id}/confirm`
pub async fn confirm(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ConfirmForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    let Some(case) = parse_case(&id) else {
        return super::cases::render(&app, &headers, &id, None, None).await;
    };
    let result = {
        let mut vault = app.vault.lock().await;
        let (client, _) = match unlocked(&mut vault).await {
            Ok(x) => x,
            Err(e) => return e.render(lang, None, "/cases"),
        };
        client.confirm_patient(&case, f.fingerprint.trim()).await
    };
    outcome(&app, &headers, &id, &case, result.map(|_| "confirmed")).await
}

#[derive(Deserialize)]
pub struct AddForm {
    #[serde(default)]
    member: String,
}

/// `POST /cases/{id}/members`
pub async fn add(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<AddForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    let Some(case) = parse_case(&id) else {
        return super::cases::render(&app, &headers, &id, None, None).await;
    };
    let Ok(member) = AccountId::parse(f.member.trim()) else {
        return case_with_error(
            &app,
            &headers,
            &id,
            StatusCode::UNPROCESSABLE_ENTITY,
            T::BadAccount.get(lang),
        )
        .await;
    };
    let result = {
        let mut vault = app.vault.lock().await;
        let (client, _) = match unlocked(&mut vault).await {
            Ok(x) => x,
            Err(e) => return e.render(lang, None, "/cases"),
        };
        client.add_member(&case, &member).await
    };
    let done = result.map(|v| {
        let invited = v
            .view
            .members
            .iter()
            .any(|m| m.account.account == member && m.status == MemberStatus::Invited);
        if invited { "invited" } else { "added" }
    });
    outcome(&app, &headers, &id, &case, done).await
}

/// `GET /cases/{id}/members/{account}/remove`: what removal does, and the button.
pub async fn remove_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, account)): Path<(String, String)>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/members/{}/remove", safe(&id), safe(&account));
    let (Some(case), Ok(account)) = (parse_case(&id), AccountId::parse(&account)) else {
        return case_with_error(
            &app,
            &headers,
            &id,
            StatusCode::NOT_FOUND,
            T::BadAccount.get(lang),
        )
        .await;
    };
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(e) => return e.render(lang, None, &path),
    };
    let verified = match client.case(&case).await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
    };
    let Some(m) = verified
        .view
        .members
        .iter()
        .find(|m| m.account.account == account && m.status != MemberStatus::Removed)
    else {
        drop(vault);
        return case_with_error(
            &app,
            &headers,
            &id,
            StatusCode::NOT_FOUND,
            T::NotAMember.get(lang),
        )
        .await;
    };
    let title = T::RemoveTitle.get(lang);
    let body = html! {
        section.card aria-labelledby="remove" {
            h1 #remove { (title) }
            p { strong { (name_of(&m.account, lang)) } " · " (m.account.role.label(lang))
                @if let Some(r) = riziv(&m.account) { " · " (Text::Riziv.get(lang)) " " (r) } }
            p { (T::RemoveWhat.get(lang)) }
            form method="post" action=(path) {
                button.danger type="submit" { (T::RemoveConfirm.get(lang)) }
                " "
                a href={ "/cases/" (case) } { (T::Cancel.get(lang)) }
            }
        }
    };
    layout(lang, Some(&me), &path, title, body).into_response()
}

/// `POST /cases/{id}/members/{account}/remove`
pub async fn remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, account)): Path<(String, String)>,
) -> Response {
    let lang = app.lang_of(&headers);
    let (Some(case), Ok(account)) = (parse_case(&id), AccountId::parse(&account)) else {
        return case_with_error(
            &app,
            &headers,
            &id,
            StatusCode::NOT_FOUND,
            T::BadAccount.get(lang),
        )
        .await;
    };
    let result = {
        let mut vault = app.vault.lock().await;
        let (client, _) = match unlocked(&mut vault).await {
            Ok(x) => x,
            Err(e) => return e.render(lang, None, "/cases"),
        };
        client.remove_member(&case, &account).await
    };
    outcome(&app, &headers, &id, &case, result.map(|_| "removed")).await
}
