//! Consents and audit in the web client: the patient changes a consent (reads the exact
//! text and what changes before signing), revokes another, and reads both in the audit;
//! and the refusals of bad input, a tampered review and a physician who tries to grant.

use fantoccini::Locator;
use reqwest::StatusCode;
use trialog_client::Client;
use trialog_e2e::{PASSPHRASE, World, field, grant};

use super::*;

/// The patient's consents: the occupational physician may see two fields and has received
/// a bilan; the advising physician one field and has an unread bilan waiting.
async fn world_with_consents() -> (
    World,
    trialog_protocol::ConsentId,
    trialog_protocol::ConsentId,
) {
    let mut w = World::new().await;
    let case = w.case.clone();
    let occ = grant(
        &mut w.patient,
        &case,
        &w.occupational_id.clone(),
        &["capacity.hours_per_week", "limits.physical"],
        &[],
    )
    .await;
    let adv = grant(
        &mut w.patient,
        &case,
        &w.advising_id.clone(),
        &["capacity.hours_per_week"],
        &[],
    )
    .await;
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("bilan to the occupational physician");
    w.occupational
        .read(&sent.message_id)
        .await
        .expect("the occupational physician reads it");
    w.treating
        .send(w.bilan_to(&w.advising_id))
        .await
        .expect("bilan to the advising physician");
    (w, occ.consent_id, adv.consent_id)
}

