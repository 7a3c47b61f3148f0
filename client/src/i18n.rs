//! User-facing sentences in Dutch, French and English. The language comes from `--lang`,
//! else `TRIALOG_LANG`, else `LANG`, else English.

use trialog_protocol::certificate::CertificateRefusal;
use trialog_protocol::consent::{MalformedConsent, Refusal, StripReason, Stripped};
use trialog_protocol::leak_guard::{LeakHit, LeakSource};
use trialog_protocol::onboarding::OnboardingError;
use trialog_protocol::{Code, Lang};

use crate::error::ClientError;

/// Picks the sentence for `lang`.
pub fn tr<'a>(lang: Lang, nl: &'a str, fr: &'a str, en: &'a str) -> &'a str {
    match lang {
        Lang::Nl => nl,
        Lang::Fr => fr,
        Lang::En => en,
    }
}

pub fn lang_from_env() -> Lang {
    ["TRIALOG_LANG", "LC_ALL", "LANG"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find_map(|v| Lang::parse(&v))
        .unwrap_or_default()
}

/// Why an onboarding string (or its three parts) was refused, as a sentence.
pub fn onboarding_error(e: &OnboardingError, lang: Lang) -> &'static str {
    use OnboardingError::*;
    match e {
        Prefix => tr(
            lang,
            "De tekst begint met trialog:v1: ; kopieer hem volledig van het blad.",
            "Le texte commence par trialog:v1: ; copiez-le en entier depuis la feuille.",
            "The text starts with trialog:v1: ; copy it whole from the sheet.",
        ),
        TooLong => tr(
            lang,
            "Deze tekst is te lang om van een inschrijvingsblad of uitnodiging te komen.",
            "Ce texte est trop long pour venir d'une feuille d'inscription ou d'une invitation.",
            "This text is too long to come from an enrolment sheet or an invitation.",
        ),
        Encoding | Content => tr(
            lang,
            "De tekst is beschadigd (een teken ontbreekt of is fout); kopieer hem opnieuw.",
            "Le texte est abîmé (un caractère manque ou est erroné) ; copiez-le à nouveau.",
            "The text is damaged (a character is missing or wrong); copy it again.",
        ),
        Server => tr(
            lang,
            "Het adres van de server moet met https:// beginnen.",
            "L'adresse du serveur doit commencer par https://.",
            "The server's address must start with https://.",
        ),
        Certificate => tr(
            lang,
            "De vingerafdruk van het certificaat telt 64 tekens (cijfers en a tot f).",
            "L'empreinte du certificat compte 64 caractères (chiffres et a à f).",
            "The certificate fingerprint is 64 characters (digits and a to f).",
        ),
        Code => tr(
            lang,
            "De code is leeg of bevat tekens die er niet in horen.",
            "Le code est vide ou contient des caractères qui n'en font pas partie.",
            "The code is empty or holds characters that are not part of one.",
        ),
        OperatorKey => tr(
            lang,
            "De sleutel van de beheerder in de tekst is beschadigd; kopieer de tekst opnieuw.",
            "La clé de l'opérateur dans le texte est abîmée ; copiez le texte à nouveau.",
            "The operator key in the text is damaged; copy the text again.",
        ),
    }
}

