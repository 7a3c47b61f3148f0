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
