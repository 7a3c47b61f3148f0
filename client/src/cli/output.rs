//! Printing shared by every command: text or JSON, and how roles, RIZIV numbers, names
//! and the enrolment code are shown.

use trialog_protocol::{Lang, Role};

pub fn out(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{}", printable(&text()));
    }
}

/// Text as a terminal may show it: values and names come from other people (and through
/// the server), so control characters (escape sequences that could move the cursor, hide
/// or fake a line such as "Verified") are replaced; new lines and tabs stay.
pub fn printable(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '\u{FFFD}'
            } else {
                c
            }
        })
        .collect()
}

pub fn role_label(r: Role, lang: Lang) -> &'static str {
    r.label(lang)
}

/// `1-23456-25-580`, as physicians write it.
pub fn riziv_display(digits: &Option<String>) -> String {
    digits
        .as_deref()
        .map(|d| {
            trialog_protocol::riziv::Riziv::parse(d)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| d.to_owned())
        })
        .unwrap_or_default()
}

pub fn name_of(v: &trialog_protocol::api::AccountView) -> String {
    v.name.clone().unwrap_or_else(|| v.account.to_string())
}

/// The code as a QR code drawn with block characters, for the patient's phone camera.
pub fn qr(code: &str) -> String {
    match qrcode::QrCode::new(code.as_bytes()) {
        Ok(q) => format!(
            "\n\n{}",
            q.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        ),
        // A code this short always fits; without a QR the text above still serves.
        Err(_) => String::new(),
    }
}
