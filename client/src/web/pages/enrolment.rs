//! Opening a case (treating physician), re-issuing its enrolment code (a lost sheet or a
//! lost device), and the patient's enrolment sheet.
//!
//! The enrolment code exists only in the server's answer to the opening (the server keeps
//! its hash), so the sheet is the answer to the form's POST and is meant to be printed
//! there and then, or read from the screen by the patient in the consulting room. The
//! sheet is written in the language the physician picks for the patient, whatever the
//! page's own language, and carries everything the patient's client needs in one string
//! (server address, certificate fingerprint, code), as text and as a QR code.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;
use trialog_protocol::api::AccountView;
use trialog_protocol::{CaseId, Lang, Role};

use super::{Failure, error_page, layout, name_of, riziv, safe, unlocked};
use crate::ClientError;
use crate::web::App;
use crate::web::i18n::{Text, date, lang_name, texts};

texts! {
    pub enum T {
        OpenTitle => ("Een dossier openen", "Ouvrir un dossier", "Open a case"),
        OpenIntro => (
            "Kies een naam die u herkent; alleen u en de patiënt zien hem (versleuteld), de andere artsen zien een neutrale referentie.",
            "Choisissez un nom que vous reconnaissez ; seuls vous et le patient le voient (chiffré), les autres médecins voient une référence neutre.",
            "Choose a name you will recognise; only you and the patient see it (encrypted), the other physicians see a neutral reference.",
        ),
        Label => ("Naam van het dossier", "Nom du dossier", "Name of the case"),
        SheetLang => ("Taal van het blad voor de patiënt", "Langue de la feuille pour le patient", "Language of the patient's sheet"),
        Open => ("Dossier openen", "Ouvrir le dossier", "Open the case"),
        EmptyLabel => ("Geef het dossier een naam.", "Donnez un nom au dossier.", "Give the case a name."),
        SheetTitle => ("Uw inschrijving in Trialog", "Votre inscription à Trialog", "Your enrolment in Trialog"),
        SheetFor => (
            "Uw behandelend arts nodigt u uit in Trialog, een beveiligd kanaal tussen uw artsen rond uw terugkeer naar het werk. U beslist zelf wat elke arts mag zien.",
            "Votre médecin traitant vous invite dans Trialog, un canal sécurisé entre vos médecins autour de votre retour au travail. Vous décidez vous-même ce que chaque médecin peut voir.",
            "Your treating physician invites you to Trialog, a secure channel between your physicians around your return to work. You decide yourself what each physician may see.",
        ),
        Step1 => (
            "Start Trialog op uw computer met het commando trialog ui en open de link die het toont.",
            "Lancez Trialog sur votre ordinateur avec la commande trialog ui et ouvrez le lien qu'elle affiche.",
            "Start Trialog on your computer with the command trialog ui and open the link it shows.",
        ),
        Step2 => (
            "Plak de tekst hieronder (of scan de QR-code) en kies een wachtzin die alleen u kent.",
            "Collez le texte ci-dessous (ou scannez le QR code) et choisissez une phrase secrète que vous seul connaissez.",
            "Paste the text below (or scan the QR code) and choose a passphrase only you know.",
        ),
        Step3 => (
            "Lees de vingerafdruk die Trialog dan toont voor aan uw behandelend arts.",
            "Lisez à votre médecin traitant l'empreinte que Trialog affiche alors.",
            "Read the fingerprint Trialog then shows out to your treating physician.",
        ),
        AllInOne => ("Tekst om te plakken", "Texte à coller", "Text to paste"),
        PlainCode => ("Enkel de code", "Le code seul", "The code alone"),
        ValidUntil => ("Geldig tot", "Valable jusqu'au", "Valid until"),
        QrAlt => (
            "QR-code met dezelfde tekst om te plakken",
            "QR code contenant le même texte à coller",
            "QR code holding the same text to paste",
        ),
        Keep => (
            "Dit blad werkt één keer. Geef het aan niemand anders: wie het heeft, kan zich in uw plaats inschrijven tot u dat gedaan hebt.",
            "Cette feuille ne sert qu'une fois. Ne la donnez à personne d'autre : qui l'a peut s'inscrire à votre place tant que vous ne l'avez pas fait.",
            "This sheet works once. Give it to nobody else: whoever holds it can sign up in your place until you have done so.",
        ),
        ShownOnce => (
            "De code wordt maar één keer getoond: druk dit blad nu af (Ctrl+P) of laat de patiënt het nu overnemen.",
            "Le code n'est affiché qu'une fois : imprimez cette feuille maintenant (Ctrl+P) ou laissez le patient le recopier maintenant.",
            "The code is shown only once: print this sheet now (Ctrl+P) or let the patient copy it now.",
        ),
        Next => (
            "Daarna: de patiënt leest u zijn vingerafdruk voor; u bevestigt die op de pagina van het dossier.",
            "Ensuite : le patient vous lit son empreinte ; vous la confirmez sur la page du dossier.",
            "Next: the patient reads you their fingerprint; you confirm it on the case's page.",
        ),
        ToCase => ("Naar het dossier", "Vers le dossier", "To the case"),
        Physician => ("Uw behandelend arts", "Votre médecin traitant", "Your treating physician"),
        ReissueTitle => ("Nieuwe inschrijvingscode", "Nouveau code d'inscription", "New enrolment code"),
        ReissueIntro => (
            "Verloor de patiënt het blad of het toestel? Druk een nieuw blad af. Een vorige, ongebruikte code werkt dan niet meer. Een patiënt die al ingeschreven was, behoudt zijn account en krijgt een nieuwe sleutel, die u opnieuw bevestigt; zijn toestemmingen blijven gelden.",
            "Le patient a perdu la feuille ou son appareil ? Imprimez une nouvelle feuille. Un code précédent non utilisé ne fonctionne alors plus. Un patient déjà inscrit garde son compte et reçoit une nouvelle clé, que vous confirmez à nouveau ; ses consentements restent valables.",
            "Did the patient lose the sheet or their device? Print a new sheet. An earlier unused code then stops working. A patient who had joined keeps their account and gets a new key, which you confirm again; their consents stay valid.",
        ),
        Reissue => ("Nieuw blad afdrukken", "Imprimer une nouvelle feuille", "Print a new sheet"),
    }
}

