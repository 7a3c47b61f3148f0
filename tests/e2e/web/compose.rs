//! The compose page: a bilan written in headless Chromium as a treating physician would,
//! with the patient's consents applied, the leak guard, the preview and the send; then
//! what the work-side physicians really receive, read with the client library. And each
//! kind of bad input over plain HTTP.

use fantoccini::Locator;
use reqwest::StatusCode;
use std::time::Duration;
use trialog_e2e::{FUNCTIONAL, World, grant, riziv};
use trialog_protocol::Role;

use super::*;

/// The patient's consents of these tests: the functional fields to both work-side
/// physicians, the diagnosis shared medically with the advising physician only.
async fn consents(w: &mut World) {
    let (case, occ, adv) = (
        w.case.clone(),
        w.occupational_id.clone(),
        w.advising_id.clone(),
    );
    grant(&mut w.patient, &case, &occ, FUNCTIONAL, &[]).await;
    let mut with_diagnosis = FUNCTIONAL.to_vec();
    with_diagnosis.push("medical.diagnosis");
    grant(
        &mut w.patient,
        &case,
        &adv,
        &with_diagnosis,
        &["medical.diagnosis"],
    )
    .await;
}

#[tokio::test]
async fn web_compose_bilan_in_chromium_to_both_work_side_physicians() {
    let mut w = World::new().await;
    consents(&mut w).await;
    let case = w.case.clone();
    let occ = w.occupational_id.to_string();
    let ui = start(w.treating, LONG).await;
    let session = Browser::start().await;
    let b = &session.client;
    let run = async {
        b.goto(&ui.url).await?;
        // From the case, as the inbox's Reply and the case page link to it.
        b.goto(&ui.at(&format!("/cases/{case}/compose?kind=bilan")))
            .await?;
        let h1 = b.find(Locator::Css("h1")).await?.text().await?;
        assert_eq!(h1, "New message");
        // Both work-side physicians are chosen by default, named with role and RIZIV.
        for i in 0..2 {
            let cb = b.find(Locator::Id(&format!("to-{i}"))).await?;
            assert!(cb.is_selected().await?, "recipient {i} not ticked");
        }
        let recipients = b
            .find(Locator::Css("fieldset.recipients"))
            .await?
            .text()
            .await?;
        assert!(
            recipients.contains("Dr. Luc Janssens · occupational physician")
                && recipients.contains("Dr. Marie Dubois · advising physician"),
            "{recipients}"
        );
        // A field the patient allowed neither: disabled, with the reason per physician.
        let emotional = b.find(Locator::Id("f-limits-emotional")).await?;
        assert!(
            !emotional.is_enabled().await?,
            "limits.emotional is enabled"
        );
        let note = b
            .find(Locator::Id("f-limits-emotional-note"))
            .await?
            .text()
            .await?;
        assert!(
            note.contains("Will not be sent")
                && note.contains("Dr. Luc Janssens: the patient has not consented")
                && note.contains("Dr. Marie Dubois: the patient has not consented"),
            "{note}"
        );
        // The diagnosis: only where the patient shared it medically.
        let note = b
            .find(Locator::Id("f-medical-diagnosis-note"))
            .await?
            .text()
            .await?;
        assert!(
            note.contains("Goes only to Dr. Marie Dubois")
                && note.contains(
                    "Dr. Luc Janssens: medical field the patient did not share medically"
                ),
            "{note}"
        );
        // Unticking a recipient applies at once (the page's small script; the "Apply"
        // button does the same without it): the diagnosis then goes to everyone chosen.
        let luc = format!(r#"input[name="to"][value="{occ}"]"#);
        b.find(Locator::Css(&luc)).await?.click().await?;
        b.wait()
            .for_element(Locator::XPath(
                "//p[@id='f-medical-diagnosis-note'][starts-with(normalize-space(.), 'Goes to Dr. Marie Dubois.')]",
            ))
            .await?;
        b.find(Locator::Css(&luc)).await?.click().await?;
        b.wait()
            .for_element(Locator::XPath(
                "//p[@id='f-medical-diagnosis-note'][contains(., 'Goes only to Dr. Marie Dubois')]",
            ))
            .await?;
        // Fill in the bilan, with a diagnosis word in a functional field.
        let fill = |id: &'static str, text: &'static str| async move {
            let e = b.find(Locator::Id(id)).await?;
            e.clear().await?;
            e.send_keys(text).await
        };
        fill("f-capacity-hours-per-week", "12").await?;
        fill(
            "f-capacity-schedule",
            "3 days of 4 hours, not 2 of 6; a break every 2 hours",
        )
        .await?;
        fill("f-limits-fatigue", "Fatigue 6/10 since the carcinoma").await?;
        fill(
            "f-medical-diagnosis",
            "Invasive ductal carcinoma of the left breast, C50.4",
        )
        .await?;
        b.find(Locator::Id("check")).await?.click().await?;
        let finding = b
            .wait()
            .for_element(Locator::Css("#f-limits-fatigue-findings p.leak"))
            .await?
            .text()
            .await?;
        assert!(
            finding.contains(r#"Leak guard: Fatigue: "carcinoma" (comes from Diagnosis)"#),
            "{finding}"
        );
        // What was typed is still there after the check.
        let kept = b
            .find(Locator::Id("f-medical-diagnosis"))
            .await?
            .prop("value")
            .await?
            .unwrap_or_default();
        assert_eq!(kept, "Invasive ductal carcinoma of the left breast, C50.4");
        // Sending as it stands is refused, nothing sent.
        b.find(Locator::Id("send")).await?.click().await?;
        let notice = b
            .wait()
            .for_element(Locator::Id("notices"))
            .await?
            .text()
            .await?;
        assert!(notice.contains("Nothing was sent"), "{notice}");
        // Fixed, checked again: clean.
        fill("f-limits-fatigue", "Fatigue 6/10, worst in the afternoon").await?;
        b.find(Locator::Id("check")).await?.click().await?;
        b.wait().for_element(Locator::Id("leak-clean")).await?;
        // The preview, per recipient.
        b.find(Locator::Id("preview")).await?.click().await?;
        let preview = b
            .wait()
            .for_element(Locator::Id("preview-result"))
            .await?
            .text()
            .await?;
        assert!(
            preview.contains("Dr. Luc Janssens")
                && preview.contains("Dr. Marie Dubois")
                && preview.contains("Fatigue 6/10, worst in the afternoon")
                && preview.contains("Diagnosis: medical field the patient did not share medically"),
            "{preview}"
        );
        // Send to both at once.
        b.find(Locator::Id("send")).await?.click().await?;
        let sent = b
            .wait()
            .for_element(Locator::Css("section.sent"))
            .await?
            .text()
            .await?;
        assert!(
            sent.contains("Sent to Dr. Luc Janssens") && sent.contains("Sent to Dr. Marie Dubois"),
            "{sent}"
        );
        assert!(sent.starts_with("Message sent"), "{sent}");
        assert!(!sent.contains("Not sent"), "{sent}");
        b.find(Locator::LinkText("Back to the case")).await?;
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    session.finish(run).await;

    // What each work-side physician receives, read and verified by their own client.
    let expect_occ = [
        ("capacity.hours_per_week", serde_json::json!(12)),
        (
            "capacity.schedule",
            serde_json::json!("3 days of 4 hours, not 2 of 6; a break every 2 hours"),
        ),
        (
            "limits.fatigue",
            serde_json::json!("Fatigue 6/10, worst in the afternoon"),
        ),
    ];
    let mut occ = w.occupational;
    let inbox = occ.inbox().await.expect("inbox");
    assert_eq!(inbox.len(), 1, "the occupational physician got one message");
    let m = occ.read(&inbox[0].message_id).await.expect("read");
    let mut got: Vec<(String, serde_json::Value)> = m
        .fields
        .iter()
        .map(|(f, v)| (f.as_str().to_owned(), v.clone()))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0));
    let mut want: Vec<(String, serde_json::Value)> = expect_occ
        .iter()
        .map(|(f, v)| ((*f).to_owned(), v.clone()))
        .collect();
    want.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, want, "exactly the allowed fields, no diagnosis");
    let mut adv = w.advising;
    let inbox = adv.inbox().await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    let m = adv.read(&inbox[0].message_id).await.expect("read");
    assert_eq!(m.fields.len(), 4);
    assert!(
        m.fields
            .iter()
            .any(|(f, v)| f.as_str() == "medical.diagnosis"
                && v == "Invasive ductal carcinoma of the left breast, C50.4")
    );
}

