//! The shared pages in headless Chromium: home, language switch, cases, one case.

use fantoccini::Locator;
use trialog_e2e::{LABEL, World};

use super::*;

#[tokio::test]
async fn web_in_chromium_home_language_cases_and_case() {
    let w = World::new().await;
    let case = w.case.clone();
    let ui = start(w.treating, LONG).await;
    let session = Browser::start().await;
    let browser = &session.client;
    let run = async {
        // The printed URL lands on the home page, signed in.
        browser.goto(&ui.url).await?;
        let here = browser.current_url().await?;
        assert_eq!(here.path(), "/");
        let who = browser
            .find(Locator::Css("p.who strong"))
            .await?
            .text()
            .await?;
        assert_eq!(who, "Dr. An Peeters");
        let h1 = browser.find(Locator::Css("h1")).await?.text().await?;
        assert_eq!(h1, "Who am I");
        // To French, on the same page.
        browser
            .find(Locator::Css(r#"button[name="lang"][value="fr"]"#))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h1[text()='Qui suis-je']"))
            .await?;
        // The cases, then the case.
        browser
            .find(Locator::Css(r#"nav a[href="/cases"]"#))
            .await?
            .click()
            .await?;
        let h1 = browser
            .wait()
            .for_element(Locator::Css("h1"))
            .await?
            .text()
            .await?;
        assert_eq!(h1, "Vos dossiers");
        browser
            .find(Locator::LinkText(LABEL))
            .await?
            .click()
            .await?;
        browser
            .wait()
            .for_element(Locator::XPath("//h2[text()='Médecins de ce dossier']"))
            .await?;
        let here = browser.current_url().await?;
        assert_eq!(here.path(), format!("/cases/{case}"));
        let page = browser.source().await?;
        assert!(page.contains(LABEL));
        assert!(page.contains("Dr. Luc Janssens") && page.contains("Dr. Marie Dubois"));
        assert!(page.contains("inscrit, clé confirmée"), "{page}");
        Ok::<(), fantoccini::error::CmdError>(())
    }
    .await;
    session.finish(run).await;
}
