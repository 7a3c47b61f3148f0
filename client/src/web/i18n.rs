//! Every word the web pages show, in Dutch, French and English, and dates written out as
//! people write them in each language, in Brussels local time.
//!
//! Page text is one key per sentence or label, declared with [`texts!`] together with its
//! three translations, so that a missing translation is a compile error rather than an
//! English word on a French page. `Text` holds the shared words; each page area declares
//! its own vocabulary beside its page.
//! Error sentences come from `crate::i18n::explain`, shared with the command line.

use trialog_protocol::Lang;
use trialog_protocol::api::MemberStatus;

/// Declares a page vocabulary: an enum with one key per sentence or label, each with its
/// Dutch, French and English text, in that order. Every page area declares its own (see
/// `pages::*`), so the words live beside the page that shows them.
macro_rules! texts {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($key:ident => ($nl:expr, $fr:expr, $en:expr $(,)?)),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        $vis enum $name { $($key),* }

        impl $name {
            /// Every key, for the translation test.
            #[allow(dead_code)]
            pub const ALL: &[$name] = &[$($name::$key),*];

            pub fn get(self, lang: trialog_protocol::Lang) -> &'static str {
                let (nl, fr, en) = self.all();
                match lang {
                    trialog_protocol::Lang::Nl => nl,
                    trialog_protocol::Lang::Fr => fr,
                    trialog_protocol::Lang::En => en,
                }
            }

            pub fn all(self) -> (&'static str, &'static str, &'static str) {
                match self {
                    $($name::$key => ($nl, $fr, $en)),*
                }
            }
        }
    };
}
// Used by the page modules that declare their own vocabulary.
#[allow(unused_imports)]
pub(crate) use texts;

