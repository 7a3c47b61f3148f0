//! The patient's consents: per physician of the case, what they may see now and what they
//! have received; the grant form (a first consent or a new version), the review of the
//! exact text before signing, signing, and revocation. Physicians of the case see the
//! consents that concern them, without the buttons.

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};
use trialog_protocol::api::AccountView;
use trialog_protocol::catalogue::FieldClass;
use trialog_protocol::chain::Chain;
use trialog_protocol::consent::{Consent, Purpose};
use trialog_protocol::time::{end_of_day, format_date, parse_date};
use trialog_protocol::{AccountId, CaseId, ConsentId, FieldId, Lang, MessageKind, Role};

use super::{case_page, error_page, layout, name_of, riziv, safe};
use crate::audit_words::{self, Sent};
use crate::client::{Draft, VerifiedCase, now};
use crate::consent_words;
use crate::web::App;
use crate::web::i18n::{Text, date, texts};
use crate::web::security::Secret;
use crate::{ClientError, Grant};

texts! {
    /// The words of the consent and audit pages.
    pub enum W {
        Consents => ("Toestemmingen", "Consentements", "Consents"),
        ConsentsIntro => (
            "Hier ziet u per arts wat hij nu mag zien en wat hij al ontvangen heeft. Niets over u gaat naar een arts zonder uw toestemming.",
            "Vous voyez ici, pour chaque médecin, ce qu'il peut voir maintenant et ce qu'il a déjà reçu. Rien ne part vers un médecin sans votre consentement.",
            "Here you see, per physician, what they may see now and what they have already received. Nothing about you goes to a physician without your consent.",
        ),
        MaySeeNow => ("Mag nu zien", "Peut voir maintenant", "May see now"),
        HasReceived => ("Heeft ontvangen", "A reçu", "Has received"),
        Earlier => ("Eerdere toestemmingen", "Consentements antérieurs", "Earlier consents"),
        RevokedOn => ("ingetrokken op", "retiré le", "revoked on"),
        Replaced => ("vervangen door een nieuwere versie", "remplacé par une version plus récente", "replaced by a newer version"),
        Expired => ("verlopen", "expiré", "expired"),
        NoConsent => (
            "Geen toestemming: deze arts krijgt niets uit dit dossier.",
            "Aucun consentement : ce médecin ne reçoit rien de ce dossier.",
            "No consent: this physician receives nothing from this case.",
        ),
        NothingReceived => ("Nog niets.", "Rien pour l'instant.", "Nothing yet."),
        ReceivedOnlyPatient => (
            "Wat deze arts ontvangen heeft, staat in het auditlog van de patiënt.",
            "Ce que ce médecin a reçu figure dans le journal d'audit du patient.",
            "What this physician has received is in the patient's audit log.",
        ),
        Functional => ("Functionele gegevens", "Données fonctionnelles", "Functional information"),
        Administrative => ("Administratieve gegevens", "Données administratives", "Administrative information"),
        Medical => ("Medische gegevens", "Données médicales", "Medical information"),
        SharedMedically => ("medisch gedeeld", "partagé médicalement", "shared medically"),
        Kinds => ("Soorten berichten", "Types de messages", "Kinds of messages"),
        Senders => ("Wie mag versturen", "Qui peut envoyer", "Who may send"),
        Purpose => ("Doel", "Finalité", "Purpose"),
        Period => ("Geldig", "Valable", "Valid"),
        From => ("van", "du", "from"),
        Until => ("tot", "au", "until"),
        Grant => ("Toestemming geven", "Donner un consentement", "Grant"),
        Change => ("Wijzigen", "Modifier", "Change"),
        Revoke => ("Intrekken", "Retirer", "Revoke"),
        SeeAudit => ("Het auditlog lezen", "Lire le journal d'audit", "Read the audit log"),
        BackToConsents => ("Terug naar de toestemmingen", "Retour aux consentements", "Back to the consents"),
        BackToCase => ("Terug naar het dossier", "Retour au dossier", "Back to the case"),
        When => ("Wanneer", "Quand", "When"),
        What => ("Wat", "Quoi", "What"),
        Fields => ("Gegevens", "Données", "Information"),
        State => ("Stand", "État", "State"),
        Sender => ("Afzender", "Expéditeur", "Sender"),
        ReceivedOn => ("ontvangen op", "reçu le", "received on"),
        NotFetched => ("nog niet afgehaald", "pas encore retiré", "not fetched yet"),
        DestroyedOn => ("ongelezen vernietigd op", "détruit sans avoir été lu le", "destroyed unread on"),
        KindBilan => ("functioneel bilan", "bilan fonctionnel", "functional bilan"),
        KindFeedback => ("terugkoppeling", "retour d'information", "feedback"),
        KindRequest => ("vraag om een update", "demande de mise à jour", "request for an update"),
        // The grant form.
        GrantTitle => ("Toestemming voor", "Consentement pour", "Consent for"),
        GrantIntro => (
            "Vink aan wat deze arts mag ontvangen. Wat u niet aanvinkt, krijgt hij niet. U leest de volledige tekst voor u ondertekent.",
            "Cochez ce que ce médecin peut recevoir. Ce que vous ne cochez pas, il ne le reçoit pas. Vous lirez le texte complet avant de signer.",
            "Tick what this physician may receive. What you do not tick, they do not get. You read the full text before you sign.",
        ),
        NewVersionIntro => (
            "U hebt al een toestemming voor deze arts: ze is hieronder ingevuld. Wat u ondertekent, vervangt ze.",
            "Vous avez déjà un consentement pour ce médecin : il est repris ci-dessous. Ce que vous signerez le remplacera.",
            "You already have a consent for this physician: it is filled in below. What you sign replaces it.",
        ),
        MedicalIntro => (
            "Medische gegevens worden nooit gedeeld zonder dat u dat hier uitdrukkelijk kiest, per gegeven en per arts. Een arbeidsarts of adviserend arts heeft meestal genoeg aan wat u kunt en niet kunt.",
            "Les données médicales ne sont jamais partagées sans que vous le choisissiez ici expressément, donnée par donnée et médecin par médecin. Un médecin du travail ou un médecin-conseil a le plus souvent assez de ce que vous pouvez et ne pouvez pas faire.",
            "Medical information is never shared unless you choose so here explicitly, per item and per physician. An occupational or advising physician usually needs only what you can and cannot do.",
        ),
        DiagnosisLegend => ("Uw diagnose", "Votre diagnostic", "Your diagnosis"),
        DiagnosisNone => ("Niets over de diagnose", "Rien sur le diagnostic", "Nothing about the diagnosis"),
        DiagnosisNoneHelp => (
            "De arts krijgt geen diagnose te zien.",
            "Le médecin ne voit aucun diagnostic.",
            "The physician sees no diagnosis.",
        ),
        DiagnosisCategory => ("Enkel een algemene categorie", "Seulement une catégorie générale", "Only a general category"),
        DiagnosisFull => ("De diagnose zelf", "Le diagnostic lui-même", "The diagnosis itself"),
        DiagnosisFullHelp => (
            "De volledige diagnose, eventueel met ICD-10-code, en de algemene categorie.",
            "Le diagnostic complet, éventuellement avec le code CIM-10, et la catégorie générale.",
            "The full diagnosis, possibly with its ICD-10 code, and the general category.",
        ),
        OtherMedical => ("Andere medische gegevens, medisch gedeeld", "Autres données médicales, partagées médicalement", "Other medical information, shared medically"),
        KindsHelp => (
            "Vinkt u niets aan, dan alles wat deze arts kan ontvangen.",
            "Si vous ne cochez rien : tout ce que ce médecin peut recevoir.",
            "If you tick none: everything this physician can receive.",
        ),
        SendersHelp => (
            "Vinkt u niemand aan, dan de artsen die deze arts normaal berichten sturen (de behandelend arts voor een bilan).",
            "Si vous ne cochez personne : les médecins qui envoient normalement des messages à ce médecin (le médecin traitant pour un bilan).",
            "If you tick no one: the physicians who normally send this physician messages (the treating physician for a bilan).",
        ),
        UntilLabel => ("Geldig tot en met", "Valable jusqu'au", "Valid until"),
        UntilHelp => (
            "Leeg laten: één jaar, het maximum.",
            "Laisser vide : un an, le maximum.",
            "Leave empty: one year, the maximum.",
        ),
        ReviewButton => ("Nalezen voor ondertekening", "Relire avant de signer", "Review before signing"),
        // The review.
        ReviewTitle => ("Lees voor u ondertekent", "Lisez avant de signer", "Read before you sign"),
        ReviewIntro => (
            "Dit is de exacte tekst die u ondertekent. Uw handtekening geldt voor deze tekst en niets anders.",
            "Voici le texte exact que vous signez. Votre signature vaut pour ce texte et rien d'autre.",
            "This is the exact text you sign. Your signature covers this text and nothing else.",
        ),
        WhatChanges => ("Wat verandert", "Ce qui change", "What changes"),
        Sign => ("Ondertekenen", "Signer", "Sign"),
        ChangeChoices => ("Mijn keuzes aanpassen", "Modifier mes choix", "Change my choices"),
        ReviewChanged => (
            "De tekst die u ondertekent, verschilt van de tekst die u zag. Er is niets ondertekend: lees hem opnieuw.",
            "Le texte à signer diffère de celui que vous avez vu. Rien n'a été signé : relisez-le.",
            "The text to be signed differs from the text you saw. Nothing was signed: read it again.",
        ),
        ReviewGone => (
            "Deze nalezing is verlopen of al ondertekend. Er is niets ondertekend: begin opnieuw.",
            "Cette relecture a expiré ou a déjà été signée. Rien n'a été signé : recommencez.",
            "This review has expired or was already signed. Nothing was signed: start again.",
        ),
        Signed => ("Toestemming ondertekend", "Consentement signé", "Consent signed"),
        SignedBody => (
            "Uw toestemming is ondertekend en bezorgd. Ze geldt vanaf nu.",
            "Votre consentement est signé et transmis. Il s'applique dès maintenant.",
            "Your consent is signed and submitted. It applies from now on.",
        ),
        Destroyed => ("Ongelezen berichten vernietigd", "Messages non lus détruits", "Unread messages destroyed"),
        Kept => ("Ongelezen berichten die leesbaar blijven", "Messages non lus qui restent lisibles", "Unread messages that stay readable"),
        // Revocation.
        RevokeTitle => ("Toestemming intrekken voor", "Retirer le consentement pour", "Revoke the consent for"),
        RevokeWhat => (
            "Na het intrekken kan niemand nog iets naar deze arts sturen onder deze toestemming. Berichten die hij nog niet afgehaald heeft, worden meteen vernietigd.",
            "Après le retrait, plus personne ne peut envoyer quoi que ce soit à ce médecin sous ce consentement. Les messages qu'il n'a pas encore retirés sont détruits immédiatement.",
            "After revoking, no one can send anything more to this physician under this consent. Messages they have not fetched yet are destroyed at once.",
        ),
        RevokeCannotRecall => (
            "Wat al bezorgd is, kan niet worden teruggehaald: de arts heeft het al gelezen of bewaard.",
            "Ce qui a déjà été remis ne peut pas être rappelé : le médecin l'a déjà lu ou conservé.",
            "What was already delivered cannot be recalled: the physician has already read or kept it.",
        ),
        RevokeButton => ("Ja, intrekken", "Oui, retirer", "Yes, revoke"),
        Cancel => ("Annuleren", "Annuler", "Cancel"),
        Revoked => ("Toestemming ingetrokken", "Consentement retiré", "Consent revoked"),
        AlreadyDelivered => (
            "Al bezorgde berichten (niet terug te halen)",
            "Messages déjà remis (impossibles à rappeler)",
            "Messages already delivered (cannot be recalled)",
        ),
        UnknownConsent => (
            "Deze toestemming bestaat niet in dit dossier, of is niet meer geldig.",
            "Ce consentement n'existe pas dans ce dossier, ou n'est plus valable.",
            "This consent does not exist in this case, or is no longer in force.",
        ),
        // Bad input.
        BadInput => ("Dit formulier klopt niet", "Ce formulaire n'est pas correct", "This form is not right"),
        MissingTo => (
            "Er is geen arts gekozen. Kies een arts op de pagina met de toestemmingen.",
            "Aucun médecin n'a été choisi. Choisissez un médecin sur la page des consentements.",
            "No physician was chosen. Choose a physician on the consents page.",
        ),
        UnknownFieldInput => ("Onbekend gegeven", "Donnée inconnue", "Unknown item"),
        UnknownKindInput => ("Onbekende soort bericht", "Type de message inconnu", "Unknown kind of message"),
        UnknownPurposeInput => ("Onbekend doel", "Finalité inconnue", "Unknown purpose"),
        BadDateInput => (
            "Geef de einddatum als een datum, bv. 2027-06-30",
            "Donnez la date de fin comme une date, p. ex. 2027-06-30",
            "Give the end date as a date, e.g. 2027-06-30",
        ),
        BadAccountInput => ("Onbekende arts", "Médecin inconnu", "Unknown physician"),
        BadDiagnosisInput => ("Onbekende keuze voor de diagnose", "Choix inconnu pour le diagnostic", "Unknown choice for the diagnosis"),
        PatientOnly => (
            "Enkel de patiënt kan toestemmingen geven, wijzigen of intrekken.",
            "Seul le patient peut donner, modifier ou retirer un consentement.",
            "Only the patient can grant, change or revoke a consent.",
        ),
        // The audit page.
        Audit => ("Auditlog", "Journal d'audit", "Audit log"),
        AuditIntro => (
            "Alles wat met uw gegevens in dit dossier gebeurde, nieuwste eerst. Uw computer heeft dit log nagerekend met de sleutel van de server: er is niets uit weggelaten of in veranderd sinds u het vorige keer las.",
            "Tout ce qui est arrivé à vos données dans ce dossier, le plus récent d'abord. Votre ordinateur a vérifié ce journal avec la clé du serveur : rien n'en a été retiré ni modifié depuis votre dernière lecture.",
            "Everything that happened to your information in this case, newest first. Your computer checked this log against the server's key: nothing was removed from it or changed since you last read it.",
        ),
        AuditOnlyPatient => (
            "Het auditlog van een dossier is van de patiënt: enkel de patiënt kan het lezen en nagaan.",
            "Le journal d'audit d'un dossier appartient au patient : lui seul peut le lire et le vérifier.",
            "A case's audit log belongs to the patient: only the patient can read and verify it.",
        ),
        Who => ("Door", "Par", "By"),
        About => ("Waarover", "À propos de", "About"),
        ConsentFor => ("toestemming voor", "consentement pour", "consent for"),
        To => ("aan", "à", "to"),
        Server => ("de server", "le serveur", "the server"),
        NoEvents => ("Nog niets gebeurd.", "Rien ne s'est encore passé.", "Nothing has happened yet."),
    }
}

