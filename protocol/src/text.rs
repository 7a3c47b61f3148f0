//! Text a person signs or reads is what it seems.
//!
//! Names and messages come from other people, through the server. A line break in a name
//! can add a line to the consent text a patient signs ("Dr. X\nI also consent to …"); a
//! right-to-left override (U+202E) shows characters in another order than they are
//! stored; an escape sequence can move the terminal's cursor, recolour or erase what
//! was printed before it, and fake a line such as "signature verified".
//!
//! Two rules, one character classification:
//!
//! - [`check_display_name`] refuses a person's name that contains any of these characters
//!   (the operator's `invite`, registration, and every consent's `recipient_name`).
//! - [`sanitize`] makes any text harmless for a terminal before it is printed, keeping
//!   line breaks and tabs; [`json_safe`] does the same for serialised JSON by escaping.

use std::borrow::Cow;

/// Longest name accepted, in characters (Unicode scalar values).
pub const MAX_NAME_CHARS: usize = 120;

/// What kind of character is not shown as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hidden {
    /// C0 (U+0000–U+001F), DEL (U+007F) and C1 (U+0080–U+009F).
    Control,
    /// Bidirectional formatting: ALM, LRM, RLM, the embeddings and overrides
    /// (U+202A–U+202E) and the isolates (U+2066–U+2069).
    Bidi,
    /// Zero-width and invisible characters: soft hyphen, zero-width space and joiners,
    /// word joiner and invisible operators, BOM, the deprecated format characters,
    /// interlinear annotation, tags, and characters drawn as blanks (Hangul fillers).
    Invisible,
    /// Line and paragraph separators (U+2028, U+2029): a line break by other means.
    Separator,
}

/// The class of a character that [`sanitize`] replaces and no name may contain.
fn hidden(c: char) -> Option<Hidden> {
    match c {
        '\u{0}'..='\u{1F}' | '\u{7F}'..='\u{9F}' => Some(Hidden::Control),
        '\u{061C}'
        | '\u{200E}'
        | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2066}'..='\u{2069}' => Some(Hidden::Bidi),
        '\u{2028}' | '\u{2029}' => Some(Hidden::Separator),
        '\u{00AD}'
        | '\u{034F}'
        | '\u{115F}'
        | '\u{1160}'
        | '\u{17B4}'
        | '\u{17B5}'
        | '\u{180B}'..='\u{180F}'
        | '\u{200B}'..='\u{200D}'
        | '\u{2060}'..='\u{2065}'
        | '\u{206A}'..='\u{206F}'
        | '\u{3164}'
        | '\u{FEFF}'
        | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0000}'..='\u{E007F}' => Some(Hidden::Invisible),
        _ => None,
    }
}

/// Private use (U+E000–U+F8FF, planes 15 and 16): drawn as whatever a font puts there.
fn private_use(c: char) -> bool {
    matches!(c, '\u{E000}'..='\u{F8FF}' | '\u{F0000}'..='\u{FFFFD}' | '\u{100000}'..='\u{10FFFD}')
}

/// Spaces other than U+0020 (no-break, em, ideographic …): a name needs only the plain one.
fn unusual_space(c: char) -> bool {
    c != ' ' && c.is_whitespace() && hidden(c).is_none()
}

/// Variation selectors: invisible modifiers of the previous character (emoji style).
fn variation_selector(c: char) -> bool {
    matches!(c, '\u{FE00}'..='\u{FE0F}' | '\u{E0100}'..='\u{E01EF}')
}

/// Why a name cannot be shown as it is. Each names the offending character as `U+` and four hex digits (e.g. `U+202E`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("the name is longer than {max} characters")]
    TooLong { max: usize },
    #[error("the name contains a control character (U+{:04X}), such as a line break or a tab", *.0 as u32)]
    Control(char),
    #[error("the name contains a bidirectional formatting character (U+{:04X})", *.0 as u32)]
    Bidi(char),
    #[error("the name contains an invisible character (U+{:04X})", *.0 as u32)]
    Invisible(char),
    #[error("the name contains a line or paragraph separator (U+{:04X})", *.0 as u32)]
    Separator(char),
    #[error("the name contains a space other than the ordinary one (U+{:04X})", *.0 as u32)]
    UnusualSpace(char),
    #[error("the name contains a private-use character (U+{:04X})", *.0 as u32)]
    PrivateUse(char),
}

