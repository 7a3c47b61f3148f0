//! Each local-security rule of the web client with a request that tries to break it
//! (plain HTTP with reqwest), and the shared pages in each language.

use reqwest::StatusCode;
use reqwest::header::{HOST, SET_COOKIE};
use std::time::Duration;
use trialog_client::web::{Options, serve};
use trialog_e2e::{LABEL, PASSPHRASE, World};

use super::*;

#[tokio::test]
async fn web_answers_only_its_own_host() {
    let w = World::new().await;
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let own = format!("127.0.0.1:{}", ui.port);
    let other_port = format!("127.0.0.1:{}", ui.port.wrapping_add(1));
    let rebound = format!("evil.example:{}", ui.port);
    let suffixed = format!("localhost.evil.example:{}", ui.port);
    for host in [
        rebound.as_str(),
        suffixed.as_str(),
        other_port.as_str(),
        "127.0.0.1",
        "localhost",
    ] {
        let r = ui
            .http
            .get(ui.at("/"))
            .header(HOST, host)
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST, "Host {host}");
        assert_eq!(r.headers()["x-frame-options"], "DENY");
        let body = text(r).await;
        assert!(body.contains("printed in your terminal"), "{body}");
        assert!(!body.contains("Dr. An Peeters"), "Host {host} saw the page");
    }
    // Its own names are answered, `localhost` included.
    for host in [own.clone(), format!("localhost:{}", ui.port)] {
        let r = ui
            .http
            .get(ui.at("/"))
            .header(HOST, &host)
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), StatusCode::OK, "Host {host}");
    }
    // The listener itself refuses to serve anywhere but on loopback.
    let any = tokio::net::TcpListener::bind("0.0.0.0:0")
        .await
        .expect("bind");
    let c = w.occupational;
    let refused = serve(c.home().clone(), None, any, Options::default()).await;
    assert!(refused.is_err(), "served on 0.0.0.0");
}

#[tokio::test]
async fn web_state_changes_need_its_own_origin() {
    let w = World::new().await;
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let evil = "http://evil.example";
    let other_port = format!("http://127.0.0.1:{}", ui.port.wrapping_add(1));
    let https = format!("https://127.0.0.1:{}", ui.port);
    for origin in [
        None,
        Some(evil),
        Some("null"),
        Some(&other_port),
        Some(&https),
    ] {
        for path in ["/lock", "/lang", "/unlock"] {
            let r = ui
                .post(path, &cookie, origin, &[("lang", "fr"), ("back", "/")])
                .await;
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path} with {origin:?}");
            assert!(r.headers().get(SET_COOKIE).is_none());
            assert!(text(r).await.contains("was refused"));
        }
    }
    // Nothing happened: still unlocked, still in English.
    let home = text(ui.get("/", &cookie).await).await;
    assert!(home.contains("Dr. An Peeters") && home.contains("Who am I"));
    // The same request with its own origin works.
    let r = ui.post("/lock", &cookie, Some(&ui.base), &[]).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/unlock");
    let r = ui.get("/", &cookie).await;
    assert_eq!(location(&r), "/unlock");
}

#[tokio::test]
async fn web_login_token_works_once_and_cookie_is_strict() {
    let w = World::new().await;
    let ui = start(w.treating, LONG).await;
    // No cookie: sent to the page that says to use the printed link.
    for path in ["/", "/cases", "/unlock"] {
        let r = ui.get(path, "").await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&r), "/welcome");
    }
    let welcome = text(ui.get("/welcome", "").await).await;
    assert!(welcome.contains("printed in your terminal"), "{welcome}");
    assert!(!welcome.contains("Dr. An Peeters"));
    // A wrong token or none opens nothing.
    for bad in ["/login", "/login?token=", "/login?token=00"] {
        let r = ui.get(bad, "").await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{bad}");
        assert!(r.headers().get(SET_COOKIE).is_none());
    }
    // The printed token: a cookie that scripts and other sites never get.
    let r = ui.http.get(&ui.url).send().await.expect("login");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let set = r.headers()[SET_COOKIE].to_str().expect("ascii").to_owned();
    let attrs: Vec<&str> = set.split(';').map(str::trim).collect();
    assert!(attrs.contains(&"HttpOnly"), "{set}");
    assert!(attrs.contains(&"SameSite=Strict"), "{set}");
    assert!(attrs.contains(&"Path=/"), "{set}");
    let cookie = attrs[0].to_owned();
    let (name, value) = cookie.split_once('=').expect("name=value");
    assert_eq!(name, format!("trialog-session-{}", ui.port));
    assert_eq!(value.len(), 64, "32 random bytes");
    assert!(!ui.url.contains(value), "the session is not the token");
    // Used once: the same link is refused, and says what to do.
    let again = ui.http.get(&ui.url).send().await.expect("login again");
    assert_eq!(again.status(), StatusCode::FORBIDDEN);
    assert!(again.headers().get(SET_COOKIE).is_none());
    assert!(text(again).await.contains("start it again"));
    // The cookie opens the pages; a forged or truncated one does not.
    assert_eq!(ui.get("/", &cookie).await.status(), StatusCode::OK);
    let forged = format!("{name}={}", "0".repeat(64));
    let truncated = format!("{name}={}", &value[..63]);
    let other_name = format!("trialog-session-{}={value}", ui.port.wrapping_add(1));
    for bad in [forged, truncated, other_name] {
        let r = ui.get("/", &bad).await;
        assert_eq!(location(&r), "/welcome", "{bad}");
    }
}