fn kind_word(k: MessageKind, lang: Lang) -> &'static str {
    match k {
        MessageKind::Bilan => W::KindBilan.get(lang),
        MessageKind::Feedback => W::KindFeedback.get(lang),
        MessageKind::Request => W::KindRequest.get(lang),
    }
}

/// A page that says what is wrong with what the browser sent, with a 4xx status.
fn bad(
    status: StatusCode,
    lang: Lang,
    me: &AccountView,
    path: &str,
    lines: &[String],
    back: Option<(&str, W)>,
) -> Response {
    let title = W::BadInput.get(lang);
    let body = html! {
        section.card.error role="alert" {
            h1 { (title) }
            @for l in lines { p { (l) } }
            @if let Some((href, text)) = back {
                p { a href=(href) { (text.get(lang)) } }
            }
        }
    };
    (status, layout(lang, Some(me), path, title, body)).into_response()
}

fn patient_only(lang: Lang, me: &AccountView, path: &str, case: &CaseId) -> Response {
    let back = format!("/cases/{case}/consents");
    bad(
        StatusCode::FORBIDDEN,
        lang,
        me,
        path,
        &[W::PatientOnly.get(lang).to_owned()],
        Some((&back, W::BackToConsents)),
    )
}

/// The label of a field in the page language, with its id for whoever needs it.
fn field_label(f: &FieldId, lang: Lang) -> &'static str {
    f.def().label.get(lang)
}

