//! Every rule of DESIGN.md §2 ("Threat model"), attacked and refused: a hostile client, a
//! hostile server (playing it by writing to its database directly) and a hostile network.
//! Each test asserts the exact refusal (status and code, or the client's error variant).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer;
use serde_json::{Value, json};
use sqlx::AnyPool;
use trialog_client::api::Api;
use trialog_client::client::now;
use trialog_client::{Client, ClientError, Home, Outgoing};
use trialog_e2e::{
    FUNCTIONAL, PASSPHRASE, TestApp, World, bilan_values, envelope_header, field, field_ids, grant,
    grant_request, riziv, seal_for,
};
use trialog_protocol::api::{
    AccountView, LoginRequest, OpenCaseRequest, RevokeRequest, SubmitConsentRequest,
};
use trialog_protocol::audit::{AuditEntry, chain_hash};
use trialog_protocol::auth::login_message;
use trialog_protocol::consent::{Consent, Party, Purpose, Revocation, consent_text};
use trialog_protocol::encoding::{B64, sha256_hex};
use trialog_protocol::envelope::{Envelope, EnvelopeHeader};
use trialog_protocol::keys::{Identity, VerifiedKeys};
use trialog_protocol::leak_guard::LeakSource;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Lang, MessageId, MessageKind, Role, Signed,
};
use trialog_server::state::Settings;

// ---------------------------------------------------------------- helpers

/// Asserts a refusal by the server with exactly this status and code; returns its message.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, ClientError>, status: u16, code: &str) -> String {
    match r {
        Err(ClientError::Api {
            status: s,
            code: c,
            message,
            ..
        }) => {
            assert_eq!(
                (s, c.as_str()),
                (status, code),
                "refused with another answer: {message}"
            );
            assert!(
                !message.trim().is_empty(),
                "{code} comes with an empty message"
            );
            message
        }
        other => panic!("expected the server to refuse with {status} {code}, got {other:?}"),
    }
}

/// Submits a hand-built envelope and asserts the server refuses it with exactly this status
/// and code; returns the message.
async fn envelope_refused(api: &Api, env: &Envelope, status: u16, code: &str) -> String {
    refused(api.submit_envelope(env).await, status, code)
}

/// Submits a hand-signed consent and asserts the server refuses it with exactly this status
/// and code.
async fn consent_refused(api: &Api, consent: Signed<Consent>, status: u16, code: &str) {
    let r = api.submit_consent(&SubmitConsentRequest { consent }).await;
    refused(r, status, code);
}

/// The client's own connection, logged in, to send what the client itself never would.
async fn api_of(client: &mut Client) -> Api {
    client.api().await.expect("login").clone()
}

/// The server's database, opened beside the running server: this is
/// how the tests play a compromised server.
pub(crate) async fn db(app: &TestApp) -> AnyPool {
    app.sql().await
}

/// How many rows a table of the server's database holds.
pub(crate) async fn count_rows(pool: &AnyPool, table: &'static str) -> i64 {
    // Safe to splice: the table name is a literal of these tests, never input.
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}

/// A session for `account` logged in by hand with `key` (a server playing that account
/// with a key it swapped in).
async fn login_with(app: &TestApp, account: &AccountId, key: &Identity) -> Api {
    let mut raw = unauthenticated(app);
    raw.set_token(token_for(app, account, key).await);
    raw
}

/// A connection to `app` with no session.
fn unauthenticated(app: &TestApp) -> Api {
    let pin = trialog_client::tls::parse_pin(&app.cert_sha256).expect("pin");
    Api::new(&app.url, pin).expect("api")
}

/// A session token for `account`, logged in by hand with `key`.
async fn token_for(app: &TestApp, account: &AccountId, key: &Identity) -> String {
    let raw = unauthenticated(app);
    let ch = raw.challenge(account).await.expect("challenge");
    let sig = key.signing_key().sign(&login_message(account, &ch.nonce.0));
    raw.login(&LoginRequest {
        account: account.clone(),
        nonce: ch.nonce,
        sig: B64(sig.to_bytes().to_vec()),
    })
    .await
    .expect("login")
    .token
}

/// A second case the treating physician opens and a second patient joins with the
/// enrolment code, not yet confirmed: that patient's client, account and the case.
async fn second_case(w: &mut World, label: &str) -> (Client, AccountView, CaseId) {
    let opened = w.treating.open_case(label).await.expect("open second case");
    let mut p2 = w.app.client("patient-2").await;
    let (view2, case2) = p2.join(&opened.enrolment_code).await.expect("join");
    (p2, view2, case2)
}

/// The verified keys of a physician of the case, as `client` sees them.
async fn keys_of(client: &mut Client, case: &CaseId, who: &AccountId) -> VerifiedKeys {
    let vc = client.case(case).await.expect("case verifies");
    vc.physician(who).expect("a physician of the case").1
}

/// The patient consents to `fields` for the occupational physician: the consent, and that
/// physician's keys as the treating physician verified them.
async fn occupational_consent(w: &mut World, fields: &[&str]) -> (Consent, VerifiedKeys) {
    let c = grant(&mut w.patient, &w.case, &w.occupational_id, fields, &[]).await;
    let occ = keys_of(&mut w.treating, &w.case, &w.occupational_id).await;
    (c, occ)
}

/// A bilan header from the treating physician to `to` (whose keys are `to_keys`) in the
/// world's case under `consent`, created now.
fn bilan_header(
    w: &World,
    to: &AccountId,
    to_keys: &VerifiedKeys,
    consent: &ConsentId,
) -> EnvelopeHeader {
    envelope_header(
        &w.case,
        &w.treating_id,
        to,
        &to_keys.fingerprint,
        consent,
        MessageKind::Bilan,
    )
}

/// The bilan values of the named fields.
fn values(fields: &[&str]) -> Vec<(FieldId, Value)> {
    let vals: Vec<(FieldId, Value)> = bilan_values()
        .into_iter()
        .filter(|(id, _)| fields.contains(&id.as_str()))
        .collect();
    assert_eq!(vals.len(), fields.len(), "every field has a test value");
    vals
}

/// A bilan in the world's case to `to`, carrying the test values of the named fields.
fn bilan_of(w: &World, to: &AccountId, fields: &[&str]) -> Outgoing {
    w.message(to, MessageKind::Bilan, values(fields))
}

/// FUNCTIONAL without the given fields.
fn functional_without(drop: &[&str]) -> Vec<&'static str> {
    FUNCTIONAL
        .iter()
        .copied()
        .filter(|x| !drop.contains(x))
        .collect()
}

