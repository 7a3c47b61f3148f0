//! The README's case, done through the web client only, from nothing: four people with
//! empty homes, each with their own `trialog ui`, in headless Chromium, against the real
//! server over TLS. The operator's invitations are the only thing not done in a page.
//!
//! It also counts what each person does (fields filled, buttons and links clicked) and the
//! time the pages take, printed at the end: the README quotes these figures.

use fantoccini::Locator;
use std::time::{Duration, Instant};
use trialog_client::Home;
use trialog_e2e::{TestApp, riziv};
use trialog_protocol::Role;
use trialog_protocol::onboarding::Onboarding;

use super::act::{self, Run};
use super::onboarding::{add_member, confirm_patient, open_case, set_up};
use super::*;

/// What one person did in the pages, for the figures at the end.
#[derive(Default)]
struct Tally {
    actions: usize,
    time: Duration,
}

/// Adds a person's step to their tally: the actions it took (counted by `act`) and the
/// time the pages took.
async fn timed<T>(tally: &mut Tally, step: impl std::future::Future<Output = Run<T>>) -> Run<T> {
    let (start, before) = (Instant::now(), act::actions());
    let out = step.await?;
    tally.actions += act::actions() - before;
    tally.time += start.elapsed();
    Ok(out)
}

/// The patient grants one physician (by role) the fields named, from the consent page:
/// tick, review the exact text, sign.
async fn grant(
    b: &fantoccini::Client,
    ui: &Ui,
    case: &str,
    to: &str,
    fields: &[&str],
    diagnosis: bool,
) -> Run {
    act::go(b, &ui.at(&format!("/cases/{case}/consents/new?to={to}"))).await?;
    for f in fields {
        act::click(b, &format!(r#"label[for="field-{}"]"#, f.replace('.', "-"))).await?;
    }
    if diagnosis {
        act::click(b, r#"label[for="diagnosis-full"]"#).await?;
    }
    act::click(b, r#"form.consent button[type="submit"]"#).await?;
    let text = act::text(b, "#consent-text").await?;
    assert!(
        text.contains("Dr. "),
        "the exact text names the physician: {text}"
    );
    act::click(b, "#sign").await?;
    b.wait()
        .for_element(Locator::Css("h1#signed"))
        .await
        .map(|_| ())
}

/// Opens the newest unread message in the inbox; returns the message page's text.
async fn open_newest(b: &fantoccini::Client, ui: &Ui) -> Run<String> {
    act::go(b, &ui.at("/inbox")).await?;
    // It may still be on its way: the inbox refreshes itself.
    act::click(b, "tr.mail-unread form button[type=submit]").await?;
    act::text(b, "article.message").await
}

#[tokio::test]
async fn web_readme_case_through_the_pages() {
    let app = TestApp::spawn().await;
    let dir = app.data.path().join("clients");
    let onboarding = |code: &str| {
        Onboarding::new(&app.url, &app.cert_sha256, code)
            .and_then(|o| o.with_operator_key(&app.operator_key()))
            .expect("onboarding string")
            .encode()
    };
    // The operator's part: one invitation per physician (`trialog-server invite`).
    let inv_treating = onboarding(
        &app.invite(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
            .await,
    );
    let inv_occ = onboarding(
        &app.invite(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
            .await,
    );
    let inv_adv = onboarding(
        &app.invite(Role::Advising, &riziv(345678, 9), "Dr. Marie Dubois")
            .await,
    );

    let ui = |who: &'static str| start_home(Home::new(dir.join(who)), None, LONG);
    let peeters = ui("peeters").await;
    let janssens = ui("janssens").await;
    let dubois = ui("dubois").await;
    let patient = ui("patient").await;

    let session = Browser::start().await;
    let b = &session.client;
    let (mut t_treating, mut t_occ, mut t_adv, mut t_patient) = (
        Tally::default(),
        Tally::default(),
        Tally::default(),
        Tally::default(),
    );
    let run = async {
        // 1. Each physician: the printed link, then set-up with the invitation's string
        //    (paste, passphrase twice, one button).
        //    Each reads the fingerprint shown out to the operator, who approves it
        //    (`trialog-server approve`).
        let fp = timed(&mut t_treating, set_up(b, &peeters, &inv_treating)).await?;
        app.approve(&riziv(123456, 580), &fp).await.expect("approve");
        let fp = timed(&mut t_occ, set_up(b, &janssens, &inv_occ)).await?;
        app.approve(&riziv(234567, 4), &fp).await.expect("approve");
        let fp = timed(&mut t_adv, set_up(b, &dubois, &inv_adv)).await?;
        app.approve(&riziv(345678, 9), &fp).await.expect("approve");

        // 2. Dr. Peeters opens the case; the sheet comes back (name, language, one button).
        let (case, sheet) = timed(&mut t_treating, open_case(b, &peeters, "Case 2026-017", "nl")).await?;

        // 3. The patient sets up from the sheet and reads the fingerprint out.
        let fingerprint = timed(&mut t_patient, set_up(b, &patient, &sheet)).await?;

        // 4. Dr. Peeters confirms it on the case page (open the case, type, confirm).
        timed(&mut t_treating, confirm_patient(b, &peeters, &case, &fingerprint)).await?;

        // 5. The patient adds both work-side physicians (per physician: choose, add).
        timed(&mut t_patient, add_member(b, &patient, &case, "Dr. Luc Janssens")).await?;
        timed(&mut t_patient, add_member(b, &patient, &case, "Dr. Marie Dubois")).await?;

        // 6. The patient's consents, as in the README: functional fields for both, the
        //    diagnosis for the advising physician only, the work-side answers for Dr. Peeters.
        let case_s = case.to_string();
        let functional = ["capacity.hours_per_week", "limits.fatigue", "limits.physical"];
        timed(&mut t_patient, grant(b, &patient, &case_s, "occupational", &functional, false)).await?;
        timed(&mut t_patient, grant(b, &patient, &case_s, "advising", &functional, true)).await?;
        let answers = ["job.demands", "job.adaptation_options", "reintegration.plan"];
        timed(&mut t_patient, grant(b, &patient, &case_s, "treating", &answers, false)).await?;

        // 7. Dr. Peeters writes the bilan from the case page to both, checks, previews, sends.
        timed(&mut t_treating, async {
            act::go(b, &peeters.at(&format!("/cases/{case}"))).await?;
            act::click(b, &format!(r#"a[href="/cases/{case}/compose"]"#)).await?;
            act::fill(b, "#f-capacity-hours-per-week", "12").await?;
            act::fill(b, "#f-limits-fatigue", "Vermoeidheid 6/10, vooral in de namiddag").await?;
            act::fill(b, "#f-limits-physical", "Niet tillen boven 5 kg").await?;
            act::fill(b, "#f-medical-diagnosis", "Invasief ductaal carcinoom linkerborst (C50.4)").await?;
            act::click(b, "#check").await?;
            b.wait().for_element(Locator::Id("leak-clean")).await?;
            act::click(b, "#preview").await?;
            b.wait().for_element(Locator::Id("preview-result")).await?;
            act::click(b, "#send").await?;
            let sent = act::text(b, "section.sent").await?;
            assert!(sent.contains("Sent to Dr. Luc Janssens") && sent.contains("Sent to Dr. Marie Dubois"), "{sent}");
            Ok(())
        })
        .await?;

        // 8. Each work-side physician reads exactly what was allowed.
        let occ_page = timed(&mut t_occ, open_newest(b, &janssens)).await?;
        assert!(occ_page.contains("Vermoeidheid 6/10"), "{occ_page}");
        assert!(!occ_page.contains("carcinoom"), "the occupational physician never sees the diagnosis");
        let adv_page = timed(&mut t_adv, open_newest(b, &dubois)).await?;
        assert!(adv_page.contains("carcinoom"), "shared medically with the advising physician: {adv_page}");

        // 9. Dr. Janssens answers from the message (Reply, the job demands, send), and
        //    Dr. Peeters reads the answer.
        timed(&mut t_occ, async {
            act::go(b, &janssens.at("/inbox")).await?;
            act::click(b, "tr.mail-read a").await?;
            act::click(b, r#"a[href*="/compose?kind=feedback"]"#).await?;
            act::fill(b, "#f-job-demands", "Administratief werk, 80% aan een scherm").await?;
            act::click(b, "#send").await?;
            let sent = act::text(b, "section.sent").await?;
            assert!(sent.contains("Sent to Dr. An Peeters"), "{sent}");
            Ok(())
        })
        .await?;
        let answer = timed(&mut t_treating, open_newest(b, &peeters)).await?;
        assert!(answer.contains("Administratief werk"), "{answer}");

        // 10. The patient revokes the advising physician's consent and reads the audit.
        timed(&mut t_patient, async {
            act::go(b, &patient.at(&format!("/cases/{case}/consents"))).await?;
            let revoke = "//section[contains(@class,'physician')][.//*[contains(.,'Dr. Marie Dubois')]]//a[contains(@href,'/revoke')]";
            let link = b.wait().for_element(Locator::XPath(revoke)).await?;
            let href = link.attr("href").await?.unwrap_or_default();
            act::go(b, &patient.at(&href)).await?;
            act::click(b, "#confirm-revoke").await?;
            b.wait().for_element(Locator::Css("h1#revoked")).await?;
            act::go(b, &patient.at(&format!("/cases/{case}"))).await?;
            act::click(b, &format!(r#"a[href="/cases/{case}/audit"]"#)).await?;
            let audit = act::text(b, "table.audit").await?;
            assert!(audit.contains("consent revoked") && audit.contains("Dr. Marie Dubois"), "{audit}");
            Ok(())
        })
        .await?;
        Ok(case)
    }
    .await;
    let case = session.finish(run).await;

    // The figures the README quotes: what each person did, and how long the pages took
    // (machine time: a person adds their reading and typing).
    for (who, t) in [
        ("treating", &t_treating),
        ("occupational", &t_occ),
        ("advising", &t_adv),
        ("patient", &t_patient),
    ] {
        eprintln!(
            "{who}: {} actions, {:.1} s of page time",
            t.actions,
            t.time.as_secs_f64()
        );
    }
    eprintln!("case {case} done through the pages");
}