#[tokio::test]
async fn web_patient_changes_a_consent_revokes_another_and_reads_the_audit_in_chromium() {
    let (w, occ_consent, adv_consent) = world_with_consents().await;
    let case = w.case.clone();
    let (occ, adv) = (w.occupational_id.clone(), w.advising_id.clone());
    let home = w.patient.home().clone();
    let ui = start(w.patient, LONG).await;
    let session = Browser::start().await;
    let browser = &session.client;
    let run = async {
        browser.goto(&ui.url).await?;
        browser
            .goto(&ui.at(&format!("/cases/{case}/consents")))
            .await?;
        let page = browser.source().await?;
        // Per physician, what they may see and what they have received, in words.
        assert!(page.contains("Dr. Luc Janssens") && page.contains("Dr. Marie Dubois"));
        assert!(page.contains("Workable hours per week") && page.contains("Physical limitations"));
        assert!(
            page.contains("received on"),
            "the occupational physician read the bilan"
        );
        assert!(
            page.contains("not fetched yet"),
            "the advising physician has not"
        );

        // Change the occupational physician's consent: add fatigue.
        browser
            .find(Locator::Css(&format!(
                r#"a[href="/cases/{case}/consents/new?to={occ}"]"#
            )))
            .await?
            .click()
            .await?;
        let fatigue = browser
            .wait()
            .for_element(Locator::Css("#field-limits-fatigue"))
            .await?;
        // The current version is filled in.
        let hours = browser
            .find(Locator::Css("#field-capacity-hours_per_week"))
            .await?;
        assert!(hours.is_selected().await?);
        assert!(!fatigue.is_selected().await?);
        browser
            .find(Locator::Css(r#"label[for="field-limits-fatigue"]"#))
            .await?
            .click()
            .await?;
        assert!(fatigue.is_selected().await?);
        // No diagnosis: the default stays.
        assert!(
            browser
                .find(Locator::Css("#diagnosis-none"))
                .await?
                .is_selected()
                .await?
        );
        browser
            .find(Locator::Css(r#"form.consent button[type="submit"]"#))
            .await?
            .click()
            .await?;

        // The review: the exact text and what changes, before signing.
        let text = browser
            .wait()
            .for_element(Locator::Css("#consent-text"))
            .await?
            .text()
            .await?;
        assert!(text.starts_with("I allow"), "{text}");
        assert!(text.contains("Fatigue (limits.fatigue)"), "{text}");
        assert!(text.contains("Dr. Luc Janssens"), "{text}");
        assert!(!text.contains("MEDICALLY"), "{text}");
        let changes = browser.find(Locator::Css("#changes")).await?.text().await?;
        assert!(
            changes.contains("+ data:") && changes.contains("Fatigue"),
            "{changes}"
        );
        let destroy = browser
            .find(Locator::Css("#would-destroy"))
            .await?
            .text()
            .await?;
        assert!(destroy.contains("would destroy: 0"), "{destroy}");
        browser.find(Locator::Css("#sign")).await?.click().await?;
        let h1 = browser
            .wait()
            .for_element(Locator::Css("h1#signed"))
            .await?
            .text()
            .await?;
        assert_eq!(h1, "Consent signed");

        // Revoke the advising physician's consent, after reading what it does.
        browser
            .goto(&ui.at(&format!("/cases/{case}/consents")))
            .await?;
        browser
            .find(Locator::Css(&format!(
                r#"a[href="/cases/{case}/consents/{adv_consent}/revoke"]"#
            )))
            .await?
            .click()
            .await?;
        let page = browser
            .wait()
            .for_element(Locator::Css("#confirm-revoke"))
            .await?;
        let source = browser.source().await?;
        assert!(source.contains("Dr. Marie Dubois"));
        assert!(source.contains("What was already delivered cannot be recalled"));
        page.click().await?;
        let h1 = browser
            .wait()
            .for_element(Locator::Css("h1#revoked"))
            .await?
            .text()
            .await?;
        assert_eq!(h1, "Consent revoked");
        let purged = browser.find(Locator::Css("#purged")).await?.text().await?;
        assert_eq!(
            purged, "1",
            "the unread bilan to the advising physician is destroyed"
        );

        // The overview says so.
        browser
            .goto(&ui.at(&format!("/cases/{case}/consents")))
            .await?;
        // Waited for rather than read at once: under load the page may still be loading.
        browser
            .wait()
            .for_element(Locator::XPath(
                "//*[contains(text(), 'No consent: this physician receives nothing')]",
            ))
            .await?;
        let page = browser.source().await?;
        assert!(page.contains("Fatigue"));
        assert!(page.contains("destroyed unread on"));
        // The earlier versions stay readable: what each physician was allowed before.
        assert!(page.contains("Earlier consents (1)"), "{page}");
        assert!(page.contains("replaced by a newer version") && page.contains("revoked on"));

        // Both in the audit, in words, with names.
        browser
            .find(Locator::Css(&format!(r#"a[href="/cases/{case}/audit"]"#)))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::Css("table.audit"))
            .await?;
        let rows = browser
            .find_all(Locator::Css("table.audit tbody tr"))
            .await?;
        let mut lines = Vec::new();
        for r in rows {
            lines.push(r.text().await?);
        }
        let first = &lines[0];
        assert!(
            first.contains("consent revoked") && first.contains("Dr. Marie Dubois"),
            "newest first: {lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("consent superseded") && l.contains("Dr. Luc Janssens")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("consent granted") && l.contains("Fatigue")),
            "{lines:#?}"
        );
        assert!(
            lines
                .iter()
                .any(|l| l.contains("message delivered") && l.contains("Dr. Luc Janssens")),
            "{lines:#?}"
        );
        assert!(
            !lines.iter().any(|l| l.contains(occ.as_str())),
            "names, not ids"
        );
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    session.finish(run).await;
    drop(ui);

    // What the server now holds, read with the real library.
    let mut patient = Client::open(home, PASSPHRASE).expect("open the patient's keystore");
    let chain = patient.chain(&case).await.expect("chain");
    let now = trialog_protocol::time::now();
    let current = chain.current(&occ).expect("a current consent");
    assert_eq!(current.consent.supersedes.as_ref(), Some(&occ_consent));
    assert!(current.consent.fields.contains(&field("limits.fatigue")));
    assert!(current.consent.fields.contains(&field("limits.physical")));
    assert!(current.revoked_at.is_none());
    let revoked = chain.get(&adv_consent).expect("the advising consent");
    assert!(revoked.revoked_at.is_some_and(|t| t <= now + 5));
    assert!(chain.current(&adv).is_none_or(|v| v.revoked_at.is_some()));
}

/// The value of a hidden input in a page.
fn hidden(page: &str, name: &str) -> String {
    let key = format!(r#"name="{name}" value=""#);
    let at = page
        .find(&key)
        .unwrap_or_else(|| panic!("{name} in {page}"));
    let rest = &page[at + key.len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

#[tokio::test]
async fn web_consent_forms_refuse_bad_input_a_tampered_review_and_a_physician() {
    let (w, occ_consent, _) = world_with_consents().await;
    let case = w.case.clone();
    let occ = w.occupational_id.clone();
    // A physician registered on the server, but not in this case.
    let (_, outsider) = w
        .app
        .physician(
            trialog_protocol::Role::Occupational,
            &trialog_e2e::riziv(456789, 4),
            "Dr. Els Maes",
        )
        .await;
    let home = w.patient.home().clone();

    // A physician cannot grant: not the form, not the review, not the signature.
    let doc = start(w.treating, LONG).await;
    let dcookie = doc.login().await;
    let r = doc
        .get(&format!("/cases/{case}/consents/new?to={occ}"), &dcookie)
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(text(r).await.contains("Only the patient can grant"));
    let r = doc
        .post(
            &format!("/cases/{case}/consents/review"),
            &dcookie,
            Some(&doc.base),
            &[("to", occ.as_str()), ("field", "limits.fatigue")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = doc
        .post(
            &format!("/cases/{case}/consents/{occ_consent}/revoke"),
            &dcookie,
            Some(&doc.base),
            &[],
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The physician sees the consents that concern them, without buttons.
    let r = doc.get(&format!("/cases/{case}/consents"), &dcookie).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = text(r).await;
    assert!(page.contains("Workable hours per week"), "{page}");
    assert!(!page.contains("/revoke"), "{page}");
    let r = doc.get(&format!("/cases/{case}/audit"), &dcookie).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    drop(doc);

    let ui = start(w.patient, LONG).await;
    let cookie = ui.login().await;
    let review = format!("/cases/{case}/consents/review");
    let post = |form: Vec<(&'static str, String)>| {
        let ui = &ui;
        let cookie = &cookie;
        let review = &review;
        async move {
            let pairs: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ui.post(review, cookie, Some(&ui.base), &pairs).await
        }
    };

    // Someone outside the case.
    let r = ui
        .get(
            &format!("/cases/{case}/consents/new?to={outsider}"),
            &cookie,
        )
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(r)
            .await
            .contains("not an active physician of this case")
    );
    let r = post(vec![
        ("to", outsider.to_string()),
        ("field", "limits.fatigue".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(
        text(r)
            .await
            .contains("not an active physician of this case")
    );

    // An unknown field, a medical field outside the medical part, a bad date, no one.
    for (form, says) in [
        (
            vec![
                ("to", occ.to_string()),
                ("field", "capacity.nonsense".into()),
            ],
            "Unknown item: capacity.nonsense",
        ),
        (
            vec![
                ("to", occ.to_string()),
                ("field", "medical.diagnosis".into()),
            ],
            "Unknown item: medical.diagnosis",
        ),
        (
            vec![("to", occ.to_string()), ("diagnosis", "everything".into())],
            "Unknown choice for the diagnosis",
        ),
        (
            vec![("to", occ.to_string()), ("until", "next year".into())],
            "Give the end date as a date",
        ),
        (
            vec![("field", "limits.fatigue".into())],
            "No physician was chosen",
        ),
    ] {
        let r = post(form).await;
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        let page = text(r).await;
        assert!(page.contains(says), "{says} not in {page}");
    }
    let r = ui
        .get(&format!("/cases/{case}/consents/new"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = ui.get("/cases/not-a-case/consents", &cookie).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = ui
        .get(
            &format!("/cases/{case}/consents/consent-nope/revoke"),
            &cookie,
        )
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);

    // A review, then its hidden inputs changed: nothing is signed.
    let r = post(vec![
        ("to", occ.to_string()),
        ("field", "capacity.hours_per_week".into()),
        ("field", "limits.fatigue".into()),
        ("diagnosis", "category".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = text(r).await;
    assert!(
        page.contains("Category of the diagnosis") || page.contains("[shared MEDICALLY]"),
        "{page}"
    );
    let draft = hidden(&page, "draft");
    let shown = hidden(&page, "shown");
    let sign = format!("/cases/{case}/consents/sign");
    let other_hash = "0".repeat(64);
    let r = ui
        .post(
            &sign,
            &cookie,
            Some(&ui.base),
            &[("draft", &draft), ("shown", &other_hash)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::CONFLICT,
        "a text other than the one shown"
    );
    let again = text(r).await;
    assert!(again.contains("differs from the text you saw"), "{again}");
    assert!(
        again.contains(r#"id="consent-text""#),
        "the review is shown again"
    );
    let r = ui
        .post(
            &sign,
            &cookie,
            Some(&ui.base),
            &[("draft", "f00d"), ("shown", &shown)],
        )
        .await;
    assert_eq!(
        r.status(),
        StatusCode::GONE,
        "a draft this process never made"
    );
    let mut patient = Client::open(home.clone(), PASSPHRASE).expect("open");
    let chain = patient.chain(&case).await.expect("chain");
    assert_eq!(
        chain.current(&occ).map(|v| v.consent.consent_id.clone()),
        Some(occ_consent.clone()),
        "nothing was signed"
    );

    // The review as shown is signed, once.
    let r = ui
        .post(
            &sign,
            &cookie,
            Some(&ui.base),
            &[("draft", &draft), ("shown", &shown)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(text(r).await.contains("Consent signed"));
    let r = ui
        .post(
            &sign,
            &cookie,
            Some(&ui.base),
            &[("draft", &draft), ("shown", &shown)],
        )
        .await;
    assert_eq!(r.status(), StatusCode::GONE, "a draft is signed once");
    let chain = patient.chain(&case).await.expect("chain");
    let current = chain.current(&occ).expect("current");
    assert_eq!(current.consent.supersedes.as_ref(), Some(&occ_consent));
    assert_eq!(current.consent.text_sha256, shown);
    assert!(
        current
            .consent
            .share_medically
            .contains(&field("medical.diagnosis_category"))
    );
    assert!(!current.consent.fields.contains(&field("medical.diagnosis")));

    // Every word in Dutch and French too.
    for (lang, word) in [("nl", "Toestemmingen"), ("fr", "Consentements")] {
        let c = format!("{cookie}; trialog-lang={lang}");
        let page = text(ui.get(&format!("/cases/{case}/consents"), &c).await).await;
        assert!(page.contains(word), "{page}");
        let page = text(ui.get(&format!("/cases/{case}/audit"), &c).await).await;
        assert!(page.contains(&format!(r#"<html lang="{lang}">"#)), "{page}");
    }
}