fn class_word(c: FieldClass, lang: Lang) -> &'static str {
    match c {
        FieldClass::Functional => W::Functional.get(lang),
        FieldClass::Administrative => W::Administrative.get(lang),
        FieldClass::Medical => W::Medical.get(lang),
    }
}

const CLASSES: [FieldClass; 3] = [
    FieldClass::Functional,
    FieldClass::Administrative,
    FieldClass::Medical,
];

/// What a consent allows, in words: fields by class (medical marked), kinds, senders,
/// purpose and period.
fn allowed(c: &Consent, lang: Lang) -> Markup {
    html! {
        dl.facts {
            @for class in CLASSES {
                @let fs: Vec<&FieldId> = c.fields.iter().filter(|f| f.class() == class).collect();
                @if !fs.is_empty() {
                    dt { (class_word(class, lang)) }
                    dd {
                        ul.fields {
                            @for f in fs {
                                li {
                                    (field_label(f, lang))
                                    @if f.is_medical() {
                                        " " strong.medical { "(" (W::SharedMedically.get(lang)) ")" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            dt { (W::Kinds.get(lang)) }
            dd { (c.kinds.iter().map(|k| kind_word(*k, lang)).collect::<Vec<_>>().join(", ")) }
            dt { (W::Senders.get(lang)) }
            dd {
                (c.senders.iter().map(|p| format!("{} ({})", safe(&p.name), p.role.label(lang))).collect::<Vec<_>>().join(", "))
            }
            dt { (W::Purpose.get(lang)) }
            dd { (c.purpose.label(lang)) }
            dt { (W::Period.get(lang)) }
            dd { (W::From.get(lang)) " " (date(c.valid_from, lang)) " " (W::Until.get(lang)) " " (date(c.valid_until, lang)) }
        }
    }
}

/// The messages a physician was sent, from the verified audit log.
fn received(sent: &[&Sent], case: &VerifiedCase, lang: Lang) -> Markup {
    html! {
        @if sent.is_empty() {
            p { (W::NothingReceived.get(lang)) }
        } @else {
            table {
                thead { tr {
                    th scope="col" { (W::When.get(lang)) }
                    th scope="col" { (W::What.get(lang)) }
                    th scope="col" { (W::Fields.get(lang)) }
                    th scope="col" { (W::State.get(lang)) }
                } }
                tbody {
                    @for m in sent {
                        tr {
                            td { (date(m.sent_at, lang)) }
                            td {
                                (kind_word(m.kind, lang))
                                @if let Some(s) = &m.sender {
                                    br; span.help { (W::Sender.get(lang)) ": " (safe(&audit_words::who(Some(case), s.as_str(), lang))) }
                                }
                            }
                            td {
                                ul.fields {
                                    @for f in &m.fields {
                                        li {
                                            (field_label(f, lang))
                                            @if f.is_medical() { " " strong.medical { "(" (W::SharedMedically.get(lang)) ")" } }
                                        }
                                    }
                                }
                            }
                            @if let Some(t) = m.destroyed_at {
                                td.status-wait { (W::DestroyedOn.get(lang)) " " (date(t, lang)) }
                            } @else if let Some(t) = m.delivered_at {
                                td.status-ok { (W::ReceivedOn.get(lang)) " " (date(t, lang)) }
                            } @else {
                                td.status-wait { (W::NotFetched.get(lang)) }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// `GET /cases/{id}/consents`
pub async fn overview(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    let case = match client.case(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let chain = match client.chain(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let is_patient = me.role == Role::Patient;
    // Only the patient holds the case's audit log: it says what each physician received.
    let sent = if is_patient {
        match client.audit(&id).await {
            Ok(entries) => Some(audit_words::messages(&entries)),
            Err(e) => return error_page(lang, Some(&me), &path, &e),
        }
    } else {
        None
    };
    let at = now();
    let name = safe(case.name());
    let title = format!("{} · {}", W::Consents.get(lang), name);
    let body = html! {
        section.card aria-labelledby="consents" {
            h1 #consents { (W::Consents.get(lang)) }
            p.help { (name) }
            p { (W::ConsentsIntro.get(lang)) }
            p {
                a href={ "/cases/" (id) "/audit" } { (W::SeeAudit.get(lang)) }
                " · "
                a href={ "/cases/" (id) } { (W::BackToCase.get(lang)) }
            }
        }
        @for (v, _) in case.physicians() {
            @let current = chain.in_force(&v.account, at);
            @let anchor = format!("p-{}", v.account);
            section.card.physician aria-labelledby=(anchor) {
                h2 #(anchor) { (name_of(v, lang)) }
                p.help {
                    (v.role.label(lang))
                    @if let Some(r) = riziv(v) { " · " (Text::Riziv.get(lang)) " " (r) }
                }
                h3 { (W::MaySeeNow.get(lang)) }
                @if let Some(c) = current {
                    (allowed(&c.consent, lang))
                } @else {
                    p.status-wait { (W::NoConsent.get(lang)) }
                }
                @let earlier: Vec<_> = chain
                    .versions()
                    .iter()
                    .filter(|e| e.consent.recipient == v.account)
                    .filter(|e| current.is_none_or(|c| c.consent.consent_id != e.consent.consent_id))
                    .rev()
                    .collect();
                @if !earlier.is_empty() {
                    details.earlier {
                        summary { (W::Earlier.get(lang)) " (" (earlier.len()) ")" }
                        @for e in earlier {
                            div.version {
                                p.help {
                                    @if let Some(t) = e.revoked_at {
                                        (W::RevokedOn.get(lang)) " " (date(t, lang))
                                    } @else if chain.successor(&e.consent.consent_id).is_some() {
                                        (W::Replaced.get(lang))
                                    } @else {
                                        (W::Expired.get(lang))
                                    }
                                }
                                (allowed(&e.consent, lang))
                            }
                        }
                    }
                }
                h3 { (W::HasReceived.get(lang)) }
                @if let Some(sent) = &sent {
                    @let theirs: Vec<&Sent> = sent.iter().filter(|m| m.recipient == v.account).collect();
                    (received(&theirs, &case, lang))
                } @else {
                    p.help { (W::ReceivedOnlyPatient.get(lang)) }
                }
                @if is_patient {
                    p.actions {
                        @if let Some(c) = current {
                            a.button href={ "/cases/" (id) "/consents/new?to=" (v.account) } { (W::Change.get(lang)) }
                            " "
                            a.button.danger href={ "/cases/" (id) "/consents/" (c.consent.consent_id) "/revoke" } { (W::Revoke.get(lang)) }
                        } @else {
                            a.button href={ "/cases/" (id) "/consents/new?to=" (v.account) } { (W::Grant.get(lang)) }
                        }
                    }
                }
            }
        }
    };
    layout(lang, Some(&me), &path, &title, body).into_response()
}

/// Neither revoked nor expired at `at` (the chain's current version may have expired).
/// The first value of `key` in a form or query.
fn one<'a>(pairs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn all<'a>(pairs: &'a [(String, String)], key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    pairs
        .iter()
        .filter(move |(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// An HTML id for a field id (`capacity.hours_per_week` → `field-capacity-hours_per_week`).
fn field_html_id(f: &str) -> String {
    format!("field-{}", f.replace('.', "-"))
}

const DIAGNOSIS_CATEGORY: &str = "medical.diagnosis_category";
const DIAGNOSIS: &str = "medical.diagnosis";

/// `GET /cases/{id}/consents/new?to=<account, role or RIZIV>`: the grant form, filled
/// with the current consent for a new version.
pub async fn new(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents/new", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        return patient_only(lang, &me, &path, &id);
    }
    let back = format!("/cases/{id}/consents");
    let Some(to) = one(&q, "to").filter(|t| !t.trim().is_empty()) else {
        return bad(
            StatusCode::BAD_REQUEST,
            lang,
            &me,
            &path,
            &[W::MissingTo.get(lang).to_owned()],
            Some((&back, W::BackToConsents)),
        );
    };
    let case = match client.case(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let to = match case.resolve(to) {
        Ok(a) => a,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let Some((recipient, _)) = case.physician(&to) else {
        return error_page(
            lang,
            Some(&me),
            &path,
            &ClientError::NotAMember {
                account: to.to_string(),
            },
        );
    };
    let chain = match client.chain(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let current = chain.in_force(&to, now()).map(|c| c.consent.clone());
    let body = form(&case, recipient, current.as_ref(), lang);
    let title = format!("{} {}", W::GrantTitle.get(lang), name_of(recipient, lang));
    layout(lang, Some(&me), &path, &title, body).into_response()
}

fn form(
    case: &VerifiedCase,
    recipient: &AccountView,
    current: Option<&Consent>,
    lang: Lang,
) -> Markup {
    let id = &case.view.case_id;
    let kinds = recipient.role.receivable_kinds();
    let has = |f: &str| current.is_some_and(|c| c.fields.iter().any(|x| x.as_str() == f));
    // The fields that can reach this physician: those of the kinds their role receives,
    // and any the current version already names.
    let offered = |class: FieldClass| -> Vec<&'static trialog_protocol::catalogue::FieldDef> {
        trialog_protocol::catalogue::catalogue()
            .iter()
            .filter(|d| d.class == class)
            .filter(|d| d.kinds.iter().any(|k| kinds.contains(k)) || has(d.id))
            .collect()
    };
    let diagnosis = if has(DIAGNOSIS) {
        "diagnosis"
    } else if has(DIAGNOSIS_CATEGORY) {
        "category"
    } else {
        "none"
    };
    let other_medical: Vec<_> = offered(FieldClass::Medical)
        .into_iter()
        .filter(|d| d.id != DIAGNOSIS && d.id != DIAGNOSIS_CATEGORY)
        .collect();
    let chosen_kinds: Vec<MessageKind> = current.map(|c| c.kinds.clone()).unwrap_or_default();
    let senders: Vec<&AccountView> = case
        .physicians()
        .into_iter()
        .map(|(v, _)| v)
        .filter(|v| v.account != recipient.account)
        .collect();
    let chosen_senders: Vec<AccountId> = match current {
        Some(c) => c.senders.iter().map(|p| p.account.clone()).collect(),
        None => case
            .default_senders(&recipient.account, &kinds)
            .into_iter()
            .map(|v| v.account.clone())
            .collect(),
    };
    let purpose = current.map(|c| c.purpose).unwrap_or(Purpose::ReturnToWork);
    let until = current
        .map(|c| format_date(c.valid_until))
        .unwrap_or_default();
    let category = trialog_protocol::catalogue::field(DIAGNOSIS_CATEGORY);
    let full = trialog_protocol::catalogue::field(DIAGNOSIS);
    html! {
        section.card aria-labelledby="grant" {
            h1 #grant { (W::GrantTitle.get(lang)) " " (name_of(recipient, lang)) }
            p.help {
                (recipient.role.label(lang))
                @if let Some(r) = riziv(recipient) { " · " (Text::Riziv.get(lang)) " " (r) }
            }
            p { (W::GrantIntro.get(lang)) }
            @if current.is_some() { p.notice { (W::NewVersionIntro.get(lang)) } }
            form.consent method="post" action={ "/cases/" (id) "/consents/review" } {
                input type="hidden" name="to" value=(recipient.account);
                @for class in [FieldClass::Functional, FieldClass::Administrative] {
                    @let defs = offered(class);
                    @if !defs.is_empty() {
                        fieldset {
                            legend { (class_word(class, lang)) }
                            @for d in defs {
                                @let hid = field_html_id(d.id);
                                div.check {
                                    input type="checkbox" name="field" value=(d.id) id=(hid)
                                        aria-describedby={ (hid) "-help" } checked[has(d.id)];
                                    label for=(hid) { (d.label.get(lang)) }
                                    p.help id={ (hid) "-help" } { (d.hint.get(lang)) }
                                }
                            }
                        }
                    }
                }
                fieldset.medical {
                    legend { (W::Medical.get(lang)) " · " (W::SharedMedically.get(lang)) }
                    p { (W::MedicalIntro.get(lang)) }
                    fieldset {
                        legend { (W::DiagnosisLegend.get(lang)) }
                        div.check {
                            input type="radio" name="diagnosis" value="none" id="diagnosis-none"
                                aria-describedby="diagnosis-none-help" checked[diagnosis == "none"];
                            label for="diagnosis-none" { (W::DiagnosisNone.get(lang)) }
                            p.help #diagnosis-none-help { (W::DiagnosisNoneHelp.get(lang)) }
                        }
                        div.check {
                            input type="radio" name="diagnosis" value="category" id="diagnosis-category"
                                aria-describedby="diagnosis-category-help" checked[diagnosis == "category"];
                            label for="diagnosis-category" { (W::DiagnosisCategory.get(lang)) }
                            p.help #diagnosis-category-help {
                                @if let Some(d) = category { (d.label.get(lang)) ": " (d.hint.get(lang)) }
                            }
                        }
                        div.check {
                            input type="radio" name="diagnosis" value="diagnosis" id="diagnosis-full"
                                aria-describedby="diagnosis-full-help" checked[diagnosis == "diagnosis"];
                            label for="diagnosis-full" { (W::DiagnosisFull.get(lang)) }
                            p.help #diagnosis-full-help {
                                @if let Some(d) = full { (d.label.get(lang)) ": " }
                                (W::DiagnosisFullHelp.get(lang))
                            }
                        }
                    }
                    @if !other_medical.is_empty() {
                        fieldset {
                            legend { (W::OtherMedical.get(lang)) }
                            @for d in other_medical {
                                @let hid = field_html_id(d.id);
                                div.check {
                                    input type="checkbox" name="medical" value=(d.id) id=(hid)
                                        aria-describedby={ (hid) "-help" } checked[has(d.id)];
                                    label for=(hid) { (d.label.get(lang)) }
                                    p.help id={ (hid) "-help" } { (d.hint.get(lang)) }
                                }
                            }
                        }
                    }
                }
                fieldset {
                    legend { (W::Kinds.get(lang)) }
                    p.help #kinds-help { (W::KindsHelp.get(lang)) }
                    @for k in &kinds {
                        @let hid = format!("kind-{}", k.as_str());
                        div.check {
                            input type="checkbox" name="kind" value=(k.as_str()) id=(hid)
                                aria-describedby="kinds-help"
                                checked[current.is_none() || chosen_kinds.contains(k)];
                            label for=(hid) { (kind_word(*k, lang)) }
                        }
                    }
                }
                fieldset {
                    legend { (W::Senders.get(lang)) }
                    p.help #senders-help { (W::SendersHelp.get(lang)) }
                    @for s in &senders {
                        @let hid = format!("sender-{}", s.account);
                        div.check {
                            input type="checkbox" name="sender" value=(s.account) id=(hid)
                                aria-describedby="senders-help"
                                checked[chosen_senders.contains(&s.account)];
                            label for=(hid) { (name_of(s, lang)) " (" (s.role.label(lang)) ")" }
                        }
                    }
                }
                div.field {
                    label for="purpose" { (W::Purpose.get(lang)) }
                    select #purpose name="purpose" {
                        @for (value, p) in PURPOSES {
                            option value=(value) selected[p == purpose] { (p.label(lang)) }
                        }
                    }
                }
                div.field {
                    label for="until" { (W::UntilLabel.get(lang)) }
                    input #until type="date" name="until" value=(until) aria-describedby="until-help";
                    p.help #until-help { (W::UntilHelp.get(lang)) }
                }
                p.actions {
                    button type="submit" { (W::ReviewButton.get(lang)) }
                    " "
                    a href={ "/cases/" (id) "/consents" } { (W::Cancel.get(lang)) }
                }
            }
        }
    }
}

const PURPOSES: [(&str, Purpose); 3] = [
    ("return_to_work", Purpose::ReturnToWork),
    ("reintegration", Purpose::Reintegration),
    ("pre_resumption_visit", Purpose::PreResumptionVisit),
];

/// A prepared draft kept in this process until the patient signs it.
///
/// Why server-side: the patient must sign exactly the text they read. Re-preparing from
/// hidden inputs would build a new consent (a new id, a new start time, and the server's
/// pending messages counted again), so the signed text could differ from the one shown
/// even without tampering. Keeping the `Draft` here under a random id makes the browser
/// hold only a reference: it cannot change what is signed. The form also carries the hash
/// of the text shown; if it does not match the kept draft's, nothing is signed and the
/// review is shown again. A draft is bound to the account that prepared it, used once, and
/// forgotten after [`DRAFT_LIFETIME`].
struct Pending {
    account: AccountId,
    draft: Draft,
    made: Instant,
}

const DRAFT_LIFETIME: Duration = Duration::from_secs(30 * 60);

static DRAFTS: LazyLock<Mutex<HashMap<String, Pending>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));

fn keep(account: &AccountId, draft: Draft) -> Option<String> {
    let key = Secret::random().ok()?.expose().to_owned();
    let mut drafts = DRAFTS.lock().ok()?;
    drafts.retain(|_, p| p.made.elapsed() < DRAFT_LIFETIME);
    drafts.insert(
        key.clone(),
        Pending {
            account: account.clone(),
            draft,
            made: Instant::now(),
        },
    );
    Some(key)
}

/// The draft under `key` if `account` prepared it and it has not expired; `take` removes it.
fn kept(key: &str, account: &AccountId, take: bool) -> Option<Draft> {
    let mut drafts = DRAFTS.lock().ok()?;
    let ok = drafts
        .get(key)
        .is_some_and(|p| &p.account == account && p.made.elapsed() < DRAFT_LIFETIME);
    if !ok {
        return None;
    }
    if take {
        drafts.remove(key).map(|p| p.draft)
    } else {
        drafts.get(key).map(|p| p.draft.clone())
    }
}

/// Reads the grant form into a [`Grant`], or says what is wrong with it.
fn parse_grant(case: &CaseId, f: &[(String, String)], lang: Lang) -> Result<Grant, String> {
    let to = one(f, "to")
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| W::MissingTo.get(lang).to_owned())?;
    let to = AccountId::parse(to.trim())
        .map_err(|_| format!("{}: {}", W::BadAccountInput.get(lang), safe(to)))?;
    let field = |s: &str| {
        FieldId::parse(s).map_err(|_| format!("{}: {}", W::UnknownFieldInput.get(lang), safe(s)))
    };
    let mut fields = Vec::new();
    for s in all(f, "field") {
        let id = field(s)?;
        // Medical fields come only from the medical part of the form, on purpose.
        if id.is_medical() {
            return Err(format!("{}: {}", W::UnknownFieldInput.get(lang), safe(s)));
        }
        fields.push(id);
    }
    let mut medical = Vec::new();
    for s in all(f, "medical") {
        let id = field(s)?;
        if !id.is_medical() || s == DIAGNOSIS || s == DIAGNOSIS_CATEGORY {
            return Err(format!("{}: {}", W::UnknownFieldInput.get(lang), safe(s)));
        }
        medical.push(id);
    }
    match one(f, "diagnosis").unwrap_or("none") {
        "none" => {}
        "category" => medical.push(field(DIAGNOSIS_CATEGORY)?),
        "diagnosis" => {
            medical.push(field(DIAGNOSIS_CATEGORY)?);
            medical.push(field(DIAGNOSIS)?);
        }
        other => {
            return Err(format!(
                "{}: {}",
                W::BadDiagnosisInput.get(lang),
                safe(other)
            ));
        }
    }
    fields.extend(medical.iter().copied());
    let mut kinds = Vec::new();
    for s in all(f, "kind") {
        kinds.push(
            s.parse::<MessageKind>()
                .map_err(|_| format!("{}: {}", W::UnknownKindInput.get(lang), safe(s)))?,
        );
    }
    let mut senders = Vec::new();
    for s in all(f, "sender") {
        senders.push(
            AccountId::parse(s)
                .map_err(|_| format!("{}: {}", W::BadAccountInput.get(lang), safe(s)))?,
        );
    }
    let purpose = match one(f, "purpose") {
        None | Some("") => Purpose::ReturnToWork,
        Some(p) => p
            .parse::<Purpose>()
            .map_err(|_| format!("{}: {}", W::UnknownPurposeInput.get(lang), safe(p)))?,
    };
    let until = match one(f, "until").map(str::trim) {
        None | Some("") => None,
        Some(d) => Some(end_of_day(
            parse_date(d).ok_or_else(|| W::BadDateInput.get(lang).to_owned())?,
        )),
    };
    Ok(Grant {
        case: case.clone(),
        to,
        fields,
        share_medically: medical,
        until,
        kinds: (!kinds.is_empty()).then_some(kinds),
        senders: (!senders.is_empty()).then_some(senders),
        purpose,
        lang,
    })
}

/// `POST /cases/{id}/consents/review`: the exact text to be signed, what changes, and the
/// Sign button.
pub async fn review(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents/review", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        return patient_only(lang, &me, &path, &id);
    }
    let back = format!("/cases/{id}/consents");
    let grant = match parse_grant(&id, &f, lang) {
        Ok(g) => g,
        Err(line) => {
            return bad(
                StatusCode::BAD_REQUEST,
                lang,
                &me,
                &path,
                &[line],
                Some((&back, W::BackToConsents)),
            );
        }
    };
    let draft = match client.prepare_grant(grant).await {
        Ok(d) => d,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let Some(key) = keep(&me.account, draft.clone()) else {
        return error_page(
            lang,
            Some(&me),
            &path,
            &ClientError::Io(
                "random source".into(),
                std::io::Error::other("no random id for the review"),
            ),
        );
    };
    review_page(StatusCode::OK, lang, &me, &path, &id, &key, &draft, None)
}

#[allow(clippy::too_many_arguments)]
fn review_page(
    status: StatusCode,
    lang: Lang,
    me: &AccountView,
    path: &str,
    case: &CaseId,
    key: &str,
    draft: &Draft,
    warning: Option<W>,
) -> Response {
    let c = &draft.consent;
    let title = W::ReviewTitle.get(lang);
    let body = html! {
        section.card aria-labelledby="review" {
            h1 #review { (title) }
            @if let Some(w) = warning {
                div.card.error role="alert" { p { (w.get(lang)) } }
            }
            p { strong { (safe(&c.recipient_name)) } " · " (c.recipient_role.label(lang)) }
            p { (W::ReviewIntro.get(lang)) }
            pre.consent-text #consent-text lang=(c.lang.as_str()) { (safe(&draft.text)) }
            @if let Some(changes) = &draft.changes {
                h2 { (W::WhatChanges.get(lang)) }
                p { (consent_words::replaces(lang)) }
                @let lines = consent_words::change_lines(changes, lang);
                @if lines.is_empty() {
                    p #changes { (consent_words::same_terms(lang)) }
                } @else {
                    ul #changes .changes {
                        @for (label, v) in &lines { li { strong { (label) } " " (safe(v)) } }
                    }
                }
                p #would-destroy { (consent_words::would_destroy(draft, lang)) }
            }
            form method="post" action={ "/cases/" (case) "/consents/sign" } {
                input type="hidden" name="draft" value=(key);
                input type="hidden" name="shown" value=(c.text_sha256);
                p.actions {
                    button #sign type="submit" { (W::Sign.get(lang)) }
                    " "
                    a href={ "/cases/" (case) "/consents/new?to=" (c.recipient) } { (W::ChangeChoices.get(lang)) }
                }
            }
        }
    };
    (status, layout(lang, Some(me), path, title, body)).into_response()
}

/// `POST /cases/{id}/consents/sign`: signs the kept draft, if it is the one shown.
pub async fn sign(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<Vec<(String, String)>>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents/sign", safe(&id));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        return patient_only(lang, &me, &path, &id);
    }
    let back = format!("/cases/{id}/consents");
    let key = one(&f, "draft").unwrap_or("");
    let shown = one(&f, "shown").unwrap_or("");
    let Some(draft) = kept(key, &me.account, false).filter(|d| d.consent.case_id == id) else {
        return bad(
            StatusCode::GONE,
            lang,
            &me,
            &path,
            &[W::ReviewGone.get(lang).to_owned()],
            Some((&back, W::BackToConsents)),
        );
    };
    // The hash in the consent is of the text it carries (prepare_grant computed it); the
    // form's must be the same, or the person saw something else.
    let text_hash = trialog_protocol::encoding::sha256_hex(&[draft.text.as_bytes()]);
    if shown != draft.consent.text_sha256 || text_hash != draft.consent.text_sha256 {
        return review_page(
            StatusCode::CONFLICT,
            lang,
            &me,
            &path,
            &id,
            key,
            &draft,
            Some(W::ReviewChanged),
        );
    }
    let Some(draft) = kept(key, &me.account, true) else {
        return bad(
            StatusCode::GONE,
            lang,
            &me,
            &path,
            &[W::ReviewGone.get(lang).to_owned()],
            Some((&back, W::BackToConsents)),
        );
    };
    let recipient = draft.consent.recipient_name.clone();
    let superseding = draft.consent.supersedes.is_some();
    let r = match client.sign_grant(draft).await {
        Ok(r) => r,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let title = W::Signed.get(lang);
    let body = html! {
        section.card.done role="status" aria-labelledby="signed" {
            h1 #signed { (title) }
            p { (W::SignedBody.get(lang)) " (" (safe(&recipient)) ")" }
            @if superseding {
                dl.facts {
                    dt { (W::Destroyed.get(lang)) }
                    dd #purged { (r.purged) }
                    dt { (W::Kept.get(lang)) }
                    dd #kept { (r.kept) }
                }
            }
            p { a href=(back) { (W::BackToConsents.get(lang)) } }
        }
    };
    layout(lang, Some(&me), &path, title, body).into_response()
}

/// The current consent `consent` of this case, from the verified chain.
fn find_current<'a>(
    chain: &'a Chain,
    consent: &ConsentId,
) -> Option<&'a trialog_protocol::chain::Version> {
    chain.get(consent).filter(|v| {
        chain
            .in_force(&v.consent.recipient, now())
            .is_some_and(|c| c.consent.consent_id == *consent)
    })
}

/// `GET /cases/{id}/consents/{consent}/revoke`: what revoking does, then the button.
pub async fn revoke_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, consent)): Path<(String, String)>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents/{}/revoke", safe(&id), safe(&consent));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        return patient_only(lang, &me, &path, &id);
    }
    let back = format!("/cases/{id}/consents");
    let chain = match client.chain(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let found = ConsentId::parse(&consent)
        .ok()
        .and_then(|c| find_current(&chain, &c).cloned());
    let Some(v) = found else {
        return bad(
            StatusCode::NOT_FOUND,
            lang,
            &me,
            &path,
            &[W::UnknownConsent.get(lang).to_owned()],
            Some((&back, W::BackToConsents)),
        );
    };
    let c = &v.consent;
    let title = format!("{} {}", W::RevokeTitle.get(lang), safe(&c.recipient_name));
    let body = html! {
        section.card aria-labelledby="revoke" {
            h1 #revoke { (title) }
            p.help { (c.recipient_role.label(lang)) }
            h2 { (W::MaySeeNow.get(lang)) }
            (allowed(c, lang))
            div.card.warning {
                p { (W::RevokeWhat.get(lang)) }
                p { strong { (W::RevokeCannotRecall.get(lang)) } }
            }
            form method="post" action={ "/cases/" (id) "/consents/" (c.consent_id) "/revoke" } {
                p.actions {
                    button.danger #confirm-revoke type="submit" { (W::RevokeButton.get(lang)) }
                    " "
                    a href=(back) { (W::Cancel.get(lang)) }
                }
            }
        }
    };
    layout(lang, Some(&me), &path, &title, body).into_response()
}

/// `POST /cases/{id}/consents/{consent}/revoke`
pub async fn revoke(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Path((id, consent)): Path<(String, String)>,
) -> Response {
    let lang = app.lang_of(&headers);
    let path = format!("/cases/{}/consents/{}/revoke", safe(&id), safe(&consent));
    let mut vault = app.vault.lock().await;
    let (client, me, id) = match case_page(&mut vault, lang, &path, &id).await {
        Ok(x) => x,
        Err(page) => return page,
    };
    if me.role != Role::Patient {
        return patient_only(lang, &me, &path, &id);
    }
    let back = format!("/cases/{id}/consents");
    let chain = match client.chain(&id).await {
        Ok(c) => c,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    // Only a consent of this case that is in force: the case in the address is the one
    // the person was looking at.
    let found = ConsentId::parse(&consent)
        .ok()
        .and_then(|c| find_current(&chain, &c).map(|v| v.consent.clone()));
    let Some(c) = found else {
        return bad(
            StatusCode::NOT_FOUND,
            lang,
            &me,
            &path,
            &[W::UnknownConsent.get(lang).to_owned()],
            Some((&back, W::BackToConsents)),
        );
    };
    let r = match client.revoke(&c.consent_id).await {
        Ok(r) => r,
        Err(e) => return error_page(lang, Some(&me), &path, &e),
    };
    let title = W::Revoked.get(lang);
    let body = html! {
        section.card.done role="status" aria-labelledby="revoked" {
            h1 #revoked { (title) }
            p { (safe(&c.recipient_name)) " · " (c.recipient_role.label(lang)) }
            dl.facts {
                dt { (W::Destroyed.get(lang)) }
                dd #purged { (r.purged) }
                dt { (W::AlreadyDelivered.get(lang)) }
                dd #delivered { (r.already_delivered) }
            }
            p { (W::RevokeCannotRecall.get(lang)) }
            p { a href=(back) { (W::BackToConsents.get(lang)) } }
        }
    };
    layout(lang, Some(&me), &path, title, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_has_three_translations_and_sentences_differ() {
        for w in W::ALL {
            let (nl, fr, en) = w.all();
            assert!(!nl.is_empty() && !fr.is_empty() && !en.is_empty(), "{w:?}");
            // Anything longer than a word or two is a sentence: translated, not copied.
            if en.len() > 24 {
                assert!(nl != en && fr != en, "{w:?} is not translated");
            }
        }
    }

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    const TO: &str = "acc_0123456789abcdef0123456789abcdef";

    fn case() -> CaseId {
        CaseId::parse("case_0123456789abcdef0123456789abcdef").expect("a case id")
    }

    #[test]
    fn the_diagnosis_levels_are_shared_medically_and_nothing_else_is() {
        let g = parse_grant(
            &case(),
            &pairs(&[
                ("to", TO),
                ("field", "limits.fatigue"),
                ("diagnosis", "diagnosis"),
                ("medical", "medical.prognosis"),
            ]),
            Lang::En,
        )
        .expect("a grant");
        let ids: Vec<&str> = g.fields.iter().map(|f| f.as_str()).collect();
        assert!(ids.contains(&"limits.fatigue") && ids.contains(&DIAGNOSIS));
        let medical: Vec<&str> = g.share_medically.iter().map(|f| f.as_str()).collect();
        assert_eq!(
            medical,
            ["medical.prognosis", DIAGNOSIS_CATEGORY, DIAGNOSIS],
            "every medical field ticked is shared medically, on purpose"
        );
        assert!(g.kinds.is_none() && g.senders.is_none() && g.until.is_none());

        let none = parse_grant(
            &case(),
            &pairs(&[("to", TO), ("diagnosis", "none")]),
            Lang::En,
        )
        .expect("a grant");
        assert!(none.share_medically.is_empty() && none.fields.is_empty());
    }

    #[test]
    fn bad_form_input_is_named_in_the_page_language() {
        for (form, says) in [
            (vec![("field", "limits.fatigue")], "Aucun médecin"),
            (vec![("to", "bob")], "Médecin inconnu"),
            (vec![("to", TO), ("field", "nope")], "Donnée inconnue: nope"),
            (
                vec![("to", TO), ("field", "medical.diagnosis")],
                "Donnée inconnue",
            ),
            (
                vec![("to", TO), ("medical", "medical.diagnosis")],
                "Donnée inconnue",
            ),
            (
                vec![("to", TO), ("kind", "letter")],
                "Type de message inconnu",
            ),
            (vec![("to", TO), ("purpose", "fun")], "Finalité inconnue"),
            (vec![("to", TO), ("until", "31/12/2027")], "date de fin"),
        ] {
            let e = parse_grant(&case(), &pairs(&form), Lang::Fr).expect_err("refused");
            assert!(e.contains(says), "{e} should say {says}");
        }
    }
}
