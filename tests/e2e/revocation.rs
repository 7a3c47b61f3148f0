//! Revocation is prospective and immediate (DESIGN.md §2.6): nothing new is accepted under
//! a revoked consent, unread envelopes are destroyed, delivered ones stay delivered.

use trialog_client::{ClientError, Outgoing};
use trialog_e2e::{FUNCTIONAL, World, bilan_values, grant};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::Refusal;
use trialog_protocol::envelope::{EnvelopeHeader, seal};
use trialog_protocol::keys::open_key_record;
use trialog_protocol::{FieldId, MessageId, MessageKind};

fn bilan(w: &World) -> Outgoing {
    Outgoing {
        case: w.case.clone(),
        to: w.occupational_id.clone(),
        kind: MessageKind::Bilan,
        values: bilan_values(),
        override_leak_guard: false,
    }
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
    let sentence = trialog_client::i18n::explain(&e, trialog_protocol::Lang::En);
    assert!(sentence.contains("revoked"), "{sentence}");

    // A hand-built envelope under the revoked consent is refused by the server with its own code.
    let case = w.treating.case(&w.case).await.unwrap();
    let occ = case
        .view
        .members
        .iter()
        .find(|m| m.account.account == w.occupational_id)
        .unwrap();
    let keys = open_key_record(&occ.account.key_record).unwrap();
    let header = EnvelopeHeader {
        message_id: MessageId::random().unwrap(),
        created_at: trialog_client::client::now(),
        kind: MessageKind::Bilan,
        case_id: w.case.clone(),
        sender: w.treating_id.clone(),
        recipient: w.occupational_id.clone(),
        recipient_fingerprint: keys.fingerprint.clone(),
        consent_id: consent.consent_id.clone(),
        manifest: vec![],
        leak_guard_override: false,
    };
    let values = vec![(
        FieldId::parse("limits.fatigue").unwrap(),
        serde_json::json!("6/10"),
    )];
    let env = seal(w.treating.identity(), header, &keys.recipient, &values).unwrap();
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
}

#[tokio::test]
async fn an_expired_consent_allows_nothing() {
    let mut w = World::new().await;
    let fields: Vec<FieldId> = FUNCTIONAL
        .iter()
        .map(|f| FieldId::parse(f).unwrap())
        .collect();
    // The server refuses to record a consent that has already ended.
    let e = w
        .patient
        .grant(trialog_client::Grant {
            case: w.case.clone(),
            to: w.occupational_id.clone(),
            fields,
            share_medically: vec![],
            until: Some(trialog_client::client::now() - 10),
            kinds: None,
            senders: None,
            purpose: trialog_protocol::consent::Purpose::Reintegration,
            lang: trialog_protocol::Lang::Fr,
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
