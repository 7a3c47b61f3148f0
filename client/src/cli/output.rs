//! The only way the `trialog` binary writes to the terminal, and how roles, RIZIV numbers,
//! names and the enrolment code are shown.
//!
//! Names, values, consent texts and error messages come from other people and through the
//! server, so everything written here, to stdout and to stderr, goes through
//! `trialog_protocol::text`: text through `sanitize` (no escape sequence, carriage return,
//! bidi override or invisible character reaches the terminal; line breaks and tabs stay),
//! JSON through `json_safe` (the same characters as `\u` escapes, the data unchanged).
//!
//! Nothing else in the binary may print: `print!`/`println!`/`eprint!`/`eprintln!` are
//! denied in `main.rs`, and `std::io::stdout`/`stderr` are disallowed by `client/clippy.toml`
//! everywhere but in the two writers below. Write errors (a closed pipe) are ignored
//! rather than panicking as `println!` does.

use std::io::Write;
use trialog_protocol::text::{json_safe, sanitize};
use trialog_protocol::{Lang, Role};

/// Where a piece of output goes.
#[derive(Clone, Copy)]
enum To {
    Stdout,
    Stderr,
}

/// Writes `s` (already made safe) to `to` and flushes it.
#[allow(clippy::disallowed_methods)] // reason: the one place that holds stdout and stderr.
fn write(to: To, s: &str) {
    fn put(mut w: impl Write, s: &str) {
        let _ = w.write_all(s.as_bytes());
        let _ = w.flush();
    }
    match to {
        To::Stdout => put(std::io::stdout().lock(), s),
        To::Stderr => put(std::io::stderr().lock(), s),
    }
}

/// A command's result: pretty JSON with `--json`, else the text `text` builds.
pub fn out(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        self::json(&value);
    } else {
        line(&text());
    }
}

/// One line of text on stdout.
pub fn line(s: &str) {
    write(To::Stdout, &format!("{}\n", sanitize(s)));
}

/// Text on stdout as it is, without adding a line break.
pub fn text(s: &str) {
    write(To::Stdout, &sanitize(s));
}

/// A value as pretty JSON on stdout.
pub fn json(value: &serde_json::Value) {
    let s = serde_json::to_string_pretty(value).unwrap_or_default();
    write(To::Stdout, &format!("{}\n", json_safe(&s)));
}

/// One line on stderr: errors, and what a person must read before answering a question.
pub fn err(s: &str) {
    write(To::Stderr, &format!("{}\n", sanitize(s)));
}

/// Text on stderr as it is, without adding a line break.
pub fn err_text(s: &str) {
    write(To::Stderr, &sanitize(s));
}

/// A value as one line of JSON on stderr (errors with `--json`).
pub fn err_json(value: &serde_json::Value) {
    write(To::Stderr, &format!("{}\n", json_safe(&value.to_string())));
}

/// A question on stderr, on the same line as the answer that follows.
pub fn prompt(s: &str) {
    write(To::Stderr, &format!("{} ", sanitize(s)));
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
