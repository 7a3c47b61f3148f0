//! The language switch: a cookie, then back to the page the person was on.

use axum::Form;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use trialog_protocol::Lang;

use crate::web::LANG_COOKIE;

#[derive(Deserialize)]
pub struct LangForm {
    lang: String,
    #[serde(default)]
    back: String,
}

/// Only a path of this site: never `//elsewhere` or a full URL (an open redirect).
fn local_path(back: &str) -> &str {
    let ok = back.starts_with('/')
        && !back.starts_with("//")
        && !back.contains('\\')
        && !back.chars().any(char::is_control);
    if ok { back } else { "/" }
}

/// `POST /lang`
pub async fn set(Form(f): Form<LangForm>) -> Response {
    let mut resp = Redirect::to(local_path(&f.back)).into_response();
    if let Some(lang) = Lang::parse(&f.lang) {
        let cookie = format!(
            "{LANG_COOKIE}={}; SameSite=Strict; Path=/; Max-Age=31536000",
            lang.as_str()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            resp.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn comes_back_only_to_a_local_path() {
        assert_eq!(local_path("/cases"), "/cases");
        assert_eq!(local_path("//evil.example/"), "/");
        assert_eq!(local_path("https://evil.example/"), "/");
        assert_eq!(local_path("/\\evil.example"), "/");
        assert_eq!(local_path(""), "/");
    }
}
