//! DESIGN.md §2.5, identities the clients can check: the operator attests every physician's
//! key with a key the running server never holds, and every client refuses a physician key
//! without that attestation. Attacked here as a compromised server would (by writing to its
//! database), and the recovery path a real physician takes after losing every device.

use sqlx::AnyPool;
use trialog_client::{Client, ClientError};
use trialog_e2e::{FUNCTIONAL, TestApp, World, grant, riziv};
use trialog_protocol::attestation::Attestation;
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::keys::Identity;
use trialog_protocol::{AccountId, Role, Signed};
use trialog_server::OperatorError;

use crate::attacks::{count_rows, db, substitute_key};

/// The attestation stored for `account` (as the server serves it), if any.
async fn stored_attestation(pool: &AnyPool, account: &AccountId) -> Option<String> {
    sqlx::query_scalar("SELECT attestation FROM accounts WHERE id = $1")
        .bind(account.as_str())
        .fetch_one(pool)
        .await
        .expect("read attestation")
}

async fn set_attestation(pool: &AnyPool, account: &AccountId, json: Option<String>) {
    sqlx::query("UPDATE accounts SET attestation = $1 WHERE id = $2")
        .bind(json)
        .bind(account.as_str())
        .execute(pool)
        .await
        .expect("write attestation");
}

/// Asserts that `r` is the client's refusal of an unattested key (`want_missing`) or of an
/// attestation that does not verify, naming `name`.
#[track_caller]
fn refused_key<T: std::fmt::Debug>(r: Result<T, ClientError>, want_missing: bool, name: &str) {
    match (&r, want_missing) {
        (Err(ClientError::NotAttested { name: n }), true)
        | (Err(ClientError::AttestationInvalid { name: n }), false) => {
            assert_eq!(n, name);
            let e = r.expect_err("refused");
            let code = e.code().as_str();
            assert_eq!(
                code,
                if want_missing {
                    "key_not_attested"
                } else {
                    "attestation_invalid"
                }
            );
            // The sentence says what to do, in each language.
            for lang in [
                trialog_protocol::Lang::Nl,
                trialog_protocol::Lang::Fr,
                trialog_protocol::Lang::En,
            ] {
                let s = trialog_client::i18n::explain(&e, lang);
                assert!(s.contains(name) && s.len() > 80, "{s}");
            }
        }
        _ => panic!("expected the key of {name} refused (missing: {want_missing}), got {r:?}"),
    }
}

/// The server swaps the occupational physician's key (a row replaced in the database)
/// before the treating physician's client ever met it: caught before anything is
/// encrypted, whether the server keeps the real attestation, forges one with a key of its
/// own, or drops it.
#[tokio::test]
async fn a_key_swapped_at_first_contact_is_caught_before_anything_is_encrypted() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let pool = db(&w.app).await;
    let genuine = stored_attestation(&pool, &w.occupational_id)
        .await
        .expect("the World's physicians are approved");
    let server_key = Identity::generate().expect("identity");
    substitute_key(&pool, &w.occupational_id, Role::Occupational, &server_key).await;

    // 1. The genuine attestation names the genuine key.
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        false,
        "Dr. Luc Janssens",
    );
    refused_key(w.treating.case(&w.case).await, false, "Dr. Luc Janssens");

    // 2. An attestation of the swapped key, signed by a key that is not the operator's
    //    (the server's own, say): the shape is right, the signer is not.
    let forger = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let mut forged: Attestation = serde_json::from_str::<Signed<Attestation>>(&genuine)
        .expect("stored attestation")
        .parse_unverified()
        .expect("payload");
    forged.fingerprint = server_key.fingerprint();
    let forged = Signed::sign(&forged, &forger).expect("sign");
    set_attestation(
        &pool,
        &w.occupational_id,
        Some(serde_json::to_string(&forged).expect("json")),
    )
    .await;
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        false,
        "Dr. Luc Janssens",
    );

    // 3. No attestation at all.
    set_attestation(&pool, &w.occupational_id, None).await;
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        true,
        "Dr. Luc Janssens",
    );

    assert_eq!(count_rows(&pool, "envelopes").await, 0, "nothing was sent");
    // The patient's client, which met the genuine key when adding the physician, refuses
    // the swapped one too.
    refused_key(w.patient.case(&w.case).await, true, "Dr. Luc Janssens");
}

