//! Getting people into a case through the web client: the treating physician opens a
//! case and shows the enrolment sheet, a patient with no keys yet sets up from its
//! onboarding string, reads out the fingerprint, is confirmed, and adds the work-side
//! physicians; each refusal on the way says why.

use reqwest::StatusCode;
use trialog_client::Home;
use trialog_e2e::{PASSPHRASE, World, riziv};
use trialog_protocol::api::MemberStatus;
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::{CaseId, Role};

use super::act::{self, Run};
use super::*;

/// A fresh client home for someone who has nothing yet.
fn empty_home(w: &World, who: &str) -> Home {
    Home::new(w.app.data.path().join("clients").join(who))
}

/// The treating physician opens a case from the list of cases, with the sheet in `sheet_lang`
/// (a language value); returns the case id and the sheet's onboarding string.
pub async fn open_case(
    b: &fantoccini::Client,
    ui: &Ui,
    label: &str,
    sheet_lang: &str,
) -> Run<(CaseId, String)> {
    act::go(b, &ui.at("/cases")).await?;
    act::fill(b, "#label", label).await?;
    act::choose(
        b,
        "sheet_lang",
        match sheet_lang {
            "nl" => "Nederlands",
            "fr" => "Français",
            _ => "English",
        },
    )
    .await?;
    act::click(b, r#"form[action="/cases"] button[type="submit"]"#).await?;
    let onboarding = act::text(b, "#onboarding-string").await?;
    let link = b
        .find(fantoccini::Locator::Css(".notice a.button"))
        .await?
        .attr("href")
        .await?
        .unwrap_or_default();
    let case =
        CaseId::parse(link.trim_start_matches("/cases/")).expect("the sheet links to the case");
    Ok((case, onboarding))
}

/// A person with no keys opens their `trialog ui`, pastes the onboarding string and
/// chooses a passphrase; returns the fingerprint the page shows.
pub async fn set_up(b: &fantoccini::Client, ui: &Ui, onboarding: &str) -> Run<String> {
    act::go(b, &ui.url).await?;
    // No keys yet: the unlock page sends the person to set-up.
    act::heading(b, "Set up Trialog on this computer").await?;
    act::fill(b, "#onboarding", onboarding).await?;
    act::fill(b, "#passphrase", PASSPHRASE).await?;
    act::fill(b, "#passphrase_again", PASSPHRASE).await?;
    act::click(b, r#"form[action="/setup"] button[type="submit"]"#).await?;
    act::heading(b, "You are signed up").await?;
    act::text(b, "p.fingerprint").await
}

/// The treating physician types the fingerprint the patient read out.
pub async fn confirm_patient(
    b: &fantoccini::Client,
    ui: &Ui,
    case: &CaseId,
    fingerprint: &str,
) -> Run {
    act::go(b, &ui.at(&format!("/cases/{case}"))).await?;
    act::fill(b, "#fingerprint", fingerprint).await?;
    act::click(b, r#"form[action$="/confirm"] button[type="submit"]"#).await?;
    act::shows(b, "The patient's key is confirmed.").await?;
    act::shows(b, "joined, key confirmed").await
}

/// The patient adds a physician of the directory to the case, by name.
pub async fn add_member(b: &fantoccini::Client, ui: &Ui, case: &CaseId, name: &str) -> Run {
    act::go(b, &ui.at(&format!("/cases/{case}"))).await?;
    act::choose(b, "member", name).await?;
    act::click(b, r#"form[action$="/members"] button[type="submit"]"#).await?;
    act::shows(b, "The physician was added.").await
}

#[tokio::test]
async fn web_treating_opens_a_case_patient_sets_up_joins_and_adds_physicians() {
    let w = World::new().await;
    let home = empty_home(&w, "web-patient");
    let treating = start(w.treating, LONG).await;
    let patient = start_home(home, None, LONG).await;
    let session = Browser::start().await;
    let b = &session.client;
    let run = async {
        act::go(b, &treating.url).await?;
        let (case, onboarding) = open_case(b, &treating, "Case 2026-031 Claes", "nl").await?;
        // The sheet is in the patient's language, with the QR code and the plain code.
        act::heading(b, "Uw inschrijving in Trialog").await?;
        let qr = b.find(fantoccini::Locator::Css("img.qr")).await?;
        assert!(
            qr.attr("src")
                .await?
                .unwrap_or_default()
                .starts_with("data:image/svg+xml;base64,")
        );
        let code = act::text(b, "#enrolment-code").await?;
        let parsed = Onboarding::decode(&onboarding).expect("the sheet's string decodes");
        assert_eq!(parsed.code, code);
        assert_eq!(parsed.server, w.app.url);
        assert_eq!(parsed.cert_sha256, w.app.cert_sha256);

        let fingerprint = set_up(b, &patient, &onboarding).await?;
        assert_eq!(
            fingerprint.split_whitespace().collect::<String>().len(),
            32,
            "{fingerprint}"
        );
        // Until confirmed, the patient's case says so.
        act::go(b, &patient.at(&format!("/cases/{case}"))).await?;
        act::shows(b, "joined, key not yet confirmed").await?;

        act::go(b, &treating.url).await.ok();
        confirm_patient(b, &treating, &case, &fingerprint).await?;

        add_member(b, &patient, &case, "Dr. Luc Janssens").await?;
        add_member(b, &patient, &case, "Dr. Marie Dubois").await?;
        Ok(case)
    }
    .await;
    let case = session.finish(run).await;

    // The server holds what the pages said, as the library verifies it.
    let mut c = w.occupational;
    let v = c.case(&case).await.expect("occupational sees the case");
    assert!(v.patient.is_some(), "the patient binding verifies");
    let statuses: Vec<_> = v
        .view
        .members
        .iter()
        .map(|m| (m.account.role, m.status))
        .collect();
    assert!(
        statuses.contains(&(Role::Occupational, MemberStatus::Active)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&(Role::Advising, MemberStatus::Active)),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn web_set_up_refuses_bad_input_and_keeps_keys_when_the_code_is_wrong() {
    let w = World::new().await;
    let ui = start_home(empty_home(&w, "fresh"), None, LONG).await;
    let cookie = ui.login().await;
    let origin = ui.base.clone();
    let post = |form: Vec<(&'static str, String)>| {
        let ui = &ui;
        let cookie = cookie.clone();
        let origin = origin.clone();
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            ui.post("/setup", &cookie, Some(&origin), &form).await
        }
    };
    // Locked with no keys: every page leads to set-up.
    let r = ui.get("/unlock", &cookie).await;
    assert_eq!(location(&r), "/setup");

    let r = post(vec![
        ("onboarding", "trialog:v1:not-base64!".into()),
        ("passphrase", PASSPHRASE.into()),
        ("passphrase_again", PASSPHRASE.into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("The text is damaged"));

    let wrong = Onboarding::new(&w.app.url, &w.app.cert_sha256, "AAAA-BBBB-CCCC-DDDD-EEEE")
        .expect("well-formed")
        .encode();
    let r = post(vec![
        ("onboarding", wrong.clone()),
        ("passphrase", "short".into()),
        ("passphrase_again", "short".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("too short"));

    let r = post(vec![
        ("onboarding", wrong.clone()),
        ("passphrase", PASSPHRASE.into()),
        ("passphrase_again", "another long passphrase".into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("The two passphrases differ"));

    let r = post(vec![
        ("server", w.app.url.clone()),
        ("passphrase", PASSPHRASE.into()),
        ("passphrase_again", PASSPHRASE.into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("fill in the three parts"));

    // A well-formed string whose code the server does not know: keys are made (the
    // server was reached and pinned), the code is refused, and the page asks again.
    let r = post(vec![
        ("onboarding", wrong),
        ("passphrase", PASSPHRASE.into()),
        ("passphrase_again", PASSPHRASE.into()),
    ])
    .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(r).await;
    assert!(
        body.contains("not (or no longer) a valid invitation or enrolment code"),
        "{body}"
    );
    let page = text(ui.get("/setup", &cookie).await).await;
    assert!(
        page.contains("Your keys already exist on this computer"),
        "{page}"
    );

    // The plain code alone now does: it is an invitation, so this is a physician.
    let code = w
        .app
        .invite(Role::Occupational, &riziv(456789, 4), "Dr. Els Maes")
        .await;
    let r = post(vec![("code", code.to_lowercase())]).await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = text(r).await;
    assert!(
        body.contains("You are registered") && body.contains("Dr. Els Maes"),
        "{body}"
    );
    // And set-up is over.
    let r = ui.get("/setup", &cookie).await;
    assert_eq!(location(&r), "/");
    // Until the operator attests the key, the cases page says so, with the fingerprint
    // to read out; once attested, it no longer does.
    let fp = {
        let page = text(ui.get("/cases", &cookie).await).await;
        assert!(page.contains("has not attested your key yet"), "{page}");
        page.split("class=\"fingerprint fp\">")
            .nth(1)
            .and_then(|rest| rest.split('<').next())
            .expect("the fingerprint on the page")
            .to_owned()
    };
    w.app
        .approve(&riziv(456789, 4), &fp)
        .await
        .expect("approve what the page shows");
    let page = text(ui.get("/cases", &cookie).await).await;
    assert!(!page.contains("has not attested your key yet"), "{page}");
}

#[tokio::test]
async fn web_case_changes_refuse_a_wrong_fingerprint_and_bad_members() {
    let mut w = World::new().await;
    let opened = w
        .treating
        .open_case("Case 2026-040 Wouters")
        .await
        .expect("open");
    let mut p = w.app.client("web-patient-2").await;
    p.join(&opened.enrolment_code).await.expect("join");
    let case = opened.case_id;
    let ui = start(w.treating, LONG).await;
    let cookie = ui.login().await;
    let origin = ui.base.clone();

    let r = ui
        .post(
            &format!("/cases/{case}/confirm"),
            &cookie,
            Some(&origin),
            &[("fingerprint", "0000 0000 0000 0000 0000 0000 0000 0000")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body = text(r).await;
    assert!(
        body.contains("Confirm the patient's key"),
        "the form is shown again"
    );
    assert!(!body.contains("joined, key confirmed"));

    let r = ui
        .post(
            &format!("/cases/{case}/members"),
            &cookie,
            Some(&origin),
            &[("member", "not-an-account")],
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("This is not a valid account."));

    // Only the patient removes, and only members.
    let stranger = w.occupational_id.clone();
    let r = ui
        .get(&format!("/cases/{case}/members/{stranger}/remove"), &cookie)
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert!(text(r).await.contains("not a member of this case"));

    let r = ui
        .post("/cases", &cookie, Some(&origin), &[("label", "   ")])
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(text(r).await.contains("Give the case a name."));
}
