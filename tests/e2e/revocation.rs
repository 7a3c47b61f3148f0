//! Revocation is prospective and immediate (DESIGN.md §2.6): nothing new is accepted under
//! a revoked consent, unread envelopes are destroyed, delivered ones stay delivered.

use trialog_client::{ClientError, Grant, Outgoing};
use trialog_e2e::{
    FUNCTIONAL, World, envelope_header, field, grant, grant_request, member, seal_for,
};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::{Purpose, Refusal};
use trialog_protocol::keys::open_key_record;
use trialog_protocol::{Lang, MessageKind};

/// The test bilan to the occupational physician, whose consent these tests end.
fn bilan(w: &World) -> Outgoing {
    w.bilan_to(&w.occupational_id)
}

#[tokio::test]
async fn revocation_refuses_new_envelopes_and_destroys_unread_ones() {
    let mut w = World::new().await;
    let consent = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;

    // One message read, one waiting.
    let read = w.treating.send(bilan(&w)).await.unwrap();
    w.occupational.read(&read.message_id).await.unwrap();
    let waiting = w.treating.send(bilan(&w)).await.unwrap();

    let r = w.patient.revoke(&consent.consent_id).await.unwrap();
    assert_eq!(r.purged, 1, "the unread message is destroyed");
    assert_eq!(
        r.already_delivered, 1,
        "the read one cannot be recalled, and the patient is told"
    );

    // The waiting message is gone from the server.
    let e = w.occupational.read(&waiting.message_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"), "{e:?}");
    // The one already read stays readable from the recipient's own copy.
    assert!(w.occupational.read(&read.message_id).await.is_ok());

    // The sender's client refuses first, in words.
    let e = w.treating.send(bilan(&w)).await.unwrap_err();
    assert!(
        matches!(e, ClientError::ConsentRefused(Refusal::Revoked)),
        "{e:?}"
    );
    let sentence = trialog_client::i18n::explain(&e, Lang::En);
    assert!(sentence.contains("revoked"), "{sentence}");

    // A hand-built envelope under the revoked consent is refused by the server with its own code.
    let case = w.treating.case(&w.case).await.unwrap();
    let occ = member(&case, &w.occupational_id);
    let keys = open_key_record(&occ.account.key_record).unwrap();
    let header = envelope_header(
        &w.case,
        &w.treating_id,
        &w.occupational_id,
        &keys.fingerprint,
        &consent.consent_id,
        MessageKind::Bilan,
    );
    let values = vec![(field("limits.fatigue"), serde_json::json!("6/10"))];
    let env = seal_for(&w.treating, header, &keys, &values);
    let e = w
        .treating
        .api()
        .await
        .unwrap()
        .submit_envelope(&env)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("consent_revoked"), "{e:?}");
    assert!(matches!(e, ClientError::Api { status: 403, .. }));

    // Revoking twice is refused; a new consent restores the flow.
    let e = w.patient.revoke(&consent.consent_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("already_revoked"));
    grant(
        &mut w.patient,
        &w.case,
        &w.occupational_id,
        &["limits.fatigue"],
        &[],
    )
    .await;
    assert!(w.treating.send(bilan(&w)).await.is_ok());

    let audit = w.patient.audit(&w.case).await.unwrap();
    assert!(audit.iter().any(|e| e.event == AuditEvent::ConsentRevoked));
    assert!(audit.iter().any(|e| e.event == AuditEvent::EnvelopePurged
        && e.subject.as_deref() == Some(waiting.message_id.as_str())));
    // What the quotas count followed every acceptance, acknowledgement and destruction.
    w.app.assert_pending_counts_agree().await;
}

#[tokio::test]
async fn an_expired_consent_allows_nothing() {
    let mut w = World::new().await;
    // The server refuses to record a consent that has already ended.
    let e = w
        .patient
        .grant(Grant {
            until: Some(trialog_client::client::now() - 10),
            purpose: Purpose::Reintegration,
            lang: Lang::Fr,
            ..grant_request(&w.case, &w.occupational_id, FUNCTIONAL, &[])
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::Invalid(_)) || e.api_code() == Some("consent_expired"),
        "{e:?}"
    );
    let e = w.treating.send(bilan(&w)).await.unwrap_err();
    assert!(matches!(e, ClientError::NoConsent { .. }), "{e:?}");
}

/// A new version of a consent, like expiry, acts as a revocation for what was not delivered
/// yet: the patient may have narrowed it.
#[tokio::test]
async fn a_new_version_of_a_consent_stops_undelivered_messages_under_the_old_one() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let waiting = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap();
    // The patient narrows the consent to one field.
    grant(
        &mut w.patient,
        &w.case,
        &w.occupational_id,
        &["limits.fatigue"],
        &[],
    )
    .await;
    let e = w.occupational.read(&waiting.message_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("message_gone"), "{e:?}");
    let audit = w.patient.audit(&w.case).await.unwrap();
    assert!(audit.iter().any(|e| e.event == AuditEvent::EnvelopePurged
        && e.subject.as_deref() == Some(waiting.message_id.as_str())));
    // What is sent now goes under the new version, narrowed.
    let r = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap();
    assert_eq!(r.sent, vec![trialog_e2e::field("limits.fatigue")]);
    assert_eq!(
        w.occupational
            .read(&r.message_id)
            .await
            .unwrap()
            .fields
            .len(),
        1
    );
}
