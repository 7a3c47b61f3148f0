//! The leak guard: free-text functional fields must not smuggle the diagnosis (DESIGN.md §5).
//!
//! A free-text value is flagged when it contains, as whole words, (a) a significant word or
//! the whole text of one of the case's medical values (diagnosis, treatment names, ICD-10
//! code), (b) an oncology term in Dutch, French or English, or (c) an ICD-10 code from the
//! neoplasm chapters (C00–D49). Matching ignores case and accents. The sender's client
//! refuses to send on a hit until the physician edits or overrides; an override is
//! recorded in the signed header.

use serde::{Deserialize, Serialize};

use crate::catalogue::{FieldId, ValueType};
use crate::leak_terms::ONCOLOGY_TERMS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakSource {
    /// Words of a medical field of this message or case.
    MedicalField(FieldId),
    /// A term from the oncology word list.
    OncologyTerm,
    /// An ICD-10 code of the neoplasm chapters.
    Icd10Code,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakHit {
    /// The free-text field that contains it.
    pub field: FieldId,
    /// What was found, as it matched (folded).
    pub term: String,
    pub source: LeakSource,
}

/// Words too common in functional descriptions to flag even when a diagnosis contains them.
const COMMON_WORDS: &[&str] = &[
    "links", "rechts", "gauche", "droite", "droit", "left", "right", "stage", "stade", "graad",
    "grade", "type", "with", "without", "avec", "sans", "zonder", "after", "apres", "voor",
    "before", "avant", "onder", "under", "other", "andere", "autre", "weken", "semaines", "weeks",
    "maanden", "months", "mois", "arm", "hand", "handen", "mains", "hands",
];

/// Lower-case, fold Latin accents, every non-alphanumeric character to one space, padded
/// with a space each side so whole words match as `" word "`.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push(' ');
    let mut last_space = true;
    for c in s.chars().flat_map(char::to_lowercase) {
        let c = match c {
            'à' | 'á' | 'â' | 'ä' | 'ã' | 'å' => 'a',
            'è' | 'é' | 'ê' | 'ë' => 'e',
            'ì' | 'í' | 'î' | 'ï' => 'i',
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => 'o',
            'ù' | 'ú' | 'û' | 'ü' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            'ÿ' => 'y',
            c => c,
        };
        if c.is_alphanumeric() {
            out.push(c);
            last_space = false;
        } else if !last_space {
            out.push(' ');
            last_space = true;
        }
    }
    if !last_space {
        out.push(' ');
    }
    out
}

fn contains_word(folded_text: &str, term: &str) -> bool {
    let t = fold(term);
    t.trim().len() >= 2 && folded_text.contains(&t)
}

/// ICD-10 codes in a text: a letter, two digits, optionally a dot and one or two digits.
fn icd10_codes(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for tok in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.')) {
        let tok = tok.trim_end_matches('.');
        let b = tok.as_bytes();
        if b.len() < 3
            || !b[0].is_ascii_alphabetic()
            || !b[1].is_ascii_digit()
            || !b[2].is_ascii_digit()
        {
            continue;
        }
        let rest = &tok[3..];
        let ok = rest.is_empty()
            || (rest.starts_with('.')
                && (2..=3).contains(&rest.len())
                && rest[1..].bytes().all(|c| c.is_ascii_digit()));
        if ok {
            out.push(tok.to_ascii_uppercase());
        }
    }
    out
}

fn is_neoplasm_code(code: &str) -> bool {
    let b = code.as_bytes();
    let n = (b[1] - b'0') * 10 + (b[2] - b'0');
    b[0] == b'C' || (b[0] == b'D' && n <= 49)
}

/// Checks every free-text, non-medical value against the medical values and the term list.
/// `values` is everything the message (or case) carries; medical ones are the reference.
/// What the sender's client knows of the case beyond the message itself.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    pub medical: Vec<(FieldId, String)>,
    pub case_label: Option<String>,
}

