//! Consent over time (DESIGN.md §6): a new version destroys exactly the unread messages it
//! no longer covers and keeps the others readable; the patient sees the difference and the
//! count first; expiry destroys at the moment of expiry; revocation also destroys what was
//! fetched and not acknowledged; destroyed ciphertext is gone from the database files.

use std::time::Duration;

use serde_json::json;
use trialog_client::{ClientError, Outgoing};
use trialog_e2e::{FUNCTIONAL, World, field, grant, grant_request};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::{MalformedConsent, Refusal};
use trialog_protocol::{MessageKind, Role};
use trialog_server::state::Settings;

/// A bilan to the occupational physician carrying exactly `fields` (functional values).
fn bilan_with(w: &World, fields: &[&str]) -> Outgoing {
    let values = fields
        .iter()
        .map(|f| {
            let v = if *f == "capacity.hours_per_week" {
                json!(12)
            } else if *f == "review.next_date" {
                json!("2027-03-01")
            } else {
                json!(format!("value of {f}"))
            };
            (field(f), v)
        })
        .collect();
    w.message(&w.occupational_id, MessageKind::Bilan, values)
}

async fn events(w: &mut World) -> Vec<(AuditEvent, Option<String>)> {
    w.patient
        .audit(&w.case)
        .await
        .expect("audit")
        .into_iter()
        .map(|e| (e.event, e.detail))
        .collect()
}

#[tokio::test]
async fn a_new_version_with_the_same_fields_destroys_nothing() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(bilan_with(
            &w,
            &["limits.fatigue", "capacity.hours_per_week"],
        ))
        .await
        .unwrap();

    // The patient sees, before signing, that nothing changes and nothing is destroyed.
    let draft = w
        .patient
        .prepare_grant(grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[]))
        .await
        .unwrap();
    let changes = draft
        .changes
        .clone()
        .expect("a new version shows its changes");
    assert!(changes.fields_added.is_empty() && changes.fields_removed.is_empty());
    assert_eq!((draft.would_destroy, draft.would_keep), (0, 1));
    let r = w.patient.sign_grant(draft).await.unwrap();
    assert_eq!((r.purged, r.kept), (0, 1));

    // The unread bilan is still listed and readable under the new version.
    let inbox = w.occupational.inbox().await.unwrap();
    assert_eq!(inbox.len(), 1);
    let m = w.occupational.read(&sent.message_id).await.unwrap();
    assert_eq!(m.fields.len(), 2);
}

#[tokio::test]
async fn a_narrower_version_destroys_exactly_what_it_no_longer_covers() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let with_fatigue = w
        .treating
        .send(bilan_with(
            &w,
            &["limits.fatigue", "capacity.hours_per_week"],
        ))
        .await
        .unwrap();
    let without = w
        .treating
        .send(bilan_with(&w, &["capacity.hours_per_week"]))
        .await
        .unwrap();

    let narrower: Vec<&str> = FUNCTIONAL
        .iter()
        .copied()
        .filter(|f| *f != "limits.fatigue")
        .collect();
    let draft = w
        .patient
        .prepare_grant(grant_request(&w.case, &w.occupational_id, &narrower, &[]))
        .await
        .unwrap();
    let changes = draft.changes.clone().unwrap();
    assert_eq!(changes.fields_removed, vec![field("limits.fatigue")]);
    assert_eq!((draft.would_destroy, draft.would_keep), (1, 1));
    let r = w.patient.sign_grant(draft).await.unwrap();
    assert_eq!((r.purged, r.kept), (1, 1));

    // The inbox lists only what can still be read.
    let inbox = w.occupational.inbox().await.unwrap();
    assert_eq!(
        inbox.iter().map(|i| &i.message_id).collect::<Vec<_>>(),
        vec![&without.message_id]
    );
    let e = w
        .occupational
        .read(&with_fatigue.message_id)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"));
    let ClientError::Api { message, .. } = &e else {
        panic!("{e:?}")
    };
    assert!(message.contains("no longer covers"), "{message}");
    assert!(
        !message.contains("revoked"),
        "no revocation happened: {message}"
    );
    w.occupational.read(&without.message_id).await.unwrap();

    // The audit tells the patient what the new version did.
    let ev = events(&mut w).await;
    let superseded = ev
        .iter()
        .find(|(e, _)| *e == AuditEvent::ConsentSuperseded)
        .expect("superseded in the audit");
    let detail = superseded.1.clone().unwrap_or_default();
    assert!(
        detail.contains("1 unread messages no longer covered destroyed, 1 kept"),
        "{detail}"
    );
    assert!(ev.iter().any(|(e, d)| {
        *e == AuditEvent::EnvelopePurged
            && d.as_deref()
                .is_some_and(|d| d.contains("no_longer_covered"))
    }));

    // A message under the old version can no longer be submitted: the new one applies.
    let e = w
        .treating
        .send(bilan_with(&w, &["limits.fatigue"]))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::NothingToSend { .. }), "{e:?}");
}