/// Why a changed server certificate was not followed, and what to do, as a sentence.
pub fn certificate_refusal(r: &CertificateRefusal, lang: Lang) -> String {
    use CertificateRefusal::*;
    let why = match r {
        NoStatement => tr(
            lang,
            "de server toont geen verklaring voor dit certificaat.",
            "le serveur ne présente aucune déclaration pour ce certificat.",
            "the server shows no statement for this certificate.",
        ),
        NotByServerKey | Malformed => tr(
            lang,
            "de verklaring voor dit certificaat is niet door die sleutel ondertekend.",
            "la déclaration pour ce certificat n'est pas signée par cette clé.",
            "the statement for this certificate is not signed by that key.",
        ),
        OtherCertificate => tr(
            lang,
            "de verklaring gaat over een ander certificaat dan het getoonde.",
            "la déclaration porte sur un autre certificat que celui présenté.",
            "the statement is for another certificate than the one presented.",
        ),
        Older => tr(
            lang,
            "de verklaring is ouder dan die van het certificaat dat deze computer al volgt.",
            "la déclaration est plus ancienne que celle du certificat que cet ordinateur suit déjà.",
            "the statement is older than that of the certificate this computer already follows.",
        ),
    };
    let advice = tr(
        lang,
        "Ga niet verder en verwittig de beheerder van de server: iemand kan zich voor de server uitgeven.",
        "N'allez pas plus loin et prévenez l'opérateur du serveur : quelqu'un peut se faire passer pour le serveur.",
        "Do not continue, and tell the server's operator: someone may be posing as the server.",
    );
    format!("{why} {advice}")
}

pub fn strip_reason(r: StripReason, lang: Lang) -> &'static str {
    match r {
        StripReason::NotConsented => tr(
            lang,
            "geen toestemming van de patiënt",
            "pas de consentement du patient",
            "the patient has not consented",
        ),
        StripReason::MedicalNotShared => tr(
            lang,
            "medisch gegeven dat de patiënt niet medisch deelde met deze arts",
            "donnée médicale que le patient n'a pas partagée médicalement avec ce médecin",
            "medical field the patient did not share medically with this physician",
        ),
        StripReason::NotForKind => tr(
            lang,
            "hoort niet bij dit soort bericht",
            "ne fait pas partie de ce type de message",
            "not part of this kind of message",
        ),
    }
}

/// Why a message is gone from the server, as a sentence for its recipient.
pub fn gone_reason(r: crate::client::GoneReason, lang: Lang) -> &'static str {
    use crate::client::GoneReason::*;
    match r {
        Revoked => tr(
            lang,
            "De patiënt trok de toestemming in voordat het bericht gelezen werd; het werd vernietigd.",
            "Le patient a retiré son consentement avant la lecture du message ; il a été détruit.",
            "The patient revoked the consent before the message was read; it was destroyed.",
        ),
        Expired => tr(
            lang,
            "De toestemming van de patiënt verliep voordat het bericht gelezen werd; het werd vernietigd.",
            "Le consentement du patient a expiré avant la lecture du message ; il a été détruit.",
            "The patient's consent expired before the message was read; it was destroyed.",
        ),
        NoLongerCovered => tr(
            lang,
            "De nieuwe versie van de toestemming van de patiënt dekt dit bericht niet meer; het werd vernietigd.",
            "La nouvelle version du consentement du patient ne couvre plus ce message ; il a été détruit.",
            "The patient's new version of the consent no longer covers this message; it was destroyed.",
        ),
        MemberRemoved => tr(
            lang,
            "De patiënt verwijderde u uit het dossier voordat het bericht gelezen werd; het werd vernietigd.",
            "Le patient vous a retiré du dossier avant la lecture du message ; il a été détruit.",
            "The patient removed you from the case before the message was read; it was destroyed.",
        ),
        Acknowledged => tr(
            lang,
            "Dit bericht werd al gelezen en van de server gewist, mogelijk op een ander toestel.",
            "Ce message a déjà été lu et effacé du serveur, peut-être sur un autre appareil.",
            "This message was already read and deleted from the server, perhaps on another device.",
        ),
    }
}