impl NameError {
    pub fn code(&self) -> &'static str {
        "name_invalid"
    }
}

/// Checks a person's display name and returns it without leading and trailing spaces.
///
/// Only U+0020 is trimmed: any other character at either end (a tab, a line break, a
/// no-break space) is refused like anywhere else, so a name that passes is safe as given,
/// not only once trimmed (a consent carries the name exactly as the patient read it).
///
/// Refused: an empty name, more than [`MAX_NAME_CHARS`] characters, and any character
/// that is not shown as itself: control characters (C0, DEL, C1, so also line breaks and
/// tabs), bidirectional formatting, zero-width and other invisible characters, line and
/// paragraph separators, spaces other than U+0020, variation selectors, and private-use
/// characters (a name has no use for them, and a font can draw them as anything).
/// Unassigned code points are not checked (that needs the Unicode tables of the day); they
/// neither move the cursor nor reorder text, and show as a replacement box.
pub fn check_display_name(s: &str) -> Result<String, NameError> {
    let name = s.trim_matches(|c: char| c == ' ');
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    for c in name.chars() {
        match hidden(c) {
            Some(Hidden::Control) => return Err(NameError::Control(c)),
            Some(Hidden::Bidi) => return Err(NameError::Bidi(c)),
            Some(Hidden::Invisible) => return Err(NameError::Invisible(c)),
            Some(Hidden::Separator) => return Err(NameError::Separator(c)),
            None if unusual_space(c) => return Err(NameError::UnusualSpace(c)),
            None if variation_selector(c) => return Err(NameError::Invisible(c)),
            None if private_use(c) => return Err(NameError::PrivateUse(c)),
            None => {}
        }
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(NameError::TooLong {
            max: MAX_NAME_CHARS,
        });
    }
    Ok(name.to_owned())
}

const REPLACEMENT: char = '\u{FFFD}';

/// Does `sanitize` change this character (given what follows)?
fn unsafe_char(c: char) -> bool {
    c != '\n' && c != '\t' && hidden(c).is_some()
}

/// Text as a terminal may show it, keeping line breaks (`\n`) and tabs.
///
/// Every other control character, bidirectional formatting, zero-width or invisible
/// character and line or paragraph separator becomes U+FFFD (�), so what is shown is
/// visibly not what was sent. A whole escape sequence (ESC or a C1 introducer, up to
/// its final byte or string terminator: CSI `ESC [ 3 1 m`, OSC `ESC ] … BEL`, DCS, …)
/// becomes a single U+FFFD, so none of its parameters is left to read as text; an
/// unfinished one loses only its introducer. `\r\n` becomes `\n`; any other `\r` is
/// replaced, so no line can be overwritten. Nothing that remains can move the cursor,
/// change colours or reorder the text around it.
///
/// Borrows when nothing needs replacing.
pub fn sanitize(s: &str) -> Cow<'_, str> {
    if !s.chars().any(unsafe_char) {
        return Cow::Borrowed(s);
    }
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        i = match c {
            '\r' if chars.get(i + 1) == Some(&'\n') => i + 1,
            '\u{1B}' => {
                out.push(REPLACEMENT);
                escape_end(&chars, i)
            }
            // C1 introducers: CSI, and the string controls DCS, SOS, OSC, PM, APC.
            '\u{9B}' => {
                out.push(REPLACEMENT);
                csi_end(&chars, i + 1).unwrap_or(i + 1)
            }
            '\u{90}' | '\u{98}' | '\u{9D}' | '\u{9E}' | '\u{9F}' => {
                out.push(REPLACEMENT);
                string_end(&chars, i + 1).unwrap_or(i + 1)
            }
            c if unsafe_char(c) => {
                out.push(REPLACEMENT);
                i + 1
            }
            c => {
                out.push(c);
                i + 1
            }
        };
    }
    Cow::Owned(out)
}