/// The "new enrolment code" form on a case's page, for its treating physician.
pub fn reissue_form(lang: Lang, case: &CaseId) -> Markup {
    html! {
        section.card aria-labelledby="reissue" {
            h2 #reissue { (T::ReissueTitle.get(lang)) }
            p.help { (T::ReissueIntro.get(lang)) }
            form method="post" action={ "/cases/" (case) "/enrolment" } {
                div.field {
                    label for="sheet_lang" { (T::SheetLang.get(lang)) }
                    select #sheet_lang name="sheet_lang" {
                        @for l in Lang::ALL {
                            option value=(l.as_str()) selected[l == lang] { (lang_name(l)) }
                        }
                    }
                }
                button.secondary type="submit" { (T::Reissue.get(lang)) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ReissueForm {
    #[serde(default)]
    sheet_lang: String,
}

/// `POST /cases/{id}/enrolment`: a new enrolment code for the case, answered with its
/// sheet, as when the case was opened.
pub async fn reissue(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(f): Form<ReissueForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match super::case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    // The label for the sheet, read with this physician's key (the server never has it).
    let case = match client.case(&id).await {
        Ok(c) => c,
        Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
    };
    let label = case.name().to_owned();
    let issued = match client.reissue_enrolment(&id).await {
        Ok(r) => r,
        Err(e) => return Failure::from(e).render(lang, Some(&me), &path),
    };
    let sheet_lang = Lang::parse(&f.sheet_lang).unwrap_or(lang);
    sheet_page(client, &me, &path, lang, sheet_lang, &issued, &label)
}

/// The page that shows a fresh enrolment sheet (after opening a case or re-issuing a code).
fn sheet_page(
    client: &crate::Client,
    me: &AccountView,
    path: &str,
    lang: Lang,
    sheet_lang: Lang,
    issued: &trialog_protocol::api::OpenCaseResponse,
    label: &str,
) -> Response {
    let onboarding = match client.onboarding(&issued.enrolment_code) {
        Ok(o) => o.encode(),
        Err(e) => return error_page(lang, Some(me), path, &e),
    };
    let sheet = Sheet {
        case: &issued.case_id,
        label,
        physician: me,
        code: &issued.enrolment_code,
        onboarding: &onboarding,
        expires_at: issued.expires_at,
    };
    let body = html! {
        div.card.notice.no-print role="status" {
            p { strong { (T::ShownOnce.get(lang)) } }
            p { (T::Next.get(lang)) }
            p { a.button href={ "/cases/" (issued.case_id) } { (T::ToCase.get(lang)) } }
        }
        (sheet.render(sheet_lang))
    };
    let page = layout(lang, Some(me), path, T::SheetTitle.get(sheet_lang), body);
    (StatusCode::CREATED, page).into_response()
}

/// The "open a case" form on the list of cases, for a treating physician.
pub fn open_form(lang: Lang, error: Option<&str>, label: &str) -> Markup {
    html! {
        section.card aria-labelledby="open" {
            h2 #open { (T::OpenTitle.get(lang)) }
            p.help { (T::OpenIntro.get(lang)) }
            @if let Some(e) = error {
                div.card.error role="alert" { @for l in e.lines() { p { (safe(l)) } } }
            }
            form method="post" action="/cases" {
                div.field {
                    label for="label" { (T::Label.get(lang)) }
                    input #label type="text" name="label" required maxlength="120" value=(label)
                        autocomplete="off";
                }
                div.field {
                    label for="sheet_lang" { (T::SheetLang.get(lang)) }
                    select #sheet_lang name="sheet_lang" {
                        @for l in Lang::ALL {
                            option value=(l.as_str()) selected[l == lang] { (lang_name(l)) }
                        }
                    }
                }
                button type="submit" { (T::Open.get(lang)) }
            }
        }
    }
}

#[derive(Deserialize)]
pub struct OpenForm {
    #[serde(default)]
    label: String,
    #[serde(default)]
    sheet_lang: String,
}

/// `POST /cases`: opens the case and answers with its enrolment sheet.
pub async fn open(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<OpenForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = "/cases";
    let mut vault = app.vault.lock().await;
    let (client, me) = match unlocked(&mut vault).await {
        Ok(x) => x,
        Err(e) => return e.render(lang, None, path),
    };
    let refuse = |status: StatusCode, msg: &str| {
        let body = open_form(lang, Some(msg), &f.label);
        let page = layout(lang, Some(&me), path, T::OpenTitle.get(lang), body);
        (status, page).into_response()
    };
    let label = f.label.trim();
    if label.is_empty() {
        return refuse(StatusCode::UNPROCESSABLE_ENTITY, T::EmptyLabel.get(lang));
    }
    let sheet_lang = Lang::parse(&f.sheet_lang).unwrap_or(lang);
    let opened = match client.open_case(label).await {
        Ok(r) => r,
        Err(e @ (ClientError::Invalid(_) | ClientError::WrongRole(_))) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                &crate::i18n::explain(&e, lang),
            );
        }
        Err(e) => return Failure::from(e).render(lang, Some(&me), path),
    };
    sheet_page(client, &me, path, lang, sheet_lang, &opened, label)
}

/// What the patient takes home.
struct Sheet<'a> {
    case: &'a CaseId,
    label: &'a str,
    physician: &'a AccountView,
    code: &'a str,
    onboarding: &'a str,
    expires_at: i64,
}

