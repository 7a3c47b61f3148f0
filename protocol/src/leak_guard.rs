//! The leak guard: free-text functional fields must not smuggle the diagnosis (DESIGN.md §5).
//!
//! A free-text, non-medical value is flagged when it contains
//! (a) a significant word, or the whole text, of one of the case's medical values — those of
//!     the message being sent and those sent or received earlier in the case ([`Reference`]),
//! (b) a significant word of the case label,
//! (c) a term of the oncology, treatment, drug or prognosis list in Dutch, French or English
//!     (or, inside a compound word, one of its unambiguous fragments such as `kanker`), or
//! (d) anything shaped like an ICD-10 code, of any chapter.
//!
//! Text and terms go through one normalisation, [`fold`], so case, accents, look-alike
//! letters of other scripts, fullwidth and mathematical letters and invisible characters
//! change nothing. Terms match whole words; a term also matches when written in pieces:
//! joined by hyphens, dots, underscores or slashes (`borst-kanker`, `k.a.n.k.e.r`), or by
//! spaces when the term is long enough that no ordinary pair of words spells it
//! (`borst kanker`). The sender's client refuses to send on a hit until the physician edits
//! or overrides; an override is recorded in the signed header.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use unicode_normalization::char::{decompose_compatible, is_combining_mark};

use crate::catalogue::{FieldId, ValueType};
use crate::confusables;
use crate::leak_terms::{COMMON_WORDS, ICD_LOOKALIKE_CONTEXT, ONCOLOGY_STEMS, ONCOLOGY_TERMS};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeakSource {
    /// Words of a medical field of this message or of the case.
    MedicalField(FieldId),
    /// Words of the case label.
    CaseLabel,
    /// A term from the oncology word list.
    OncologyTerm,
    /// Something shaped like an ICD-10 code.
    Icd10Code,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeakHit {
    /// The free-text field that contains it.
    pub field: FieldId,
    /// What was found, as written in the reference or the term list (an ICD-10 code as
    /// `C50.4`), for a person to recognise.
    pub term: String,
    pub source: LeakSource,
}

/// What the sender's client knows of the case beyond the message itself.
#[derive(Debug, Clone, Default)]
pub struct Reference {
    /// Medical values sent or received earlier in the case (diagnosis, treatment names,
    /// prognosis, ICD-10 codes), with the field they came from.
    pub medical: Vec<(FieldId, String)>,
    /// The case's label as the treating physician wrote it (may name the condition).
    pub case_label: Option<String>,
}

/// A term written in pieces separated by spaces matches only from this many letters on:
/// shorter ones ("her 2", "on co") are spelt by ordinary words too.
const MIN_SPACED_TERM: usize = 6;
/// ... except when every piece is this short, as in "k a n k e r" or "c h e m o".
const MAX_SPELLED_PIECE: usize = 3;
/// A word of a medical value or label counts from this many characters on (unless it is an
/// acronym or mixes letters and digits, like `HER2`).
const MIN_REFERENCE_WORD: usize = 5;
/// A medical value is also matched as a whole when it is this short (in words and letters).
const MAX_WHOLE_WORDS: usize = 8;
const MAX_WHOLE_CHARS: usize = 64;
/// Longer "words" (a pasted hash, a run of letters) are no term: not worth indexing.
const MAX_TERM_CHARS: usize = 64;
/// A term shown to the physician is cut to this many characters.
const MAX_SHOWN: usize = 80;
/// An ICD-10 code is at most this many pieces (`C`, `50`, `4` in `C-50.4`).
const MAX_CODE_PIECES: usize = 4;

/// The normalisation applied to the text and to every term before matching: compatibility
/// decomposition (fullwidth, mathematical and circled letters, ligatures, superscripts),
/// look-alike letters of other scripts to Latin, lower case, accents and other combining
/// marks removed, invisible characters (zero-width, soft hyphen, word joiner, BOM, ...)
/// deleted. Every other character is kept, so word boundaries survive.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_ascii() {
            // Nothing to decompose or map: the common case, kept fast.
            out.push(c.to_ascii_lowercase());
        } else if !confusables::is_invisible(c) {
            decompose_compatible(c, |d| push_folded(d, &mut out));
        }
    }
    out
}

fn push_folded(d: char, out: &mut String) {
    if confusables::is_invisible(d) || is_combining_mark(d) {
        return;
    }
    // Capitals first: some look like a different Latin letter than their small letter.
    if let Some(latin) = confusables::latin(d) {
        out.push_str(latin);
        return;
    }
    for l in d.to_lowercase() {
        if is_combining_mark(l) {
            continue;
        }
        match confusables::latin(l) {
            Some(latin) => out.push_str(latin),
            None => out.push(l),
        }
    }
}

/// One run of letters and digits of a folded text.
#[derive(Debug, Clone)]
struct Word {
    text: String,
    /// Joined to the previous word by hyphens, dots, slashes, apostrophes or other marks
    /// only: no space, no clause punctuation.
    tight: bool,
}

/// Separators between words proper (spaces, clause punctuation), as opposed to the marks
/// (hyphen, dot, slash, apostrophe, symbols) that may sit inside a word or be slipped in to
/// split a term.
fn is_loose(c: char) -> bool {
    c.is_whitespace() || c.is_control() || ",;:!?()[]{}\"<>«»“”„".contains(c)
}