/// A well-formed consent (text hash included), not yet signed, in `patient`'s name in `case`:
/// FUNCTIONAL for the occupational physician, whose keys are `occ`.
fn functional_consent(
    w: &World,
    case: &CaseId,
    patient: &AccountId,
    occ: &VerifiedKeys,
) -> Consent {
    let t = now();
    let mut c = Consent {
        consent_id: ConsentId::random().expect("randomness"),
        supersedes: None,
        case_id: case.clone(),
        patient: patient.clone(),
        recipient: w.occupational_id.clone(),
        recipient_fingerprint: occ.fingerprint.clone(),
        recipient_name: "Dr. Luc Janssens".into(),
        recipient_role: Role::Occupational,
        senders: vec![Party {
            account: w.treating_id.clone(),
            name: "Dr. An Peeters".into(),
            role: Role::Treating,
        }],
        kinds: vec![MessageKind::Bilan, MessageKind::Request],
        fields: field_ids(FUNCTIONAL),
        share_medically: Vec::new(),
        purpose: Purpose::ReturnToWork,
        valid_from: t - 60,
        valid_until: t + 30 * 24 * 3600,
        lang: Lang::En,
        text_sha256: String::new(),
    };
    c.text_sha256 = sha256_hex(&[consent_text(&c).as_bytes()]);
    c.check_well_formed().expect("well-formed consent");
    c
}

/// Replaces an account's published keys in the database by those of `fresh` (a server
/// swapping in a key it holds): a valid, self-signed key record for the same account.
pub(crate) async fn substitute_key(
    pool: &AnyPool,
    account: &AccountId,
    role: Role,
    fresh: &Identity,
) {
    let record = fresh.key_record(account, role, now()).expect("key record");
    let n = sqlx::query(
        "UPDATE accounts SET key_record = $1, sign_key = $2, fingerprint = $3 WHERE id = $4",
    )
    .bind(serde_json::to_string(&record).expect("json"))
    .bind(fresh.verifying_key().to_bytes().to_vec())
    .bind(fresh.fingerprint().to_string())
    .bind(account.as_str())
    .execute(pool)
    .await
    .expect("update accounts")
    .rows_affected();
    assert_eq!(n, 1);
}

/// A raw HTTP client that trusts only this server's certificate.
fn http(app: &TestApp) -> reqwest::Client {
    let pin = trialog_client::tls::parse_pin(&app.cert_sha256).expect("pin");
    reqwest::Client::builder()
        .tls_backend_preconfigured(trialog_client::tls::pinned_config(pin))
        .build()
        .expect("http client")
}

/// GET /v1/accounts/me with this `Authorization` header (or none): status, code, message.
async fn me_with(app: &TestApp, authorization: Option<&str>) -> (u16, String, String) {
    let mut req = http(app).get(format!("{}/v1/accounts/me", app.url));
    if let Some(a) = authorization {
        req = req.header("Authorization", a);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let body: Value = resp.json().await.expect("error body is JSON");
    let code = body["code"].as_str().expect("code").to_owned();
    let message = body["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    (status, code, message)
}

/// A JWT with these header and claims, signed by `key` (not the server's).
fn jwt(key: &ed25519_dalek::SigningKey, header: &Value, claims: &Value) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = key.sign(signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

// ------------------------------------------- §2.2 consent only under a confirmed key

/// §2.2: a consent signed by a key the treating physician never confirmed is refused.
#[tokio::test]
async fn consent_by_an_unconfirmed_patient_key_is_refused() {
    let mut w = World::new().await;
    // (a) A second case whose patient joined with the enrolment code but was never confirmed.
    let (mut p2, view2, case2) = second_case(&mut w, "Case 2026-018").await;
    p2.add_member(&case2, &w.occupational_id)
        .await
        .expect("add occupational");
    let occ = keys_of(&mut p2, &case2, &w.occupational_id).await;

    // The honest client refuses locally...
    let local = p2
        .grant(grant_request(&case2, &w.occupational_id, FUNCTIONAL, &[]))
        .await;
    assert!(matches!(local, Err(ClientError::Invalid(_))), "{local:?}");
    // ...and the server refuses the same consent, hand-signed and posted.
    let c = functional_consent(&w, &case2, &view2.account, &occ);
    let signed = Signed::sign(&c, p2.identity().signing_key()).expect("sign");
    let api = api_of(&mut p2).await;
    consent_refused(&api, signed, 403, "patient_not_confirmed").await;
    assert!(
        api.consents(&case2).await.expect("list").is_empty(),
        "nothing was recorded"
    );

    // (b) The confirmed patient's account posts a consent signed by a key nobody confirmed.
    let occ = keys_of(&mut w.patient, &w.case, &w.occupational_id).await;
    let c = functional_consent(&w, &w.case, &w.patient_id, &occ);
    let other = Identity::generate().expect("identity");
    let signed = Signed::sign(&c, other.signing_key()).expect("sign");
    let api = api_of(&mut w.patient).await;
    consent_refused(&api, signed.clone(), 403, "consent_bad_signature").await;
    // The same, claiming the confirmed key's id: the signature itself does not verify.
    let mut claimed = signed;
    claimed.key = trialog_protocol::signed::key_id(&w.patient.identity().verifying_key());
    consent_refused(&api, claimed, 403, "consent_bad_signature").await;
    assert!(
        api.consents(&w.case).await.expect("list").is_empty(),
        "nothing was recorded"
    );
}

/// §2.2: a server that substitutes its own "patient" key is caught by every client.
#[tokio::test]
async fn server_side_patient_key_substitution_is_caught_by_every_client() {
    let mut w = World::new().await;
    for c in [
        &mut w.treating,
        &mut w.occupational,
        &mut w.advising,
        &mut w.patient,
    ] {
        c.case(&w.case).await.expect("verifies before the attack");
    }
    let occ = keys_of(&mut w.patient, &w.case, &w.occupational_id).await;

    let server_key = Identity::generate().expect("identity");
    let pool = db(&w.app).await;
    substitute_key(&pool, &w.patient_id, Role::Patient, &server_key).await;

    for (who, c) in [
        ("treating", &mut w.treating),
        ("occupational", &mut w.occupational),
        ("advising", &mut w.advising),
    ] {
        match c.case(&w.case).await {
            Err(ClientError::Verification(m)) => {
                assert!(
                    m.contains("not the one the treating physician confirmed"),
                    "{who}: {m}"
                )
            }
            other => panic!("{who} accepted a substituted patient key: {other:?}"),
        }
    }
    // The patient's own session was issued to the genuine key: void now, so their client
    // is told before it sees anything. A consent signed by the substituted key, sent in a
    // session of that key, is refused by the server too.
    let e = w
        .patient
        .case(&w.case)
        .await
        .expect_err("a session of the genuine key");
    assert_eq!(e.api_code(), Some("invalid_token"), "{e:?}");
    let patient_api = login_with(&w.app, &w.patient_id, &server_key).await;
    let c = functional_consent(&w, &w.case, &w.patient_id, &occ);
    let forged = Signed::sign(&c, server_key.signing_key()).expect("sign");
    consent_refused(&patient_api, forged, 403, "patient_key_substituted").await;
    assert_eq!(
        count_rows(&pool, "consents").await,
        0,
        "no consent was stored"
    );

    // Dropping the treating physician's binding as well does not help: no client accepts a
    // consent without it.
    sqlx::query("UPDATE cases SET binding = NULL WHERE id = $1")
        .bind(w.case.as_str())
        .execute(&pool)
        .await
        .expect("update");
    let r = w.treating.consents(&w.case).await;
    assert!(matches!(r, Err(ClientError::Invalid(_))), "{r:?}");
    let r = w
        .treating
        .send(bilan_of(&w, &w.occupational_id, &["limits.fatigue"]))
        .await;
    assert!(matches!(r, Err(ClientError::Invalid(_))), "{r:?}");
}

// ------------------------------------------- §2.3(b) the server refuses unconsented fields

/// §2.3(b): a hand-built envelope whose signed manifest carries a field outside the consent.
#[tokio::test]
async fn envelope_with_an_unconsented_field_is_refused_by_the_server() {
    let mut w = World::new().await;
    let granted = functional_without(&["limits.cognitive"]);
    let (c, occ) = occupational_consent(&mut w, &granted).await;
    let api = api_of(&mut w.treating).await;

    for extra in ["limits.cognitive", "medical.diagnosis"] {
        let h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
        let env = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue", extra]));
        let msg = envelope_refused(&api, &env, 403, "field_not_consented").await;
        assert!(msg.contains(extra), "the refusal names {extra}: {msg}");
    }
    // The same envelope without the extra field goes through: the refusal was about the field.
    let h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
    let env = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]));
    api.submit_envelope(&env)
        .await
        .expect("a covered envelope is accepted");
    assert_eq!(w.occupational.inbox().await.expect("inbox").len(), 1);
}

