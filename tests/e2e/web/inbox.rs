//! The inbox, a message and its print view: a bilan appears without reloading, opens with
//! its verification and every withheld field marked, prints; bad, foreign and destroyed
//! message ids get a page that says why, with a 4xx status.

use std::time::Duration;

use fantoccini::Locator;
use reqwest::StatusCode;
use trialog_e2e::{FUNCTIONAL, World, grant};

use super::*;

#[tokio::test]
async fn web_inbox_in_chromium_a_bilan_appears_opens_and_prints() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let home = w.occupational.home().clone();
    let World {
        mut treating,
        treating_id,
        occupational,
        occupational_id,
        case,
        ..
    } = w;
    let ui = start(occupational, LONG).await;
    let session = Browser::start().await;
    let browser = &session.client;
    let run = async {
        browser.goto(&ui.url).await?;
        browser
            .find(Locator::Css(r#"nav a[href="/inbox"]"#))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h1[text()='Inbox']"))
            .await?;
        let empty = browser
            .find(Locator::Css("#inbox-rows"))
            .await?
            .text()
            .await?;
        assert!(empty.contains("No messages yet."), "{empty}");

        // The treating physician sends the bilan (diagnosis included) with the library; the
        // page shows it without being reloaded.
        let out = trialog_client::Outgoing {
            case: case.clone(),
            to: occupational_id.clone(),
            kind: trialog_protocol::MessageKind::Bilan,
            values: trialog_e2e::bilan_values(),
            override_leak_guard: false,
        };
        let sent = treating.send(out).await.expect("send");
        let row = browser
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css(&format!("tr#msg-{}", sent.message_id)))
            .await?;
        let text = row.text().await?;
        assert!(text.contains("New"), "{text}");
        assert!(text.contains("Dr. An Peeters"), "{text}");
        assert!(text.contains("treating physician"), "{text}");
        assert!(text.contains("Functional bilan"), "{text}");
        // The occupational physician may not read the case's label: its neutral reference.
        assert!(text.contains("TRIO-"), "{text}");
        assert!(!text.contains(trialog_e2e::LABEL), "{text}");
        let status = browser
            .find(Locator::Id("inbox-status"))
            .await?
            .text()
            .await?;
        assert!(status.contains("Unread messages: 1"), "{status}");
        // Still the same page: it was not reloaded.
        assert_eq!(browser.current_url().await?.path(), "/inbox");

        // Open (a form post), then the message.
        row.find(Locator::Css("button[type=submit]"))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h1[text()='Functional bilan']"))
            .await?;
        assert_eq!(
            browser.current_url().await?.path(),
            format!("/messages/{}", sent.message_id)
        );
        let page = browser
            .find(Locator::Css("article.message"))
            .await?
            .text()
            .await?;
        assert!(page.contains("Signed by Dr. An Peeters"), "{page}");
        assert!(page.contains("The signature is valid"), "{page}");
        assert!(
            page.contains("Accepted under the patient's consent"),
            "{page}"
        );
        // The allowed fields, labelled, dates written out.
        assert!(
            page.contains("Fatigue 6/10, worst in the afternoon"),
            "{page}"
        );
        assert!(
            page.contains("Concentration holds about 45 minutes"),
            "{page}"
        );
        assert!(page.contains("15 February 2027"), "{page}");
        // The diagnosis was stripped by the sender's client: never shown, marked withheld.
        assert!(!page.contains("carcinoma"), "{page}");
        let diagnosis = browser
            .find(Locator::Css(
                r#"li.stripped[data-field="medical.diagnosis"]"#,
            ))
            .await?
            .text()
            .await?;
        assert!(
            diagnosis.contains("did not share medically with this physician"),
            "{diagnosis}"
        );
        let emotional = browser
            .find(Locator::Css(
                r#"li.stripped[data-field="limits.emotional"]"#,
            ))
            .await?
            .text()
            .await?;
        assert!(
            emotional.contains("the patient has not consented"),
            "{emotional}"
        );
        // A reply goes to the compose page with the case and the sender.
        let reply = browser
            .find(Locator::LinkText("Reply"))
            .await?
            .attr("href")
            .await?
            .unwrap_or_default();
        assert_eq!(
            reply,
            format!("/cases/{case}/compose?kind=feedback&to={treating_id}")
        );

        // The print view.
        browser
            .find(Locator::LinkText("Print view"))
            .await?
            .click()
            .await?;
        let sheet = browser
            .wait()
            .for_element(Locator::Css("article.print-sheet"))
            .await?
            .text()
            .await?;
        assert!(sheet.contains("Printed on"), "{sheet}");
        assert!(sheet.contains("Received on"), "{sheet}");
        assert!(sheet.contains("Dr. Luc Janssens"), "{sheet}");
        assert!(sheet.contains("Signed by Dr. An Peeters"), "{sheet}");
        assert!(sheet.contains("Fatigue 6/10"), "{sheet}");
        // The script shows the print button.
        let print = browser.find(Locator::Css("button[data-print]")).await?;
        assert!(print.is_displayed().await?);

        // Back in the inbox, the message is read.
        browser.goto(&ui.at("/inbox")).await?;
        let row = browser
            .wait()
            .for_element(Locator::Css(&format!("tr#msg-{}", sent.message_id)))
            .await?
            .text()
            .await?;
        assert!(row.contains("Read"), "{row}");
        Ok::<_, fantoccini::error::CmdError>(sent.message_id)
    }
    .await;
    let id = session.finish(run).await;
    // This client keeps the verified message, and the server let go of it.
    assert!(home.messages_dir().join(format!("{id}.json")).is_file());
    let e = treating.inbox().await.expect("treating inbox");
    assert!(e.iter().all(|i| i.message_id != id));
}

