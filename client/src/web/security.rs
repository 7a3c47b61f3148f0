//! The local web client's own security: it runs on the person's computer, where other
//! programs and every web page in their browser can reach 127.0.0.1.
//!
//! - **DNS rebinding**: a page of `evil.example` whose name is made to resolve to
//!   127.0.0.1 would talk to this server as a same-origin page of its own. Only requests
//!   whose `Host` is exactly `127.0.0.1:PORT` or `localhost:PORT` are answered (421).
//! - **CSRF**: every request that is not `GET` or `HEAD` must carry an `Origin` equal to
//!   this server's own origin (403). Browsers always send `Origin` on a cross-origin
//!   `POST`, and on a same-origin one too; a missing one is refused.
//! - **Authentication**: the printed URL carries a one-time token; `GET /login?token=…`
//!   exchanges it at once for a random session cookie. Secrets are compared in constant
//!   time and zeroized when dropped.
//! - **Headers**: a strict Content-Security-Policy (no inline script or style, nothing
//!   from elsewhere), no framing, no sniffing, no referrer to other sites, no caching.

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::sync::Arc;
use subtle::ConstantTimeEq;
use trialog_protocol::Lang;
use zeroize::Zeroizing;

use super::App;
use super::i18n::Text;
use super::pages;

/// A token or session id: 32 random bytes as hex. Zeroized on drop, never printed.
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn random() -> std::io::Result<Secret> {
        let mut b = Zeroizing::new([0u8; 32]);
        getrandom::fill(&mut b[..]).map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(Secret(Zeroizing::new(hex::encode(&b[..]))))
    }

    /// Constant-time: how much of a guess matched must not show in the time taken.
    pub fn matches(&self, candidate: &str) -> bool {
        self.0.as_bytes().ct_eq(candidate.as_bytes()).into()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// The login token (until used) and the sessions it was exchanged for.
#[derive(Debug, Default)]
pub struct Auth {
    pub token: Option<Secret>,
    pub sessions: Vec<Secret>,
}

/// Headers on every response, including refusals and redirects.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    let set = |h: &mut HeaderMap, name: &'static str, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(
        h,
        "content-security-policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    );
    set(h, "x-frame-options", "DENY");
    set(h, "x-content-type-options", "nosniff");
    // Not `no-referrer`: under it the Fetch standard makes a browser send `Origin: null`
    // on every form post (Chromium does), and the origin check above could then tell our
    // own forms from a foreign page's by nothing. `same-origin` sends no referrer to any
    // other site (and the pages load nothing from elsewhere: see the CSP), so the login
    // token in the printed URL still never leaves this server.
    set(h, "referrer-policy", "same-origin");
    set(h, "cache-control", "no-store");
    resp
}

/// Refuses a request whose `Host` is not this server's own (DNS rebinding).
pub async fn host(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    let ok = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| app.hosts.iter().any(|own| own == h));
    if !ok {
        let lang = app.lang_of(req.headers());
        return pages::refusal(StatusCode::MISDIRECTED_REQUEST, lang, Text::WrongHost);
    }
    next.run(req).await
}

/// Refuses a state-changing request without this server's own `Origin` (CSRF).
pub async fn origin(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        // `host` ran first: the Host header is one of ours, and the origin must match it
        // exactly (a page on `localhost:PORT` posts with that origin, not 127.0.0.1's).
        let own = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(|h| format!("http://{h}"));
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok());
        if own.is_none() || origin != own.as_deref() {
            let lang = app.lang_of(req.headers());
            return pages::refusal(StatusCode::FORBIDDEN, lang, Text::ForbiddenOrigin);
        }
    }
    next.run(req).await
}

/// Paths that answer without a session: the login itself, the page that says to use the
/// printed link, the stylesheet they use, and the language switch (only a cookie).
fn public(path: &str) -> bool {
    path == "/login" || path == "/welcome" || path == "/lang" || path.starts_with("/assets/")
}