// ------------------------------------------- §2.4 senders authenticated, messages bound

/// §2.4: a message id is accepted once.
#[tokio::test]
async fn replayed_message_id_is_refused() {
    let mut w = World::new().await;
    let (c, occ) = occupational_consent(&mut w, FUNCTIONAL).await;
    let api = api_of(&mut w.treating).await;
    let h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
    let env = seal_for(&w.treating, h.clone(), &occ, &values(&["limits.fatigue"]));
    api.submit_envelope(&env).await.expect("first submission");
    envelope_refused(&api, &env, 409, "message_replayed").await;
    // Another, validly signed envelope that reuses the id.
    let env2 = seal_for(&w.treating, h, &occ, &values(&["limits.physical"]));
    envelope_refused(&api, &env2, 409, "message_replayed").await;
    assert_eq!(w.occupational.inbox().await.expect("inbox").len(), 1);

    // A signed consent is accepted once too.
    let patient = api_of(&mut w.patient).await;
    let signed = patient
        .consent(&c.consent_id)
        .await
        .expect("consent")
        .consent;
    consent_refused(&patient, signed, 409, "consent_exists").await;
    assert_eq!(patient.consents(&w.case).await.expect("consents").len(), 1);
}

/// §2.4: copies of one envelope sent at the same moment pass the first look together and
/// meet in the writer's turn (one group commit, or the next): one is stored, every other
/// copy is refused as a replay; distinct envelopes sent with them are all stored, and the
/// case's audit chain stays one chain.
#[tokio::test]
async fn racing_copies_of_one_envelope_are_stored_once() {
    let mut w = World::new().await;
    let (c, occ) = occupational_consent(&mut w, FUNCTIONAL).await;
    let api = api_of(&mut w.treating).await;
    let sealed = |w: &World| {
        let h = bilan_header(w, &w.occupational_id, &occ, &c.consent_id);
        seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]))
    };
    let copied = sealed(&w);
    let mut sends = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let (api, env) = (api.clone(), copied.clone());
        sends.spawn(async move { (true, api.submit_envelope(&env).await) });
    }
    for _ in 0..4 {
        let (api, env) = (api.clone(), sealed(&w));
        sends.spawn(async move { (false, api.submit_envelope(&env).await) });
    }
    let (mut copies_stored, mut distinct_stored) = (0, 0);
    for (copy, answer) in sends.join_all().await {
        match (copy, answer) {
            (true, Ok(_)) => copies_stored += 1,
            (true, r) => {
                refused(r, 409, "message_replayed");
            }
            (false, r) => {
                r.expect("a distinct envelope is stored");
                distinct_stored += 1;
            }
        }
    }
    assert_eq!((copies_stored, distinct_stored), (1, 4));
    assert_eq!(w.occupational.inbox().await.expect("inbox").len(), 5);
    let entries = w.patient.audit(&w.case).await.expect("the chain verifies");
    let accepted = entries
        .iter()
        .filter(|e| e.event == trialog_protocol::audit::AuditEvent::EnvelopeAccepted)
        .count();
    assert_eq!(accepted, 5, "one audit entry per stored envelope");
    w.app.assert_pending_counts_agree().await;
}