fn field_list(stripped: &[Stripped]) -> String {
    stripped
        .iter()
        .map(|s| s.field.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

fn refusal(r: &Refusal, lang: Lang) -> String {
    match r {
        Refusal::Revoked => tr(lang,
            "De patiënt heeft deze toestemming ingetrokken: er kan niets meer onder verstuurd worden. Vraag de patiënt om een nieuwe toestemming.",
            "Le patient a retiré ce consentement : plus rien ne peut être envoyé sous celui-ci. Demandez au patient un nouveau consentement.",
            "The patient revoked this consent: nothing more can be sent under it. Ask the patient for a new consent.").into(),
        Refusal::Expired => tr(lang,
            "De toestemming van de patiënt is verlopen. Vraag een nieuwe toestemming.",
            "Le consentement du patient a expiré. Demandez-en un nouveau.",
            "The patient's consent has expired. Ask for a new one.").into(),
        Refusal::RecipientKeyChanged => tr(lang,
            "De sleutel van de ontvanger veranderde sinds de patiënt tekende: de patiënt moet opnieuw toestemming geven.",
            "La clé du destinataire a changé depuis la signature du patient : le patient doit consentir à nouveau.",
            "The recipient's key changed since the patient signed: the patient must consent again.").into(),
        Refusal::SenderNotAllowed => tr(lang,
            "De patiënt liet u niet toe als afzender onder deze toestemming.",
            "Le patient ne vous a pas autorisé comme expéditeur sous ce consentement.",
            "The patient did not allow you as a sender under this consent.").into(),
        Refusal::KindNotAllowed => tr(lang,
            "De toestemming van de patiënt dekt dit soort bericht niet.",
            "Le consentement du patient ne couvre pas ce type de message.",
            "The patient's consent does not cover this kind of message.").into(),
        Refusal::Superseded => tr(lang,
            "De patiënt verving deze toestemming door een nieuwere versie; die geldt nu.",
            "Le patient a remplacé ce consentement par une version plus récente ; c'est elle qui s'applique.",
            "The patient replaced this consent by a newer version; that one applies now.").into(),
        Refusal::NoLongerCovered => tr(lang,
            "De nieuwe versie van de toestemming van de patiënt dekt dit bericht niet meer.",
            "La nouvelle version du consentement du patient ne couvre plus ce message.",
            "The patient's new version of the consent no longer covers this message.").into(),
        Refusal::Malformed(MalformedConsent::KindNotReceivable { role, kind }) => format!("{} ({}, {kind})", tr(lang,
            "Deze arts kan dit soort bericht niet ontvangen: kies enkel soorten die bij zijn rol passen.",
            "Ce médecin ne peut pas recevoir ce type de message : choisissez des types qui conviennent à son rôle.",
            "This physician cannot receive this kind of message: choose only kinds that fit their role."), role.label(lang)),
        other => other.to_string(),
    }
}

/// Why a typed value does not fit its field, as a sentence naming the field by its label.
pub fn value_error(e: &trialog_protocol::catalogue::ValueError, lang: Lang) -> String {
    use trialog_protocol::catalogue::{MAX_TEXT_CHARS, ValueError as V, field};
    let label =
        |id: &str| field(id).map_or_else(|| id.to_owned(), |f| f.label.get(lang).to_owned());
    match e {
        V::NotText { field } | V::Empty { field } => format!(
            "{}: {}",
            label(field),
            tr(
                lang,
                "vul tekst in of laat het veld helemaal leeg.",
                "saisissez du texte ou laissez le champ entièrement vide.",
                "type some text or leave the field empty."
            )
        ),
        V::NotDate { field } => format!(
            "{}: {}",
            label(field),
            tr(
                lang,
                "geef een bestaande datum (jjjj-mm-dd).",
                "donnez une date qui existe (aaaa-mm-jj).",
                "give a date that exists (yyyy-mm-dd)."
            )
        ),
        V::OutOfRange { field, min, max } => format!(
            "{}: {} {min} {} {max}.",
            label(field),
            tr(
                lang,
                "geef een getal tussen",
                "donnez un nombre entre",
                "give a number between"
            ),
            tr(lang, "en", "et", "and")
        ),
        V::NotAChoice { field, .. } => format!(
            "{}: {}",
            label(field),
            tr(
                lang,
                "kies een van de voorgestelde waarden.",
                "choisissez une des valeurs proposées.",
                "choose one of the values offered."
            )
        ),
        V::TooLong { field, .. } => format!(
            "{}: {} {MAX_TEXT_CHARS} {}",
            label(field),
            tr(lang, "ten hoogste", "au plus", "at most"),
            tr(lang, "tekens.", "caractères.", "characters.")
        ),
    }
}

/// A value of a choice field (`employment.status`) as people say it.
pub fn choice_label(value: &str, lang: Lang) -> &str {
    match value {
        "employee" => tr(lang, "werknemer", "salarié", "employee"),
        "self_employed" => tr(lang, "zelfstandige", "indépendant", "self-employed"),
        "civil_servant" => tr(
            lang,
            "statutair ambtenaar",
            "agent statutaire",
            "civil servant",
        ),
        "job_seeker" => tr(lang, "werkzoekende", "demandeur d'emploi", "job-seeker"),
        other => other,
    }
}

/// One finding of the leak guard: the field, the term and where the term comes from.
pub fn leak_hit(h: &LeakHit, lang: Lang) -> String {
    format!(
        "{}: \"{}\" ({})",
        h.field,
        h.term,
        leak_source(&h.source, lang, |f| f.to_string())
    )
}

/// A finding without its field, for a page that shows it beside the field: the term and
/// where it comes from, a medical field named by its label (`"carcinoma" (oncology term)`).
pub fn leak_term(h: &LeakHit, lang: Lang) -> String {
    format!(
        "\"{}\" ({})",
        h.term,
        leak_source(&h.source, lang, |f| f.def().label.get(lang).to_owned())
    )
}

fn leak_source(
    source: &LeakSource,
    lang: Lang,
    field: impl Fn(trialog_protocol::FieldId) -> String,
) -> String {
    match source {
        LeakSource::MedicalField(f) => {
            format!(
                "{} {}",
                tr(lang, "komt uit", "vient de", "comes from"),
                field(*f)
            )
        }
        LeakSource::OncologyTerm => tr(
            lang,
            "oncologische term",
            "terme oncologique",
            "oncology term",
        )
        .into(),
        LeakSource::Icd10Code => tr(
            lang,
            "ICD-10-diagnosecode",
            "code diagnostique CIM-10",
            "ICD-10 diagnosis code",
        )
        .into(),
        LeakSource::CaseLabel => tr(
            lang,
            "komt uit het dossierlabel",
            "vient du libellé du dossier",
            "comes from the case label",
        )
        .into(),
    }
}

/// A sentence a person can act on, for any error.
pub fn explain(e: &ClientError, lang: Lang) -> String {
    match e {
        ClientError::NotInitialized(dir) => format!("{} ({})", tr(lang,
            "Nog geen Trialog-identiteit hier: voer eerst `trialog init --server URL --cert-sha256 HEX` uit.",
            "Pas encore d'identité Trialog ici : lancez d'abord `trialog init --server URL --cert-sha256 HEX`.",
            "No Trialog identity here yet: run `trialog init --server URL --cert-sha256 HEX` first."), dir.display()),
        ClientError::WrongPassphrase => tr(lang,
            "Verkeerde wachtzin voor de sleutelkluis.",
            "Phrase secrète incorrecte pour le coffre de clés.",
            "Wrong passphrase for the keystore.").into(),
        ClientError::WeakPassphrase => format!("{} {}.", tr(lang,
            "Deze wachtzin is te kort: kies er een van minstens",
            "Cette phrase secrète est trop courte : choisissez-en une d'au moins",
            "This passphrase is too short: choose one of at least"),
            crate::keystore::MIN_PASSPHRASE_CHARS.to_string() + tr(lang, " tekens", " caractères", " characters")),
        ClientError::NoPassphrase => tr(lang,
            "Geen wachtzin: zet TRIALOG_PASSPHRASE of gebruik een terminal.",
            "Pas de phrase secrète : définissez TRIALOG_PASSPHRASE ou utilisez un terminal.",
            "No passphrase: set TRIALOG_PASSPHRASE or run in a terminal.").into(),
        ClientError::WrongRole(role) => format!("{} {}.", tr(lang,
            "Dit kan enkel met een account als",
            "Cette action est réservée au compte du",
            "Only this account can do this:"),
            role.parse::<trialog_protocol::Role>().map(|r| r.label(lang)).unwrap_or(role)),
        ClientError::UnknownRecipient { to } => format!("{} `{to}`. {}",
            tr(lang, "Geen arts van dit dossier beantwoordt aan", "Aucun médecin de ce dossier ne répond à", "No physician of this case answers to"),
            tr(lang,
                "Geef een account-id, een rol (occupational, advising, treating) of een RIZIV-nummer van een arts van het dossier (trialog case show).",
                "Donnez un identifiant de compte, un rôle (occupational, advising, treating) ou un numéro INAMI d'un médecin du dossier (trialog case show).",
                "Give an account id, a role (occupational, advising, treating) or a RIZIV/INAMI number of a physician of the case (trialog case show).")),
        ClientError::AmbiguousRecipient { to, candidates } => format!("{} `{to}`: {}. {}",
            tr(lang, "Meerdere artsen van dit dossier beantwoorden aan", "Plusieurs médecins de ce dossier répondent à", "Several physicians of this case answer to"),
            candidates.join(", "),
            tr(lang,
                "Geef het account-id of het RIZIV-nummer van de juiste arts.",
                "Donnez l'identifiant de compte ou le numéro INAMI du bon médecin.",
                "Give the account id or the RIZIV/INAMI number of the one you mean.")),
        ClientError::SomeNotSent { failed, total } => format!("{failed}/{total} {}",
            tr(lang,
                "ontvangers kregen niets (zie hierboven); de andere berichten zijn verstuurd.",
                "destinataires n'ont rien reçu (voir ci-dessus) ; les autres messages sont partis.",
                "recipients got nothing (see above); the other messages were sent.")),
        ClientError::NotAMember { account } => format!("{account}: {}",
            tr(lang,
                "geen actieve arts van dit dossier. Kies een arts uit de lijst van het dossier.",
                "n'est pas un médecin actif de ce dossier. Choisissez un médecin dans la liste du dossier.",
                "not an active physician of this case. Choose a physician from the case's list.")),
        ClientError::NoConsent { recipient } => format!("{} {recipient}. {}",
            tr(lang, "De patiënt gaf nog geen toestemming voor", "Le patient n'a donné aucun consentement pour", "The patient has given no consent for"),
            tr(lang, "Vraag de patiënt om er een te geven (trialog consent grant).", "Demandez au patient d'en donner un (trialog consent grant).", "Ask the patient to grant one (trialog consent grant).")),
        ClientError::NothingToSend { stripped } => format!("{} {}. {}",
            tr(lang, "De patiënt gaf geen toestemming voor", "Le patient n'a pas consenti à", "The patient has not consented to"),
            field_list(stripped),
            tr(lang, "voor deze ontvanger; vraag de patiënt toestemming of verwijder het veld.", "pour ce destinataire ; demandez-lui son consentement ou retirez le champ.", "for this recipient; ask them to grant it or remove the field.")),
        ClientError::ConsentRefused(r) => refusal(r, lang),
        ClientError::MedicalNotShared(f) => format!(
            "{f} {} --share-medically {f}",
            tr(
                lang,
                "is een medisch gegeven: het wordt enkel gedeeld als u het ook vermeldt met",
                "est une donnée médicale : elle n'est partagée que si vous la nommez aussi avec",
                "is medical: it is shared only if you also name it with"
            )
        ),
        ClientError::LeakGuard { hits } => {
            let list = hits
                .iter()
                .map(|h| format!("  {}", leak_hit(h, lang)))
                .collect::<Vec<_>>()
                .join("\n");
            format!("{}\n{list}\n{}",
                tr(lang, "Vrije tekst kan de diagnose verraden:", "Le texte libre peut révéler le diagnostic :", "Free text may reveal the diagnosis:"),
                tr(lang, "Pas de tekst aan, of verstuur met --override-leak-guard (dat wordt in het bericht vastgelegd).",
                   "Modifiez le texte, ou envoyez avec --override-leak-guard (ce sera consigné dans le message).",
                   "Edit the text, or send with --override-leak-guard (recorded in the message)."))
        }
        ClientError::KeyChanged { account, pinned, now } => format!("{} {account} ({pinned} → {now}). {}",
            tr(lang, "De sleutel veranderde van", "La clé a changé pour", "The key changed for"),
            tr(lang, "Ga niet verder voor u dit met de betrokkene nagegaan hebt.", "N'allez pas plus loin avant d'avoir vérifié avec la personne.", "Do not continue until you have checked with them.")),
        ClientError::NotAttested { name } => format!("{} {name} {}",
            tr(lang, "De sleutel van", "La clé de", "The key of"),
            tr(lang,
                "is nog niet bevestigd door de beheerder van Trialog, dus er werd niets verzonden. Vraag de arts de beheerder te bellen: die vergelijkt de vingerafdruk die de arts voorleest en bevestigt de sleutel. Probeer daarna opnieuw.",
                "n'est pas encore attestée par l'opérateur de Trialog : rien n'a été envoyé. Demandez au médecin d'appeler l'opérateur, qui compare l'empreinte que le médecin lui lit et atteste la clé. Réessayez ensuite.",
                "has not been attested by the Trialog operator yet, so nothing was sent. Ask the physician to call the operator, who compares the fingerprint the physician reads out and attests the key. Then try again.")),
        ClientError::AttestationInvalid { name } => format!("{} {name} {}",
            tr(lang, "De bevestiging van de sleutel van", "L'attestation de la clé de", "The operator's attestation of the key of"),
            tr(lang,
                "klopt niet: de server heeft de sleutel misschien vervangen. Er werd niets verzonden. Ga niet verder en verwittig de beheerder.",
                "n'est pas valable : le serveur a peut-être remplacé la clé. Rien n'a été envoyé. N'allez pas plus loin et prévenez l'opérateur.",
                "does not verify: the server may have replaced the key. Nothing was sent. Do not continue, and tell the operator.")),
        ClientError::CertificateNotFollowed { cause, refusal } => format!("{cause}. {} {}",
            tr(lang,
                "Het TLS-certificaat van de server veranderde, maar de serversleutel die deze computer vastlegde staat er niet voor in:",
                "Le certificat TLS du serveur a changé, mais la clé du serveur que cet ordinateur a épinglée ne s'en porte pas garante :",
                "The server's TLS certificate changed, but the server key this computer pinned does not vouch for it:"),
            certificate_refusal(refusal, lang)),
        ClientError::FingerprintMismatch { .. } => tr(lang,
            "De vingerafdruk die u intypte komt niet overeen met de sleutel van de patiënt. Laat de patiënt hem opnieuw voorlezen; bevestig niets bij twijfel.",
            "L'empreinte saisie ne correspond pas à la clé du patient. Faites-la relire par le patient ; ne confirmez rien en cas de doute.",
            "The fingerprint you typed does not match the patient's key. Have the patient read it out again; confirm nothing if in doubt.").into(),
        ClientError::Api { code, message, .. } => match code {
            Code::ConsentRevoked
            | Code::ConsentExpired
            | Code::ConsentKeyChanged
            | Code::ConsentSenderNotAllowed
            | Code::ConsentKindNotAllowed
            | Code::ConsentSuperseded => {
                let r = match code {
                    Code::ConsentRevoked => Refusal::Revoked,
                    Code::ConsentExpired => Refusal::Expired,
                    Code::ConsentKeyChanged => Refusal::RecipientKeyChanged,
                    Code::ConsentSenderNotAllowed => Refusal::SenderNotAllowed,
                    Code::ConsentSuperseded => Refusal::Superseded,
                    _ => Refusal::KindNotAllowed,
                };
                format!("{} [{code}]", refusal(&r, lang))
            }
            Code::FieldNotConsented => format!("{} [{code}]", tr(lang,
                "De server weigerde: de patiënt gaf geen toestemming voor een veld van dit bericht. Vraag toestemming of verwijder het veld.",
                "Le serveur a refusé : le patient n'a pas consenti à un champ de ce message. Demandez son consentement ou retirez le champ.",
                "The server refused: the patient has not consented to a field of this message. Ask them to grant it or remove the field.")),
            Code::RecipientQuotaExceeded => format!("{} [{code}]", tr(lang,
                "De ontvanger heeft te veel ongelezen berichten; er wordt niets meer aanvaard tot hij er enkele leest. Probeer later opnieuw.",
                "Le destinataire a trop de messages non lus ; plus rien n'est accepté avant qu'il en lise. Réessayez plus tard.",
                "The recipient has too many unread messages; nothing more is accepted until they read some. Try again later.")),
            Code::ConsentKindNotReceivable => format!("{} [{code}]", tr(lang,
                "Deze arts kan dit soort bericht niet ontvangen: kies enkel soorten die bij zijn rol passen.",
                "Ce médecin ne peut pas recevoir ce type de message : choisissez des types qui conviennent à son rôle.",
                "This physician cannot receive this kind of message: choose only kinds that fit their role.")),
            Code::MessageGone => match crate::client::GoneReason::of(e) {
                Some(r) => format!("{} [{code}]", gone_reason(r, lang)),
                None => format!("{message} [{code}]"),
            },
            Code::TokenExpired => tr(lang, "Uw sessie is verlopen; probeer opnieuw.", "Votre session a expiré ; réessayez.", "Your session expired; try again.").into(),
            Code::Conflict => tr(lang, "Iets anders heeft dit net vastgelegd; bekijk het opnieuw en probeer dan nog eens.", "Une autre requête vient d'enregistrer la même chose ; regardez à nouveau avant de réessayer.", "Another request just recorded the same thing; look again before retrying.").into(),
            Code::BadInvitation => tr(lang,
                "Deze uitnodigingscode is onbekend, al gebruikt of verlopen. Vraag de beheerder een nieuwe.",
                "Ce code d'invitation est inconnu, déjà utilisé ou expiré. Demandez-en un nouveau à l'opérateur.",
                "This invitation code is unknown, used or expired. Ask the operator for a new one.").into(),
            Code::BadEnrolmentCode => tr(lang,
                "Deze inschrijvingscode is onbekend, al gebruikt of verlopen. Vraag uw behandelend arts een nieuwe.",
                "Ce code d'inscription est inconnu, déjà utilisé ou expiré. Demandez-en un nouveau à votre médecin traitant.",
                "This enrolment code is unknown, used or expired. Ask your treating physician for a new one.").into(),
            Code::AccountSuspended => format!("{} [{code}]", tr(lang,
                "De beheerder heeft dit account geschorst: u kunt niet aanmelden, verzenden of ontvangen. Berichten voor u worden bewaard tot de schorsing wordt opgeheven. Neem contact op met de beheerder.",
                "L'opérateur a suspendu ce compte : vous ne pouvez ni vous connecter, ni envoyer, ni recevoir. Les messages qui vous sont destinés sont conservés jusqu'à la levée de la suspension. Contactez l'opérateur.",
                "The operator has suspended this account: you can neither log in, send nor receive. Messages for you are held until the suspension is lifted. Contact the operator.")),
            Code::PatientNotConfirmed => tr(lang,
                "Uw behandelend arts bevestigde uw sleutel nog niet: lees hem uw vingerafdruk voor (trialog whoami).",
                "Votre médecin traitant n'a pas encore confirmé votre clé : lisez-lui votre empreinte (trialog whoami).",
                "Your treating physician has not confirmed your key yet: read them your fingerprint (trialog whoami).").into(),
            _ => format!("{message} [{code}]"),
        },
        other => other.to_string(),
    }
}
