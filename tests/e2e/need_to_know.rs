//! Need to know (DESIGN.md §6): the patient removes a physician, who then sees nothing of
//! the case; a physician sees only the consents they receive or send under; the case label
//! never reaches the server in clear. And one anonymous client cannot hurt anyone else:
//! challenges lock nobody out, a recipient's queue is bounded, the inbox pages.

use serde_json::json;
use trialog_client::ClientError;
use trialog_e2e::{FUNCTIONAL, LABEL, World, field, grant};
use trialog_protocol::MessageKind;
use trialog_protocol::api::ChallengeRequest;
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::label::reference;
use trialog_server::state::Settings;

#[tokio::test]
async fn a_removed_physician_sees_and_sends_nothing_and_their_unread_messages_go() {
    let mut w = World::new().await;
    let to_occ = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    grant(&mut w.patient, &w.case, &w.advising_id, FUNCTIONAL, &[]).await;
    let unread = w.treating.send(w.bilan_to(&w.occupational_id)).await;
    let unread = unread.unwrap();

    let r = w
        .patient
        .remove_member(&w.case, &w.occupational_id)
        .await
        .unwrap();
    assert_eq!(r.revoked, vec![to_occ.consent_id.clone()]);
    assert_eq!(r.purged, 1);

    // The case, its members, its consents and its audit are gone for them.
    let api = w.occupational.api().await.unwrap().clone();
    for e in [
        api.case(&w.case).await.map(|_| ()).unwrap_err(),
        api.consents(&w.case).await.map(|_| ()).unwrap_err(),
        api.audit(&w.case).await.map(|_| ()).unwrap_err(),
        api.consent(&to_occ.consent_id)
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(
            matches!(e.api_code(), Some("unknown_case" | "unknown_consent")),
            "{e:?}"
        );
    }
    assert!(api.cases().await.unwrap().is_empty());
    assert!(w.occupational.inbox().await.unwrap().is_empty());
    let e = w.occupational.read(&unread.message_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"));

    // Nor can they send or receive in it.
    let e = w
        .occupational
        .send(w.message(
            &w.treating_id,
            MessageKind::Request,
            vec![(field("remarks"), json!("Any news?"))],
        ))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("unknown_case"), "{e:?}");
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::NotAMember { .. }), "{e:?}");

    // The patient's audit says so; the patient can add them back later.
    let ev = w.patient.audit(&w.case).await.unwrap();
    assert!(ev.iter().any(|e| e.event == AuditEvent::MemberRemoved));
    assert!(ev.iter().any(|e| e.event == AuditEvent::ConsentRevoked));
    w.patient
        .add_member(&w.case, &w.occupational_id)
        .await
        .unwrap();
    assert!(api.case(&w.case).await.is_ok());
}

#[tokio::test]
async fn removal_without_revoking_the_standing_consent_is_refused() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let api = w.patient.api().await.unwrap().clone();
    let e = api
        .remove_member(
            &w.case,
            &w.occupational_id,
            &trialog_protocol::api::RemoveMemberRequest {
                revocations: Vec::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("removal_incomplete"), "{e:?}");
    // The treating physician cannot be removed, nor can a physician remove anyone.
    let e = w
        .patient
        .remove_member(&w.case, &w.treating_id)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("cannot_remove_treating"), "{e:?}");
    let e = w
        .treating
        .api()
        .await
        .unwrap()
        .remove_member(
            &w.case,
            &w.advising_id,
            &trialog_protocol::api::RemoveMemberRequest {
                revocations: Vec::new(),
            },
        )
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("not_case_patient"), "{e:?}");
}

#[tokio::test]
async fn a_physician_sees_only_consents_they_receive_or_send_under() {
    let mut w = World::new().await;
    let to_occ = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let to_adv = grant(
        &mut w.patient,
        &w.case,
        &w.advising_id,
        &["limits.fatigue", "medical.diagnosis"],
        &["medical.diagnosis"],
    )
    .await;
    // By default the consent names who sends this role its messages: the treating physician.
    assert_eq!(to_adv.senders.len(), 1);
    assert_eq!(to_adv.senders[0].account, w.treating_id);
    assert!(to_adv.text_sha256.len() == 64);

    let occ_sees: Vec<_> = w
        .occupational
        .consents(&w.case)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.consent.consent_id)
        .collect();
    assert_eq!(
        occ_sees,
        vec![to_occ.consent_id.clone()],
        "not the advising physician's"
    );
    let e = w
        .occupational
        .api()
        .await
        .unwrap()
        .consent(&to_adv.consent_id)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("unknown_consent"));
    // The treating physician sends under both and sees both; the patient sees all.
    assert_eq!(w.treating.consents(&w.case).await.unwrap().len(), 2);
    assert_eq!(w.patient.consents(&w.case).await.unwrap().len(), 2);
}