/// A recipient's quota holds when several senders race for its last places: their
/// envelopes meet in one group commit, and no more than the quota is stored between them.
#[tokio::test]
async fn senders_racing_for_a_queue_get_no_more_than_its_quota() {
    let settings = Settings {
        max_pending_per_recipient: 3,
        ..Settings::default()
    };
    let mut w = World::with_app(TestApp::spawn_with(settings).await).await;
    // Requests for an update, which any physician of the case may send.
    let mut g = grant_request(&w.case, &w.occupational_id, &["remarks"], &[]);
    g.senders = Some(vec![w.treating_id.clone(), w.advising_id.clone()]);
    g.kinds = Some(vec![MessageKind::Request]);
    let (c, _) = w.patient.grant(g).await.expect("grant");
    let occ = keys_of(&mut w.treating, &w.case, &w.occupational_id).await;
    // Sealed first, then sent all at once, so that they meet in the writer's turn.
    let mut sealed = Vec::new();
    for sender in [&mut w.treating, &mut w.advising] {
        let api = api_of(sender).await;
        let id = sender.account().expect("an account").clone();
        for _ in 0..4 {
            let h = envelope_header(
                &w.case,
                &id,
                &w.occupational_id,
                &occ.fingerprint,
                &c.consent_id,
                MessageKind::Request,
            );
            let asked = vec![(field("remarks"), json!("Graag een stand van zaken."))];
            sealed.push((api.clone(), seal_for(sender, h, &occ, &asked)));
        }
    }
    let mut sends = tokio::task::JoinSet::new();
    for (api, env) in sealed {
        sends.spawn(async move { api.submit_envelope(&env).await });
    }
    let mut stored = 0;
    for answer in sends.join_all().await {
        match answer {
            Ok(_) => stored += 1,
            r => {
                refused(r, 429, "recipient_quota_exceeded");
            }
        }
    }
    assert_eq!(stored, 3, "the quota, no more and no less");
    assert_eq!(w.occupational.inbox().await.expect("inbox").len(), 3);
    w.app.assert_pending_counts_agree().await;
}

/// §2.4: a signature cannot be replayed onto another recipient, a consent cannot be reused
/// for another recipient, and ciphertexts cannot be moved between messages.
#[tokio::test]
async fn envelope_readdressed_to_another_recipient_is_refused() {
    let mut w = World::new().await;
    let c_occ = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    grant(&mut w.patient, &w.case, &w.advising_id, FUNCTIONAL, &[]).await;
    let occ = keys_of(&mut w.treating, &w.case, &w.occupational_id).await;
    let adv = keys_of(&mut w.treating, &w.case, &w.advising_id).await;
    let api = api_of(&mut w.treating).await;
    let vals = values(&["limits.fatigue", "capacity.hours_per_week"]);

    // (a) The header re-addressed to the advising physician, signature left as it was.
    let h = bilan_header(&w, &w.occupational_id, &occ, &c_occ.consent_id);
    let env = seal_for(&w.treating, h, &occ, &vals);
    let mut claimed: EnvelopeHeader = env.header.parse_unverified().expect("header");
    claimed.recipient = w.advising_id.clone();
    claimed.recipient_fingerprint = adv.fingerprint.clone();
    let mut forged = env.clone();
    forged.header.payload = B64(serde_json::to_vec(&claimed).expect("json"));
    envelope_refused(&api, &forged, 403, "bad_envelope_signature").await;

    // (b) Re-signed for the advising physician, but under the occupational physician's consent.
    let h = bilan_header(&w, &w.advising_id, &adv, &c_occ.consent_id);
    let env_adv = seal_for(&w.treating, h, &adv, &vals);
    envelope_refused(&api, &env_adv, 403, "consent_wrong_recipient").await;

    // (c) The ciphertexts of another message swapped in.
    let h = bilan_header(&w, &w.occupational_id, &occ, &c_occ.consent_id);
    let other = seal_for(&w.treating, h, &occ, &vals);
    let mut swapped = env.clone();
    swapped.fields = other.fields.clone();
    envelope_refused(&api, &swapped, 400, "hash_mismatch").await;

    // (d) Re-signed onto another case (where both physicians are members too), still under
    //     this case's consent.
    let (mut p2, view2, case2) = second_case(&mut w, "Case 2026-021").await;
    w.treating
        .confirm_patient(&case2, &view2.fingerprint.short())
        .await
        .expect("confirm");
    p2.add_member(&case2, &w.occupational_id)
        .await
        .expect("add occupational");
    let h = envelope_header(
        &case2,
        &w.treating_id,
        &w.occupational_id,
        &occ.fingerprint,
        &c_occ.consent_id,
        MessageKind::Bilan,
    );
    let env_case2 = seal_for(&w.treating, h, &occ, &vals);
    envelope_refused(&api, &env_case2, 404, "consent_not_found").await;

    // (e) Submitted by another physician in the treating physician's name.
    let occupational = api_of(&mut w.occupational).await;
    let h = envelope_header(
        &w.case,
        &w.treating_id,
        &w.advising_id,
        &adv.fingerprint,
        &c_occ.consent_id,
        MessageKind::Request,
    );
    let env_request = seal_for(&w.treating, h, &adv, &values(&["review.next_date"]));
    envelope_refused(&occupational, &env_request, 403, "sender_mismatch").await;

    // Nothing was lost: the untouched envelopes are still accepted, and read intact.
    api.submit_envelope(&env).await.expect("original accepted");
    api.submit_envelope(&other).await.expect("other accepted");
    let id = env_header_id(&env);
    let msg = w.occupational.read(&id).await.expect("read");
    assert_eq!(msg.fields, vals);
    assert!(w.advising.inbox().await.expect("inbox").is_empty());
}

fn env_header_id(env: &Envelope) -> MessageId {
    env.header.parse_unverified().expect("header").message_id
}

/// §7: each ciphertext names its message and field inside, so one moved to another message
/// or field (under a freshly signed manifest the server cannot tell from a real one) is
/// refused by the recipient.
#[tokio::test]
async fn ciphertext_moved_to_another_message_or_field_is_refused_by_the_recipient() {
    let mut w = World::new().await;
    let (c, occ) = occupational_consent(&mut w, FUNCTIONAL).await;
    let api = api_of(&mut w.treating).await;
    let new_header = || bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);

    // Message X, sealed normally; message Y carries X's ciphertexts under its own signature.
    let env_x = seal_for(
        &w.treating,
        new_header(),
        &occ,
        &values(&["limits.fatigue"]),
    );
    let mut hy = new_header();
    hy.manifest = env_x.header.parse_unverified().expect("header").manifest;
    let env_y = Envelope {
        header: Signed::sign(&hy, w.treating.identity().signing_key()).expect("sign"),
        fields: env_x.fields.clone(),
    };
    // One message whose limits.fatigue carries the ciphertext sealed for its limits.physical.
    let hz = new_header();
    let sealed = seal_for(&w.treating, hz.clone(), &occ, &values(&["limits.physical"]));
    let ct = sealed.fields[0].ciphertext.clone();
    let mut hz2 = hz;
    hz2.manifest = vec![trialog_protocol::envelope::ManifestEntry {
        field: field("limits.fatigue"),
        sha256: sha256_hex(&[&ct.0]),
    }];
    let env_z = Envelope {
        header: Signed::sign(&hz2, w.treating.identity().signing_key()).expect("sign"),
        fields: vec![trialog_protocol::envelope::EncryptedField {
            field: field("limits.fatigue"),
            ciphertext: ct,
        }],
    };

    for env in [&env_y, &env_z] {
        // The server sees only hashes that match a valid signature: it cannot tell.
        api.submit_envelope(env)
            .await
            .expect("accepted by the server");
        match w.occupational.read(&env_header_id(env)).await {
            Err(ClientError::Verification(m)) => {
                assert!(m.contains("moved from another message or field"), "{m}")
            }
            other => panic!("the recipient accepted a moved ciphertext: {other:?}"),
        }
    }
}

