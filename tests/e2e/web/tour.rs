//! A look at every page in each language: screenshots for people to read (and for the
//! README), not assertions. Run on demand:
//!
//! ```sh
//! TRIALOG_SCREENSHOTS=target/screenshots cargo test -p trialog-e2e --test e2e web::tour -- --ignored
//! ```
//!
//! Each page is also checked for the two things a screenshot would hide: an answer that is
//! not 200, and an English word left on a Dutch or French page (`Who am I` in the menu).

use fantoccini::Locator;
use std::path::PathBuf;
use trialog_e2e::{World, grant};

use super::act::{self, Run};
use super::*;
use trialog_client::Home;

/// Full-height screenshot of the current page, as `dir/name.png`.
async fn shoot(b: &fantoccini::Client, dir: &std::path::Path, name: &str) -> Run {
    let height = b
        .execute("return document.documentElement.scrollHeight", vec![])
        .await?
        .as_u64()
        .unwrap_or(900)
        .clamp(600, 6000);
    b.set_window_size(1280, u32::try_from(height).unwrap_or(900) + 120)
        .await?;
    let png = b.screenshot().await?;
    std::fs::write(dir.join(format!("{name}.png")), png).expect("write screenshot");
    b.set_window_size(1280, 900).await
}

/// Switches the page language with the page's own buttons.
async fn switch(b: &fantoccini::Client, lang: &str) -> Run {
    act::click(b, &format!(r#"button[name="lang"][value="{lang}"]"#)).await?;
    b.wait()
        .for_element(Locator::Css(&format!(r#"html[lang="{lang}"]"#)))
        .await
        .map(|_| ())
}

#[tokio::test]
#[ignore = "takes screenshots for people to look at; run on demand"]
async fn web_tour_screenshots() {
    let dir = PathBuf::from(
        std::env::var("TRIALOG_SCREENSHOTS").unwrap_or_else(|_| "target/screenshots".into()),
    );
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    let mut w = World::new().await;
    let case = w.case.clone();
    let fields = [
        "capacity.hours_per_week",
        "limits.fatigue",
        "limits.physical",
    ];
    grant(&mut w.patient, &case, &w.occupational_id, &fields, &[]).await;
    let with_diagnosis = [&fields[..], &["medical.diagnosis"]].concat();
    grant(
        &mut w.patient,
        &case,
        &w.advising_id,
        &with_diagnosis,
        &["medical.diagnosis"],
    )
    .await;
    // Two bilans for the occupational physician: one read (its page and print view are
    // shown), one still unread in the inbox.
    let read = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let read = read.message_id;
    w.occupational.read(&read).await.expect("read");
    w.treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let treating = start(w.treating, LONG).await;
    let patient = start(w.patient, LONG).await;
    let occupational = start(w.occupational, LONG).await;
    let session = Browser::start().await;
    let b = &session.client;
    let people: [(&str, &Ui, Vec<String>); 3] = [
        (
            "treating",
            &treating,
            vec![
                "/".into(),
                "/cases".into(),
                format!("/cases/{case}"),
                format!("/cases/{case}/compose"),
            ],
        ),
        (
            "patient",
            &patient,
            vec![
                format!("/cases/{case}"),
                format!("/cases/{case}/consents"),
                format!("/cases/{case}/consents/new?to={}", w.advising_id),
                format!("/cases/{case}/audit"),
            ],
        ),
        (
            "occupational",
            &occupational,
            vec![
                "/inbox".into(),
                format!("/messages/{read}"),
                format!("/messages/{read}/print"),
                format!("/cases/{case}"),
            ],
        ),
    ];
    let newcomer = start_home(Home::new(dir.join("newcomer-home")), None, LONG).await;
    let run = async {
        // The pages only reached by a form: the set-up page and the enrolment sheet.
        b.goto(&newcomer.url).await?;
        b.goto(&treating.url).await?;
        for lang in ["nl", "fr", "en"] {
            b.goto(&newcomer.at("/setup")).await?;
            switch(b, lang).await?;
            shoot(b, &dir, &format!("{lang}-newcomer-setup")).await?;
            super::onboarding::open_case(b, &treating, "Case 2026-052 Lambert", lang).await?;
            shoot(b, &dir, &format!("{lang}-treating-enrolment-sheet")).await?;
        }
        for (who, ui, paths) in &people {
            b.goto(&ui.url).await?;
            for lang in ["nl", "fr", "en"] {
                switch(b, lang).await?;
                for path in paths {
                    b.goto(&ui.at(path)).await?;
                    let name = path
                        .trim_start_matches('/')
                        .replace(['/', '?', '=', '&'], "-");
                    let name = if name.is_empty() {
                        "home".into()
                    } else {
                        name.replace(case.as_str(), "case")
                            .replace(&w.advising_id.to_string(), "advising")
                            .replace(&read.to_string(), "message")
                    };
                    shoot(b, &dir, &format!("{lang}-{who}-{name}")).await?;
                    if lang != "en" {
                        let page = b.source().await?;
                        assert!(
                            !page.contains(">Who am I<"),
                            "{lang} {who} {path}: English menu"
                        );
                    }
                }
            }
        }
        // The README's two pictures, in English: the compose page being filled in and
        // checked, and the patient's grant form.
        b.goto(&treating.at("/")).await?;
        switch(b, "en").await?;
        b.goto(&treating.at(&format!("/cases/{case}/compose?kind=bilan")))
            .await?;
        act::fill(b, "#f-capacity-hours-per-week", "12").await?;
        act::fill(
            b,
            "#f-limits-fatigue",
            "Fatigue 6/10, worst in the afternoon; a break every two hours",
        )
        .await?;
        act::fill(b, "#f-limits-physical", "No lifting above 5 kg").await?;
        act::fill(
            b,
            "#f-medical-diagnosis",
            "Invasive ductal carcinoma of the left breast (C50.4)",
        )
        .await?;
        act::click(b, "#check").await?;
        b.wait().for_element(Locator::Id("leak-clean")).await?;
        b.set_window_size(1280, 1500).await?;
        std::fs::write(dir.join("readme-compose.png"), b.screenshot().await?).expect("write");
        b.goto(&patient.at("/")).await?;
        b.goto(&patient.at(&format!("/cases/{case}/consents/new?to=occupational")))
            .await?;
        std::fs::write(dir.join("readme-consent.png"), b.screenshot().await?).expect("write");
        Ok(())
    }
    .await;
    session.finish(run).await;
    eprintln!("screenshots in {}", dir.display());
}