fn words(folded: &str) -> Vec<Word> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut loose = true;
    for c in folded.chars() {
        if c.is_alphanumeric() {
            cur.push(c);
            continue;
        }
        if !cur.is_empty() {
            out.push(Word {
                text: std::mem::take(&mut cur),
                tight: !loose,
            });
            loose = false;
        }
        if is_loose(c) {
            loose = true;
        }
    }
    if !cur.is_empty() {
        out.push(Word {
            text: cur,
            tight: !loose,
        });
    }
    out
}

/// The matching key of a term: its folded words, joined.
fn key(s: &str) -> String {
    words(&fold(s)).into_iter().map(|w| w.text).collect()
}

fn shown(s: &str) -> String {
    s.chars()
        .filter(|&c| !confusables::is_invisible(c))
        .collect::<String>()
        .trim()
        .chars()
        .take(MAX_SHOWN)
        .collect()
}

/// A term of a dictionary.
#[derive(Debug)]
struct Entry {
    /// As written in the reference or the list.
    shown: String,
    source: LeakSource,
    /// Where (in characters of the key) the term itself has a space or hyphen.
    boundaries: Vec<usize>,
    /// Whether the term may match when written in space-separated pieces of any length.
    spaced_ok: bool,
}

/// Terms by key. A match attempt stops once the words read so far are longer than any key
/// or, for the term list (built once), are no prefix of any key.
#[derive(Debug, Default)]
struct Dict {
    entries: HashMap<String, Entry>,
    longest: usize,
    prefixes: Option<HashSet<String>>,
}

/// A hit before deduplication: where it is in the field's words.
#[derive(Debug)]
struct Found {
    key: String,
    term: String,
    source: LeakSource,
    first: usize,
    last: usize,
}

impl Dict {
    /// Adds a term (first one wins for a given key).
    fn insert(&mut self, written: &str, source: LeakSource, spaced_ok: bool) {
        let ws = words(&fold(written));
        let mut key = String::new();
        let mut boundaries = Vec::new();
        let mut len = 0;
        for w in &ws {
            if len > 0 {
                boundaries.push(len);
            }
            key.push_str(&w.text);
            len += w.text.chars().count();
        }
        if key.is_empty() || len > MAX_TERM_CHARS || self.entries.contains_key(&key) {
            return;
        }
        self.longest = self.longest.max(len);
        self.entries.insert(
            key,
            Entry {
                shown: shown(written),
                source,
                boundaries,
                spaced_ok,
            },
        );
    }

    /// Indexes every prefix of every key: worth it for a dictionary built once.
    fn with_prefixes(mut self) -> Dict {
        let mut prefixes = HashSet::new();
        for key in self.entries.keys() {
            let mut prefix = String::with_capacity(key.len());
            for c in key.chars() {
                prefix.push(c);
                prefixes.insert(prefix.clone());
            }
        }
        self.prefixes = Some(prefixes);
        self
    }

    /// Every term written in `ws`, as one word or as consecutive pieces.
    fn find(&self, ws: &[Word], found: &mut Vec<Found>) {
        for first in 0..ws.len() {
            let mut joined = String::new();
            let mut len = 0;
            let mut spaced_at = Vec::new();
            let mut all_short = true;
            for (last, w) in ws.iter().enumerate().skip(first) {
                if last > first && !w.tight {
                    spaced_at.push(len);
                }
                let n = w.text.chars().count();
                all_short &= n <= MAX_SPELLED_PIECE && w.text.chars().all(char::is_alphabetic);
                joined.push_str(&w.text);
                len += n;
                let hopeless = match &self.prefixes {
                    Some(prefixes) => !prefixes.contains(&joined),
                    None => len > self.longest,
                };
                if hopeless {
                    break;
                }
                let Some(e) = self.entries.get(&joined) else {
                    continue;
                };
                let spaced_fine = spaced_at.iter().all(|p| e.boundaries.contains(p))
                    || (e.spaced_ok && len >= MIN_SPACED_TERM)
                    || all_short;
                if spaced_fine {
                    found.push(Found {
                        key: joined.clone(),
                        term: e.shown.clone(),
                        source: e.source.clone(),
                        first,
                        last,
                    });
                }
            }
        }
    }
}

static TERMS: LazyLock<Dict> = LazyLock::new(|| {
    let mut d = Dict::default();
    for t in ONCOLOGY_TERMS {
        d.insert(t, LeakSource::OncologyTerm, true);
    }
    d.with_prefixes()
});

static STEMS: LazyLock<Vec<(String, &'static str)>> = LazyLock::new(|| {
    ONCOLOGY_STEMS
        .iter()
        .map(|s| (key(s), *s))
        .filter(|(k, _)| !k.is_empty())
        .collect()
});

static COMMON: LazyLock<HashSet<String>> =
    LazyLock::new(|| COMMON_WORDS.iter().map(|w| key(w)).collect());

/// Whether a word of a medical value or label says something on its own: long enough, or an
/// acronym (`CLL`, `DCIS`), or letters mixed with digits (`HER2`, `T2N0M0`), and not common.
fn significant(written: &str, key: &str) -> bool {
    let n = key.chars().count();
    let letters = key.chars().filter(|c| c.is_alphabetic()).count();
    if letters == 0 || COMMON.contains(key) {
        return false;
    }
    if letters == n {
        let acronym = written
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(char::is_uppercase);
        n >= MIN_REFERENCE_WORD || (acronym && n >= 3)
    } else {
        letters >= 2 && n >= 3
    }
}