/// §2.5: a physician the server adds to the case on its own (not the patient) receives
/// nothing: no consent names them, and none can be forged for them.
#[tokio::test]
async fn recipient_added_by_the_server_receives_nothing() {
    let mut w = World::new().await;
    let c = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let (_intruder, intruder_id) = w
        .app
        .physician(Role::Occupational, &riziv(456789, 4), "Dr. Someone Else")
        .await;
    let pool = db(&w.app).await;
    sqlx::query("INSERT INTO members (case_id, account, status, added_by, added_at) VALUES ($1, $2, 'active', $3, $4)")
        .bind(w.case.as_str())
        .bind(intruder_id.as_str())
        .bind(w.patient_id.as_str())
        .bind(now())
        .execute(&pool)
        .await
        .expect("insert member");

    let r = w
        .treating
        .send(bilan_of(&w, &intruder_id, &["limits.fatigue"]))
        .await;
    assert!(matches!(r, Err(ClientError::NoConsent { .. })), "{r:?}");
    // A hand-built envelope to them under the occupational physician's consent.
    let keys = keys_of(&mut w.treating, &w.case, &intruder_id).await;
    let api = api_of(&mut w.treating).await;
    let h = bilan_header(&w, &intruder_id, &keys, &c.consent_id);
    let env = seal_for(&w.treating, h, &keys, &values(&["limits.fatigue"]));
    envelope_refused(&api, &env, 403, "consent_wrong_recipient").await;
    assert_eq!(count_rows(&pool, "envelopes").await, 0);
}

// ------------------------------------------- roles and tokens

/// A patient's token on physician endpoints, and a physician's token on patient endpoints.
#[tokio::test]
async fn tokens_are_refused_on_endpoints_of_another_role() {
    let mut w = World::new().await;
    let c = grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let occ = keys_of(&mut w.patient, &w.case, &w.occupational_id).await;
    let patient = api_of(&mut w.patient).await;

    // Patient → physician endpoints.
    refused(patient.inbox_wait(0).await, 403, "role_forbidden");
    refused(
        patient
            .open_case(&OpenCaseRequest {
                case_id: CaseId::random().expect("randomness"),
                sealed_label: B64(vec![1; 64]),
            })
            .await,
        403,
        "role_forbidden",
    );
    for kind in [
        MessageKind::Bilan,
        MessageKind::Request,
        MessageKind::Feedback,
    ] {
        let h = envelope_header(
            &w.case,
            &w.patient_id,
            &w.occupational_id,
            &occ.fingerprint,
            &c.consent_id,
            kind,
        );
        let env = seal_for(&w.patient, h, &occ, &values(&["review.next_date"]));
        envelope_refused(&patient, &env, 403, "kind_forbidden").await;
    }

    // Physician → patient endpoints.
    let treating = api_of(&mut w.treating).await;
    let tc = functional_consent(&w, &w.case, &w.treating_id, &occ);
    let signed = Signed::sign(&tc, w.treating.identity().signing_key()).expect("sign");
    consent_refused(&treating, signed, 403, "role_forbidden").await;
    refused(treating.audit(&w.case).await, 403, "not_case_patient");
    let occupational = api_of(&mut w.occupational).await;
    refused(occupational.audit(&w.case).await, 403, "not_case_patient");
    let r = Revocation {
        consent_id: c.consent_id.clone(),
        case_id: w.case.clone(),
        patient: w.patient_id.clone(),
        revoked_at: now(),
    };
    let revocation = Signed::sign(&r, w.treating.identity().signing_key()).expect("sign");
    refused(
        treating
            .revoke(&c.consent_id, &RevokeRequest { revocation })
            .await,
        403,
        "role_forbidden",
    );

    // A physician may not send a kind of another role either.
    let treating_keys = keys_of(&mut w.occupational, &w.case, &w.treating_id).await;
    let h = envelope_header(
        &w.case,
        &w.occupational_id,
        &w.treating_id,
        &treating_keys.fingerprint,
        &c.consent_id,
        MessageKind::Bilan,
    );
    let env = seal_for(
        &w.occupational,
        h,
        &treating_keys,
        &values(&["review.next_date"]),
    );
    envelope_refused(&occupational, &env, 403, "kind_forbidden").await;

    // None of it changed anything: the consent stands.
    let cs = w.patient.consents(&w.case).await.expect("consents");
    assert_eq!(cs.len(), 1);
    assert!(cs[0].is_current(now()));
}

/// Expired, forged, tampered and missing tokens.
#[tokio::test]
async fn expired_forged_and_missing_tokens_are_refused() {
    let app = TestApp::spawn_with(Settings {
        token_ttl: 2,
        ..Default::default()
    })
    .await;
    let (mut c, account) = app
        .physician(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
        .await;
    // A 2 s life (whole seconds on the server's clock: valid for at least 2 s, expired after 3 s
    // at most), so a slow machine does not expire the fresh token early.
    let api = api_of(&mut c).await;
    api.me().await.expect("a fresh token works");
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    refused(api.me().await, 401, "token_expired");
    refused(api.cases().await, 401, "token_expired");

    // A real token, to tamper with: log in by hand.
    let token = token_for(&app, &account, c.identity()).await;
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(parts.len(), 3);

    let t = now();
    let claims = json!({
        "sub": account.as_str(), "role": "treating", "iat": t, "exp": t + 600,
        "aud": "trialog", "iss": "trialog-server",
    });
    let other_key = Identity::generate().expect("identity");
    let forged = jwt(
        other_key.signing_key(),
        &json!({"alg": "EdDSA", "typ": "JWT"}),
        &claims,
    );
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT"}).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    // The server's own signature over claims edited afterwards (a longer life).
    let mut real_claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("claims");
    real_claims["exp"] = json!(t + 3600);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(real_claims.to_string()),
        parts[2]
    );
    for (what, auth) in [
        ("signed by another key", format!("Bearer {forged}")),
        ("alg none", format!("Bearer {unsigned}")),
        ("claims edited", format!("Bearer {tampered}")),
        ("garbage", "Bearer not-a-token".to_owned()),
        ("not a bearer token", format!("Basic {token}")),
    ] {
        let (status, code, _) = me_with(&app, Some(&auth)).await;
        assert_eq!((status, code.as_str()), (401, "invalid_token"), "{what}");
    }
    let (status, code, _) = me_with(&app, None).await;
    assert_eq!((status, code.as_str()), (401, "missing_token"));
}

