//! First start on this computer: the person pastes the onboarding string of their
//! enrolment sheet (patient) or invitation (physician), or types its three parts, and
//! chooses a passphrase. Keys are created here, in this process, and the code is used at
//! once: a physician's invitation registers them, a patient's enrolment code joins them to
//! their case.
//!
//! Which of the two a code is, is asked of the server (`lookup_invitation`): both are
//! 20-character one-time codes, and the person should not have to know the difference.
//! If the keys were created but the code was refused (mistyped, expired), the keys stay and
//! the page asks for the code again: creating a second identity would only confuse pins.

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use std::sync::Arc;
use trialog_protocol::api::AccountView;
use trialog_protocol::onboarding::{Onboarding, OnboardingError};
use trialog_protocol::{Code, Lang, Role};
use zeroize::Zeroizing;

use super::{layout, name_of, riziv, safe};
use crate::i18n::{explain, onboarding_error};
use crate::web::App;
use crate::web::i18n::texts;
use crate::{Client, ClientError, Home};

/// Checked here too, before the server is contacted, with the library's own rule.
const MIN_PASSPHRASE: usize = crate::keystore::MIN_PASSPHRASE_CHARS;

texts! {
    pub enum T {
        Title => ("Trialog op deze computer instellen", "Configurer Trialog sur cet ordinateur", "Set up Trialog on this computer"),
        Intro => (
            "U hebt een inschrijvingsblad van uw behandelend arts (patiënt) of een uitnodiging van de beheerder (arts). Plak de tekst die begint met trialog:v1: en kies een wachtzin. Uw sleutels worden op deze computer gemaakt en verlaten hem nooit.",
            "Vous avez une feuille d'inscription de votre médecin traitant (patient) ou une invitation de l'opérateur (médecin). Collez le texte qui commence par trialog:v1: et choisissez une phrase secrète. Vos clés sont créées sur cet ordinateur et ne le quittent jamais.",
            "You have an enrolment sheet from your treating physician (patient) or an invitation from the operator (physician). Paste the text that starts with trialog:v1: and choose a passphrase. Your keys are made on this computer and never leave it.",
        ),
        Onboarding => ("Tekst van het blad (begint met trialog:v1:)", "Texte de la feuille (commence par trialog:v1:)", "Text from the sheet (starts with trialog:v1:)"),
        OnboardingHelp => (
            "Kopieer hem volledig; hij bevat het adres van de server, de vingerafdruk van zijn certificaat en uw code.",
            "Copiez-le en entier ; il contient l'adresse du serveur, l'empreinte de son certificat et votre code.",
            "Copy it whole; it holds the server's address, its certificate's fingerprint and your code.",
        ),
        Parts => ("Of typ de drie delen over", "Ou recopiez les trois parties", "Or type its three parts"),
        ServerAddress => ("Adres van de server (https://…)", "Adresse du serveur (https://…)", "Server address (https://…)"),
        CertFingerprint => ("Vingerafdruk van het certificaat (64 tekens)", "Empreinte du certificat (64 caractères)", "Certificate fingerprint (64 characters)"),
        Code => ("Code (20 tekens, bv. 7KQ2-M9XD-…)", "Code (20 caractères, p. ex. 7KQ2-M9XD-…)", "Code (20 characters, e.g. 7KQ2-M9XD-…)"),
        NewPassphrase => ("Kies een wachtzin (minstens 10 tekens)", "Choisissez une phrase secrète (au moins 10 caractères)", "Choose a passphrase (at least 10 characters)"),
        PassphraseHelp => (
            "Enkel u kent hem; zonder hem kan niemand uw sleutels gebruiken, ook wij niet. Een zin van enkele woorden is sterk en makkelijk te onthouden.",
            "Vous seul la connaissez ; sans elle personne ne peut utiliser vos clés, nous non plus. Une phrase de quelques mots est solide et facile à retenir.",
            "Only you know it; without it nobody can use your keys, not even us. A sentence of a few words is strong and easy to remember.",
        ),
        PassphraseAgain => ("Dezelfde wachtzin nogmaals", "La même phrase secrète encore une fois", "The same passphrase again"),
        Submit => ("Sleutels maken en inschrijven", "Créer les clés et s'inscrire", "Create keys and sign up"),
        KeysExist => (
            "Uw sleutels bestaan al op deze computer, maar de code werd nog niet aanvaard. Geef de code (of de tekst van het blad) opnieuw in.",
            "Vos clés existent déjà sur cet ordinateur, mais le code n'a pas encore été accepté. Saisissez à nouveau le code (ou le texte de la feuille).",
            "Your keys already exist on this computer, but the code was not accepted yet. Enter the code (or the text from the sheet) again.",
        ),
        YourPassphrase => ("Uw wachtzin", "Votre phrase secrète", "Your passphrase"),
        TryAgain => ("Opnieuw proberen", "Réessayer", "Try again"),
        NeedOnboarding => (
            "Plak de tekst van het blad, of vul de drie delen in (adres, vingerafdruk en code).",
            "Collez le texte de la feuille, ou remplissez les trois parties (adresse, empreinte et code).",
            "Paste the text from the sheet, or fill in the three parts (address, fingerprint and code).",
        ),
        NeedCode => ("Geef de code van het blad in.", "Saisissez le code de la feuille.", "Enter the code from the sheet."),
        ShortPassphrase => (
            "Deze wachtzin is te kort: kies er een van minstens 10 tekens.",
            "Cette phrase secrète est trop courte : choisissez-en une d'au moins 10 caractères.",
            "This passphrase is too short: choose one of at least 10 characters.",
        ),
        PassphrasesDiffer => (
            "De twee wachtzinnen verschillen: typ ze opnieuw.",
            "Les deux phrases secrètes diffèrent : retapez-les.",
            "The two passphrases differ: type them again.",
        ),
        OtherServer => (
            "Deze tekst hoort bij een andere server dan die waarvoor uw sleutels gemaakt zijn. Vraag een nieuw blad voor deze server.",
            "Ce texte correspond à un autre serveur que celui pour lequel vos clés ont été créées. Demandez une nouvelle feuille pour ce serveur.",
            "This text belongs to another server than the one your keys were made for. Ask for a new sheet for this server.",
        ),
        CodeUnknown => (
            "Deze code is geen geldige uitnodiging of inschrijvingscode (meer). Controleer hem, of vraag een nieuwe aan wie hem gaf.",
            "Ce code n'est pas (ou plus) une invitation ni un code d'inscription valable. Vérifiez-le, ou demandez-en un nouveau à qui vous l'a donné.",
            "This code is not (or no longer) a valid invitation or enrolment code. Check it, or ask whoever gave it for a new one.",
        ),
        JoinedTitle => ("U bent ingeschreven", "Vous êtes inscrit", "You are signed up"),
        JoinedPatient => (
            "Lees deze vingerafdruk nu voor aan uw behandelend arts. Pas als die hem bevestigt, kan u toestemming geven.",
            "Lisez maintenant cette empreinte à votre médecin traitant. Ce n'est qu'après sa confirmation que vous pourrez donner votre consentement.",
            "Read this fingerprint out to your treating physician now. Only once they confirm it can you grant consents.",
        ),
        RegisteredPhysician => (
            "U bent geregistreerd. Lees deze vingerafdruk nu voor aan de beheerder van Trialog (telefonisch of ter plaatse): zodra die uw sleutel bevestigt, vinden uw collega's u in de lijst van artsen en kunnen ze u schrijven.",
            "Vous êtes enregistré. Lisez maintenant cette empreinte à l'opérateur de Trialog (par téléphone ou sur place) : dès qu'il atteste votre clé, vos confrères vous trouvent dans l'annuaire et peuvent vous écrire.",
            "You are registered. Read this fingerprint out to the Trialog operator now (by phone or in person): once they attest your key, colleagues find you in the directory and can write to you.",
        ),
        ToYourCase => ("Naar uw dossier", "Vers votre dossier", "To your case"),
    }
}