#[tokio::test]
async fn web_inbox_bad_foreign_and_destroyed_messages_say_why() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    grant(&mut w.patient, &w.case, &w.advising_id, FUNCTIONAL, &[]).await;
    let to_advising = w.treating.send(w.bilan_to(&w.advising_id)).await.unwrap();
    let doomed = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap();
    let World {
        mut patient,
        occupational,
        ..
    } = w;
    let ui = start(occupational, LONG).await;
    let cookie = ui.login().await;
    let origin = ui.base.clone();

    // Not a message id at all.
    let r = ui.get("/messages/not-a-message", &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        text(r)
            .await
            .contains("This is not a valid message reference")
    );
    let r = ui.get("/messages/%3Cscript%3E/print", &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let body = text(r).await;
    assert!(!body.contains("<script>"), "{body}");
    let r = ui
        .post("/messages/nope/open", &cookie, Some(&origin), &[])
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // Someone else's message: unknown here, whether shown or opened.
    let path = format!("/messages/{}", to_advising.message_id);
    let r = ui.get(&path, &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(
        text(r)
            .await
            .contains("There is no message with this reference for you")
    );
    let r = ui
        .post(&format!("{path}/open"), &cookie, Some(&origin), &[])
        .await;
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(ui.get(&format!("{path}/print"), &cookie).await.status() == StatusCode::NOT_FOUND);

    // Opening is a POST, refused without this page's origin; a GET does not read it.
    let doomed_path = format!("/messages/{}", doomed.message_id);
    let r = ui
        .post(&format!("{doomed_path}/open"), &cookie, None, &[])
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = ui.get(&doomed_path, &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("Not opened yet"));

    // Seen in the inbox, then destroyed by the revocation: the inbox and the message say why.
    let r = ui.get("/inbox", &cookie).await;
    assert!(
        text(r)
            .await
            .contains(&format!("msg-{}", doomed.message_id))
    );
    patient.revoke(&consent.consent_id).await.expect("revoke");
    let r = ui.get("/inbox/rows", &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["x-trialog-fragment"], "inbox-rows");
    let rows = text(r).await;
    assert!(rows.contains("Destroyed"), "{rows}");
    assert!(
        rows.contains("The patient revoked the consent before the message was read"),
        "{rows}"
    );
    let r = ui.get(&doomed_path, &cookie).await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(text(r).await.contains("The patient revoked the consent"));
    let r = ui
        .post(&format!("{doomed_path}/open"), &cookie, Some(&origin), &[])
        .await;
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(text(r).await.contains("The patient revoked the consent"));

    // In French too.
    let r = ui
        .http
        .get(ui.at(&doomed_path))
        .header("cookie", format!("{cookie}; trialog-lang=fr"))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::GONE);
    assert!(
        text(r)
            .await
            .contains("Le patient a retiré son consentement")
    );
}