/// A token stands only while its account does, on the envelope route too, which reads the
/// account's standing in the admission's own statement rather than before it: a suspended
/// sender's envelope is refused, even one naming no case, and so is one sent with the
/// token of a key since replaced (as a recovery's registration replaces it). Nothing of
/// either is stored, and the same token works again once the suspension is lifted.
#[tokio::test]
async fn envelope_with_a_token_whose_account_no_longer_stands_is_refused() {
    use trialog_server::operator::{self, AccountRef};
    let mut w = World::new().await;
    let (c, occ) = occupational_consent(&mut w, FUNCTIONAL).await;
    let api = api_of(&mut w.treating).await;
    let pool = db(&w.app).await;
    let fresh = |w: &World| {
        let h = bilan_header(w, &w.occupational_id, &occ, &c.consent_id);
        seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]))
    };

    let treating = AccountRef::Id(w.treating_id.clone());
    operator::suspend(&w.app.config, &treating)
        .await
        .expect("suspend");
    envelope_refused(&api, &fresh(&w), 403, "account_suspended").await;
    let mut h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
    h.case_id = CaseId::random().expect("randomness");
    let nowhere = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]));
    envelope_refused(&api, &nowhere, 403, "account_suspended").await;
    assert_eq!(count_rows(&pool, "envelopes").await, 0);

    operator::unsuspend(&w.app.config, &treating)
        .await
        .expect("lift");
    api.submit_envelope(&fresh(&w))
        .await
        .expect("the same token, the suspension lifted");

    let other = Identity::generate().expect("identity");
    sqlx::query("UPDATE accounts SET fingerprint = $1 WHERE id = $2")
        .bind(other.fingerprint().to_string())
        .bind(w.treating_id.as_str())
        .execute(&pool)
        .await
        .expect("replace the key");
    envelope_refused(&api, &fresh(&w), 401, "invalid_token").await;
    assert_eq!(count_rows(&pool, "envelopes").await, 1);
}

/// An envelope created one hour ago (or one hour ahead) is refused.
#[tokio::test]
async fn envelope_outside_the_clock_skew_is_refused() {
    let mut w = World::new().await;
    let (c, occ) = occupational_consent(&mut w, FUNCTIONAL).await;
    let api = api_of(&mut w.treating).await;
    for shift in [-3600, 3600] {
        let mut h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
        h.created_at += shift;
        let env = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]));
        envelope_refused(&api, &env, 422, "clock_skew").await;
    }
    // Extreme values must not overflow the check (a panic, or a wrap that lets them in).
    for extreme in [i64::MIN, i64::MAX] {
        let mut h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
        h.created_at = extreme;
        let env = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue"]));
        envelope_refused(&api, &env, 422, "clock_skew").await;
    }
    assert!(w.occupational.inbox().await.expect("inbox").is_empty());
}

// ------------------------------------------- §2.3(c) the recipient checks again

