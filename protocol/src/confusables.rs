//! Folding of look-alike characters to plain Latin, for the leak guard (DESIGN.md §5).
//!
//! Compatibility decomposition (NFKD, from `unicode-normalization`) already turns fullwidth
//! letters, mathematical alphanumerics, ligatures, superscripts and accented letters into
//! plain Latin plus combining marks. What it leaves alone are letters of other scripts that
//! merely *look* Latin (Cyrillic `а`, Greek `ο`, small capitals, ...) and invisible format
//! characters; this module covers those with a compact table. It is not the full Unicode
//! confusables list: it holds the letters that can pass for Latin in running Dutch, French
//! or English text.

/// Characters that render as nothing (or as an optional hyphen) and can be slipped inside a
/// word to break matching: zero-width space and joiners, word joiner, byte-order mark, soft
/// hyphen, bidirectional marks, variation selectors, tag characters and the like.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// The plain Latin a character passes for, for characters that NFKD does not decompose.
/// Upper-case entries come first because some capitals and their small letters look like
/// different Latin letters (Greek `Η` is an H, `η` an n).
pub(crate) fn latin(c: char) -> Option<&'static str> {
    let s = match c {
        // ---- Greek capitals
        'Α' => "a",
        'Β' => "b",
        'Ε' => "e",
        'Ζ' => "z",
        'Η' => "h",
        'Ι' => "i",
        'Κ' => "k",
        'Μ' => "m",
        'Ν' => "n",
        'Ο' => "o",
        'Ρ' => "p",
        'Τ' => "t",
        'Υ' => "y",
        'Χ' => "x",
        'Ϲ' => "c",
        'Ϳ' => "j",
        // ---- Greek small letters
        'α' => "a",
        'β' => "b",
        'γ' => "y",
        'δ' => "d",
        'ε' => "e",
        'η' => "n",
        'ι' => "i",
        'κ' => "k",
        'μ' => "u",
        'ν' => "v",
        'ο' => "o",
        'ρ' | 'ϱ' => "p",
        'τ' => "t",
        'υ' => "u",
        'χ' => "x",
        'ω' => "w",
        'ϲ' => "c",
        'ϳ' => "j",
        // ---- Cyrillic capitals that differ from their small letters in shape
        'В' => "b",
        'Н' => "h",
        'М' => "m",
        'Т' => "t",
        'К' => "k",
        'П' => "n",
        'И' => "u",
        'Г' => "r",
        // ---- Cyrillic, both cases
        'А' | 'а' => "a",
        'Е' | 'е' | 'Ё' | 'ё' | 'Є' | 'є' => "e",
        'О' | 'о' => "o",
        'Р' | 'р' => "p",
        'С' | 'с' => "c",
        'Х' | 'х' => "x",
        'У' | 'у' | 'Ү' | 'ү' => "y",
        'І' | 'і' | 'Ї' | 'ї' => "i",
        'Ј' | 'ј' => "j",
        'Ѕ' | 'ѕ' => "s",
        'Ԁ' | 'ԁ' => "d",
        'Һ' | 'һ' => "h",
        'Ӏ' | 'ӏ' => "l",
        'Ԛ' | 'ԛ' => "q",
        'Ԝ' | 'ԝ' | 'Ѡ' | 'ѡ' => "w",
        'Ѵ' | 'ѵ' => "v",
        'Ь' | 'ь' => "b",
        'в' => "b",
        'к' => "k",
        'м' => "m",
        'н' => "h",
        'т' => "t",
        'г' => "r",
        'п' => "n",
        'и' => "u",
        // ---- Armenian
        'Օ' | 'օ' => "o",
        'Ս' | 'ս' => "u",
        'ո' => "n",
        'հ' => "h",
        'զ' => "q",
        // ---- Latin letters without a decomposition
        'ß' | 'ẞ' => "ss",
        'Æ' | 'æ' => "ae",
        'Œ' | 'œ' => "oe",
        'Ø' | 'ø' => "o",
        'Ł' | 'ł' => "l",
        'Đ' | 'đ' | 'Ð' | 'ð' => "d",
        'Þ' | 'þ' => "th",
        'ı' | 'ɩ' | 'ɪ' => "i",
        'ȷ' | 'ᴊ' => "j",
        'ɑ' | 'ᴀ' => "a",
        'ɡ' | 'ɢ' => "g",
        'ʋ' | 'ᴜ' => "u",
        'ʙ' => "b",
        'ᴄ' => "c",
        'ᴅ' => "d",
        'ᴇ' => "e",
        'ʜ' => "h",
        'ᴋ' => "k",
        'ʟ' => "l",
        'ᴍ' => "m",
        'ɴ' => "n",
        'ᴏ' => "o",
        'ᴘ' => "p",
        'ʀ' => "r",
        'ꜱ' => "s",
        'ᴛ' => "t",
        'ᴠ' => "v",
        'ᴡ' => "w",
        'ʏ' => "y",
        'ᴢ' => "z",
        // Regional indicator symbols (flag letters) 🇦..🇿.
        '\u{1F1E6}'..='\u{1F1FF}' => {
            let i = (c as u32 - 0x1F1E6) as usize;
            return "abcdefghijklmnopqrstuvwxyz".get(i..=i);
        }
        _ => return None,
    };
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regional_indicators_map_to_their_letter() {
        assert_eq!(latin('\u{1F1E6}'), Some("a"));
        assert_eq!(latin('\u{1F1FF}'), Some("z"));
    }

    #[test]
    fn ordinary_latin_is_not_in_the_table() {
        for c in "abcxyzABCXYZ019 -.".chars() {
            assert_eq!(latin(c), None, "{c}");
            assert!(!is_invisible(c), "{c}");
        }
    }
}