pub fn check(values: &[(FieldId, &str)], reference: &Reference) -> Vec<LeakHit> {
    let mut all: Vec<(FieldId, &str)> = values.to_vec();
    all.extend(reference.medical.iter().map(|(f, s)| (*f, s.as_str())));
    check_values(&all)
}

fn check_values(values: &[(FieldId, &str)]) -> Vec<LeakHit> {
    let medical: Vec<(FieldId, &str)> = values
        .iter()
        .filter(|(f, _)| f.is_medical())
        .copied()
        .collect();
    let mut hits = Vec::new();
    for &(field, text) in values {
        if field.is_medical() || field.def().value != ValueType::Text {
            continue;
        }
        let folded = fold(text);
        let mut push = |term: String, source: LeakSource| {
            if !hits
                .iter()
                .any(|h: &LeakHit| h.field == field && h.term == term)
            {
                hits.push(LeakHit {
                    field,
                    term,
                    source,
                });
            }
        };
        for &(mfield, mtext) in &medical {
            let whole = fold(mtext);
            if whole.trim().len() >= 4 && folded.contains(&whole) {
                push(whole.trim().to_owned(), LeakSource::MedicalField(mfield));
            }
            for word in whole.split_whitespace() {
                if word.chars().count() >= 5
                    && !COMMON_WORDS.contains(&word)
                    && folded.contains(&format!(" {word} "))
                {
                    push(word.to_owned(), LeakSource::MedicalField(mfield));
                }
            }
            for code in icd10_codes(mtext) {
                if icd10_codes(text).contains(&code) {
                    push(code, LeakSource::MedicalField(mfield));
                }
            }
        }
        for term in ONCOLOGY_TERMS {
            if contains_word(&folded, term) {
                push(fold(term).trim().to_owned(), LeakSource::OncologyTerm);
            }
        }
        for code in icd10_codes(text) {
            if is_neoplasm_code(&code) {
                push(code, LeakSource::Icd10Code);
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str) -> FieldId {
        FieldId::parse(id).unwrap()
    }

    #[test]
    fn flags_diagnosis_words_terms_and_codes() {
        let values = [
            (
                f("medical.diagnosis"),
                "Invasief ductaal carcinoom linkerborst, C50.4",
            ),
            (
                f("remarks"),
                "Opvolging na het Ductaal probleem; code c50.4",
            ),
            (
                f("limits.physical"),
                "Niet tillen boven 5 kg met de linkerarm",
            ),
            (
                f("limits.side_effects"),
                "Neuropathie in de handen na chemotherapie",
            ),
            (
                f("adaptations.recommended"),
                "Thuiswerk, code D05.1 in dossier",
            ),
        ];
        let hits = check(&values, &Reference::default());
        assert!(
            hits.iter()
                .any(|h| h.field == f("remarks") && h.term == "ductaal")
        );
        assert!(
            hits.iter()
                .any(|h| h.field == f("remarks") && h.term == "C50.4")
        );
        assert!(
            hits.iter().all(|h| h.field != f("limits.physical")),
            "{hits:?}"
        );
        assert!(
            hits.iter().any(
                |h| h.field == f("limits.side_effects") && h.source == LeakSource::OncologyTerm
            )
        );
        assert!(
            hits.iter()
                .any(|h| h.field == f("adaptations.recommended")
                    && h.source == LeakSource::Icd10Code)
        );
    }

    #[test]
    fn accents_and_case_do_not_hide_a_term() {
        let values = [(f("remarks"), "Suivi en ONCOLOGIE, chimiothérapie en cours")];
        let hits = check(&values, &Reference::default());
        assert!(hits.len() >= 2, "{hits:?}");
    }

    #[test]
    fn plain_functional_text_passes() {
        let values = [
            (f("medical.diagnosis_category"), "oncological condition"),
            (
                f("limits.fatigue"),
                "Vermoeidheid 6/10, vooral 's namiddags; pauze om de 2 uur",
            ),
            (
                f("capacity.schedule"),
                "3 dagen van 4 uur, niet 2 van 6 uur",
            ),
        ];
        assert!(check(&values, &Reference::default()).is_empty(), "{:?}", check(&values, &Reference::default()));
    }
}