/// §2.3(c): an envelope the server never checked (written straight into its database)
/// carrying fields outside the consent is refused by the recipient's client.
#[tokio::test]
async fn recipient_refuses_an_unconsented_field_the_server_let_through() {
    let mut w = World::new().await;
    let granted = functional_without(&["limits.cognitive"]);
    let (c, occ) = occupational_consent(&mut w, &granted).await;
    let pool = db(&w.app).await;
    let home = Home::new(w.app.data.path().join("clients").join("Dr. Luc Janssens"));

    for extra in ["limits.cognitive", "medical.diagnosis"] {
        let h = bilan_header(&w, &w.occupational_id, &occ, &c.consent_id);
        let id = h.message_id.clone();
        let env = seal_for(&w.treating, h, &occ, &values(&["limits.fatigue", extra]));
        sqlx::query(
            "INSERT INTO envelopes (id, case_id, sender, recipient, consent_id, kind, created_at, accepted_at, state, header, fields)
             VALUES ($1, $2, $3, $4, $5, 'bilan', $6, $6, 'accepted', $7, $8)",
        )
        .bind(id.as_str())
        .bind(w.case.as_str())
        .bind(w.treating_id.as_str())
        .bind(w.occupational_id.as_str())
        .bind(c.consent_id.as_str())
        .bind(now())
        .bind(serde_json::to_string(&env.header).expect("json"))
        .bind(serde_json::to_vec(&env.fields).expect("json"))
        .execute(&pool)
        .await
        .expect("insert envelope");

        // The server refuses to deliver it (its second check runs at delivery too) and
        // destroys it...
        let fields: Vec<u8> = sqlx::query_scalar("SELECT fields FROM envelopes WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&pool)
            .await
            .expect("fields");
        let e = w.occupational.read(&id).await.unwrap_err();
        assert_eq!(e.api_code(), Some("message_gone"), "{e:?}");
        assert!(
            !home.messages_dir().join(format!("{id}.json")).exists(),
            "nothing was stored locally"
        );
        let state: String = sqlx::query_scalar("SELECT state FROM envelopes WHERE id = $1")
            .bind(id.as_str())
            .fetch_one(&pool)
            .await
            .expect("state");
        assert_eq!(
            state, "purged",
            "a refused message is destroyed, not acknowledged"
        );

        // ...and a server that delivered it anyway (here: the planted bytes handed straight
        // to the recipient's client) is caught by the recipient's own check.
        let view = trialog_protocol::api::EnvelopeView {
            envelope: trialog_protocol::envelope::Envelope {
                header: env.header.clone(),
                fields: serde_json::from_slice(&fields).expect("stored fields"),
            },
            accepted_at: now(),
        };
        match w.occupational.open_envelope(&id, &view).await {
            Err(ClientError::Verification(m)) => {
                assert!(m.contains("consent"), "the refusal names the consent: {m}")
            }
            other => panic!("the recipient accepted an unconsented {extra}: {other:?}"),
        }
    }
}

// ------------------------------------------- §2.7 the audit log is tamper-evident

/// §2.7: the patient's client notices an altered, truncated or rewritten audit log.
#[tokio::test]
async fn tampered_or_truncated_audit_log_is_detected() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let report = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    w.occupational.read(&report.message_id).await.expect("read");
    let entries = w
        .patient
        .audit(&w.case)
        .await
        .expect("the untouched log verifies");
    assert!(entries.len() >= 8, "{entries:?}");

    let pool = db(&w.app).await;
    let rows: Vec<(i64, Vec<u8>, String)> =
        sqlx::query_as("SELECT seq, entry, hash FROM audit WHERE chain = $1 ORDER BY seq")
            .bind(w.case.as_str())
            .fetch_all(&pool)
            .await
            .expect("audit rows");
    assert_eq!(rows.len(), entries.len());
    // The consent grant: the entry that names the fields the patient allowed.
    let (seq, original, _) = rows
        .iter()
        .find(|(_, e, _)| String::from_utf8_lossy(e).contains("consent_granted"))
        .cloned()
        .expect("a consent grant entry");
    let mut e: AuditEntry = serde_json::from_slice(&original).expect("entry");
    e.detail = e
        .detail
        .map(|d| d.replace("limits.cognitive", "limits.cognitivf"));
    let altered = serde_json::to_vec(&e).expect("json");
    assert_ne!(altered, original);
    let set_entry = |bytes: Vec<u8>| {
        let pool = pool.clone();
        let case = w.case.clone();
        async move {
            sqlx::query("UPDATE audit SET entry = $1 WHERE chain = $2 AND seq = $3")
                .bind(bytes)
                .bind(case.as_str())
                .bind(seq)
                .execute(&pool)
                .await
                .expect("update audit")
        }
    };

    // (1) One entry's detail altered in place.
    set_entry(altered.clone()).await;
    let r = w.patient.audit(&w.case).await;
    assert!(
        matches!(&r, Err(ClientError::Audit(m)) if m.contains(&format!("entry {seq}"))),
        "{r:?}"
    );
    set_entry(original.clone()).await;
    w.patient
        .audit(&w.case)
        .await
        .expect("restored log verifies again");

    // (2) The last entry deleted.
    let (last_seq, last_entry, last_hash) = rows.last().cloned().expect("rows");
    sqlx::query("DELETE FROM audit WHERE chain = $1 AND seq = $2")
        .bind(w.case.as_str())
        .bind(last_seq)
        .execute(&pool)
        .await
        .expect("delete");
    let r = w.patient.audit(&w.case).await;
    assert!(matches!(r, Err(ClientError::Audit(_))), "{r:?}");
    sqlx::query("INSERT INTO audit (chain, seq, entry, hash) VALUES ($1, $2, $3, $4)")
        .bind(w.case.as_str())
        .bind(last_seq)
        .bind(last_entry)
        .bind(last_hash)
        .execute(&pool)
        .await
        .expect("restore");
    w.patient
        .audit(&w.case)
        .await
        .expect("restored log verifies again");

    // (3) The entry altered and every later hash recomputed, so the chain and the server's
    //     checkpoint agree: the head the patient saw last time no longer matches.
    let mut prev = [0u8; 32];
    for (s, entry, _) in &rows {
        let bytes = if *s == seq {
            altered.clone()
        } else {
            entry.clone()
        };
        let h = chain_hash(&prev, &bytes);
        if *s >= seq {
            sqlx::query("UPDATE audit SET entry = $1, hash = $2 WHERE chain = $3 AND seq = $4")
                .bind(bytes)
                .bind(hex::encode(h))
                .bind(w.case.as_str())
                .bind(s)
                .execute(&pool)
                .await
                .expect("rewrite");
        }
        prev = h;
    }
    let r = w.patient.audit(&w.case).await;
    assert!(
        matches!(&r, Err(ClientError::Audit(m)) if m.contains("rewritten")),
        "{r:?}"
    );
}

// ------------------------------------------- the network

/// A client pinned to another certificate does not talk to the server at all.
#[tokio::test]
async fn wrong_tls_pin_is_refused() {
    let app = TestApp::spawn().await;
    let wrong = sha256_hex(&[b"not the server's certificate"]);
    assert_ne!(wrong, app.cert_sha256.to_lowercase());
    let home = Home::new(app.data.path().join("clients").join("mitm"));
    let r = Client::init(home.clone(), &app.url, &wrong, None, PASSPHRASE).await;
    match r {
        Err(ClientError::Network(m)) => assert!(m.contains("not the pinned one"), "{m}"),
        other => panic!("expected a pin failure, got {other:?}"),
    }
    assert!(
        !home.keystore_path().exists() && !home.config_path().exists(),
        "nothing was initialised"
    );
    let r = Client::init(home.clone(), &app.url, "not-hex", None, PASSPHRASE).await;
    assert!(matches!(r, Err(ClientError::BadPin(_))), "{r:?}");
    // With the right pin the same home initialises.
    Client::init(home, &app.url, &app.cert_sha256, None, PASSPHRASE)
        .await
        .expect("right pin");
}

// ------------------------------------------- the leak guard

/// Free text that names the diagnosis or an oncology term is refused until overridden, and
/// the override travels in the signed header to the recipient.
#[tokio::test]
async fn leak_guard_refuses_diagnosis_words_in_free_text_until_overridden() {
    let mut w = World::new().await;
    let mut fields = FUNCTIONAL.to_vec();
    fields.push("remarks");
    grant(&mut w.patient, &w.case, &w.occupational_id, &fields, &[]).await;
    let mut vals: Vec<(FieldId, Value)> = bilan_values();
    for (id, v) in vals.iter_mut() {
        if id.as_str() == "limits.cognitive" {
            *v = json!("Concentration drops since the ductal surgery; about 30 minutes");
        }
    }
    let remarks = "Vermoeid na de chemotherapie, herstelt traag";
    vals.push((field("remarks"), json!(remarks)));
    let message = w.message(&w.occupational_id, MessageKind::Bilan, vals);

    let r = w.treating.send(message.clone()).await;
    let hits = match r {
        Err(ClientError::LeakGuard { hits }) => hits,
        other => panic!("expected the leak guard to refuse, got {other:?}"),
    };
    assert!(
        hits.iter().any(|h| h.field == field("remarks")
            && h.term == "chemotherapie"
            && h.source == LeakSource::OncologyTerm),
        "{hits:?}"
    );
    assert!(
        hits.iter().any(|h| h.field == field("limits.cognitive")
            && h.term == "ductal"
            && h.source == LeakSource::MedicalField(field("medical.diagnosis"))),
        "{hits:?}"
    );
    assert!(
        w.occupational.inbox().await.expect("inbox").is_empty(),
        "nothing was sent"
    );

    let overridden = Outgoing {
        override_leak_guard: true,
        ..message
    };
    let report = w.treating.send(overridden).await.expect("override sends");
    assert_eq!(report.leak_guard_overridden, hits);
    let msg = w.occupational.read(&report.message_id).await.expect("read");
    assert!(msg.leak_guard_override);
    assert!(msg.fields.contains(&(field("remarks"), json!(remarks))));
    assert!(
        msg.fields.iter().all(|(id, _)| !id.is_medical()),
        "the diagnosis itself stays stripped"
    );
}