/// Adds the significant words of a medical value or label, and (`whole`) the value itself
/// when it is a short phrase.
fn add_reference(dict: &mut Dict, value: &str, source: &LeakSource, whole: bool) {
    let pieces = value
        .split(|c: char| !c.is_alphanumeric() && !confusables::is_invisible(c))
        .filter(|p| !p.is_empty());
    for piece in pieces {
        if significant(piece, &key(piece)) {
            dict.insert(piece, source.clone(), false);
        }
    }
    if whole {
        // A short phrase ("long ca") says more than its words; one of common words only
        // ("operatie links") says nothing.
        let ws = words(&fold(value));
        let k: String = ws.iter().map(|w| w.text.as_str()).collect();
        if (2..=MAX_WHOLE_WORDS).contains(&ws.len())
            && (MIN_SPACED_TERM..=MAX_WHOLE_CHARS).contains(&k.chars().count())
            && ws
                .iter()
                .any(|w| !COMMON.contains(&w.text) && w.text.chars().any(char::is_alphabetic))
        {
            dict.insert(value, source.clone(), false);
        }
    }
}

/// An ICD-10 code found in a text.
#[derive(Debug)]
struct Code {
    /// `C50.4`.
    canonical: String,
    first: usize,
    last: usize,
    /// Next to a word that shows it is something else (a road, vitamin B12, an N95 mask).
    excused: bool,
}

/// The canonical form of a folded, joined token if it has the shape of an ICD-10 code: a
/// letter other than U, two digits, then optionally a subdivision of up to four characters
/// starting with a digit (`C50.4`, `Z51.11`, `S52.501A`), written with or without its dot.
fn icd_shape(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let (&letter, rest) = b.split_first()?;
    if !letter.is_ascii_lowercase() || letter == b'u' {
        return None;
    }
    let category = rest.get(..2)?;
    let sub = rest.get(2..)?;
    if !category.iter().all(u8::is_ascii_digit)
        || sub.len() > 4
        || !sub.iter().all(u8::is_ascii_alphanumeric)
        || sub.first().is_some_and(|c| !c.is_ascii_digit())
    {
        return None;
    }
    let mut out = String::with_capacity(8);
    out.push(char::from(letter.to_ascii_uppercase()));
    out.extend(category.iter().map(|&c| char::from(c)));
    if !sub.is_empty() {
        out.push('.');
        out.extend(sub.iter().map(|&c| char::from(c.to_ascii_uppercase())));
    }
    Some(out)
}

fn icd10_codes(ws: &[Word]) -> Vec<Code> {
    let mut out = Vec::new();
    let mut first = 0;
    while first < ws.len() {
        let mut joined = String::new();
        let mut best = None;
        for (last, w) in ws.iter().enumerate().skip(first).take(MAX_CODE_PIECES) {
            if last > first && !w.tight {
                break;
            }
            joined.push_str(&w.text);
            // "B-2000": a Belgian postcode, not B20.00.
            let postcode = last == first + 1
                && ws.get(first).is_some_and(|w| w.text.chars().count() == 1)
                && w.text.len() >= 4;
            if !postcode && let Some(c) = icd_shape(&joined) {
                best = Some((last, c));
            }
        }
        match best {
            Some((last, canonical)) => {
                let excused = lookalike_context(ws, first, last, &canonical);
                out.push(Code {
                    canonical,
                    first,
                    last,
                    excused,
                });
                first = last + 1;
            }
            None => first += 1,
        }
    }
    out
}

/// Whether the word before or after a code-shaped token shows it is not a diagnosis code.
fn lookalike_context(ws: &[Word], first: usize, last: usize, canonical: &str) -> bool {
    let Some(letter) = canonical.chars().next().map(|c| c.to_ascii_lowercase()) else {
        return false;
    };
    let before = first.checked_sub(1).and_then(|i| ws.get(i));
    let after = ws.get(last + 1);
    let neighbours = || before.into_iter().chain(after);
    let listed = ICD_LOOKALIKE_CONTEXT
        .iter()
        .filter(|(l, _)| *l == letter)
        .any(|(_, context)| neighbours().any(|w| context.contains(&w.text.as_str())));
    // "W12-W14: 50 %": week numbers of a plan.
    let week_run = letter == 'w'
        && neighbours().any(|w| {
            w.text
                .strip_prefix('w')
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        });
    listed || week_run
}

