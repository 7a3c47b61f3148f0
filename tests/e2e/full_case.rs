//! The whole TRIO case through the client library: bilan to the occupational and advising
//! physicians under different consents, feedback back to the treating physician, the
//! patient's verified audit, and a database dump that holds none of the values sent.

use serde_json::json;
use trialog_client::{ClientError, Grant};
use trialog_e2e::{FUNCTIONAL, World, bilan_values, field, grant, grant_request, member};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::StripReason;
use trialog_protocol::{Lang, MessageKind};

#[tokio::test]
async fn full_case_bilan_feedback_audit_and_a_database_without_values() {
    let mut w = World::new().await;

    // The patient grants the occupational physician functional fields only, and the
    // advising physician functional fields plus the diagnosis, shared medically.
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let mut adv_fields = FUNCTIONAL.to_vec();
    adv_fields.push("medical.diagnosis");
    grant(
        &mut w.patient,
        &w.case,
        &w.advising_id,
        &adv_fields,
        &["medical.diagnosis"],
    )
    .await;
    // And the treating physician may receive the work side's feedback.
    grant(
        &mut w.patient,
        &w.case,
        &w.treating_id,
        &[
            "job.demands",
            "job.adaptation_options",
            "reintegration.plan",
            "decision.progressive_resumption",
            "remarks",
        ],
        &[],
    )
    .await;

    // The treating physician sends the same bilan, diagnosis included, to both.
    let to_occ = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap();
    assert_eq!(to_occ.sent.len(), FUNCTIONAL.len());
    assert_eq!(to_occ.stripped.len(), 1);
    assert_eq!(to_occ.stripped[0].field, field("medical.diagnosis"));
    assert_eq!(to_occ.stripped[0].reason, StripReason::MedicalNotShared);

    let to_adv = w.treating.send(w.bilan_to(&w.advising_id)).await.unwrap();
    assert!(to_adv.stripped.is_empty(), "{:?}", to_adv.stripped);
    assert!(to_adv.sent.contains(&field("medical.diagnosis")));

    // The occupational physician reads it without the diagnosis.
    let inbox = w.occupational.inbox().await.unwrap();
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message_id, to_occ.message_id);
    let read = w.occupational.read(&to_occ.message_id).await.unwrap();
    assert_eq!(read.kind, MessageKind::Bilan);
    assert_eq!(read.sender, w.treating_id);
    assert!(read.fields.iter().all(|(id, _)| !id.is_medical()));
    let expected: Vec<_> = bilan_values()
        .into_iter()
        .filter(|(id, _)| !id.is_medical())
        .collect();
    assert_eq!(read.fields, expected);
    // Read again later: from the local copy (the server deleted its ciphertext on acknowledgement).
    assert!(w.occupational.inbox().await.unwrap().is_empty());
    assert_eq!(
        w.occupational
            .read(&to_occ.message_id)
            .await
            .unwrap()
            .fields,
        expected
    );

    // The advising physician reads it with the diagnosis.
    let read = w.advising.read(&to_adv.message_id).await.unwrap();
    assert_eq!(read.fields, bilan_values());

    // The occupational physician answers with feedback under the treating physician's consent.
    let feedback = vec![
        (
            field("job.demands"),
            json!("Warehouse planner: screen work, occasional lifting of 10 kg boxes"),
        ),
        (
            field("job.adaptation_options"),
            json!("Desk-only tasks for 3 months; flexible hours"),
        ),
        (
            field("reintegration.plan"),
            json!("Adapted work at 50 % from 2027-01-04, reviewed monthly"),
        ),
        (field("limits.cognitive"), json!("not carried by feedback")),
    ];
    let fb = w
        .occupational
        .send(w.message(&w.treating_id, MessageKind::Feedback, feedback.clone()))
        .await
        .unwrap();
    assert_eq!(fb.sent.len(), 3);
    assert_eq!(fb.stripped[0].reason, StripReason::NotForKind);
    let read = w.treating.read(&fb.message_id).await.unwrap();
    assert_eq!(read.kind, MessageKind::Feedback);
    assert_eq!(read.fields, feedback[..3].to_vec());

    // The occupational physician may not send a bilan; and a request to the advising
    // physician is not theirs to send: that consent does not name them.
    let e = w
        .occupational
        .send(w.bilan_to(&w.advising_id))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::WrongRole(_)), "{e:?}");
    let e = w
        .occupational
        .send(w.message(
            &w.advising_id,
            MessageKind::Request,
            vec![(
                field("remarks"),
                json!("Could you share your decision on progressive resumption?"),
            )],
        ))
        .await
        .unwrap_err();
    // Need to know: the advising physician's consent names the treating physician as its
    // only sender, so the occupational physician does not even see it.
    assert!(matches!(e, ClientError::NoConsent { .. }), "{e:?}");

    // The patient sees and verifies every event touching their data.
    let audit = w.patient.audit(&w.case).await.unwrap();
    let count = |ev: AuditEvent| audit.iter().filter(|e| e.event == ev).count();
    assert_eq!(count(AuditEvent::CaseOpened), 1);
    assert_eq!(count(AuditEvent::PatientConfirmed), 1);
    assert_eq!(count(AuditEvent::ConsentGranted), 3);
    assert_eq!(count(AuditEvent::EnvelopeAccepted), 3);
    assert_eq!(count(AuditEvent::EnvelopeDelivered), 3);
    assert_eq!(count(AuditEvent::EnvelopeAcknowledged), 3);
    // A second look verifies that the log extends what was seen.
    assert_eq!(w.patient.audit(&w.case).await.unwrap().len(), audit.len());

    // A dump of the database files holds none of the values sent.
    w.app.stop().await;
    let dump = w.app.stored_bytes().await;
    assert!(dump.len() > 10_000, "the database was read");
    let dump = String::from_utf8_lossy(&dump);
    for (id, v) in bilan_values().into_iter().chain(feedback) {
        if let Some(text) = v.as_str() {
            for probe in [text, &text[..text.len().min(16)]] {
                assert!(
                    !dump.contains(probe),
                    "{id} found in clear in the database: {probe}"
                );
            }
        }
    }
    for word in ["carcinoma", "ductal", "C50.4", "Warehouse", "Concentration"] {
        assert!(!dump.contains(word), "{word} found in the database");
    }
}