#[tokio::test]
async fn web_every_response_carries_the_security_headers() {
    let w = World::new().await;
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
               frame-ancestors 'none'; form-action 'self'; base-uri 'none'";
    let responses = vec![
        ui.get("/", &cookie).await,
        ui.get("/cases", &cookie).await,
        ui.get(&format!("/cases/{}", w.case), &cookie).await,
        ui.get("/cases/not-a-case", &cookie).await,
        ui.get("/no-such-page", &cookie).await,
        ui.get("/assets/style.css", "").await,
        ui.get("/welcome", "").await,
        ui.get("/", "").await,
        ui.get("/login?token=wrong", "").await,
        ui.post("/lock", &cookie, None, &[]).await,
        ui.http
            .get(ui.at("/"))
            .header(HOST, "evil.example")
            .send()
            .await
            .expect("get"),
    ];
    for r in responses {
        let h = r.headers();
        let what = format!("{} {}", r.url().path(), r.status());
        assert_eq!(h["content-security-policy"], csp, "{what}");
        assert_eq!(h["x-frame-options"], "DENY", "{what}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{what}");
        // `no-referrer` would make Chromium post `Origin: null` (see security.rs).
        assert_eq!(h["referrer-policy"], "same-origin", "{what}");
        assert_eq!(h["cache-control"], "no-store", "{what}");
        if r.status() == StatusCode::OK && !what.starts_with("/assets") {
            let body = text(r).await;
            // The CSP forbids inline script and style: the pages have none.
            assert!(!body.contains("<script"), "{what}");
            assert!(
                !body.contains("<style") && !body.contains("style="),
                "{what}"
            );
        }
    }
}

#[tokio::test]
async fn web_locks_after_idle_and_unlocks_with_the_passphrase() {
    let w = World::new().await;
    let ui = start(w.treating, Duration::from_secs(3)).await;
    let cookie = ui.login().await;
    assert!(
        text(ui.get("/", &cookie).await)
            .await
            .contains("Dr. An Peeters")
    );
    tokio::time::sleep(Duration::from_millis(4500)).await;
    // Locked: every page asks for the passphrase, and shows nobody's name.
    let r = ui.get("/cases", &cookie).await;
    assert_eq!(location(&r), "/unlock");
    let page = text(ui.get("/unlock", &cookie).await).await;
    assert!(page.contains(r#"type="password""#) && page.contains(r#"<label for="passphrase""#));
    assert!(!page.contains("Dr. An Peeters"));
    // A wrong passphrase says so and keeps it locked.
    let origin = ui.base.clone();
    let r = ui
        .post(
            "/unlock",
            &cookie,
            Some(&origin),
            &[("passphrase", "wrong")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert!(text(r).await.contains("Wrong passphrase for the keystore."));
    assert_eq!(location(&ui.get("/", &cookie).await), "/unlock");
    // The right one opens it again.
    let r = ui
        .post(
            "/unlock",
            &cookie,
            Some(&origin),
            &[("passphrase", PASSPHRASE)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    assert!(
        text(ui.get("/", &cookie).await)
            .await
            .contains("Dr. An Peeters")
    );
}

#[tokio::test]
async fn web_pages_show_who_the_cases_and_the_case_in_each_language() {
    let w = World::new().await;
    let case = w.case.clone();
    let ui = start(w.treating, LONG).await;
    let session = ui.login().await;
    let today = trialog_protocol::time::now();
    for (lang, who, month, members) in [
        ("en", "Who am I", "December", "Physicians in this case"),
        ("nl", "Wie ben ik", "december", "Artsen in dit dossier"),
        ("fr", "Qui suis-je", "décembre", "Médecins de ce dossier"),
    ] {
        let cookie = format!("{session}; trialog-lang={lang}");
        let home = text(ui.get("/", &cookie).await).await;
        assert!(home.contains(&format!(r#"<html lang="{lang}">"#)), "{home}");
        assert!(
            home.contains(who) && home.contains("Dr. An Peeters"),
            "{home}"
        );
        assert!(
            home.contains("1-23456-"),
            "RIZIV/INAMI as physicians write it"
        );
        let cases = text(ui.get("/cases", &cookie).await).await;
        assert!(cases.contains(LABEL), "{cases}");
        assert!(cases.contains(&format!(r#"href="/cases/{case}""#)));
        let one = text(ui.get(&format!("/cases/{case}"), &cookie).await).await;
        assert!(one.contains(LABEL) && one.contains(members), "{one}");
        assert!(one.contains("Dr. Luc Janssens") && one.contains("Dr. Marie Dubois"));
        // Dates in words, in Brussels time; the month is the one of today (the case was
        // opened a moment ago), unless the tests run in another month.
        let written = trialog_client::web::date(today, Lang::parse(lang).expect("lang"));
        assert!(one.contains(&written), "{written} not in {one}");
        let _ = month;
    }
    // The language switch sets the cookie and comes back to the same page.
    let r = ui
        .post(
            "/lang",
            &session,
            Some(&ui.base),
            &[("lang", "fr"), ("back", "/cases")],
        )
        .await;
    assert_eq!(location(&r), "/cases");
    assert!(
        r.headers()[SET_COOKIE]
            .to_str()
            .expect("ascii")
            .starts_with("trialog-lang=fr;")
    );
    let r = ui
        .post(
            "/lang",
            &session,
            Some(&ui.base),
            &[("lang", "fr"), ("back", "//evil.example/")],
        )
        .await;
    assert_eq!(location(&r), "/", "no open redirect");
    // An error is a sentence that says what to do, not a status code.
    let bad = text(ui.get("/cases/case_0123", &session).await).await;
    assert!(
        bad.contains("Open the case from the list of your cases"),
        "{bad}"
    );
}