/// Checks every free-text, non-medical value of the message against the case's medical
/// values (those in `texts` and those in `reference`), the case label, the term list and
/// the shape of ICD-10 codes.
///
/// `texts`: every string value of the message being sent; its medical fields are used as
/// reference too. Returns hits only in non-medical free-text fields, each field and term
/// once, in the order of `texts`.
pub fn check(texts: &[(FieldId, &str)], reference: &Reference) -> Vec<LeakHit> {
    let mut refs = Dict::default();
    let mut ref_codes: Vec<(String, LeakSource)> = Vec::new();
    let medical = texts
        .iter()
        .filter(|(f, _)| f.is_medical())
        .copied()
        .chain(reference.medical.iter().map(|(f, v)| (*f, v.as_str())));
    let label = reference
        .case_label
        .as_deref()
        .map(|l| (LeakSource::CaseLabel, l, false));
    let sources = medical
        .map(|(f, v)| (LeakSource::MedicalField(f), v, true))
        .chain(label);
    for (source, value, whole) in sources {
        add_reference(&mut refs, value, &source, whole);
        for code in icd10_codes(&words(&fold(value))) {
            ref_codes.push((code.canonical, source.clone()));
        }
    }

    let mut hits = Vec::new();
    let mut seen: HashSet<(FieldId, String)> = HashSet::new();
    for &(field, text) in texts {
        if field.is_medical() || field.def().value != ValueType::Text {
            continue;
        }
        let ws = words(&fold(text));
        let mut found = Vec::new();
        refs.find(&ws, &mut found);
        TERMS.find(&ws, &mut found);
        drop_inner(&mut found);
        find_stems(&ws, &mut found);
        for code in icd10_codes(&ws) {
            let category = code.canonical.get(..3).unwrap_or_default();
            let from_reference = ref_codes
                .iter()
                .find(|(c, _)| c.get(..3).unwrap_or_default() == category);
            let source = match from_reference {
                Some((_, s)) => s.clone(),
                None if code.excused => continue,
                None => LeakSource::Icd10Code,
            };
            found.push(Found {
                key: format!("icd10 {}", code.canonical),
                term: code.canonical,
                source,
                first: code.first,
                last: code.last,
            });
        }
        for h in found {
            if seen.insert((field, h.key.clone())) {
                hits.push(LeakHit {
                    field,
                    term: h.term,
                    source: h.source,
                });
            }
        }
    }
    hits
}

/// Drops the term hits that lie inside a longer one: "borst-kanker" is a hit for
/// borstkanker, and kanker inside it says nothing more. A term hit spans at most
/// `MAX_TERM_CHARS` words, so only that many starts before each hit need a look.
fn drop_inner(found: &mut Vec<Found>) {
    let mut longest: HashMap<usize, usize> = HashMap::new();
    for h in found.iter() {
        let last = longest.entry(h.first).or_insert(h.last);
        *last = (*last).max(h.last);
    }
    found.retain(|h| {
        let outer = |s: usize| {
            longest
                .get(&s)
                .is_some_and(|&l| l > h.last || (s < h.first && l == h.last))
        };
        !(h.first.saturating_sub(MAX_TERM_CHARS)..=h.first).any(outer)
    });
}