/// How far this computer's Trialog home is set up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// No keys yet.
    New,
    /// Keys and the server's pins, but no account: the code was not accepted yet.
    KeysOnly,
    /// An account: the unlock page applies.
    Registered,
}

pub fn stage(home: &Home) -> Stage {
    if !home.config_path().exists() && !home.keystore_path().exists() {
        return Stage::New;
    }
    match home.load_config() {
        Ok(c) if c.account.is_some() => Stage::Registered,
        _ => Stage::KeysOnly,
    }
}

fn form(lang: Lang, stage: Stage, unlocked: bool, error: Option<&str>) -> Markup {
    html! {
        section.card aria-labelledby="setup" {
            h1 #setup { (T::Title.get(lang)) }
            @if stage == Stage::KeysOnly {
                p { (T::KeysExist.get(lang)) }
            } @else {
                p { (T::Intro.get(lang)) }
            }
            @if let Some(e) = error {
                div.card.error role="alert" {
                    @for line in e.lines() { p { (safe(line)) } }
                }
            }
            form method="post" action="/setup" {
                div.field {
                    label for="onboarding" { (T::Onboarding.get(lang)) }
                    textarea #onboarding name="onboarding" rows="3" spellcheck="false"
                        autocomplete="off" aria-describedby="onboarding-help" {}
                    p.help #onboarding-help { (T::OnboardingHelp.get(lang)) }
                }
                details {
                    summary { (T::Parts.get(lang)) }
                    @if stage == Stage::New {
                        div.field {
                            label for="server" { (T::ServerAddress.get(lang)) }
                            input #server type="url" name="server" autocomplete="off" spellcheck="false";
                        }
                        div.field {
                            label for="cert_sha256" { (T::CertFingerprint.get(lang)) }
                            input #cert_sha256 type="text" name="cert_sha256" autocomplete="off" spellcheck="false";
                        }
                    }
                    div.field {
                        label for="code" { (T::Code.get(lang)) }
                        input #code type="text" name="code" autocomplete="off" spellcheck="false";
                    }
                }
                @if stage == Stage::New {
                    div.field {
                        label for="passphrase" { (T::NewPassphrase.get(lang)) }
                        input #passphrase type="password" name="passphrase" required
                            minlength=(MIN_PASSPHRASE) autocomplete="new-password"
                            aria-describedby="passphrase-help";
                        p.help #passphrase-help { (T::PassphraseHelp.get(lang)) }
                    }
                    div.field {
                        label for="passphrase_again" { (T::PassphraseAgain.get(lang)) }
                        input #passphrase_again type="password" name="passphrase_again" required
                            autocomplete="new-password";
                    }
                    button type="submit" { (T::Submit.get(lang)) }
                } @else {
                    @if !unlocked {
                        div.field {
                            label for="passphrase" { (T::YourPassphrase.get(lang)) }
                            input #passphrase type="password" name="passphrase" required
                                autocomplete="current-password";
                        }
                    }
                    button type="submit" { (T::TryAgain.get(lang)) }
                }
            }
        }
    }
}