#[tokio::test]
async fn web_compose_refuses_bad_input_with_a_sentence() {
    let mut w = World::new().await;
    consents(&mut w).await;
    let case = w.case.clone();
    let occ = w.occupational_id.to_string();
    let adv = w.advising_id.to_string();
    // A registered physician who is not in this case.
    let (_outsider, outsider_id) = w
        .app
        .physician(Role::Occupational, &riziv(456789, 4), "Dr. Els Outsider")
        .await;
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let own = ui.base.clone();
    let page = format!("/cases/{case}/compose");

    // The form itself, with the default recipients.
    let r = ui.get(&format!("{page}?kind=bilan"), &cookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    assert!(
        body.contains(&format!(r#"value="{occ}" checked"#)),
        "{body}"
    );
    assert!(body.contains("Workable hours per week"));
    // Recipients by role or RIZIV/INAMI number work as on the command line.
    let r = ui
        .get(&format!("{page}?kind=bilan&to=advising"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    assert!(
        body.contains(&format!(r#"value="{adv}" checked"#)),
        "{body}"
    );
    assert!(
        !body.contains(&format!(r#"value="{occ}" checked"#)),
        "{body}"
    );

    // Unknown recipient.
    let r = ui
        .get(&format!("{page}?kind=bilan&to=nobody"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(r)
            .await
            .contains("No physician of this case answers to")
    );
    // A physician outside the case.
    let r = ui
        .get(&format!("{page}?kind=bilan&to={outsider_id}"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(r)
            .await
            .contains("not an active physician of this case")
    );
    // A kind the treating physician may not send, and a kind that does not exist.
    let r = ui
        .get(&format!("{page}?kind=feedback&to={occ}"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let body = text(r).await;
    assert!(body.contains("Your role cannot send this kind"));
    assert!(
        body.contains(&format!(r#"href="{page}?kind=bilan&amp;to={occ}""#)),
        "{body}"
    );
    let r = ui.get(&format!("{page}?kind=letter"), &cookie).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("Unknown kind of message"));
    // Not a case id.
    let r = ui.get("/cases/not-a-case/compose", &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // An unknown field id.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "bilan"),
                ("to", &occ),
                ("value.limits.nope", "x"),
                ("action", "check"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(text(r).await.contains("not in Trialog's list"));
    // Switching the kind keeps what the new kind does not carry aside, unsent.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "request"),
                ("to", &occ),
                ("value.limits.physical", "No lifting above 5 kg"),
                ("action", "show"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    assert!(body.contains("Kept aside") && body.contains("No lifting above 5 kg"));
    // An unknown action; a body that is not UTF-8.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[("kind", "bilan"), ("action", "explode")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = ui
        .http
        .post(ui.at(&page))
        .header("cookie", &cookie)
        .header("origin", &own)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("kind=bilan&value.remarks=%FF%FE")
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);

    // A malformed value: refused in words, the form re-shown filled in, nothing sent.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "bilan"),
                ("to", &occ),
                ("value.capacity.hours_per_week", "twelve"),
                ("value.limits.fatigue", "Fatigue 6/10"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(r).await;
    assert!(
        body.contains("Workable hours per week: give a number between 0 and 60."),
        "{body}"
    );
    assert!(body.contains(r#"value="twelve""#) && body.contains("Fatigue 6/10"));
    // The leak guard stops a send until overridden; the values stay.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "bilan"),
                ("to", &occ),
                ("value.limits.fatigue", "Tired after chemo"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(r).await;
    assert!(body.contains("Nothing was sent") && body.contains("Tired after chemo"));
    assert!(body.contains(r#"name="override""#));
    // No recipient ticked.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "bilan"),
                ("value.limits.fatigue", "ok"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("Choose at least one recipient"));
    // A POST without this server's Origin is refused before the page (CSRF).
    let r = ui
        .post(
            &page,
            &cookie,
            None,
            &[("kind", "bilan"), ("to", &occ), ("action", "send")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    let mut occupational = w.occupational;
    assert!(
        occupational.inbox().await.expect("inbox").is_empty(),
        "nothing reached the occupational physician"
    );

    // Sent with the override: recorded in the message.
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&own),
            &[
                ("kind", "bilan"),
                ("to", &occ),
                ("value.limits.fatigue", "Tired after chemo"),
                ("override", "1"),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("Leak guard overridden"));
    let inbox = occupational.inbox().await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    let m = occupational.read(&inbox[0].message_id).await.expect("read");
    assert!(m.leak_guard_override);
}

#[tokio::test]
async fn web_compose_reply_from_the_work_side_in_french() {
    let mut w = World::new().await;
    consents(&mut w).await;
    let case = w.case.clone();
    let treating = w.treating_id.to_string();
    let ui = start(w.occupational, LONG).await;
    let cookie = format!("{}; trialog-lang=fr", ui.login().await);
    // The inbox's Reply button: the case and the sender prefilled.
    let r = ui
        .get(
            &format!("/cases/{case}/compose?kind=feedback&to={treating}"),
            &cookie,
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    assert!(body.contains("Nouveau message"), "{body}");
    assert!(
        body.contains(&format!(r#"value="{treating}" checked"#)),
        "{body}"
    );
    // Feedback and request are the work side's kinds; a bilan is not.
    assert!(body.contains(r#"value="feedback" checked"#) && body.contains(r#"value="request""#));
    assert!(!body.contains(r#"value="bilan""#));
    // The patient gave the treating physician no consent in these tests: said in words.
    assert!(
        body.contains("Le patient n'a donné aucun consentement pour"),
        "{body}"
    );
    let r = ui
        .get(&format!("/cases/{case}/compose?kind=bilan"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn web_compose_keeps_the_text_when_the_keys_lock_meanwhile() {
    let mut w = World::new().await;
    consents(&mut w).await;
    let case = w.case.clone();
    let occ = w.occupational_id.to_string();
    let ui = start(w.treating, Duration::from_millis(400)).await;
    let cookie = ui.login().await;
    let page = format!("/cases/{case}/compose");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let r = ui
        .post(
            &page,
            &cookie,
            Some(&ui.base),
            &[
                ("kind", "bilan"),
                ("to", &occ),
                (
                    "value.limits.fatigue",
                    "Fatigue 6/10, worst in the afternoon",
                ),
                ("action", "send"),
            ],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = text(r).await;
    assert!(body.contains("Nothing was sent"), "{body}");
    assert!(
        body.contains(
            r#"name="value.limits.fatigue" value="Fatigue 6/10, worst in the afternoon""#
        ),
        "{body}"
    );
    assert!(body.contains(r#"href="/unlock""#) && body.contains("Continue writing"));
    let mut occupational = w.occupational;
    assert!(occupational.inbox().await.expect("inbox").is_empty());
}