/// Where the escape sequence starting with ESC at `i` ends (exclusive), after ECMA-48:
/// `ESC [` CSI, `ESC ] P X ^ _` control strings, `ESC` intermediates (0x20–0x2F) then a
/// final byte (0x30–0x7E). A sequence that does not finish ends right after the ESC.
fn escape_end(chars: &[char], i: usize) -> usize {
    let after = i + 1;
    let end = match chars.get(after) {
        Some('[') => csi_end(chars, after + 1),
        Some(']' | 'P' | 'X' | '^' | '_') => string_end(chars, after + 1),
        Some(_) => {
            let mut j = after;
            while chars
                .get(j)
                .is_some_and(|c| matches!(c, '\u{20}'..='\u{2F}'))
            {
                j += 1;
            }
            chars
                .get(j)
                .is_some_and(|c| matches!(c, '\u{30}'..='\u{7E}'))
                .then_some(j + 1)
        }
        None => None,
    };
    end.unwrap_or(after)
}

/// End of a CSI sequence whose parameters start at `j`: parameter bytes (0x30–0x3F),
/// intermediate bytes (0x20–0x2F), then one final byte (0x40–0x7E).
fn csi_end(chars: &[char], mut j: usize) -> Option<usize> {
    while chars
        .get(j)
        .is_some_and(|c| matches!(c, '\u{30}'..='\u{3F}'))
    {
        j += 1;
    }
    while chars
        .get(j)
        .is_some_and(|c| matches!(c, '\u{20}'..='\u{2F}'))
    {
        j += 1;
    }
    chars
        .get(j)
        .is_some_and(|c| matches!(c, '\u{40}'..='\u{7E}'))
        .then_some(j + 1)
}

/// End of a control string whose content starts at `j`: up to and including BEL, ST
/// (U+009C) or `ESC \`.
fn string_end(chars: &[char], mut j: usize) -> Option<usize> {
    loop {
        match chars.get(j)? {
            '\u{07}' | '\u{9C}' => return Some(j + 1),
            '\u{1B}' if chars.get(j + 1) == Some(&'\\') => return Some(j + 2),
            _ => j += 1,
        }
    }
}