fn page(
    lang: Lang,
    stage: Stage,
    unlocked: bool,
    status: StatusCode,
    error: Option<&str>,
) -> Response {
    let title = T::Title.get(lang);
    let body = form(lang, stage, unlocked, error);
    (status, layout(lang, None, "/setup", title, body)).into_response()
}

/// `GET /setup`
pub async fn show(State(app): State<Arc<App>>, headers: HeaderMap) -> Response {
    let lang = app.lang_of(&headers);
    let stage = stage(&app.home);
    if stage == Stage::Registered {
        return Redirect::to("/").into_response();
    }
    let unlocked = app.vault.lock().await.client.is_some();
    page(lang, stage, unlocked, StatusCode::OK, None)
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    onboarding: String,
    #[serde(default)]
    server: String,
    #[serde(default)]
    cert_sha256: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    passphrase: String,
    #[serde(default)]
    passphrase_again: String,
}

/// What the form gave: the server and its pin (none when the keys exist: they are in the
/// configuration already) and the code.
struct Given {
    server: Option<(String, String)>,
    /// The operator key the onboarding string carries (none when typed by hand).
    operator_key: Option<String>,
    code: Zeroizing<String>,
}

/// Why the form cannot be acted on, before anything is created.
enum Refusal {
    Sentence(T),
    Onboarding(OnboardingError),
}

fn read_form(f: &SetupForm, stage: Stage) -> Result<Given, Refusal> {
    let pasted = f.onboarding.trim();
    if !pasted.is_empty() {
        let o = Onboarding::decode(pasted).map_err(Refusal::Onboarding)?;
        return Ok(Given {
            server: Some((o.server.clone(), o.cert_sha256.clone())),
            operator_key: o.operator_key.clone(),
            code: Zeroizing::new(o.code.clone()),
        });
    }
    let code = f.code.trim();
    match stage {
        Stage::New => {
            let (server, cert) = (f.server.trim(), f.cert_sha256.trim());
            if server.is_empty() || cert.is_empty() || code.is_empty() {
                return Err(Refusal::Sentence(T::NeedOnboarding));
            }
            // The same checks as the onboarding string's, with the same sentences.
            let o = Onboarding::new(server, cert, code).map_err(Refusal::Onboarding)?;
            Ok(Given {
                server: Some((o.server.clone(), o.cert_sha256.clone())),
                operator_key: None,
                code: Zeroizing::new(o.code.clone()),
            })
        }
        _ if code.is_empty() => Err(Refusal::Sentence(T::NeedCode)),
        _ => Ok(Given {
            server: None,
            operator_key: None,
            code: Zeroizing::new(code.to_owned()),
        }),
    }
}