/// A valid operator attestation moved onto another account, or kept while the server
/// renames the physician in its directory: re-targeted, refused.
#[tokio::test]
async fn a_retargeted_attestation_is_refused() {
    let mut w = World::new().await;
    let pool = db(&w.app).await;
    let advising = stored_attestation(&pool, &w.advising_id)
        .await
        .expect("approved");
    let occupational = stored_attestation(&pool, &w.occupational_id)
        .await
        .expect("approved");

    // Dr. Dubois's attestation served as Dr. Janssens's.
    set_attestation(&pool, &w.occupational_id, Some(advising)).await;
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        false,
        "Dr. Luc Janssens",
    );

    // The right attestation, but the directory now names someone else: the name people
    // read in consent texts is the one the operator checked, or nothing moves.
    set_attestation(&pool, &w.occupational_id, Some(occupational)).await;
    sqlx::query("UPDATE accounts SET name = 'Dr. Luc Janssen' WHERE id = $1")
        .bind(w.occupational_id.as_str())
        .execute(&pool)
        .await
        .expect("rename");
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        false,
        "Dr. Luc Janssen",
    );
    assert_eq!(count_rows(&pool, "envelopes").await, 0, "nothing was sent");
}

/// A patient binding signed by a treating physician whose key the operator never attested
/// is refused by the patient's client: no consent can be given under it.
#[tokio::test]
async fn a_patient_binding_signed_by_an_unattested_key_is_refused() {
    let app = TestApp::spawn().await;
    let (mut treating, _) = app
        .unapproved_physician(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
        .await;
    let (_, occupational) = app
        .physician(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    let opened = treating.open_case("Case 2026-050").await.expect("open");
    let mut patient = app.client("patient").await;
    let (view, case) = patient.join(&opened.enrolment_code).await.expect("join");
    treating
        .confirm_patient(&case, &view.fingerprint.short())
        .await
        .expect("the treating physician's own client signs");

    refused_key(patient.case(&case).await, true, "Dr. An Peeters");
    refused_key(
        patient.add_member(&case, &occupational).await,
        true,
        "Dr. An Peeters",
    );
    let pool = db(&app).await;
    assert_eq!(count_rows(&pool, "consents").await, 0);

    // Once the operator attests the key, the same binding holds.
    app.approve(&riziv(123456, 580), &treating.fingerprint().short())
        .await
        .expect("approve");
    patient.case(&case).await.expect("now verified");
}

/// The operator's side: an unapproved physician is left out of the directory; `approve`
/// refuses a fingerprint that does not match, a patient, and a second approval; each
/// attestation is in the directory's audit chain.
#[tokio::test]
async fn approval_compares_the_fingerprint_read_out_and_is_audited() {
    let mut w = World::new().await;
    let number = riziv(456789, 4);
    let (eva, eva_id) = w
        .app
        .unapproved_physician(Role::Occupational, &number, "Dr. Eva Claes")
        .await;
    let listed =
        |list: &[trialog_protocol::api::AccountView]| list.iter().any(|a| a.account == eva_id);
    let dir = w.patient.directory(None, None).await.expect("directory");
    assert!(!listed(&dir) && dir.len() == 3, "{dir:?}");

    // A wrong fingerprint read out (or a key the server swapped): nothing is attested.
    let wrong = "0123 4567 89ab cdef 0123 4567 89ab cdef";
    let e = w.app.approve(&number, wrong).await.expect_err("mismatch");
    assert!(matches!(e, OperatorError::FingerprintMismatch(_)), "{e}");
    assert!(e.to_string().contains("do NOT approve"), "{e}");
    let e = w.app.approve(&number, "0123").await.expect_err("too short");
    assert!(matches!(e, OperatorError::FingerprintFormat), "{e}");
    let pool = db(&w.app).await;
    assert_eq!(stored_attestation(&pool, &eva_id).await, None);
    let e = w
        .app
        .approve_recovery(&number, &eva.fingerprint().short())
        .await
        .expect_err("not a recovery");
    assert!(matches!(e, OperatorError::NotARecovery(_)), "{e}");

    let a = w
        .app
        .approve(&number, &eva.fingerprint().short())
        .await
        .expect("approve");
    assert_eq!(
        (a.account.clone(), a.replaces.clone()),
        (eva_id.clone(), None)
    );
    let e = w
        .app
        .approve(&number, &eva.fingerprint().short())
        .await
        .expect_err("twice");
    assert!(matches!(e, OperatorError::AlreadyAttested(..)), "{e}");
    let dir = w.patient.directory(None, None).await.expect("directory");
    assert!(listed(&dir), "listed once attested");

    let patient = trialog_server::operator::AccountRef::Id(w.patient_id.clone());
    let e = trialog_server::operator::approve(
        &w.app.config,
        &patient,
        &w.patient.fingerprint().short(),
        &w.app.operator,
        false,
    )
    .await
    .expect_err("a patient");
    assert!(matches!(e, OperatorError::NotAPhysician(_)), "{e}");

    let log = w
        .occupational
        .directory_audit()
        .await
        .expect("directory log");
    let attested = log
        .iter()
        .filter(|e| e.event == AuditEvent::KeyAttested)
        .filter(|e| e.subject.as_deref() == Some(eva_id.as_str()))
        .count();
    assert_eq!(attested, 1);
}

/// A physician who lost every device: a recovery invitation registers a new key for the
/// same account, refused by every client until the operator attests it; the attestation
/// revokes the old key, and a client that knew the old key moves to the new one and says
/// so. The old key can no longer log in, and a server that rolls the old key back is
/// refused.
#[tokio::test]
async fn recovery_replaces_a_lost_key_only_on_the_operators_statement() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    w.treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("first bilan: the treating physician pins Dr. Janssens's key");
    let pool = db(&w.app).await;
    let old_row: (String, Vec<u8>, String, Option<String>) = sqlx::query_as(
        "SELECT key_record, sign_key, fingerprint, attestation FROM accounts WHERE id = $1",
    )
    .bind(w.occupational_id.as_str())
    .fetch_one(&pool)
    .await
    .expect("old key");
    let old_fp = w.occupational.fingerprint();

    // Only a registered number can be recovered.
    let number = riziv(234567, 4);
    let unknown = trialog_protocol::riziv::Riziv::parse(&riziv(999999, 4)).expect("riziv");
    let e = trialog_server::operator::invite_recovery(&w.app.config, &unknown, 14, false)
        .await
        .expect_err("nothing to recover");
    assert!(matches!(e, OperatorError::NothingToRecover(_)), "{e}");
    let issued = trialog_server::operator::invite_recovery(
        &w.app.config,
        &trialog_protocol::riziv::Riziv::parse(&number).expect("riziv"),
        14,
        false,
    )
    .await
    .expect("recovery invitation");
    assert_eq!(issued.recovers.as_ref(), Some(&w.occupational_id));

    // The new laptop registers the new key for the same account.
    let mut laptop: Client = w.app.client("janssens-new-laptop").await;
    let inv = laptop
        .lookup_invitation(&issued.code)
        .await
        .expect("lookup");
    assert_eq!(inv.recovers.as_ref(), Some(&w.occupational_id));
    let view = laptop.register(&issued.code).await.expect("register");
    assert_eq!(view.account, w.occupational_id);
    assert_ne!(view.fingerprint, old_fp);

    // Until the operator attests it, nobody writes to the new key.
    refused_key(
        w.treating.send(w.bilan_to(&w.occupational_id)).await,
        true,
        "Dr. Luc Janssens",
    );
    // The old device can no longer log in: its key is not the account's.
    assert!(w.occupational.whoami().await.is_err());

    // The operator says it is a recovery: a plain approval of a replaced key is refused
    // (the database alone, which the server writes, never makes a revocation).
    let e = w
        .app
        .approve(&number, &laptop.fingerprint().short())
        .await
        .expect_err("not said to be a recovery");
    assert!(matches!(e, OperatorError::RecoveryNotSaid(..)), "{e}");
    let a = w
        .app
        .approve_recovery(&number, &laptop.fingerprint().short())
        .await
        .expect("approve the new key");
    assert_eq!(a.replaces.as_ref(), Some(&old_fp));

    // The treating physician's client moves to the new key and says so; the consent the
    // patient signed names the old key, so the server asks for a new one.
    let case = w
        .treating
        .case(&w.case)
        .await
        .expect("accepted on the statement");
    drop(case);
    let trust = w.treating.key_trust(&w.occupational_id).expect("pins");
    let change = trust.change.expect("the change is recorded");
    assert_eq!(
        (change.from.as_str(), change.to.as_str(), change.attested_at),
        (old_fp.as_str(), view.fingerprint.as_str(), a.attested_at)
    );
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect_err("consent names the old key");
    assert!(
        format!("{e:?}").contains("KeyChanged") || e.code().as_str().contains("key"),
        "{e:?}"
    );
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("bilan to the new key");
    let read = laptop
        .read(&sent.message_id)
        .await
        .expect("the new laptop reads");
    assert!(!read.fields.is_empty());

    // A server that puts the old key and its old attestation back is refused: that
    // attestation is older and revokes nothing.
    let mut treating_again = w.treating;
    sqlx::query(
        "UPDATE accounts SET key_record = $1, sign_key = $2, fingerprint = $3, attestation = $4
         WHERE id = $5",
    )
    .bind(&old_row.0)
    .bind(&old_row.1)
    .bind(&old_row.2)
    .bind(&old_row.3)
    .bind(w.occupational_id.as_str())
    .execute(&pool)
    .await
    .expect("roll back");
    let e = treating_again
        .case(&w.case)
        .await
        .expect_err("rolled back key");
    assert!(matches!(e, ClientError::KeyChanged { .. }), "{e:?}");

    // The new laptop's token was issued to the new key: with the old one back in the
    // database, it is void too.
    assert!(laptop.directory_audit().await.is_err());

    // Every step is in the directory's audit chain.
    let log = w.advising.directory_audit().await.expect("directory log");
    for event in [AuditEvent::KeyRecovered, AuditEvent::KeyRevoked] {
        assert!(
            log.iter()
                .any(|e| e.event == event
                    && e.subject.as_deref() == Some(w.occupational_id.as_str())),
            "{event:?} missing"
        );
    }
}