/// Serialised JSON as a terminal may show it, with the same data: every character
/// [`sanitize`] would replace is written as a JSON `\u` escape (e.g. `\u202e`) instead (JSON readers get
/// the text exactly as sent; a terminal sees no control, bidi or invisible character).
///
/// Only for the output of a JSON serialiser: such characters can then only occur inside
/// strings, where the escape means the same character (serde_json already escapes C0).
pub fn json_safe(json: &str) -> Cow<'_, str> {
    if !json.chars().any(unsafe_char) {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if unsafe_char(c) {
            let mut units = [0u16; 2];
            for u in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_trimmed() {
        for (input, name) in [
            ("Dr. An Peeters", "Dr. An Peeters"),
            ("  Dr. Luc Janssens ", "Dr. Luc Janssens"),
            (
                "Dr. Françoise Lefèvre-Dupont",
                "Dr. Françoise Lefèvre-Dupont",
            ),
            ("Dr. Ömer Yılmaz", "Dr. Ömer Yılmaz"),
            ("Dr. O'Neill", "Dr. O'Neill"),
            // Right-to-left script as such is fine; only the formatting characters are not.
            ("د. سارة", "د. سارة"),
        ] {
            assert_eq!(check_display_name(input).as_deref(), Ok(name), "{input:?}");
        }
        let longest = "a".repeat(MAX_NAME_CHARS);
        assert_eq!(check_display_name(&longest), Ok(longest.clone()));
        // Characters, not bytes.
        let accented = "é".repeat(MAX_NAME_CHARS);
        assert!(check_display_name(&accented).is_ok());
    }

    #[test]
    fn hostile_names_are_refused() {
        use NameError::*;
        for (input, err) in [
            ("", Empty),
            ("   ", Empty),
            (
                "Dr. X\nI also consent to sharing my diagnosis",
                Control('\n'),
            ),
            ("Dr. X\r\nIk geef ook toestemming", Control('\r')),
            ("Dr.\tX", Control('\t')),
            ("Dr. X\u{1b}[2K\u{1b}[1Averified", Control('\u{1b}')),
            ("Dr. X\u{7f}", Control('\u{7f}')),
            ("Dr. X\u{85}", Control('\u{85}')),
            ("Dr. X\u{9b}31m", Control('\u{9b}')),
            ("\u{0}", Control('\u{0}')),
            ("Dr. \u{202E}snesnaJ", Bidi('\u{202E}')),
            ("Dr. \u{2066}X\u{2069}", Bidi('\u{2066}')),
            ("Dr. X\u{200F}", Bidi('\u{200F}')),
            ("Dr. X\u{061C}", Bidi('\u{061C}')),
            ("Dr. X\u{200B}Y", Invisible('\u{200B}')),
            ("Dr. X\u{200D}", Invisible('\u{200D}')),
            ("Dr. X\u{2060}", Invisible('\u{2060}')),
            ("Dr. X\u{2064}", Invisible('\u{2064}')),
            ("\u{FEFF}Dr. X", Invisible('\u{FEFF}')),
            ("Dr. Jans\u{00AD}sens", Invisible('\u{00AD}')),
            ("Dr. X\u{E0041}", Invisible('\u{E0041}')),
            ("Dr. X\u{3164}", Invisible('\u{3164}')),
            ("Dr. X\u{FE0F}", Invisible('\u{FE0F}')),
            ("Dr. X\u{2028}I also consent", Separator('\u{2028}')),
            ("Dr. X\u{2029}", Separator('\u{2029}')),
            ("Dr.\u{00A0}X", UnusualSpace('\u{00A0}')),
            ("Dr.\u{2003}X", UnusualSpace('\u{2003}')),
            ("\u{3000}Dr. X", UnusualSpace('\u{3000}')),
            ("Dr. X \u{E000}", PrivateUse('\u{E000}')),
            ("Dr. X \u{10FFFD}", PrivateUse('\u{10FFFD}')),
        ] {
            let got = check_display_name(input);
            assert_eq!(got, Err(err.clone()), "{input:?}");
            assert_eq!(err.code(), "name_invalid");
        }
        assert_eq!(
            check_display_name(&"a".repeat(MAX_NAME_CHARS + 1)),
            Err(TooLong {
                max: MAX_NAME_CHARS
            })
        );
        // A trailing newline is not trimmed away: the operator typed something odd.
        assert_eq!(check_display_name("Dr. X\n"), Err(Control('\n')));
    }

    #[test]
    fn name_errors_name_the_character() {
        assert_eq!(
            NameError::Control('\n').to_string(),
            "the name contains a control character (U+000A), such as a line break or a tab"
        );
        assert_eq!(
            NameError::Bidi('\u{202E}').to_string(),
            "the name contains a bidirectional formatting character (U+202E)"
        );
        assert_eq!(
            NameError::Invisible('\u{E0041}').to_string(),
            "the name contains an invisible character (U+E0041)"
        );
    }

    #[test]
    fn clean_text_is_borrowed() {
        let s = "Vermoeidheid 6/10,\n\tvooral 's namiddags — café, naïve, 日本, د. سارة, 👍";
        assert!(matches!(sanitize(s), Cow::Borrowed(_)));
        assert!(matches!(json_safe(s), Cow::Borrowed(_)));
        assert_eq!(sanitize(""), "");
    }

    #[test]
    fn escape_sequences_are_removed_whole() {
        let r = "\u{FFFD}";
        for (input, shown) in [
            // Colour, erase line, cursor up: the whole sequence, parameters included.
            ("\u{1b}[31mred\u{1b}[0m", format!("{r}red{r}")),
            (
                "ok\u{1b}[2K\u{1b}[1A\u{1b}[32mverified",
                format!("ok{r}{r}{r}verified"),
            ),
            ("\u{1b}[?25l", r.to_string()),
            ("\u{1b}[38;2;255;0;0mX", format!("{r}X")),
            ("\u{1b}[1 q", r.to_string()),
            // C1 CSI (one character) as well.
            ("\u{9b}31mred", format!("{r}red")),
            // OSC: window title, hyperlink; ended by BEL or ST.
            ("\u{1b}]0;pwned\u{7}text", format!("{r}text")),
            (
                "\u{1b}]8;;https://evil.example\u{1b}\\click\u{1b}]8;;\u{1b}\\",
                format!("{r}click{r}"),
            ),
            ("\u{9d}0;title\u{9c}after", format!("{r}after")),
            // DCS and other two-character escapes (reset, save cursor, charset).
            ("\u{1b}P1$r\u{1b}\\x", format!("{r}x")),
            ("\u{1b}c", r.to_string()),
            ("\u{1b}7a\u{1b}8", format!("{r}a{r}")),
            ("\u{1b}(0q", format!("{r}q")),
            // Unfinished: only the introducer goes, the rest is plain text.
            ("\u{1b}[31", format!("{r}[31")),
            ("\u{1b}]0;no end", format!("{r}]0;no end")),
            ("\u{1b}", r.to_string()),
            ("a\u{1b}\u{1b}[0m", format!("a{r}{r}")),
        ] {
            assert_eq!(sanitize(input), shown, "{input:?}");
        }
    }

    #[test]
    fn controls_bidi_and_invisibles_are_replaced() {
        let r = "\u{FFFD}";
        for (input, shown) in [
            // A carriage return would let the rest overwrite the start of the line.
            (
                "Consent: none\rConsent: all",
                format!("Consent: none{r}Consent: all"),
            ),
            (
                "line one\r\nline two\r\n",
                "line one\nline two\n".to_owned(),
            ),
            ("a\u{8}\u{8}b", format!("a{r}{r}b")),
            ("bell\u{7}", format!("bell{r}")),
            ("del\u{7f}", format!("del{r}")),
            // RLO shows "fdp.exe" as "exe.pdf"; the override is made visible instead.
            ("invoice\u{202E}fdp.exe", format!("invoice{r}fdp.exe")),
            ("\u{2067}x\u{2069}", format!("{r}x{r}")),
            ("Dr.\u{200B}X\u{FEFF}", format!("Dr.{r}X{r}")),
            ("one\u{2028}two", format!("one{r}two")),
            // A name's newline stays a newline in text, but is never hidden.
            (
                "Dr. X\nI also consent to everything",
                "Dr. X\nI also consent to everything".to_owned(),
            ),
            ("tab\tkept", "tab\tkept".to_owned()),
        ] {
            assert_eq!(sanitize(input), shown, "{input:?}");
        }
    }

    #[test]
    fn nothing_unsafe_survives() {
        let hostile = [
            "\u{1b}[31m\u{1b}]0;t\u{7}\u{1b}",
            "\u{9b}\u{9d}\u{90}\u{98}\u{9e}\u{9f}\u{9c}",
            "\r\u{202E}\u{200E}\u{2066}\u{200B}\u{2028}\u{E0001}\u{85}",
            "\u{1b}[\u{1b}[\u{1b}]\u{1b}P\u{1b}\u{9b}",
        ];
        for s in hostile {
            let out = sanitize(s);
            assert!(!out.chars().any(unsafe_char), "{s:?} -> {out:?}");
            assert!(!out.contains('\u{1b}'));
        }
        // Every single character, alone and before a CSI-looking tail.
        for c in (0u32..0x3000).filter_map(char::from_u32) {
            for s in [c.to_string(), format!("{c}[31m")] {
                assert!(!sanitize(&s).chars().any(unsafe_char), "{s:?}");
            }
        }
    }

    #[test]
    fn json_keeps_the_data_and_hides_nothing() {
        let value = serde_json::json!({
            "name": "Dr. \u{202E}X\u{85}\u{1b}[31m",
            "tag": "\u{E0041}",
            "text": "line\nnext",
        });
        let json = serde_json::to_string_pretty(&value).unwrap();
        assert!(json.contains('\u{202E}'));
        let safe = json_safe(&json);
        assert!(!safe.chars().any(unsafe_char), "{safe}");
        assert!(safe.contains("\\u202e") && safe.contains("\\u0085"));
        assert!(safe.contains("\\udb40\\udc41"));
        let back: serde_json::Value = serde_json::from_str(&safe).unwrap();
        assert_eq!(back, value);
    }
}