#[tokio::test]
async fn web_inbox_is_for_physicians() {
    let w = World::new().await;
    let ui = start(w.patient, LONG).await;
    let cookie = ui.login().await;
    for path in ["/inbox", "/inbox/rows", "/inbox/events"] {
        let r = ui.get(path, &cookie).await;
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
        assert!(text(r).await.contains("The inbox is for physicians"));
    }
    let r = ui.get("/assets/inbox.js", &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
}

/// The treating physician reads feedback the same way, sees the case's own label, and is
/// offered the answers their role may send.
#[tokio::test]
async fn web_inbox_treating_physician_reads_feedback() {
    let mut w = World::new().await;
    grant(
        &mut w.patient,
        &w.case,
        &w.treating_id,
        &[
            "job.demands",
            "job.adaptation_options",
            "reintegration.plan",
        ],
        &[],
    )
    .await;
    let feedback = w.message(
        &w.treating_id,
        trialog_protocol::MessageKind::Feedback,
        vec![
            (
                trialog_e2e::field("job.demands"),
                serde_json::json!("Warehouse clerk: lifting up to 15 kg"),
            ),
            (
                trialog_e2e::field("job.adaptation_options"),
                serde_json::json!("Office tasks in the mornings"),
            ),
        ],
    );
    let sent = w.occupational.send(feedback).await.expect("feedback");
    let (case, occupational_id) = (w.case.clone(), w.occupational_id.clone());
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let rows = text(ui.get("/inbox/rows", &cookie).await).await;
    assert!(rows.contains("Dr. Luc Janssens"), "{rows}");
    assert!(rows.contains("occupational physician"), "{rows}");
    assert!(rows.contains("Feedback"), "{rows}");
    // The treating physician may read the case's label.
    assert!(rows.contains(trialog_e2e::LABEL), "{rows}");
    let r = ui
        .post(
            &format!("/messages/{}/open", sent.message_id),
            &cookie,
            Some(&ui.base),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), format!("/messages/{}", sent.message_id));
    let page = text(ui.get(location(&r), &cookie).await).await;
    assert!(
        page.contains("Warehouse clerk: lifting up to 15 kg"),
        "{page}"
    );
    assert!(page.contains("Signed by Dr. Luc Janssens"), "{page}");
    // Answers: a new bilan, or a request for an update, to the sender in this case.
    let bilan = format!("/cases/{case}/compose?kind=bilan&amp;to={occupational_id}");
    let request = format!("/cases/{case}/compose?kind=request&amp;to={occupational_id}");
    assert!(page.contains(&bilan), "{page}");
    assert!(page.contains(&request), "{page}");
    // A feedback field the patient did not allow is marked; one allowed but left empty is
    // not.
    assert!(
        page.contains(r#"<li class="stripped" data-field="job.title""#),
        "{page}"
    );
    assert!(
        !page.contains(r#"data-field="reintegration.plan""#),
        "{page}"
    );
}

/// The inbox's automatic refresh does not keep the keystore unlocked: after the idle
/// period the rows answer with the unlock page, as every page does.
#[tokio::test]
async fn web_inbox_refresh_is_not_activity() {
    let w = World::new().await;
    let ui = start(w.occupational, Duration::from_secs(2)).await;
    let cookie = ui.login().await;
    let r = ui.get("/inbox/rows", &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut locked = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = ui.get("/inbox/rows", &cookie).await;
        if r.status() == StatusCode::SEE_OTHER && location(&r) == "/unlock" {
            locked = true;
            break;
        }
        assert_eq!(r.status(), StatusCode::OK);
    }
    assert!(locked, "polling kept the keystore unlocked");
}

/// The inbox follows the server's live events: with the page open, a message sent by
/// another physician appears in a few seconds, far sooner than the slow fallback refresh
/// (30 s), and the page is never reloaded.
#[tokio::test]
async fn web_inbox_in_chromium_follows_the_live_stream() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let first = w.bilan_to(&w.occupational_id);
    let second = w.bilan_to(&w.occupational_id);
    let World {
        mut treating,
        occupational,
        ..
    } = w;
    let ui = start(occupational, LONG).await;
    let session = Browser::start().await;
    let browser = &session.client;
    let run = async {
        browser.goto(&ui.url).await?;
        browser.goto(&ui.at("/inbox")).await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h1[text()='Inbox']"))
            .await?;
        // A mark on this very page: a reload would lose it.
        browser
            .execute("window.trialogMark = 'same page'; return null;", vec![])
            .await?;
        // Let the page's stream open, so the message is told by an event and not by the
        // refresh that follows the stream's opening.
        tokio::time::sleep(Duration::from_secs(2)).await;
        for out in [first, second] {
            let sent = treating.send(out).await.expect("send");
            let row = browser
                .wait()
                .at_most(Duration::from_secs(5))
                .for_element(Locator::Css(&format!("tr#msg-{}", sent.message_id)))
                .await?;
            let text = row.text().await?;
            assert!(
                text.contains("New") && text.contains("Dr. An Peeters"),
                "{text}"
            );
        }
        let status = browser
            .find(Locator::Id("inbox-status"))
            .await?
            .text()
            .await?;
        assert!(status.contains("Unread messages: 2"), "{status}");
        assert_eq!(browser.current_url().await?.path(), "/inbox");
        let mark = browser
            .execute("return window.trialogMark || null;", vec![])
            .await?;
        assert_eq!(
            mark,
            serde_json::json!("same page"),
            "the page was reloaded"
        );
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    session.finish(run).await;
}

/// Reads an event stream until `needle` shows or it ends; everything read, and whether it
/// ended. Fails the test after `within`.
async fn read_until(r: &mut reqwest::Response, needle: &str, within: Duration) -> (String, bool) {
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !needle.is_empty() && seen.contains(needle) {
            return (seen, false);
        }
        match tokio::time::timeout_at(deadline, r.chunk()).await {
            Ok(Ok(Some(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(Ok(None)) | Ok(Err(_)) => return (seen, true),
            Err(_) => panic!("no {needle:?} within {within:?}; read {seen:?}"),
        }
    }
}

/// `GET /inbox/events` follows the server for the unlocked account and tells the page only
/// that something changed; it needs the web client's session and an unlocked keystore, as
/// every page does, and locking ends it.
#[tokio::test]
async fn web_inbox_events_tell_only_that_something_changed_and_end_when_locked() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let out = w.bilan_to(&w.occupational_id);
    let case = w.case.clone();
    let World {
        mut treating,
        occupational,
        ..
    } = w;
    let ui = start(occupational, LONG).await;

    // Without the session: the page that says to use the printed link.
    let r = ui.get("/inbox/events", "").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/welcome");
    let cookie = ui.login().await;
    let forged = format!("trialog-session-{}={}", ui.port, "0".repeat(64));
    assert_eq!(
        location(&ui.get("/inbox/events", &forged).await),
        "/welcome"
    );
    // Another site's page cannot read it either: a rebound host is refused.
    let r = ui
        .http
        .get(ui.at("/inbox/events"))
        .header(reqwest::header::HOST, format!("evil.example:{}", ui.port))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);

    let mut stream = ui.get("/inbox/events", &cookie).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let h = stream.headers();
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    assert_eq!(h["cache-control"], "no-store");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.contains_key("content-security-policy"));

    let sent = treating.send(out).await.expect("send");
    let (seen, ended) = read_until(&mut stream, "event: inbox", Duration::from_secs(5)).await;
    assert!(!ended, "{seen}");
    assert!(seen.contains("data: changed"), "{seen}");
    // Nothing of the event itself: no message id, no case, no names.
    assert!(!seen.contains(sent.message_id.as_str()), "{seen}");
    assert!(!seen.contains(case.as_str()), "{seen}");
    assert!(!seen.contains("Peeters"), "{seen}");
    // The rows then show it, as they always did.
    let rows = text(ui.get("/inbox/rows", &cookie).await).await;
    assert!(rows.contains(&format!("msg-{}", sent.message_id)), "{rows}");

    // Locking ends the stream at once, with a last word for the page.
    let r = ui.post("/lock", &cookie, Some(&ui.base), &[]).await;
    assert_eq!(location(&r), "/unlock");
    let (seen, _) = read_until(&mut stream, "event: locked", Duration::from_secs(5)).await;
    assert!(seen.contains("event: locked"), "{seen}");
    let (rest, ended) = read_until(&mut stream, "", Duration::from_secs(5)).await;
    assert!(ended, "still open after the lock: {rest}");
    // Locked: the stream is not opened again, and the rows say the same.
    let r = ui.get("/inbox/events", &cookie).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/unlock");
    assert_eq!(location(&ui.get("/inbox/rows", &cookie).await), "/unlock");
}

/// An open inbox stream is not activity: the keystore still locks when idle, and the
/// stream ends then.
#[tokio::test]
async fn web_inbox_events_end_when_the_keystore_locks_itself() {
    let w = World::new().await;
    let ui = start(w.occupational, Duration::from_secs(2)).await;
    let cookie = ui.login().await;
    let mut stream = ui.get("/inbox/events", &cookie).await;
    assert_eq!(stream.status(), StatusCode::OK);
    let (seen, _) = read_until(&mut stream, "event: locked", Duration::from_secs(10)).await;
    assert!(!seen.contains("event: inbox"), "{seen}");
    let (_, ended) = read_until(&mut stream, "", Duration::from_secs(5)).await;
    assert!(ended);
    assert_eq!(location(&ui.get("/inbox/events", &cookie).await), "/unlock");
}

/// At most a few inbox streams at once; a closed one (a closed tab) gives its place back,
/// because its follow of the server ended with it.
#[tokio::test]
async fn web_inbox_events_are_bounded_and_end_with_their_tab() {
    let w = World::new().await;
    let ui = start(w.occupational, LONG).await;
    let cookie = ui.login().await;
    let mut open = Vec::new();
    for _ in 0..4 {
        let r = ui.get("/inbox/events", &cookie).await;
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    let r = ui.get("/inbox/events", &cookie).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(text(r).await.contains("Too many inboxes are open"));
    // The pages themselves still answer.
    assert_eq!(
        ui.get("/inbox/rows", &cookie).await.status(),
        StatusCode::OK
    );
    // A tab closes: its connection goes, and its place comes back.
    drop(open.pop());
    let mut again = None;
    for _ in 0..50 {
        let r = ui.get("/inbox/events", &cookie).await;
        if r.status() == StatusCode::OK {
            again = Some(r);
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed stream kept its place");
}