#[tokio::test]
async fn consent_supersedes_and_medical_fields_need_sharing_medically() {
    let mut w = World::new().await;
    let first = grant(
        &mut w.patient,
        &w.case,
        &w.occupational_id,
        &["limits.fatigue"],
        &[],
    )
    .await;
    let second = grant(
        &mut w.patient,
        &w.case,
        &w.occupational_id,
        &["limits.fatigue", "limits.physical"],
        &[],
    )
    .await;
    assert_eq!(second.supersedes.as_ref(), Some(&first.consent_id));
    let list = w.patient.consents(&w.case).await.unwrap();
    let old = list
        .iter()
        .find(|c| c.consent.consent_id == first.consent_id)
        .unwrap();
    assert_eq!(old.superseded_by.as_ref(), Some(&second.consent_id));

    // The client refuses a medical field not also named to be shared medically.
    let e = w
        .patient
        .grant(Grant {
            lang: Lang::Nl,
            ..grant_request(&w.case, &w.occupational_id, &["medical.diagnosis"], &[])
        })
        .await
        .unwrap_err();
    assert!(
        matches!(e, ClientError::MedicalNotShared(f) if f == field("medical.diagnosis")),
        "{e:?}"
    );
    let sentence = trialog_client::i18n::explain(&e, Lang::Nl);
    assert!(
        sentence.contains("medisch gegeven") && sentence.contains("--share-medically"),
        "{sentence}"
    );

    // A message under the superseded consent is sent under the new one.
    let r = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .unwrap();
    assert_eq!(r.consent_id, second.consent_id);
    assert_eq!(
        r.sent,
        vec![field("limits.fatigue"), field("limits.physical")]
    );
}

#[tokio::test]
async fn a_waiting_recipient_is_woken_by_a_new_message() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let started = std::time::Instant::now();
    let out = w.bilan_to(&w.occupational_id);
    let send = async {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        w.treating.send(out).await
    };
    let (waited, sent) = tokio::join!(w.occupational.inbox_wait(30), send);
    let sent = sent.unwrap();
    let waited = waited.unwrap();
    assert_eq!(waited.len(), 1);
    assert_eq!(waited[0].message_id, sent.message_id);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "woken, not timed out"
    );
    // Nothing new: the long poll ends at its limit with an empty inbox.
    w.occupational.read(&sent.message_id).await.unwrap();
    let t = std::time::Instant::now();
    assert!(w.occupational.inbox_wait(1).await.unwrap().is_empty());
    assert!(t.elapsed() >= std::time::Duration::from_millis(900));
    let e = w.occupational.inbox_wait(61).await.unwrap_err();
    assert_eq!(e.api_code(), Some("bad_parameter"));
}

