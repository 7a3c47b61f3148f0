//! Patient re-enrolment: a patient who lost their device joins again with a code the
//! treating physician re-issued, keeps the same account, and gets a new key that every
//! client accepts only with the treating physician's new binding. Consents signed with the
//! old key stay valid (verified against the key that signed them) until revoked or expired,
//! and the new key revokes them.

use sqlx::AnyPool;
use trialog_client::{Client, ClientError, Home};
use trialog_e2e::{FUNCTIONAL, PASSPHRASE, TestApp, World, grant};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::keys::Identity;
use trialog_protocol::{Code, Role, Signed};

async fn db(app: &TestApp) -> AnyPool {
    app.sql().await
}

/// The whole path: old consent delivers before and after re-enrolment, the first re-issued
/// code dies with the second, the spent code works once, the old device is locked out, the
/// new key is confirmed, revokes the old consent and grants a new one.
#[tokio::test]
async fn a_patient_who_lost_their_device_reenrols_and_keeps_their_consents() {
    let mut w = World::new().await;
    let old_fp = w.patient.fingerprint();
    let old_consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    w.occupational
        .read(&sent.message_id)
        .await
        .expect("read before");

    // The lost device holds a session token (tokens are dated to the second).
    w.patient
        .case(&w.case)
        .await
        .expect("the old device's session works");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // The device is lost. Only the treating physician issues codes; each new one kills the
    // one before.
    let e = w
        .occupational
        .reissue_enrolment(&w.case)
        .await
        .expect_err("not the treating physician");
    assert!(matches!(e, ClientError::WrongRole(_)), "{e}");
    let first = w
        .treating
        .reissue_enrolment(&w.case)
        .await
        .expect("reissue");
    let second = w
        .treating
        .reissue_enrolment(&w.case)
        .await
        .expect("reissue again");
    let mut device = w.app.client("patient-new-device").await;
    let e = device
        .join(&first.enrolment_code)
        .await
        .expect_err("the earlier code");
    assert_eq!(e.api_code(), Some("bad_enrolment_code"), "{e}");
    let (view, case) = device.join(&second.enrolment_code).await.expect("re-enrol");
    assert_eq!(view.account, w.patient_id, "the same account");
    assert_eq!(case, w.case);
    assert_ne!(view.fingerprint, old_fp, "a new key");
    let mut other = w.app.client("someone-else").await;
    let e = other
        .join(&second.enrolment_code)
        .await
        .expect_err("the code works once");
    assert_eq!(e.api_code(), Some("bad_enrolment_code"), "{e}");

    // The lost device's session token stops working, and its key no longer logs in.
    let e = w.patient.case(&w.case).await.expect_err("the old token");
    assert_eq!(e.api_code(), Some("invalid_token"), "{e}");
    let mut lost = Client::open(
        Home::new(w.app.data.path().join("clients").join("patient")),
        PASSPHRASE,
    )
    .expect("open the old home");
    assert!(lost.whoami().await.is_err(), "the replaced key logs in");

    // Unconfirmed: the new key signs nothing yet; the consent the old key signed still
    // delivers, and the recipient's client verifies it against the old key.
    let r = device
        .grant(trialog_e2e::grant_request(
            &w.case,
            &w.occupational_id,
            FUNCTIONAL,
            &[],
        ))
        .await;
    assert!(matches!(r, Err(ClientError::Invalid(_))), "{r:?}");
    let c = w.occupational.case(&w.case).await.expect("case");
    assert!(c.patient.is_none(), "the new key is unconfirmed");
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("the old consent still covers");
    w.occupational
        .read(&sent.message_id)
        .await
        .expect("verified against the old key");

    // The treating physician compares the fingerprint and confirms the new key, as the
    // first time; every client accepts the changed key with that binding.
    w.treating
        .confirm_patient(&w.case, &view.fingerprint.short())
        .await
        .expect("confirm the new key");
    for c in [
        &mut w.occupational,
        &mut w.advising,
        &mut w.treating,
        &mut device,
    ] {
        let v = c
            .case(&w.case)
            .await
            .expect("accepted with the new binding");
        assert_eq!(
            v.patient.as_ref().map(|p| p.fingerprint.clone()),
            Some(view.fingerprint.clone())
        );
        assert_eq!(v.patient_keys.confirmed.len(), 2, "old and new key");
    }
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("still covered after confirmation");
    w.occupational.read(&sent.message_id).await.expect("read");
    // The patient's new device sees the whole history and its label.
    let infos = device.consents(&w.case).await.expect("history");
    assert_eq!(infos.len(), 1);
    assert!(device.case(&w.case).await.expect("case").label.is_some());

    // The new key revokes what the old key signed; nothing more moves under it.
    device
        .revoke(&old_consent.consent_id)
        .await
        .expect("revoke with the new key");
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect_err("revoked");
    assert!(
        matches!(e.code(), Code::ConsentRevoked | Code::ConsentNotFound),
        "{e:?}"
    );
    // A new consent signed by the new key, verified by the recipient.
    grant(&mut device, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("under the new consent");
    w.occupational.read(&sent.message_id).await.expect("read");

    // The case's audit tells it, verified by the patient's new device.
    let log = device.audit(&w.case).await.expect("verified audit");
    let count = |ev| log.iter().filter(|e| e.event == ev).count();
    assert_eq!(count(AuditEvent::EnrolmentReissued), 2);
    assert_eq!(count(AuditEvent::PatientReenrolled), 1);
    assert_eq!(count(AuditEvent::PatientConfirmed), 2);
}

/// Attack: the server swaps the patient's key for one it holds, keeping the old binding
/// or dropping it as a re-enrolment would, and slips in a consent signed by its key. The
/// occupational physician's client refuses the key without the treating physician's new
/// binding, keeps its pin, and accepts nothing signed by the swapped key.
#[tokio::test]
async fn a_patient_key_swap_without_the_treating_physicians_binding_is_refused() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let before = w.occupational.case(&w.case).await.expect("case");
    let pinned = before.patient.expect("confirmed").fingerprint;
    let pool = db(&w.app).await;

    // The server's own key, for the same patient account.
    let server_key = Identity::generate().expect("identity");
    let record = server_key
        .key_record(&w.patient_id, Role::Patient, trialog_client::client::now())
        .expect("record");
    let (old_record, binding): (String, String) = sqlx::query_as(
        "SELECT a.key_record, c.binding FROM accounts a, cases c WHERE a.id = $1 AND c.id = $2",
    )
    .bind(w.patient_id.as_str())
    .bind(w.case.as_str())
    .fetch_one(&pool)
    .await
    .expect("stored");
    sqlx::query(
        "UPDATE accounts SET key_record = $1, sign_key = $2, fingerprint = $3 WHERE id = $4",
    )
    .bind(serde_json::to_string(&record).expect("json"))
    .bind(server_key.verifying_key().to_bytes().to_vec())
    .bind(server_key.fingerprint().to_string())
    .bind(w.patient_id.as_str())
    .execute(&pool)
    .await
    .expect("swap");

    // 1. The old binding kept: it does not confirm the swapped key.
    match w.occupational.case(&w.case).await {
        Err(ClientError::Verification(m)) => {
            assert!(
                m.contains("not the one the treating physician confirmed"),
                "{m}"
            )
        }
        other => panic!("accepted a swapped key: {other:?}"),
    }

    // 2. As a re-enrolment would leave it: the old key and binding in the history, no
    // binding for the new key. The client sees an unconfirmed patient and keeps its pin.
    sqlx::query("INSERT INTO patient_key_history (case_id, account, key_record, binding, replaced_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(w.case.as_str())
        .bind(w.patient_id.as_str())
        .bind(&old_record)
        .bind(&binding)
        .bind(trialog_client::client::now())
        .execute(&pool)
        .await
        .expect("history");
    sqlx::query("UPDATE cases SET binding = NULL WHERE id = $1")
        .bind(w.case.as_str())
        .execute(&pool)
        .await
        .expect("unbind");
    let v = w.occupational.case(&w.case).await.expect("case");
    assert!(
        v.patient.is_none(),
        "an unconfirmed key is not the patient's"
    );
    let pins = Home::new(w.app.data.path().join("clients").join("Dr. Luc Janssens"))
        .load_pins()
        .expect("pins");
    assert_eq!(
        pins.keys.get(w.patient_id.as_str()),
        Some(&pinned.to_string()),
        "the pin is unchanged"
    );

    // 3. A binding for the swapped key signed by anyone but the treating physician.
    let forged = trialog_protocol::binding::PatientBinding {
        case_id: w.case.clone(),
        patient: w.patient_id.clone(),
        patient_fingerprint: server_key.fingerprint(),
        treating: w.treating_id.clone(),
        confirmed_at: trialog_client::client::now(),
    };
    let forged = Signed::sign(&forged, server_key.signing_key()).expect("sign");
    sqlx::query("UPDATE cases SET binding = $1 WHERE id = $2")
        .bind(serde_json::to_string(&forged).expect("json"))
        .bind(w.case.as_str())
        .execute(&pool)
        .await
        .expect("forge");
    match w.occupational.case(&w.case).await {
        Err(ClientError::Verification(m)) => {
            assert!(
                m.contains("not signed by the case's treating physician"),
                "{m}"
            )
        }
        other => panic!("accepted a forged binding: {other:?}"),
    }
    sqlx::query("UPDATE cases SET binding = NULL WHERE id = $1")
        .bind(w.case.as_str())
        .execute(&pool)
        .await
        .expect("unbind");

    // 4. A revocation signed by the swapped key, slipped into the database: the client
    // refuses the history rather than take it.
    let revocation = trialog_protocol::consent::Revocation {
        consent_id: consent.consent_id.clone(),
        case_id: w.case.clone(),
        patient: w.patient_id.clone(),
        revoked_at: trialog_client::client::now(),
    };
    let revocation = Signed::sign(&revocation, server_key.signing_key()).expect("sign");
    sqlx::query("UPDATE consents SET revocation = $1, revoked_at = $2 WHERE id = $3")
        .bind(serde_json::to_string(&revocation).expect("json"))
        .bind(trialog_client::client::now())
        .bind(consent.consent_id.as_str())
        .execute(&pool)
        .await
        .expect("plant");
    match w.occupational.consents(&w.case).await {
        Err(ClientError::Verification(m)) => {
            assert!(m.contains("never confirmed"), "{m}")
        }
        other => panic!("accepted a revocation by an unconfirmed key: {other:?}"),
    }
}

/// The web client: the treating physician's case page offers a new sheet; posting it
/// answers with the sheet in the language chosen, and the patient joins with its string on a
/// new device, keeping their account.
#[tokio::test]
async fn the_web_case_page_prints_a_new_enrolment_sheet() {
    let World {
        app,
        treating,
        case,
        patient_id,
        ..
    } = World::new().await;
    let ui = crate::web::start(treating, crate::web::LONG).await;
    let cookie = ui.login().await;
    let page = crate::web::text(ui.get(&format!("/cases/{case}"), &cookie).await).await;
    assert!(
        page.contains("New enrolment code")
            && page.contains(&format!("action=\"/cases/{case}/enrolment\"")),
        "{page}"
    );
    let r = ui
        .post(
            &format!("/cases/{case}/enrolment"),
            &cookie,
            Some(&ui.base),
            &[("sheet_lang", "fr")],
        )
        .await;
    assert_eq!(r.status(), reqwest::StatusCode::CREATED);
    let sheet = crate::web::text(r).await;
    assert!(sheet.contains("Votre inscription à Trialog"), "{sheet}");
    let onboarding = sheet
        .split("id=\"onboarding-string\">")
        .nth(1)
        .and_then(|rest| rest.split('<').next())
        .expect("the onboarding string on the sheet");
    let o = trialog_protocol::onboarding::Onboarding::decode(onboarding).expect("decodes");
    let mut device = app.client("new-device").await;
    let (view, joined) = device.join(&o.code).await.expect("join with the new sheet");
    assert_eq!((view.account, joined), (patient_id, case));
}