#[tokio::test]
async fn the_case_label_never_reaches_the_server_in_clear() {
    let mut w = World::new().await;
    // The tests' case is labelled by the treating physician with the patient's name.
    let case = w.treating.case(&w.case).await.unwrap();
    assert_eq!(case.label.as_deref(), Some(LABEL));
    let case = w.patient.case(&w.case).await.unwrap();
    assert_eq!(case.label.as_deref(), Some(LABEL));
    let case = w.advising.case(&w.case).await.unwrap();
    assert_eq!(case.label, None);
    assert_eq!(case.name(), reference(&w.case));
    assert!(case.view.sealed_label.is_none());

    w.app.stop().await;
    let stored = w.app.stored_bytes().await;
    assert!(stored.len() > 10_000, "the database was read");
    assert!(
        !stored.windows(12).any(|win| win == b"Vandenberghe"),
        "the database holds the label in clear"
    );
}

#[tokio::test]
async fn anonymous_challenges_cannot_lock_an_account_out() {
    let mut w = World::new().await;
    let http = reqwest::Client::builder()
        .tls_backend_preconfigured(trialog_client::tls::pinned_config(
            trialog_client::tls::parse_pin(&w.app.cert_sha256).unwrap(),
        ))
        .build()
        .unwrap();
    // Far more than any cap a stateful design would hold, from no account at all.
    for _ in 0..100 {
        let r = http
            .post(format!("{}/v1/auth/challenge", w.app.url))
            .json(&ChallengeRequest {
                account: w.occupational_id.clone(),
            })
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    // The physician still logs in (a fresh client session).
    let home =
        trialog_client::Home::new(w.app.data.path().join("clients").join("Dr. Luc Janssens"));
    let mut again = trialog_client::Client::open(home, trialog_e2e::PASSPHRASE).unwrap();
    again.inbox().await.unwrap();
    // And nothing of those challenges was written.
    let pool = w.app.sql().await;
    let used: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM used_challenges")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(used <= 8, "only real logins are remembered, {used}");
    pool.close().await;
    let _ = &mut w;
}

#[tokio::test]
async fn a_recipient_queue_is_bounded_and_the_inbox_pages() {
    let settings = Settings {
        max_pending_per_recipient: 5,
        ..Settings::default()
    };
    let mut w = World::with_app(trialog_e2e::TestApp::spawn_with(settings).await).await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let one = || vec![(field("limits.fatigue"), json!("6/10 in the afternoon"))];
    let mut sent = Vec::new();
    for _ in 0..5 {
        let out = w.message(&w.occupational_id, MessageKind::Bilan, one());
        sent.push(w.treating.send(out).await.unwrap().message_id);
    }
    let out = w.message(&w.occupational_id, MessageKind::Bilan, one());
    let e = w.treating.send(out).await.unwrap_err();
    assert_eq!(e.api_code(), Some("recipient_quota_exceeded"), "{e:?}");
    assert!(matches!(e, ClientError::Api { status: 429, .. }));

    // Pages of two: three pages, oldest first, every message once.
    let api = w.occupational.api().await.unwrap().clone();
    let mut seen = Vec::new();
    let mut after = None;
    for _ in 0..10 {
        let page = api.inbox_page(0, 2, after.as_deref()).await.unwrap();
        assert!(page.items.len() <= 2);
        seen.extend(page.items.into_iter().map(|i| i.message_id));
        match page.next {
            Some(n) => after = Some(n),
            None => break,
        }
    }
    // Oldest first; messages accepted in the same second are ordered by id.
    let (mut seen_sorted, mut sent_sorted) = (seen.clone(), sent.clone());
    seen_sorted.sort();
    sent_sorted.sort();
    assert_eq!(seen_sorted, sent_sorted);
    assert_eq!(seen.len(), 5, "every message once");
    let e = api
        .inbox_page(0, 2, Some("not-a-cursor"))
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("bad_cursor"));

    // Reading one makes room again.
    w.occupational.read(&sent[0]).await.unwrap();
    let out = w.message(&w.occupational_id, MessageKind::Bilan, one());
    w.treating.send(out).await.unwrap();
    w.app.assert_pending_counts_agree().await;
}

/// A sender sees only the versions that name them: a version that adds them, replacing one
/// that did not, still makes one history on their client (it would otherwise name a
/// predecessor they cannot see).
#[tokio::test]
async fn a_sender_added_by_a_new_version_sees_a_consistent_history() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.advising_id, FUNCTIONAL, &[]).await;
    let v1 = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let mut g = trialog_e2e::grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[]);
    g.senders = Some(vec![w.treating_id.clone(), w.advising_id.clone()]);
    let (v2, _) = w.patient.grant(g).await.unwrap();
    assert_eq!(v2.supersedes.as_ref(), Some(&v1.consent_id));

    // The advising physician sees v2 (a sender) but not v1, and still has one history.
    let seen: Vec<_> = w
        .advising
        .consents(&w.case)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.consent.consent_id)
        .collect();
    assert!(
        seen.contains(&v2.consent_id) && !seen.contains(&v1.consent_id),
        "{seen:?}"
    );
    // ...and can still read what is sent to them in the case.
    let sent = w.treating.send(w.bilan_to(&w.advising_id)).await.unwrap();
    w.advising.read(&sent.message_id).await.unwrap();

    // A third version that drops them again: they no longer see any current version.
    let mut g = trialog_e2e::grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[]);
    g.senders = Some(vec![w.treating_id.clone()]);
    w.patient.grant(g).await.unwrap();
    let chain = w.advising.chain(&w.case).await.unwrap();
    assert!(chain.current(&w.occupational_id).is_none());
}