/// `POST /setup`
pub async fn submit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Form(f): Form<SetupForm>,
) -> Response {
    let lang = app.lang_of(&headers);
    let stage = stage(&app.home);
    if stage == Stage::Registered {
        return Redirect::to("/").into_response();
    }
    let pass = Zeroizing::new(f.passphrase.clone());
    let again = Zeroizing::new(f.passphrase_again.clone());
    let mut vault = app.vault.lock().await;
    let refuse = |status, msg: &str, unlocked| page(lang, stage, unlocked, status, Some(msg));
    let given = match read_form(&f, stage) {
        Ok(g) => g,
        Err(Refusal::Sentence(t)) => {
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                t.get(lang),
                vault.client.is_some(),
            );
        }
        Err(Refusal::Onboarding(e)) => {
            let why = onboarding_error(&e, lang);
            return refuse(
                StatusCode::UNPROCESSABLE_ENTITY,
                why,
                vault.client.is_some(),
            );
        }
    };
    if vault.client.is_none() {
        let opened = match stage {
            Stage::New => {
                if pass.chars().count() < MIN_PASSPHRASE {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        T::ShortPassphrase.get(lang),
                        false,
                    );
                }
                if *pass != *again {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        T::PassphrasesDiffer.get(lang),
                        false,
                    );
                }
                let Some((server, cert)) = &given.server else {
                    return refuse(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        T::NeedOnboarding.get(lang),
                        false,
                    );
                };
                let operator = given.operator_key.as_deref();
                Client::init(app.home.clone(), server, cert, operator, &pass).await
            }
            _ => {
                let home = app.home.clone();
                let p = pass.clone();
                tokio::task::spawn_blocking(move || Client::open(home, &p))
                    .await
                    .unwrap_or(Err(ClientError::NoPassphrase))
            }
        };
        match opened {
            Ok(c) => {
                vault.client = Some(c);
                vault.me = None;
            }
            Err(e) => return refuse(super::status_of(&e), &explain(&e, lang), false),
        }
    }
    let Some(client) = vault.client.as_mut() else {
        return Redirect::to("/setup").into_response();
    };
    if let Some((server, cert)) = &given.server
        && (client.config().server != *server || client.config().cert_sha256 != *cert)
    {
        return refuse(StatusCode::CONFLICT, T::OtherServer.get(lang), true);
    }
    // From here the keys exist: a refusal leaves the page in its "code again" form.
    let stage = Stage::KeysOnly;
    let refuse = |status, msg: &str| page(lang, stage, true, status, Some(msg));
    let signed_up = match client.lookup_invitation(&given.code).await {
        Ok(_) => client.register(&given.code).await.map(|a| (a, None)),
        Err(e) if e.code() == Code::BadInvitation => client
            .join(&given.code)
            .await
            .map(|(a, case)| (a, Some(case))),
        Err(e) => Err(e),
    };
    match signed_up {
        Ok((me, case)) => {
            vault.me = Some(me.clone());
            done(lang, &me, case)
        }
        Err(e) if matches!(e.code(), Code::BadEnrolmentCode | Code::BadInvitation) => {
            refuse(StatusCode::UNPROCESSABLE_ENTITY, T::CodeUnknown.get(lang))
        }
        Err(e) => refuse(super::status_of(&e), &explain(&e, lang)),
    }
}

/// After signing up: a patient reads their fingerprint out; a physician sees who they are.
fn done(lang: Lang, me: &AccountView, case: Option<trialog_protocol::CaseId>) -> Response {
    let title = T::JoinedTitle.get(lang);
    let body = html! {
        section.card aria-labelledby="done" {
            h1 #done { (title) }
            p { strong { (name_of(me, lang)) } " · " (me.role.label(lang))
                @if let Some(r) = riziv(me) { " · " (r) } }
            @if me.role == Role::Patient {
                p { (T::JoinedPatient.get(lang)) }
                p.fingerprint.fp aria-label=(crate::web::i18n::Text::Fingerprint.get(lang)) {
                    (me.fingerprint.short())
                }
                @if let Some(case) = case {
                    p { a.button href={ "/cases/" (case) } { (T::ToYourCase.get(lang)) } }
                }
            } @else {
                p { (T::RegisteredPhysician.get(lang)) }
                p.fingerprint.fp { (me.fingerprint.short()) }
                p { a.button href="/cases" { (crate::web::i18n::Text::GoToCases.get(lang)) } }
            }
        }
    };
    layout(lang, Some(me), "/setup", title, body).into_response()
}