/// Fragments of the stem list inside a compound word (words joined without spaces), for
/// compounds in which no whole term was found.
fn find_stems(ws: &[Word], found: &mut Vec<Found>) {
    // How many hits cover each word, by a running sum over where hits start and end.
    let mut delta = vec![0i64; ws.len() + 1];
    for h in found.iter() {
        if let Some(d) = delta.get_mut(h.first) {
            *d += 1;
        }
        if let Some(d) = delta.get_mut(h.last + 1) {
            *d -= 1;
        }
    }
    let covered: Vec<bool> = delta
        .iter()
        .scan(0i64, |depth, d| {
            *depth += d;
            Some(*depth > 0)
        })
        .collect();
    let mut first = 0;
    while first < ws.len() {
        let mut last = first;
        while ws.get(last + 1).is_some_and(|w| w.tight) {
            last += 1;
        }
        if !covered
            .get(first..=last)
            .unwrap_or_default()
            .contains(&true)
        {
            let compound: String = ws
                .get(first..=last)
                .unwrap_or_default()
                .iter()
                .map(|w| w.text.as_str())
                .collect();
            for (stem, written) in STEMS.iter() {
                if compound.contains(stem.as_str()) {
                    found.push(Found {
                        key: stem.clone(),
                        term: (*written).to_owned(),
                        source: LeakSource::OncologyTerm,
                        first,
                        last,
                    });
                }
            }
        }
        first = last + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(id: &str) -> FieldId {
        FieldId::parse(id).unwrap()
    }

    /// What the sender's client knows of the case: medical values written in earlier
    /// messages, and the label the treating physician gave the case.
    fn case() -> Reference {
        Reference {
            medical: vec![
                (
                    f("medical.diagnosis"),
                    "Invasief ductaal carcinoom linkerborst, C50.4".into(),
                ),
                (
                    f("medical.treatment"),
                    "Lumpectomie, EC-paclitaxel, radiotherapie, tamoxifen".into(),
                ),
                (
                    f("medical.prognosis"),
                    "Goede prognose, 5-jaarsoverleving 90%".into(),
                ),
            ],
            case_label: Some("Peeters: ziekte van Paget".into()),
        }
    }

    fn diagnosis() -> LeakSource {
        LeakSource::MedicalField(f("medical.diagnosis"))
    }
    fn treatment() -> LeakSource {
        LeakSource::MedicalField(f("medical.treatment"))
    }
    fn prognosis() -> LeakSource {
        LeakSource::MedicalField(f("medical.prognosis"))
    }
    const TERM: LeakSource = LeakSource::OncologyTerm;
    const ICD: LeakSource = LeakSource::Icd10Code;

    /// Each row is a free-text value sent in a later message, with only the case as
    /// reference: the guard must find `term` from `source` in it.
    #[test]
    fn fail_rows_are_caught() {
        #[rustfmt::skip]
        let rows: Vec<(&str, &str, &str, &str, LeakSource)> = vec![
            // ---- what an earlier message said
            ("fail_cross_message_diagnosis_word", "limits.fatigue", "Moe sinds de ductaal ingreep", "ductaal", diagnosis()),
            ("fail_cross_message_site", "limits.physical", "Niet tillen met de linkerborst-zijde", "linkerborst", diagnosis()),
            ("fail_cross_message_treatment", "limits.side_effects", "Tintelingen door paclitaxel", "paclitaxel", treatment()),
            ("fail_cross_message_drug_in_list", "remarks", "Neemt tamoxifen, ochtend traag", "tamoxifen", treatment()),
            ("fail_cross_message_prognosis", "outlook.functional", "jaarsoverleving is goed", "jaarsoverleving", prognosis()),
            ("fail_cross_message_icd_code", "remarks", "zie code C50.4", "C50.4", diagnosis()),
            ("fail_cross_message_icd_category", "remarks", "dossier c50", "C50", diagnosis()),
            ("fail_cross_message_icd_without_dot", "remarks", "dossier C504", "C50.4", diagnosis()),
            ("fail_cross_message_hyphenated_word", "limits.cognitive", "na de duc-taal operatie", "ductaal", diagnosis()),
            ("fail_cross_message_spelled_out", "limits.cognitive", "d u c t a a l", "ductaal", diagnosis()),
            ("fail_cross_message_cyrillic", "limits.fatigue", "ductааl (Cyrillic a)", "ductaal", diagnosis()),
            ("fail_cross_message_upper_case", "limits.fatigue", "INVASIEF", "Invasief", diagnosis()),
            // ---- the case label
            ("fail_case_label_word", "remarks", "Controle voor Paget gepland", "Paget", LeakSource::CaseLabel),
            ("fail_case_label_accented", "remarks", "maladie de Pâget", "Paget", LeakSource::CaseLabel),
            // ---- the term list, nl/fr/en, inflected
            ("fail_term_kanker", "remarks", "Werkt weer sinds de kanker", "kanker", TERM),
            ("fail_term_plural", "remarks", "twee tumoren verwijderd", "tumoren", TERM),
            ("fail_term_mammacarcinoom", "remarks", "na mammacarcinoom", "mammacarcinoom", TERM),
            ("fail_term_chemo", "treatment.work_impact", "Chemo elke 3 weken op maandag", "chemo", TERM),
            ("fail_term_chemo_plural", "treatment.work_impact", "nog 2 chemo's", "chemo's", TERM),
            ("fail_term_chimio", "treatment.work_impact", "cure de chimio le lundi", "cure de chimio", TERM),
            ("fail_cross_message_treatment_in_french", "remarks", "radiothérapie terminée", "radiotherapie", treatment()),
            ("fail_term_curietherapie", "remarks", "curiethérapie terminée", "curiethérapie", TERM),
            ("fail_term_immunotherapie", "remarks", "immunotherapie loopt", "immunotherapie", TERM),
            ("fail_term_hormoontherapie", "remarks", "hormoontherapie 5 jaar", "hormoontherapie", TERM),
            ("fail_term_letrozol", "limits.side_effects", "gewrichtspijn door letrozol", "letrozol", TERM),
            ("fail_term_herceptin", "treatment.work_impact", "Herceptin om de 3 weken", "herceptin", TERM),
            ("fail_term_trastuzumab", "treatment.work_impact", "trastuzumab iv", "trastuzumab", TERM),
            ("fail_term_oncoloog", "remarks", "overleg met de oncoloog", "oncoloog", TERM),
            ("fail_term_oncologue", "remarks", "avis de l'oncologue", "oncologue", TERM),
            ("fail_term_mastectomie", "limits.physical", "na mastectomie niet tillen", "mastectomie", TERM),
            ("fail_term_metastasen", "outlook.functional", "geen metastasen", "metastasen", TERM),
            ("fail_term_metastase_fr", "outlook.functional", "pas de métastase", "metastase", TERM),
            ("fail_term_tumeur", "remarks", "la tumeur est retirée", "tumeur", TERM),
            ("fail_term_gezwel", "remarks", "gezwel weggenomen", "gezwel", TERM),
            ("fail_term_cancer", "remarks", "back to work after cancer", "cancer", TERM),
            ("fail_term_carcinome", "remarks", "carcinome canalaire", "carcinome", TERM),
            ("fail_term_lymfoom", "remarks", "lymfoom in remissie", "lymfoom", TERM),
            ("fail_term_lymphome", "remarks", "lymphome", "lymphome", TERM),
            ("fail_term_leukemie", "remarks", "leukemie", "leukemie", TERM),
            ("fail_term_leucemie", "remarks", "leucemie", "leucémie", TERM),
            ("fail_term_sarcoom", "remarks", "sarcoom", "sarcoom", TERM),
            ("fail_term_melanoom", "remarks", "melanoom", "melanoom", TERM),
            ("fail_term_lymphoma_en", "remarks", "lymphoma", "lymphoma", TERM),
            ("fail_term_oncologist_en", "remarks", "ask the oncologist", "oncologist", TERM),
            ("fail_term_palliatief", "outlook.functional", "palliatieve zorg", "palliatieve zorg", TERM),
            ("fail_term_acronym", "remarks", "DCIS, geen verdere beperking", "dcis", TERM),
            ("fail_term_her2", "remarks", "HER2-positief", "her2", TERM),
            ("fail_term_port_a_cath", "limits.physical", "Port-a-cath links: geen rugzak", "port-a-cath", TERM),
            ("fail_term_port_a_cath_accent", "limits.physical", "port à cath", "port-a-cath", TERM),
            ("fail_term_pac", "limits.physical", "PAC rechts", "pac", TERM),
            ("fail_term_borst_ca", "remarks", "borst-ca", "borst-ca", TERM),
            ("fail_term_borstca_joined", "remarks", "borstca", "borst-ca", TERM),
            ("fail_term_phrase", "remarks", "cancer du sein", "cancer du sein", TERM),
            ("fail_stem_in_compound", "remarks", "volgt kankerrevalidatie", "kanker", TERM),
            ("fail_stem_tumormarkers", "remarks", "tumormarkers normaal", "tumor", TERM),
            ("fail_stem_carcino", "remarks", "carcinomatose", "carcino-", TERM),
            // ---- evasion
            ("fail_hyphen", "remarks", "borst-kanker", "borstkanker", TERM),
            ("fail_en_dash", "remarks", "borst–kanker", "borstkanker", TERM),
            ("fail_underscore", "remarks", "borst_kanker", "borstkanker", TERM),
            ("fail_space", "remarks", "borst kanker", "borstkanker", TERM),
            ("fail_no_break_space", "remarks", "borst\u{00A0}kanker", "borstkanker", TERM),
            ("fail_split_word", "remarks", "kan-ker", "kanker", TERM),
            ("fail_dots", "remarks", "k.a.n.k.e.r", "kanker", TERM),
            ("fail_spelled_out", "remarks", "c h e m o", "chemo", TERM),
            ("fail_emoji_inside", "remarks", "kan🙂ker", "kanker", TERM),
            ("fail_zero_width_space", "remarks", "kan\u{200B}ker", "kanker", TERM),
            ("fail_zero_width_non_joiner", "remarks", "kan\u{200C}ker", "kanker", TERM),
            ("fail_zero_width_joiner", "remarks", "kan\u{200D}ker", "kanker", TERM),
            ("fail_word_joiner", "remarks", "kan\u{2060}ker", "kanker", TERM),
            ("fail_bom", "remarks", "kan\u{FEFF}ker", "kanker", TERM),
            ("fail_soft_hyphen", "remarks", "chemo\u{00AD}therapie", "chemotherapie", TERM),
            ("fail_cyrillic_a", "remarks", "kаnker", "kanker", TERM),
            ("fail_cyrillic_c", "remarks", "сhemo", "chemo", TERM),
            ("fail_cyrillic_o_p", "remarks", "оnсоlоgiе rаdiоthеrаpiе", "oncologie", TERM),
            ("fail_cyrillic_x", "remarks", "хeloda", "xeloda", TERM),
            ("fail_cyrillic_i", "remarks", "herceptіn", "herceptin", TERM),
            ("fail_cyrillic_i_in_reference_word", "remarks", "tamoxіfen", "tamoxifen", treatment()),
            ("fail_cyrillic_capitals", "remarks", "КАNКЕR", "kanker", TERM),
            ("fail_greek_omicron_alpha", "remarks", "tumοr; tαmoxifen", "tumor", TERM),
            ("fail_greek_capitals", "remarks", "CΗΕΜΟ", "chemo", TERM),
            ("fail_fullwidth", "remarks", "ｃｈｅｍｏ", "chemo", TERM),
            ("fail_math_bold", "remarks", "𝐤𝐚𝐧𝐤𝐞𝐫", "kanker", TERM),
            ("fail_math_italic", "remarks", "𝑐𝑎𝑛𝑐𝑒𝑟", "cancer", TERM),
            ("fail_circled", "remarks", "ⓒⓐⓝⓒⓔⓡ", "cancer", TERM),
            ("fail_small_capitals", "remarks", "ᴋᴀɴᴋᴇʀ", "kanker", TERM),
            ("fail_combining_accent", "remarks", "cance\u{0301}r", "cancer", TERM),
            ("fail_accents_added", "remarks", "kânkér", "kanker", TERM),
            ("fail_accents_dropped", "remarks", "chimiotherapie", "chimiothérapie", TERM),
            ("fail_upper_case", "remarks", "KANKER", "kanker", TERM),
            ("fail_mixed_evasions", "remarks", "bоrst-\u{200B}KАN\u{00AD}ker", "borstkanker", TERM),
            // ---- ICD-10 codes of every chapter
            ("fail_icd_f32", "limits.emotional", "F32.1, in behandeling", "F32.1", ICD),
            ("fail_icd_m54", "limits.physical", "rugklachten M54", "M54", ICD),
            ("fail_icd_m54_5", "limits.physical", "m54.5", "M54.5", ICD),
            ("fail_icd_without_dot", "remarks", "F321", "F32.1", ICD),
            ("fail_icd_neoplasm_other", "remarks", "D05.1", "D05.1", ICD),
            ("fail_icd_cm_extension", "remarks", "Z51.11", "Z51.11", ICD),
            ("fail_icd_fullwidth", "remarks", "Ｆ３２", "F32", ICD),
            ("fail_icd_cyrillic_letter", "remarks", "М54.5", "M54.5", ICD),
            ("fail_icd_zero_width", "remarks", "F3\u{200B}2", "F32", ICD),
            ("fail_icd_hyphen", "remarks", "F-32", "F32", ICD),
            ("fail_icd_a_without_road", "remarks", "A15.0", "A15.0", ICD),
            ("fail_icd_e_without_road", "remarks", "E11 goed geregeld", "E11", ICD),
        ];
        let reference = case();
        let mut failures = Vec::new();
        for (name, field, text, term, source) in &rows {
            let hits = check(&[(f(field), text)], &reference);
            let ok = hits
                .iter()
                .any(|h| h.field == f(field) && h.term == *term && h.source == *source);
            if !ok {
                failures.push(format!("{name}: {text:?} gave {hits:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// Ordinary functional text, in the three languages, with the same case as reference:
    /// nothing to flag.
    #[test]
    fn pass_rows_are_clean() {
        #[rustfmt::skip]
        let rows: &[(&str, &str)] = &[
            ("limits.physical", "Kan 4 uur per dag werken, niet tillen boven 5 kg"),
            ("limits.physical", "No lifting above 5 kg; reduced fine motor skills in both hands"),
            ("limits.fatigue", "Fatigue 6/10 l'après-midi, pause de 15 min toutes les 2 heures"),
            ("limits.fatigue", "Vermoeidheid 6/10, vooral 's namiddags; pauze om de 2 uur"),
            ("limits.fatigue", "Fatigue 6/10, worst in the afternoon; a break every 2 hours"),
            ("capacity.schedule", "3 dagen van 4 uur, niet 2 van 6 uur; start om 14u30 op maandag"),
            ("capacity.schedule", "3 days of 4 hours, not 2 of 6; a break every 2 hours"),
            ("capacity.resumption_plan", "Progressieve hervatting vanaf 2026-12-01: 50% gedurende 4 weken, dan 80%"),
            ("capacity.resumption_plan", "W1-W4: 2x per week halve dagen; W12-W14: 60 %"),
            ("adaptations.recommended", "Thuiswerk 2x per week, rustige werkplek, scherm op ooghoogte, A4 paper"),
            ("adaptations.recommended", "Telework two days a week; quiet workspace"),
            ("limits.environment", "Geen nachtdiensten; infectierisico beperken: FFP2/N95-masker in drukke ruimtes"),
            ("limits.commute", "Maximaal 30 minuten rijden; vermijdt de E40 en de E19 in de spits"),
            ("limits.commute", "Pas d'autoroute E411 aux heures de pointe"),
            ("limits.cognitive", "Concentratie houdt ongeveer 45 minuten; complexe planning in de voormiddag"),
            ("limits.emotional", "Stresstolerantie verminderd, nood aan een rustige ruimte"),
            ("limits.side_effects", "Neuropathie in beide handen: fijne motoriek beperkt, geen precisiewerk"),
            ("treatment.work_impact", "Elke derde week maandag en dinsdag afwezig"),
            ("outlook.functional", "Verbetert geleidelijk; volgende mijlpaal: 60% in februari"),
            ("remarks", "Reprise progressive à mi-temps, télétravail deux jours par semaine, pas de port de charges lourdes"),
            ("remarks", "Suivi par la médecine du travail au sein de l'équipe, rendez-vous le 12/01 à 9h30"),
            ("remarks", "Return to work at 50% from 2026-12-01; review on 2027-02-15; no night shifts"),
            ("remarks", "Kan kerstverlof nemen, kan kernuren respecteren"),
            ("remarks", "Give her 2 short breaks per morning"),
            ("remarks", "Kinesitherapie 2x per week, fysiotherapie na de operatie afgerond"),
            ("remarks", "Vitamine B12 bijnemen volgens huisarts"),
            ("job.demands", "Magazijnwerk: heffen tot 20 kg, veel staan; werk in het chemisch labo"),
            ("reintegration.plan", "Aangepast werk: administratie, 3 dagen per week, behandeling loopt verder"),
            ("reintegration.step", "Re-integratieplan goedgekeurd op 2026-11-15"),
            ("job.adaptation_options", "Bureau op het gelijkvloers, parkeerplaats bij de ingang, Room B-2000 Antwerpen"),
        ];
        let reference = case();
        let mut failures = Vec::new();
        for (field, text) in rows {
            let hits = check(&[(f(field), text)], &reference);
            if !hits.is_empty() {
                failures.push(format!("{field}: {text:?} gave {hits:?}"));
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The message of the end-to-end test: its own diagnosis is the reference.
    #[test]
    fn the_messages_own_medical_fields_are_reference() {
        let texts = [
            (f("limits.fatigue"), "Fatigue 6/10, worst in the afternoon"),
            (
                f("limits.cognitive"),
                "Concentration drops since the ductal surgery; about 30 minutes",
            ),
            (f("remarks"), "Vermoeid na de chemotherapie, herstelt traag"),
            (f("review.next_date"), "2027-02-15"),
            (
                f("medical.diagnosis"),
                "Invasive ductal carcinoma of the left breast, C50.4",
            ),
        ];
        let hits = check(&texts, &Reference::default());
        assert_eq!(
            hits,
            vec![
                LeakHit {
                    field: f("limits.cognitive"),
                    term: "ductal".into(),
                    source: diagnosis(),
                },
                LeakHit {
                    field: f("remarks"),
                    term: "chemotherapie".into(),
                    source: TERM,
                },
            ]
        );
    }

    #[test]
    fn medical_and_non_text_fields_are_not_checked() {
        let texts = [
            (f("medical.diagnosis"), "Borstkanker C50.4"),
            (f("medical.treatment"), "chemotherapie"),
            (f("review.next_date"), "2026-12-01"),
            (f("employment.status"), "employee"),
        ];
        assert!(check(&texts, &case()).is_empty());
    }

    #[test]
    fn a_term_is_reported_once_per_field_and_not_again_inside_a_longer_one() {
        let texts = [
            (f("remarks"), "kanker, KANKER en k-a-n-k-e-r"),
            (f("limits.physical"), "borst-kanker en kanker"),
        ];
        let hits = check(&texts, &Reference::default());
        let terms: Vec<(&str, &str)> = hits
            .iter()
            .map(|h| (h.field.as_str(), h.term.as_str()))
            .collect();
        assert_eq!(
            terms,
            [
                ("remarks", "kanker"),
                ("limits.physical", "borstkanker"),
                ("limits.physical", "kanker"),
            ]
        );
    }

    #[test]
    fn reference_words_too_common_to_flag_do_not() {
        let reference = Reference {
            medical: vec![
                (
                    f("medical.prognosis"),
                    "GEEN beperking, goede prognose".into(),
                ),
                (
                    f("medical.treatment"),
                    "Operatie links, behandeling afgerond".into(),
                ),
                (
                    f("medical.diagnosis_category"),
                    "Psychische aandoening".into(),
                ),
            ],
            case_label: Some("Werkhervatting mevrouw".into()),
        };
        let texts = [
            (
                f("limits.emotional"),
                "Psychische belasting beperken, geen ploegwerk",
            ),
            (
                f("remarks"),
                "Werkhervatting na de operatie links; behandeling afgerond",
            ),
        ];
        assert_eq!(check(&texts, &reference), []);
    }

    #[test]
    fn road_mask_and_vitamin_codes_are_not_diagnoses_unless_the_case_says_so() {
        let text = [(
            f("limits.commute"),
            "Rijdt via de E40, liever niet over de A12",
        )];
        assert!(check(&text, &Reference::default()).is_empty());
        let reference = Reference {
            medical: vec![(f("medical.diagnosis"), "E40".into())],
            case_label: None,
        };
        assert_eq!(
            check(&text, &reference),
            [LeakHit {
                field: f("limits.commute"),
                term: "E40".into(),
                source: diagnosis(),
            }]
        );
    }

    #[test]
    fn fold_removes_every_disguise() {
        let rows = [
            ("ＣＨＥＭＯ", "chemo"),
            ("kа\u{200B}nker", "kanker"),
            ("Chimiothérapie", "chimiotherapie"),
            ("Œdème", "oedeme"),
            ("Straße", "strasse"),
            ("İ", "i"),
            ("𝔠𝔞𝔫𝔠𝔢𝔯", "cancer"),
            ("borst-kanker", "borst-kanker"),
        ];
        for (text, folded) in rows {
            assert_eq!(fold(text), folded, "{text}");
        }
    }

    #[test]
    fn sources_serialise_in_snake_case() {
        let json = |s: &LeakSource| serde_json::to_string(s).unwrap();
        assert_eq!(json(&LeakSource::CaseLabel), r#""case_label""#);
        assert_eq!(json(&LeakSource::OncologyTerm), r#""oncology_term""#);
        assert_eq!(json(&LeakSource::Icd10Code), r#""icd10_code""#);
        assert_eq!(
            json(&diagnosis()),
            r#"{"medical_field":"medical.diagnosis"}"#
        );
    }

    #[test]
    fn word_lists_fold_to_distinct_keys_and_terms_are_not_common() {
        for list in [ONCOLOGY_TERMS, ONCOLOGY_STEMS, COMMON_WORDS] {
            let mut keys = HashSet::new();
            for w in list {
                let k = key(w);
                assert!(!k.is_empty(), "{w:?} folds to nothing");
                assert!(keys.insert(k), "{w:?} folds like an earlier entry");
            }
        }
        for t in ONCOLOGY_TERMS.iter().chain(ONCOLOGY_STEMS) {
            assert!(!COMMON.contains(&key(t)), "{t:?} is listed as common");
        }
    }

    #[test]
    fn odd_input_does_not_panic() {
        let odd = [
            "",
            " ",
            "\u{0301}\u{0301}",
            "\u{200B}",
            "\u{1F1E6}\u{1F1FF}",
            "C",
            "C5",
            "C50.",
            "C50.12345",
            "ｃ５０．４",
            "-.-.-",
            "a".repeat(10_000).as_str(),
        ]
        .map(str::to_owned);
        let label = Reference {
            medical: odd
                .iter()
                .map(|o| (f("medical.diagnosis"), o.clone()))
                .collect(),
            case_label: odd.first().cloned(),
        };
        for text in &odd {
            let _ = check(&[(f("remarks"), text)], &label);
        }
    }
}
