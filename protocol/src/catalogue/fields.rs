//! The catalogue data (DESIGN.md §5). Ids are wire format: add, never rename.
use super::{FieldClass, FieldDef, Labels, ValueType};
use crate::roles::MessageKind::{self, Bilan, Feedback, Request};

/// Sent by the treating physician only.
const B: &[MessageKind] = &[Bilan];
/// Sent by the occupational or advising physician only.
const F: &[MessageKind] = &[Feedback];
/// Both directions of the dialogue.
const BF: &[MessageKind] = &[Bilan, Feedback];
/// Every kind, including a request for an update.
const BFR: &[MessageKind] = &[Bilan, Feedback, Request];

/// Wire values of `employment.status`.
const EMPLOYMENT_STATUSES: &[&str] = &["employee", "self_employed", "civil_servant", "job_seeker"];

pub(super) static FIELDS: &[FieldDef] = &[
    // ---- Capacity (treating side) -------------------------------------------------------
    FieldDef {
        id: "capacity.hours_per_week",
        class: FieldClass::Functional,
        value: ValueType::Number {
            min: 0.0,
            max: 60.0,
        },
        kinds: B,
        label: Labels {
            nl: "Werkbare uren per week",
            fr: "Heures prestables par semaine",
            en: "Workable hours per week",
        },
        hint: Labels {
            nl: "Aantal uren per week dat nu haalbaar is, bv. 12",
            fr: "Nombre d'heures par semaine actuellement prestables, p. ex. 12",
            en: "Hours per week the person can work now, e.g. 12",
        },
    },
    FieldDef {
        id: "capacity.hours_per_day",
        class: FieldClass::Functional,
        value: ValueType::Number {
            min: 0.0,
            max: 12.0,
        },
        kinds: B,
        label: Labels {
            nl: "Werkbare uren per dag",
            fr: "Heures prestables par jour",
            en: "Workable hours per day",
        },
        hint: Labels {
            nl: "Aantal uren per werkdag dat nu haalbaar is, bv. 4",
            fr: "Nombre d'heures par jour de travail actuellement prestables, p. ex. 4",
            en: "Hours per working day the person can work now, e.g. 4",
        },
    },
    FieldDef {
        id: "capacity.days_per_week",
        class: FieldClass::Functional,
        value: ValueType::Number { min: 0.0, max: 7.0 },
        kinds: B,
        label: Labels {
            nl: "Werkbare dagen per week",
            fr: "Jours prestables par semaine",
            en: "Workable days per week",
        },
        hint: Labels {
            nl: "Aantal werkdagen per week dat nu haalbaar is, bv. 3",
            fr: "Nombre de jours de travail par semaine actuellement prestables, p. ex. 3",
            en: "Working days per week the person can manage now, e.g. 3",
        },
    },
    FieldDef {
        id: "capacity.schedule",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Spreiding van de uren",
            fr: "Répartition des heures",
            en: "Spread of hours",
        },
        hint: Labels {
            nl: "Hoe de uren best verdeeld worden en welke pauzes nodig zijn, bv. '3 dagen van 4 uur, niet 2 van 6 uur; pauze om de 2 uur'",
            fr: "Comment répartir les heures et quelles pauses prévoir, p. ex. « 3 jours de 4 h plutôt que 2 de 6 h ; pause toutes les 2 h »",
            en: "How the hours are best spread and which breaks are needed, e.g. '3 days of 4 h, not 2 of 6 h; a break every 2 h'",
        },
    },
    FieldDef {
        id: "capacity.resumption_plan",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: BF,
        label: Labels {
            nl: "Plan progressieve werkhervatting",
            fr: "Plan de reprise progressive du travail",
            en: "Progressive return-to-work plan",
        },
        hint: Labels {
            nl: "Startdatum, stappen en percentage per stap, bv. 'vanaf 2026-03-02 30 %, na 6 weken 50 %, daarna 80 %'",
            fr: "Date de début, étapes et pourcentage par étape, p. ex. « dès le 2026-03-02 30 %, après 6 semaines 50 %, ensuite 80 % »",
            en: "Start date, steps and percentage per step, e.g. 'from 2026-03-02 30 %, after 6 weeks 50 %, then 80 %'",
        },
    },
    // ---- Limitations (treating side) ----------------------------------------------------
    FieldDef {
        id: "limits.physical",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Fysieke beperkingen",
            fr: "Limitations physiques",
            en: "Physical limitations",
        },
        hint: Labels {
            nl: "Tillen, dragen, staan, stappen, fijne motoriek, inspanningsniveau, bv. 'niet tillen boven 5 kg met de linkerarm; max. 30 min rechtstaan'",
            fr: "Soulever, porter, station debout, marche, motricité fine, niveau d'effort, p. ex. « pas de charge de plus de 5 kg du bras gauche ; 30 min debout au maximum »",
            en: "Lifting, carrying, standing, walking, fine motor skills, exertion level, e.g. 'no lifting over 5 kg with the left arm; at most 30 min standing'",
        },
    },
    FieldDef {
        id: "limits.fatigue",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Vermoeidheid",
            fr: "Fatigue",
            en: "Fatigue",
        },
        hint: Labels {
            nl: "Niveau (0–10) en patroon, bv. 'vermoeidheid 6/10, vooral 's namiddags; herstelt na 20 min rust'",
            fr: "Niveau (0–10) et profil, p. ex. « fatigue 6/10, surtout l'après-midi ; récupère après 20 min de repos »",
            en: "Level (0–10) and pattern, e.g. 'fatigue 6/10, mostly in the afternoon; recovers after 20 min rest'",
        },
    },
    FieldDef {
        id: "limits.cognitive",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Cognitieve beperkingen",
            fr: "Limitations cognitives",
            en: "Cognitive limitations",
        },
        hint: Labels {
            nl: "Concentratie en hoe lang die aanhoudt, geheugen, planning, bv. 'concentratie ca. 45 min, dan korte pauze; werkt best met een takenlijst'",
            fr: "Concentration et sa durée, mémoire, planification, p. ex. « concentration environ 45 min, puis courte pause ; travaille mieux avec une liste de tâches »",
            en: "Concentration and how long it holds, memory, planning, e.g. 'concentrates about 45 min, then a short break; works best from a task list'",
        },
    },
    FieldDef {
        id: "limits.emotional",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Emotionele belastbaarheid",
            fr: "Limitations émotionnelles",
            en: "Emotional limitations",
        },
        hint: Labels {
            nl: "Stresstolerantie, nood aan een rustige plek, bv. 'geen conflictueus klantencontact; rustige ruimte om even terug te trekken'",
            fr: "Tolérance au stress, besoin d'un endroit calme, p. ex. « pas de contact avec des clients en conflit ; un local calme pour se retirer »",
            en: "Stress tolerance, need for a quiet place, e.g. 'no handling of customer conflicts; a quiet room to withdraw to'",
        },
    },
    FieldDef {
        id: "limits.environment",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Beperkingen werkomgeving",
            fr: "Contraintes d'environnement de travail",
            en: "Work environment limitations",
        },
        hint: Labels {
            nl: "Lawaai, temperatuur, infectierisico, autorijden, nachtwerk, bv. 'geen nachtdiensten; geen beroepsmatig autorijden; infectierisico vermijden'",
            fr: "Bruit, température, risque infectieux, conduite, travail de nuit, p. ex. « pas de service de nuit ; pas de conduite professionnelle ; éviter le risque infectieux »",
            en: "Noise, temperature, infection risk, driving, night shifts, e.g. 'no night shifts; no driving for work; avoid infection risk'",
        },
    },
    FieldDef {
        id: "limits.commute",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Woon-werkverplaatsing",
            fr: "Trajet domicile-travail",
            en: "Commuting",
        },
        hint: Labels {
            nl: "Welke verplaatsing naar het werk haalbaar is, bv. 'max. 30 min met de auto; geen lange treinrit in de spits'",
            fr: "Quel trajet vers le travail est faisable, p. ex. « 30 min en voiture au maximum ; pas de long trajet en train aux heures de pointe »",
            en: "What travel to work is feasible, e.g. 'at most 30 min by car; no long train ride at rush hour'",
        },
    },
    FieldDef {
        id: "limits.side_effects",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Nevenwerkingen met impact op het werk",
            fr: "Effets secondaires sur le travail",
            en: "Side effects affecting work",
        },
        hint: Labels {
            nl: "Noem het effect, nooit het geneesmiddel, bv. 'neuropathie in de handen: geen fijn schroefwerk'",
            fr: "Nommez l'effet, jamais le médicament, p. ex. « neuropathie aux mains : pas de vissage fin »",
            en: "Name the effect, never the drug, e.g. 'neuropathy in the hands: no fine screw work'",
        },
    },
    FieldDef {
        id: "treatment.work_impact",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Afwezigheid voor behandeling",
            fr: "Indisponibilités pour traitement",
            en: "Time off for treatment",
        },
        hint: Labels {
            nl: "Wanneer de persoon niet beschikbaar is voor behandeling, zonder de behandeling te noemen, bv. 'elke derde week maandag en dinsdag'",
            fr: "Quand la personne est indisponible pour traitement, sans nommer le traitement, p. ex. « une semaine sur trois, lundi et mardi »",
            en: "When the person is unavailable for treatment, without naming it, e.g. 'every third week, Mon–Tue'",
        },
    },
    FieldDef {
        id: "adaptations.recommended",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: BF,
        label: Labels {
            nl: "Aangepast werk",
            fr: "Aménagements recommandés",
            en: "Recommended adaptations",
        },
        hint: Labels {
            nl: "Aanpassingen van taken, uurrooster, werkpost of telewerk, bv. 'geen tilwerk; 2 dagen telewerk per week; verstelbaar bureau'",
            fr: "Aménagements des tâches, de l'horaire, du poste ou télétravail, p. ex. « pas de port de charges ; 2 jours de télétravail par semaine ; bureau réglable »",
            en: "Task, schedule, workplace or telework adaptations, e.g. 'no lifting; 2 days of telework a week; adjustable desk'",
        },
    },
    FieldDef {
        id: "outlook.functional",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Verwacht functioneel verloop",
            fr: "Évolution fonctionnelle attendue",
            en: "Functional outlook",
        },
        hint: Labels {
            nl: "Verbeterend / stabiel / onzeker, met de volgende mijlpaal, bv. 'verbeterend; 50 % werkhervatting haalbaar tegen juni'",
            fr: "En amélioration / stable / incertaine, avec la prochaine étape, p. ex. « en amélioration ; reprise à 50 % envisageable d'ici juin »",
            en: "Improving / stable / uncertain, with the next milestone, e.g. 'improving; 50 % return likely by June'",
        },
    },
    // ---- Administrative -----------------------------------------------------------------
    FieldDef {
        id: "review.next_date",
        class: FieldClass::Administrative,
        value: ValueType::Date,
        kinds: BFR,
        label: Labels {
            nl: "Volgende evaluatie",
            fr: "Prochaine réévaluation",
            en: "Next review",
        },
        hint: Labels {
            nl: "Datum waarop de capaciteit opnieuw beoordeeld wordt, JJJJ-MM-DD, bv. 2026-06-15",
            fr: "Date à laquelle la capacité sera réévaluée, AAAA-MM-JJ, p. ex. 2026-06-15",
            en: "Date capacity will be re-assessed, YYYY-MM-DD, e.g. 2026-06-15",
        },
    },
    FieldDef {
        id: "incapacity.certificate_end",
        class: FieldClass::Administrative,
        value: ValueType::Date,
        kinds: B,
        label: Labels {
            nl: "Einde attest arbeidsongeschiktheid",
            fr: "Fin du certificat d'incapacité de travail",
            en: "End of incapacity certificate",
        },
        hint: Labels {
            nl: "Einddatum van het lopende attest van arbeidsongeschiktheid, JJJJ-MM-DD, bv. 2026-04-30",
            fr: "Date de fin du certificat d'incapacité de travail en cours, AAAA-MM-JJ, p. ex. 2026-04-30",
            en: "End date of the current incapacity certificate, YYYY-MM-DD, e.g. 2026-04-30",
        },
    },
    FieldDef {
        id: "employment.status",
        class: FieldClass::Administrative,
        value: ValueType::Choice(EMPLOYMENT_STATUSES),
        kinds: BF,
        label: Labels {
            nl: "Statuut",
            fr: "Statut professionnel",
            en: "Employment status",
        },
        hint: Labels {
            nl: "Een van: employee (werknemer), self_employed (zelfstandige), civil_servant (statutair ambtenaar), job_seeker (werkzoekende), bv. employee",
            fr: "L'un de : employee (salarié), self_employed (indépendant), civil_servant (agent statutaire), job_seeker (demandeur d'emploi), p. ex. employee",
            en: "One of: employee, self_employed, civil_servant, job_seeker, e.g. employee",
        },
    },
    FieldDef {
        id: "reintegration.step",
        class: FieldClass::Administrative,
        value: ValueType::Text,
        kinds: BF,
        label: Labels {
            nl: "Stand van het re-integratietraject",
            fr: "Étape du trajet de réintégration",
            en: "Reintegration step",
        },
        hint: Labels {
            nl: "Waar de procedure staat, bv. 're-integratietraject opgestart op 2026-02-10; beoordeling door de arbeidsarts gepland'",
            fr: "Où en est la procédure, p. ex. « trajet de réintégration démarré le 2026-02-10 ; évaluation par le médecin du travail prévue »",
            en: "Where the procedure stands, e.g. 'reintegration pathway started 2026-02-10; occupational physician's assessment scheduled'",
        },
    },
    // ---- Work side (occupational / advising physician) ----------------------------------
    FieldDef {
        id: "job.title",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: F,
        label: Labels {
            nl: "Functie",
            fr: "Fonction (poste de travail)",
            en: "Job",
        },
        hint: Labels {
            nl: "Functie en kern van de taken, bv. 'magazijnier, orderpicking met heftruck, 38 u/week in ploegen'",
            fr: "Fonction et tâches principales, p. ex. « magasinier, préparation de commandes au chariot élévateur, 38 h/semaine en équipes »",
            en: "Job and its core tasks, e.g. 'warehouse worker, order picking with a forklift, 38 h/week in shifts'",
        },
    },
    FieldDef {
        id: "job.demands",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: F,
        label: Labels {
            nl: "Functie-eisen",
            fr: "Exigences du poste",
            en: "Job demands",
        },
        hint: Labels {
            nl: "Fysieke en mentale eisen van de functie, bv. 'tillen tot 15 kg, veel rechtstaan, hoge tijdsdruk'",
            fr: "Exigences physiques et mentales du poste, p. ex. « charges jusqu'à 15 kg, beaucoup de station debout, forte pression du temps »",
            en: "Physical and mental demands of the job, e.g. 'lifting up to 15 kg, much standing, high time pressure'",
        },
    },
    FieldDef {
        id: "job.adaptation_options",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: F,
        label: Labels {
            nl: "Mogelijkheden tot aangepast werk",
            fr: "Possibilités d'aménagement du poste",
            en: "Adaptation options at work",
        },
        hint: Labels {
            nl: "Wat de werkplek kan bieden, bv. 'administratieve taken mogelijk, glijdende uren, telewerk 2 dagen per week'",
            fr: "Ce que le lieu de travail peut offrir, p. ex. « tâches administratives possibles, horaire flexible, télétravail 2 jours par semaine »",
            en: "What the workplace can offer, e.g. 'office tasks available, flexible hours, telework 2 days a week'",
        },
    },
    FieldDef {
        id: "reintegration.plan",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: F,
        label: Labels {
            nl: "Re-integratieplan",
            fr: "Plan de réintégration",
            en: "Reintegration plan",
        },
        hint: Labels {
            nl: "Voorgesteld plan: eigen werk aangepast, ander werk of opleiding, bv. 'eigen functie zonder tilwerk, 4 u/dag, evaluatie na 1 maand'",
            fr: "Plan proposé : travail adapté, autre travail ou formation, p. ex. « même fonction sans port de charges, 4 h/jour, évaluation après 1 mois »",
            en: "Proposed plan: adapted own job, other work or training, e.g. 'own job without lifting, 4 h/day, review after 1 month'",
        },
    },
    FieldDef {
        id: "decision.progressive_resumption",
        class: FieldClass::Administrative,
        value: ValueType::Text,
        kinds: F,
        label: Labels {
            nl: "Beslissing progressieve tewerkstelling",
            fr: "Décision de reprise progressive du travail",
            en: "Progressive resumption decision",
        },
        hint: Labels {
            nl: "Toegestaan ja/nee, vanaf wanneer en welke fractie, bv. 'toegestaan vanaf 2026-03-02, halftijds (50 %)'",
            fr: "Autorisée oui/non, à partir de quand et quelle fraction, p. ex. « autorisée à partir du 2026-03-02, mi-temps (50 %) »",
            en: "Authorised yes/no, from when and what fraction, e.g. 'authorised from 2026-03-02, half-time (50 %)'",
        },
    },
    // ---- Free text ----------------------------------------------------------------------
    FieldDef {
        id: "remarks",
        class: FieldClass::Functional,
        value: ValueType::Text,
        kinds: BFR,
        label: Labels {
            nl: "Opmerkingen",
            fr: "Remarques",
            en: "Remarks",
        },
        hint: Labels {
            nl: "Vrije tekst over werk en functioneren; nooit de diagnose of behandeling vermelden, bv. 'wenst eerst een gesprek met de leidinggevende'",
            fr: "Texte libre sur le travail et le fonctionnement ; ne jamais mentionner le diagnostic ni le traitement, p. ex. « souhaite d'abord un entretien avec son responsable »",
            en: "Free text on work and functioning; must never contain the diagnosis or treatment, e.g. 'would like a talk with the line manager first'",
        },
    },
    // ---- Medical: only when the patient shares it medically, per field ------------------
    FieldDef {
        id: "medical.diagnosis_category",
        class: FieldClass::Medical,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Diagnosecategorie",
            fr: "Catégorie de diagnostic",
            en: "Diagnosis category",
        },
        hint: Labels {
            nl: "Alleen een algemene categorie, bv. 'oncologische aandoening'",
            fr: "Une catégorie générale uniquement, p. ex. « affection oncologique »",
            en: "A general category only, e.g. 'oncological condition'",
        },
    },
    FieldDef {
        id: "medical.diagnosis",
        class: FieldClass::Medical,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Diagnose",
            fr: "Diagnostic",
            en: "Diagnosis",
        },
        hint: Labels {
            nl: "Volledige diagnose, optioneel met ICD-10-code, bv. 'invasief ductaal carcinoom linkerborst (C50.4)'",
            fr: "Diagnostic complet, code CIM-10 (ICD-10) facultatif, p. ex. « carcinome canalaire invasif du sein gauche (C50.4) »",
            en: "Full diagnosis, optional ICD-10 code, e.g. 'invasive ductal carcinoma of the left breast (C50.4)'",
        },
    },
    FieldDef {
        id: "medical.treatment",
        class: FieldClass::Medical,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Behandeling",
            fr: "Traitement",
            en: "Treatment",
        },
        hint: Labels {
            nl: "Behandelingen en geneesmiddelen bij naam (deze onthullen de diagnose), bv. 'adjuvante chemotherapie, 6 cycli; daarna hormoontherapie'",
            fr: "Traitements et médicaments nommés (ils révèlent le diagnostic), p. ex. « chimiothérapie adjuvante, 6 cycles ; ensuite hormonothérapie »",
            en: "Treatments and drugs by name (these reveal the diagnosis), e.g. 'adjuvant chemotherapy, 6 cycles; then hormone therapy'",
        },
    },
    FieldDef {
        id: "medical.prognosis",
        class: FieldClass::Medical,
        value: ValueType::Text,
        kinds: B,
        label: Labels {
            nl: "Medische prognose",
            fr: "Pronostic médical",
            en: "Medical prognosis",
        },
        hint: Labels {
            nl: "Medische prognose, bv. 'gunstig, behandeling met curatieve opzet'",
            fr: "Pronostic médical, p. ex. « favorable, traitement à visée curative »",
            en: "Medical prognosis, e.g. 'favourable, treatment with curative intent'",
        },
    },
];