/// The leak guard sees the whole case: a later message whose free text names the diagnosis
/// written in an *earlier* message, or the case label, is refused; hyphens, invisible and
/// look-alike characters do not hide a term.
#[tokio::test]
async fn leak_guard_checks_against_the_whole_case_and_sees_through_disguises() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    grant(
        &mut w.patient,
        &w.case,
        &w.advising_id,
        FUNCTIONAL,
        &["medical.diagnosis"],
    )
    .await;
    // The first bilan carries the diagnosis (to the advising physician, shared medically).
    w.treating
        .send(w.bilan_to(&w.advising_id))
        .await
        .expect("the first bilan goes");

    let cases: [(&str, &str); 4] = [
        // A word of the earlier message's diagnosis, not in this message at all.
        ("Tires quickly since the ductal findings", "ductal"),
        // Hyphenated, with a zero-width space, and with a Cyrillic 'а'.
        (
            "Moe na de borst-\u{200B}kanker, pauzes nodig",
            "borstkanker",
        ),
        ("Fatigue depuis la chimiothér\u{0430}pie", "chimiotherapie"),
        // A word of the case label (the patient's name), in capitals.
        ("As discussed with Mrs VANDENBERGHE", "vandenberghe"),
    ];
    for (text, term) in cases {
        let out = w.message(
            &w.occupational_id,
            MessageKind::Bilan,
            vec![(field("limits.fatigue"), json!(text))],
        );
        match w.treating.send(out).await {
            Err(ClientError::LeakGuard { hits }) => {
                let h = hits
                    .iter()
                    .find(|h| h.field == field("limits.fatigue"))
                    .unwrap_or_else(|| panic!("{text}: no hit in the field: {hits:?}"));
                let folded = trialog_protocol::leak_guard::fold(&h.term);
                assert!(
                    folded.contains(&trialog_protocol::leak_guard::fold(term))
                        || trialog_protocol::leak_guard::fold(term).contains(&folded),
                    "{text}: hit {h:?}, expected {term}"
                );
            }
            other => panic!("{text}: the leak guard let it through: {other:?}"),
        }
    }
    // Plain functional text still goes.
    let out = w.message(
        &w.occupational_id,
        MessageKind::Bilan,
        vec![(
            field("limits.fatigue"),
            json!("Fatigue 6/10 in the afternoon"),
        )],
    );
    w.treating.send(out).await.expect("clean text goes");
}

// ------------------------------------------- §2.5 keys are attested and pinned

/// §2.5: a physician's key replaced on the server is refused by a client that pinned it:
/// the swapped key carries no operator attestation (the operator's own tests are in
/// `attestation.rs`; a rolled-back key that does carry an old one is refused by the pin).
#[tokio::test]
async fn changed_pinned_key_is_refused() {
    let mut w = World::new().await;
    let (c, before) = occupational_consent(&mut w, FUNCTIONAL).await;
    let pool = db(&w.app).await;
    let server_key = Identity::generate().expect("identity");
    substitute_key(&pool, &w.occupational_id, Role::Occupational, &server_key).await;

    let check = |r: Result<_, ClientError>| match r {
        Err(ClientError::AttestationInvalid { name }) => assert_eq!(name, "Dr. Luc Janssens"),
        other => panic!(
            "expected AttestationInvalid, got {:?}",
            other.map(|_: ()| ())
        ),
    };
    check(w.treating.case(&w.case).await.map(|_| ()));
    check(
        w.treating
            .send(bilan_of(&w, &w.occupational_id, &["limits.fatigue"]))
            .await
            .map(|_| ()),
    );
    assert_eq!(count_rows(&pool, "envelopes").await, 0, "nothing was sent");

    // The server, for its part, refuses a message sealed to a key that is not the
    // recipient's current one.
    let api = api_of(&mut w.treating).await;
    let h = bilan_header(&w, &w.occupational_id, &before, &c.consent_id);
    let env = seal_for(&w.treating, h, &before, &values(&["limits.fatigue"]));
    envelope_refused(&api, &env, 422, "recipient_key_mismatch").await;
}

/// The patient signs the name and role they read; a consent whose text names someone else
/// than the directory's recipient is refused, so the words signed and the account that
/// receives cannot differ.
#[tokio::test]
async fn consent_naming_another_physician_than_its_recipient_is_refused() {
    let mut w = World::new().await;
    let occ = keys_of(&mut w.patient, &w.case, &w.occupational_id).await;
    let patient = w.patient_id.clone();
    let honest = functional_consent(&w, &w.case, &patient, &occ);
    for (name, role) in [
        ("Dr. Marie Dubois", Role::Occupational),
        ("Dr. Luc Janssens", Role::Advising),
    ] {
        let mut c = Consent {
            recipient_name: name.into(),
            recipient_role: role,
            ..honest.clone()
        };
        c.text_sha256 = sha256_hex(&[consent_text(&c).as_bytes()]);
        let signed = Signed::sign(&c, w.patient.identity().signing_key()).expect("sign");
        let api = api_of(&mut w.patient).await;
        consent_refused(&api, signed, 400, "consent_recipient_mismatch").await;
    }
    let signed = Signed::sign(&honest, w.patient.identity().signing_key()).expect("sign");
    let api = api_of(&mut w.patient).await;
    api.submit_consent(&SubmitConsentRequest { consent: signed })
        .await
        .expect("the honest one is accepted");
}