/// Requires a session cookie; without one, sends the browser to the page that says to
/// use the printed link. Every authenticated request counts as activity for the idle lock.
pub async fn session(State(app): State<Arc<App>>, req: Request, next: Next) -> Response {
    if public(req.uri().path()) {
        return next.run(req).await;
    }
    let valid = cookie(req.headers(), &app.cookie_name).is_some_and(|c| {
        app.auth
            .lock()
            .map(|a| a.sessions.iter().any(|s| s.matches(c)))
            .unwrap_or(false)
    });
    if !valid {
        return Redirect::to("/welcome").into_response();
    }
    // A page refreshing itself (the inbox's rows and event stream) is not the person at the
    // keyboard: it must not keep the keys unlocked while they are away, so it never counts
    // as activity.
    let background = background(req.uri().path());
    if background {
        app.lock_if_idle().await;
    } else {
        app.touch().await;
    }
    let resp = next.run(req).await;
    // Idle counts from the end of the last request: unlocking (scrypt) or a slow server
    // must not use up the idle period.
    if !background {
        app.seen();
    }
    resp
}

/// Requests a page's script makes by itself: on a timer, or to follow events.
fn background(path: &str) -> bool {
    path == "/inbox/rows" || path == "/inbox/events"
}

#[derive(Deserialize)]
pub struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=…`: the one-time token for a session cookie, then to the home page.
pub async fn login(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    q: Query<LoginQuery>,
) -> Response {
    let lang = app.lang_of(&headers);
    let typed = Zeroizing::new(q.0.token.unwrap_or_default());
    let session = {
        let Ok(mut auth) = app.auth.lock() else {
            return pages::refusal(StatusCode::INTERNAL_SERVER_ERROR, lang, Text::ErrorTitle);
        };
        // The token is spent by its first use; a wrong one (256 random bits cannot be
        // guessed) leaves it for the person who holds the printed link.
        let ok = auth.token.as_ref().is_some_and(|t| t.matches(&typed));
        if !ok {
            drop(auth);
            return pages::refusal(StatusCode::FORBIDDEN, lang, Text::LinkUsedTitle);
        }
        auth.token = None;
        let Ok(s) = Secret::random() else {
            return pages::refusal(StatusCode::INTERNAL_SERVER_ERROR, lang, Text::ErrorTitle);
        };
        let value = s.expose().to_owned();
        auth.sessions.push(s);
        Zeroizing::new(value)
    };
    app.touch().await;
    // No `Secure`: the page is served over plain http on the loopback interface, where
    // there is no TLS to require (traffic to 127.0.0.1 never leaves the machine), and a
    // browser would not send a `Secure` cookie back over http. `HttpOnly` keeps it from
    // scripts, `SameSite=Strict` from any request another site starts. Cookies are not
    // separated by port, so the name carries it: two `trialog ui` on one machine (a
    // physician's and a test patient's) do not overwrite each other's session.
    let cookie = format!(
        "{}={}; HttpOnly; SameSite=Strict; Path=/",
        app.cookie_name,
        session.as_str()
    );
    let mut resp = Redirect::to("/").into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find_map(|(k, v)| (k == name).then_some(v))
}

/// The language cookie, else the one `trialog ui` started with.
pub fn lang_cookie(headers: &HeaderMap) -> Option<Lang> {
    cookie(headers, super::LANG_COOKIE).and_then(Lang::parse)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_redacted_and_compared_whole() {
        let a = Secret::random().expect("random");
        let b = Secret::random().expect("random");
        assert_eq!(a.expose().len(), 64);
        assert!(!a.matches(b.expose()));
        assert!(a.matches(a.expose()));
        assert!(!a.matches(&a.expose()[..63]), "a prefix is not the secret");
        assert!(!a.matches(""));
        assert_eq!(format!("{a:?}"), "[redacted]");
        let auth = Auth {
            token: Some(a),
            sessions: vec![b],
        };
        assert!(!format!("{auth:?}").contains(auth.sessions[0].expose()));
    }
}