#[tokio::test]
async fn a_kind_the_recipient_cannot_receive_is_refused_with_its_own_code() {
    let mut w = World::new().await;
    let mut g = grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[]);
    g.kinds = Some(vec![MessageKind::Feedback]);
    let e = w.patient.grant(g).await.unwrap_err();
    assert!(
        matches!(
            e,
            ClientError::ConsentRefused(Refusal::Malformed(MalformedConsent::KindNotReceivable {
                role: Role::Occupational,
                kind: MessageKind::Feedback
            }))
        ),
        "{e:?}"
    );
    assert_eq!(e.code().as_str(), "consent_kind_not_receivable");
}

#[tokio::test]
async fn expiry_destroys_unread_messages_at_the_moment_of_expiry() {
    let settings = Settings {
        sweep_interval: Duration::from_millis(200),
        ..Settings::default()
    };
    let mut w = World::with_app(trialog_e2e::TestApp::spawn_with(settings).await).await;
    let mut g = grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[]);
    g.until = Some(trialog_client::client::now() + 3);
    w.patient.grant(g).await.unwrap();
    let sent = w
        .treating
        .send(bilan_with(&w, &["limits.fatigue"]))
        .await
        .unwrap();

    // Nobody fetches: the server's sweep destroys it once the consent has expired.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let ev = events(&mut w).await;
        if ev.iter().any(|(e, _)| *e == AuditEvent::ConsentExpired) {
            assert!(
                ev.iter().any(|(e, d)| *e == AuditEvent::EnvelopePurged
                    && d.as_deref().is_some_and(|d| d.contains("expired"))),
                "{ev:?}"
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expiry not acted on: {ev:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(w.occupational.inbox().await.unwrap().is_empty());
    let e = w.occupational.read(&sent.message_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"));
}

#[tokio::test]
async fn revocation_destroys_what_was_fetched_but_not_acknowledged() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(bilan_with(&w, &["limits.fatigue"]))
        .await
        .unwrap();
    // Fetched by a client that then crashed before acknowledging.
    let api = w.occupational.api().await.unwrap().clone();
    api.envelope(&sent.message_id).await.unwrap();

    let r = w.patient.revoke(&consent.consent_id).await.unwrap();
    assert_eq!(
        r.purged, 1,
        "the fetched, unacknowledged copy is destroyed too"
    );
    assert_eq!(
        r.already_delivered, 1,
        "and the patient is told it was fetched"
    );
    let e = api.envelope(&sent.message_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"));
    assert!(w.occupational.inbox().await.unwrap().is_empty());
}

/// Whether `needle` is anywhere the database stores: its files and WAL on SQLite, its
/// rows on PostgreSQL (`TestApp::stored_bytes`).
async fn stored_anywhere(w: &World, needle: &[u8]) -> bool {
    let stored = w.app.stored_bytes().await;
    stored.windows(needle.len()).any(|win| win == needle)
}

/// A distinctive piece of an envelope's stored ciphertext (base64, as the server stores it).
async fn stored_ciphertext(w: &World, id: &str) -> Vec<u8> {
    let pool = w.app.sql().await;
    let fields: Vec<u8> = sqlx::query_scalar("SELECT fields FROM envelopes WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    pool.close().await;
    let text = String::from_utf8(fields).unwrap();
    let start = text.find("\"ciphertext\":\"").unwrap() + 14;
    text.as_bytes()[start + 40..start + 100].to_vec()
}

#[tokio::test]
async fn destroyed_means_gone_from_the_database_file_and_its_wal() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let acked = w
        .treating
        .send(bilan_with(&w, &["limits.fatigue"]))
        .await
        .unwrap();
    let revoked = w
        .treating
        .send(bilan_with(&w, &["limits.physical"]))
        .await
        .unwrap();
    let acked_ct = stored_ciphertext(&w, acked.message_id.as_str()).await;
    let revoked_ct = stored_ciphertext(&w, revoked.message_id.as_str()).await;
    assert!(
        stored_anywhere(&w, &acked_ct).await,
        "the probe finds stored ciphertext"
    );

    w.occupational.read(&acked.message_id).await.unwrap();
    assert!(
        !stored_anywhere(&w, &acked_ct).await,
        "after acknowledgement"
    );

    w.patient.revoke(&consent.consent_id).await.unwrap();
    assert!(!stored_anywhere(&w, &revoked_ct).await, "after revocation");
}

#[cfg(unix)]
#[tokio::test]
async fn database_files_are_owner_only_whatever_the_directory_mode() {
    use std::os::unix::fs::PermissionsExt;
    trialog_e2e::install_tls_provider();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("server");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = trialog_e2e::config(&data);
    let app = trialog_server::App::build(config).await.unwrap();
    drop(app);
    let mut seen = 0;
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            let mode = entry.metadata().unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{} is {mode:o}", entry.path().display());
            seen += 1;
        }
    }
    assert!(
        seen >= 3,
        "database, key and certificate files were checked"
    );
}