texts! {
    /// The words of the layout and of the pages every role shares.
    pub enum Text {
        AppName => ("Trialog", "Trialog", "Trialog"),
        SkipToContent => ("Naar de inhoud", "Aller au contenu", "Skip to content"),
        MainNav => ("Hoofdmenu", "Menu principal", "Main menu"),
        NavHome => ("Wie ben ik", "Qui suis-je", "Who am I"),
        NavCases => ("Dossiers", "Dossiers", "Cases"),
        NavInbox => ("Postvak in", "Boîte de réception", "Inbox"),
        Language => ("Taal", "Langue", "Language"),
        LockNow => ("Nu vergrendelen", "Verrouiller maintenant", "Lock now"),
        YourFingerprint => ("Sleutel", "Clé", "Key"),
        WhoAmI => ("Wie ben ik", "Qui suis-je", "Who am I"),
        AwaitingApproval => (
            "De beheerder van Trialog heeft uw sleutel nog niet bevestigd: tot dan kan niemand u schrijven en staat u niet in de lijst van artsen. Lees de beheerder deze vingerafdruk voor:",
            "L'opérateur de Trialog n'a pas encore attesté votre clé : d'ici là, personne ne peut vous écrire et vous n'êtes pas dans l'annuaire. Lisez cette empreinte à l'opérateur :",
            "The Trialog operator has not attested your key yet: until then nobody can write to you and you are not in the directory. Read this fingerprint out to the operator:",
        ),
        Name => ("Naam", "Nom", "Name"),
        Role => ("Rol", "Rôle", "Role"),
        Riziv => ("RIZIV-nummer", "Numéro INAMI", "RIZIV/INAMI number"),
        Account => ("Account", "Compte", "Account"),
        Fingerprint => (
            "Vingerafdruk van uw sleutel",
            "Empreinte de votre clé",
            "Your key fingerprint",
        ),
        FingerprintHelp => (
            "Lees deze vingerafdruk voor wanneer iemand uw sleutel nagaat. Ze staat ook bovenaan elke pagina.",
            "Lisez cette empreinte quand quelqu'un vérifie votre clé. Elle figure aussi en haut de chaque page.",
            "Read this fingerprint out when someone checks your key. It is also at the top of every page.",
        ),
        Server => ("Server", "Serveur", "Server"),
        GoToCases => ("Naar uw dossiers", "Vers vos dossiers", "Go to your cases"),
        Cases => ("Uw dossiers", "Vos dossiers", "Your cases"),
        NoCases => (
            "U hebt nog geen dossiers.",
            "Vous n'avez encore aucun dossier.",
            "You have no cases yet.",
        ),
        Case => ("Dossier", "Dossier", "Case"),
        Reference => ("Referentie", "Référence", "Reference"),
        Opened => ("Geopend op", "Ouvert le", "Opened on"),
        TreatingPhysician => ("Behandelend arts", "Médecin traitant", "Treating physician"),
        Patient => ("Patiënt", "Patient", "Patient"),
        PatientConfirmed => (
            "aangesloten, sleutel bevestigd",
            "inscrit, clé confirmée",
            "joined, key confirmed",
        ),
        PatientJoinedNotConfirmed => (
            "aangesloten, sleutel nog niet bevestigd",
            "inscrit, clé pas encore confirmée",
            "joined, key not yet confirmed",
        ),
        PatientNotJoined => (
            "nog niet aangesloten",
            "pas encore inscrit",
            "not joined yet",
        ),
        Members => (
            "Artsen in dit dossier",
            "Médecins de ce dossier",
            "Physicians in this case",
        ),
        Status => ("Status", "Statut", "Status"),
        Since => ("Sinds", "Depuis", "Since"),
        MemberActive => ("actief", "actif", "active"),
        MemberInvited => (
            "uitgenodigd, wacht op de patiënt",
            "invité, attend le patient",
            "invited, waiting for the patient",
        ),
        MemberRemoved => (
            "verwijderd door de patiënt",
            "retiré par le patient",
            "removed by the patient",
        ),
        ThePatient => ("De patiënt", "Le patient", "The patient"),
        BackToCases => (
            "Terug naar uw dossiers",
            "Retour à vos dossiers",
            "Back to your cases",
        ),
        NoOtherMembers => (
            "Nog geen andere artsen in dit dossier.",
            "Pas encore d'autres médecins dans ce dossier.",
            "No other physicians in this case yet.",
        ),
        UnlockTitle => (
            "Sleutelkluis ontgrendelen",
            "Déverrouiller le coffre de clés",
            "Unlock your keystore",
        ),
        UnlockIntro => (
            "Uw sleutels zijn vergrendeld. Typ uw wachtzin om verder te gaan; hij verlaat deze computer niet.",
            "Vos clés sont verrouillées. Tapez votre phrase secrète pour continuer ; elle ne quitte pas cet ordinateur.",
            "Your keys are locked. Type your passphrase to continue; it never leaves this computer.",
        ),
        Passphrase => ("Wachtzin", "Phrase secrète", "Passphrase"),
        Unlock => ("Ontgrendelen", "Déverrouiller", "Unlock"),
        WelcomeTitle => (
            "Open de link uit uw terminal",
            "Ouvrez le lien de votre terminal",
            "Open the link from your terminal",
        ),
        WelcomeBody => (
            "Deze pagina opent enkel via de link die `trialog ui` in uw terminal toonde.",
            "Cette page ne s'ouvre que par le lien que `trialog ui` a affiché dans votre terminal.",
            "This page opens only through the link that `trialog ui` printed in your terminal.",
        ),
        WelcomeAgain => (
            "De link werkt één keer. Gebruikte u hem al, stop dan `trialog ui` en start het opnieuw voor een nieuwe link.",
            "Le lien ne fonctionne qu'une fois. Si vous l'avez déjà utilisé, arrêtez `trialog ui` et relancez-le pour obtenir un nouveau lien.",
            "The link works once. If you have used it already, stop `trialog ui` and start it again for a new link.",
        ),
        LinkUsedTitle => (
            "Deze link is al gebruikt",
            "Ce lien a déjà été utilisé",
            "This link was already used",
        ),
        LinkUsedBody => (
            "Een link van `trialog ui` werkt één keer. Stop `trialog ui` en start het opnieuw voor een nieuwe link.",
            "Un lien de `trialog ui` ne fonctionne qu'une fois. Arrêtez `trialog ui` et relancez-le pour obtenir un nouveau lien.",
            "A link from `trialog ui` works once. Stop `trialog ui` and start it again for a new link.",
        ),
        ErrorTitle => ("Dat lukte niet", "Cela n'a pas abouti", "That did not work"),
        NotFoundTitle => ("Pagina niet gevonden", "Page introuvable", "Page not found"),
        NotFoundBody => (
            "Deze pagina bestaat niet. Ga terug naar uw dossiers.",
            "Cette page n'existe pas. Retournez à vos dossiers.",
            "This page does not exist. Go back to your cases.",
        ),
        BadCaseId => (
            "Dit is geen geldig dossiernummer. Open het dossier vanuit de lijst van uw dossiers.",
            "Ce n'est pas un identifiant de dossier valide. Ouvrez le dossier depuis la liste de vos dossiers.",
            "This is not a valid case id. Open the case from the list of your cases.",
        ),
        WrongHost => (
            "Dit adres hoort niet bij deze Trialog. Open de link die `trialog ui` in uw terminal toonde.",
            "Cette adresse n'est pas celle de ce Trialog. Ouvrez le lien que `trialog ui` a affiché dans votre terminal.",
            "This address is not this Trialog's. Open the link that `trialog ui` printed in your terminal.",
        ),
        TooManyStreams => (
            "Er staan al te veel postvakken open. Dit postvak wordt elke halve minuut vernieuwd.",
            "Trop de boîtes de réception sont déjà ouvertes. Celle-ci sera actualisée toutes les trente secondes.",
            "Too many inboxes are open already. This one refreshes every half minute.",
        ),
        ForbiddenOrigin => (
            "Dit formulier kwam niet van een pagina van deze Trialog en werd geweigerd. Vul het opnieuw in op de pagina zelf.",
            "Ce formulaire ne venait pas d'une page de ce Trialog et a été refusé. Remplissez-le à nouveau sur la page même.",
            "This form did not come from a page of this Trialog and was refused. Fill it in again on the page itself.",
        ),
    }
}