#[tokio::test]
async fn a_physician_invited_by_the_treating_physician_joins_only_when_the_patient_accepts() {
    use trialog_e2e::riziv;
    use trialog_protocol::Role;
    use trialog_protocol::api::MemberStatus;
    let mut w = World::new().await;
    let (mut gp, gp_id) = w
        .app
        .physician(Role::Occupational, &riziv(456789, 4), "Dr. Els Maes")
        .await;
    let case = w.treating.add_member(&w.case, &gp_id).await.unwrap();
    let m = member(&case, &gp_id);
    assert_eq!(m.status, MemberStatus::Invited);
    // Not yet a physician of the case: the patient cannot address a consent to them.
    let e = w
        .patient
        .grant(grant_request(&w.case, &gp_id, &["limits.fatigue"], &[]))
        .await
        .unwrap_err();
    assert!(matches!(e, ClientError::NotAMember { .. }), "{e:?}");
    // Inviting twice, or another physician adding members, is refused.
    let e = w.treating.add_member(&w.case, &gp_id).await.unwrap_err();
    assert_eq!(e.api_code(), Some("already_member"));
    let e = w
        .occupational
        .add_member(&w.case, &gp_id)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("not_case_patient"));
    // The patient accepts; now a consent can name them.
    // Invited only: the case (members, consents, who gets what) stays hidden from them.
    let e = gp.case(&w.case).await.unwrap_err();
    assert_eq!(e.api_code(), Some("unknown_case"), "{e:?}");
    let e = gp.consents(&w.case).await.unwrap_err();
    assert_eq!(e.api_code(), Some("unknown_case"), "{e:?}");
    let case = w.patient.add_member(&w.case, &gp_id).await.unwrap();
    let m = member(&case, &gp_id);
    assert_eq!(m.status, MemberStatus::Active);
    grant(&mut w.patient, &w.case, &gp_id, &["limits.fatigue"], &[]).await;
    assert!(
        gp.case(&w.case).await.is_ok(),
        "accepted: now they see the case"
    );
    // A patient cannot be added as a physician of a case.
    let e = w
        .patient
        .add_member(&w.case, &w.patient_id)
        .await
        .unwrap_err();
    assert_eq!(e.api_code(), Some("not_a_physician"));
}

/// DESIGN.md §2.5: every key registration is an entry of an audit chain any account can
/// verify, and each entry names the fingerprint the directory serves.
#[tokio::test]
async fn every_key_registration_is_in_the_verified_directory_log() {
    let mut w = World::new().await;
    let log = w.occupational.directory_audit().await.unwrap();
    let registered: Vec<_> = log
        .iter()
        .filter(|e| e.event == AuditEvent::KeyRegistered)
        .collect();
    assert_eq!(registered.len(), 3, "three physicians registered");
    let directory = w.occupational.directory(None, None).await.unwrap();
    // Each key is registered, then attested by the operator, each time by fingerprint.
    for event in [AuditEvent::KeyRegistered, AuditEvent::KeyAttested] {
        for a in &directory {
            let entry = log
                .iter()
                .find(|e| e.event == event && e.subject.as_deref() == Some(a.account.as_str()))
                .unwrap_or_else(|| panic!("{} has no {event:?} entry", a.account));
            assert!(
                entry
                    .detail
                    .as_deref()
                    .unwrap_or_default()
                    .contains(a.fingerprint.as_str())
            );
        }
    }
    // A second look must extend the first; a new registration and its attestation append.
    w.app
        .physician(
            trialog_protocol::Role::Advising,
            &trialog_e2e::riziv(567890, 9),
            "Dr. Nora Claes",
        )
        .await;
    let again = w.occupational.directory_audit().await.unwrap();
    assert_eq!(again.len(), log.len() + 2);
    // Patients' keys are not published there (they belong to their case's log).
    assert!(
        again
            .iter()
            .all(|e| e.subject.as_deref() != Some(w.patient_id.as_str()))
    );
}