impl Sheet<'_> {
    fn render(&self, lang: Lang) -> Markup {
        let qr = qr_data_uri(self.onboarding);
        html! {
            article.card.sheet lang=(lang.as_str()) aria-labelledby="sheet" {
                h1 #sheet { (T::SheetTitle.get(lang)) }
                p { (T::SheetFor.get(lang)) }
                dl.facts {
                    dt { (Text::Case.get(lang)) }
                    dd { (safe(self.label)) " · " span.fp { (trialog_protocol::label::reference(self.case)) } }
                    dt { (T::Physician.get(lang)) }
                    dd {
                        (name_of(self.physician, lang))
                        @if let Some(r) = riziv(self.physician) { " · " (Text::Riziv.get(lang)) " " (r) }
                    }
                    dt { (T::ValidUntil.get(lang)) }
                    dd { (date(self.expires_at, lang)) }
                }
                ol.steps {
                    li { (T::Step1.get(lang)) }
                    li { (T::Step2.get(lang)) }
                    li { (T::Step3.get(lang)) }
                }
                div.sheet-codes {
                    @if let Some(src) = qr {
                        img.qr src=(src) alt=(T::QrAlt.get(lang)) width="220" height="220";
                    }
                    div {
                        h2 { (T::AllInOne.get(lang)) }
                        p.onboarding.fp #onboarding-string { (self.onboarding) }
                        h2 { (T::PlainCode.get(lang)) }
                        p.code.fp #enrolment-code { (self.code) }
                    }
                }
                p.help { (T::Keep.get(lang)) }
            }
        }
    }
}

/// The onboarding string as a QR code in an `img` (the CSP allows `data:` images only;
/// an inline `<svg>` with the crate's XML prolog would not be valid HTML).
fn qr_data_uri(text: &str) -> Option<String> {
    let code = qrcode::QrCode::new(text.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .quiet_zone(true)
        .build();
    let b64 = base64::engine::general_purpose::STANDARD.encode(svg);
    Some(format!("data:image/svg+xml;base64,{b64}"))
}

/// Roles that may open a case: the form is shown only to them.
pub fn may_open(role: Role) -> bool {
    role == Role::Treating
}