/// The language's own name, for the language switch.
pub fn lang_name(lang: Lang) -> &'static str {
    match lang {
        Lang::Nl => "Nederlands",
        Lang::Fr => "Français",
        Lang::En => "English",
    }
}

pub fn member_status(s: MemberStatus, lang: Lang) -> &'static str {
    match s {
        MemberStatus::Active => Text::MemberActive.get(lang),
        MemberStatus::Invited => Text::MemberInvited.get(lang),
        MemberStatus::Removed => Text::MemberRemoved.get(lang),
    }
}

const MONTHS_NL: [&str; 12] = [
    "januari",
    "februari",
    "maart",
    "april",
    "mei",
    "juni",
    "juli",
    "augustus",
    "september",
    "oktober",
    "november",
    "december",
];
const MONTHS_FR: [&str; 12] = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
];
const MONTHS_EN: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// The Brussels local date of `ts` as people write it: "2 december 2026",
/// "2 décembre 2026" ("1er" for the first of the month), "2 December 2026".
pub fn date(ts: i64, lang: Lang) -> String {
    let Some(d) = trialog_protocol::time::local_date(ts) else {
        return trialog_protocol::time::format_date(ts);
    };
    let month = usize::try_from(d.month() - 1).unwrap_or(0).min(11);
    let (day, name) = match lang {
        Lang::Nl => (d.day().to_string(), MONTHS_NL[month]),
        Lang::Fr if d.day() == 1 => ("1er".to_owned(), MONTHS_FR[month]),
        Lang::Fr => (d.day().to_string(), MONTHS_FR[month]),
        Lang::En => (d.day().to_string(), MONTHS_EN[month]),
    };
    format!("{day} {name} {}", d.year())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-02 00:30 in Brussels is still 1 December in UTC: the date is Brussels'.
    const DEC_2_BRUSSELS: i64 = 1_796_167_800;

    #[test]
    fn dates_are_written_as_people_write_them() {
        assert_eq!(date(DEC_2_BRUSSELS, Lang::Nl), "2 december 2026");
        assert_eq!(date(DEC_2_BRUSSELS, Lang::Fr), "2 décembre 2026");
        assert_eq!(date(DEC_2_BRUSSELS, Lang::En), "2 December 2026");
        // 1 December 2026, 12:00 UTC.
        assert_eq!(date(1_796_126_400, Lang::Fr), "1er décembre 2026");
    }

    #[test]
    fn every_text_has_three_non_empty_translations() {
        for t in Text::ALL {
            let (nl, fr, en) = t.all();
            assert!(!nl.is_empty() && !fr.is_empty() && !en.is_empty(), "{t:?}");
        }
        // Sentences, unlike short labels, are never the same word in two languages.
        for t in [
            Text::NavHome,
            Text::Cases,
            Text::UnlockIntro,
            Text::WelcomeBody,
        ] {
            let (nl, fr, en) = t.all();
            assert!(nl != en && fr != en, "{t:?} is not translated");
        }
    }
}
