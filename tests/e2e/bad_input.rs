//! DESIGN.md §2.8: bad input gets a clear error and nothing is lost. Raw HTTP over the
//! pinned TLS connection, bypassing the client library: every refusal is a specific 4xx whose
//! body is exactly `{code, message}`, never a 500, and the server keeps answering.

use ed25519_dalek::Signer;
use serde_json::{Value, json};
use trialog_client::client::now;
use trialog_e2e::{TestApp, riziv};
use trialog_protocol::auth::login_message;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::Identity;
use trialog_protocol::{AccountId, Role};

/// A raw HTTP client that trusts only this server's certificate.
struct Raw {
    http: reqwest::Client,
    base: String,
}

impl Raw {
    fn new(app: &TestApp) -> Raw {
        let pin = trialog_client::tls::parse_pin(&app.cert_sha256).expect("pin");
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trialog_client::tls::pinned_config(pin))
            .build()
            .expect("http client");
        Raw {
            http,
            base: app.url.clone(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends `req`, as the bearer of `token` if there is one.
    async fn send(req: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::Response {
        let req = match token {
            Some(t) => req.bearer_auth(t),
            None => req,
        };
        req.send().await.expect("request")
    }

    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::Response {
        Self::send(self.http.request(method, self.url(path)), token).await
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.request(reqwest::Method::GET, path, token).await
    }

    async fn post_json(&self, path: &str, body: &Value, token: Option<&str>) -> reqwest::Response {
        Self::send(self.http.post(self.url(path)).json(body), token).await
    }

    /// POSTs raw bytes labelled as JSON.
    async fn post_bytes(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.post_typed(path, Some("application/json"), body, token)
            .await
    }

    /// POSTs raw bytes with this `Content-Type`, or with none.
    async fn post_typed(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut req = self.http.post(self.url(path));
        if let Some(t) = content_type {
            req = req.header("Content-Type", t);
        }
        Self::send(req.body(body), token).await
    }

    /// POSTs `body` as JSON and asserts the exact refusal (see [`expect_error`]); returns
    /// the message.
    async fn post_refused(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
        status: u16,
        code: &str,
    ) -> String {
        expect_error(self.post_json(path, body, token).await, status, code).await
    }

    /// POSTs raw bytes labelled as JSON and asserts the exact refusal; returns the message.
    async fn post_bytes_refused(
        &self,
        path: &str,
        body: impl Into<reqwest::Body>,
        token: Option<&str>,
        status: u16,
        code: &str,
    ) -> String {
        expect_error(self.post_bytes(path, body, token).await, status, code).await
    }

    /// POSTs `body` as JSON and asserts it succeeds with `status`; returns the answer.
    async fn post_ok(&self, path: &str, body: &Value, token: Option<&str>, status: u16) -> Value {
        expect_ok(self.post_json(path, body, token).await, status).await
    }
}

/// Asserts the answer is exactly this 4xx with a `{code, message}` body; returns the message.
async fn expect_error(resp: reqwest::Response, status: u16, code: &str) -> String {
    let got = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_ne!(got, 500, "a 500 for bad input: {text}");
    let body: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("answer {got} has a body that is not JSON ({e}): {text:?}"));
    let obj = body
        .as_object()
        .unwrap_or_else(|| panic!("error body is not an object: {text}"));
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "message"], "error body: {text}");
    let (c, m) = (
        body["code"].as_str().expect("code is text"),
        body["message"].as_str().expect("message is text"),
    );
    assert_eq!((got, c), (status, code), "message: {m}");
    assert!(!m.trim().is_empty(), "{code} comes with an empty message");
    m.to_owned()
}

async fn expect_ok(resp: reqwest::Response, status: u16) -> Value {
    let got = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    assert_eq!(got, status, "{text}");
    if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect("JSON answer")
    }
}

/// A new account id and identity for `role`, and its self-signed key record as JSON.
fn new_key_record(role: Role) -> (AccountId, Identity, Value) {
    let id = Identity::generate().expect("identity");
    let account = AccountId::random().expect("randomness");
    let record = id.key_record(&account, role, now()).expect("key record");
    (account, id, serde_json::to_value(&record).expect("json"))
}

/// A physician registered by hand: operator invitation, self-signed key record.
async fn register_physician(
    app: &TestApp,
    raw: &Raw,
    role: Role,
    number: u32,
    qual: u32,
) -> (AccountId, Identity) {
    let code = app.invite(role, &riziv(number, qual), "Dr. Test").await;
    let (account, id, record) = new_key_record(role);
    let body = json!({ "key_record": record, "invite_code": code });
    raw.post_ok("/v1/accounts", &body, None, 201).await;
    (account, id)
}

/// A fresh server, a raw client to it, and a treating physician registered on it by hand.
async fn server_with_a_physician() -> (TestApp, Raw, AccountId, Identity) {
    let app = TestApp::spawn().await;
    let raw = Raw::new(&app);
    let (account, id) = register_physician(&app, &raw, Role::Treating, 123456, 580).await;
    (app, raw, account, id)
}

async fn challenge(raw: &Raw, account: &AccountId) -> Vec<u8> {
    let body = raw
        .post_ok(
            "/v1/auth/challenge",
            &json!({ "account": account }),
            None,
            200,
        )
        .await;
    B64::decode(body["nonce"].as_str().expect("nonce")).expect("base64 nonce")
}

fn login_body(account: &AccountId, nonce: &[u8], key: &ed25519_dalek::SigningKey) -> Value {
    let sig = key.sign(&login_message(account, nonce));
    json!({ "account": account, "nonce": B64::encode(nonce), "sig": B64::encode(&sig.to_bytes()) })
}

/// Logs in by hand; returns the token.
async fn login(raw: &Raw, account: &AccountId, id: &Identity) -> String {
    let nonce = challenge(raw, account).await;
    let body = login_body(account, &nonce, id.signing_key());
    let body = raw.post_ok("/v1/auth/login", &body, None, 200).await;
    body["token"].as_str().expect("token").to_owned()
}

/// Nothing was lost: the account still logs in and its session works.
async fn still_serves(raw: &Raw, account: &AccountId, id: &Identity) {
    let token = login(raw, account, id).await;
    let me = expect_ok(raw.get("/v1/accounts/me", Some(&token)).await, 200).await;
    assert_eq!(me["account"].as_str(), Some(account.as_str()));
    expect_ok(raw.get("/v1/server", None).await, 200).await;
}

#[tokio::test]
async fn malformed_json_gets_400_malformed_json() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let bodies: [&[u8]; 6] = [
        b"{\"key_record\": ",
        b"{not json}",
        b"",
        b"\xff\xfe\x00",
        b"null",
        b"[1, 2, 3]",
    ];
    for body in bodies {
        raw.post_bytes_refused("/v1/accounts", body.to_vec(), None, 400, "malformed_json")
            .await;
        raw.post_bytes_refused("/v1/auth/login", body.to_vec(), None, 400, "malformed_json")
            .await;
    }
    let token = login(&raw, &account, &id).await;
    for path in ["/v1/cases", "/v1/consents", "/v1/envelopes"] {
        raw.post_bytes_refused(
            path,
            &b"{\"label\": \"x\""[..],
            Some(&token),
            400,
            "malformed_json",
        )
        .await;
    }
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn wrong_json_shape_or_unknown_field_gets_400_malformed_json() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let cases = [
        ("/v1/invitations/lookup", json!({ "invite_code": 5 })),
        (
            "/v1/invitations/lookup",
            json!({ "invite_code": "ABCD", "admin": true }),
        ),
        ("/v1/invitations/lookup", json!({})),
        (
            "/v1/auth/challenge",
            json!({ "account": "not-an-account-id" }),
        ),
        (
            "/v1/auth/challenge",
            json!({ "account": account, "role": "treating" }),
        ),
        ("/v1/accounts", json!({ "invite_code": "ABCD" })),
        (
            "/v1/accounts",
            json!({ "key_record": "text", "invite_code": "ABCD" }),
        ),
        (
            "/v1/auth/login",
            json!({ "account": account, "nonce": "AAAA" }),
        ),
    ];
    for (path, body) in &cases {
        let m = raw
            .post_refused(path, body, None, 400, "malformed_json")
            .await;
        assert!(!m.contains("internal"), "{path} {body}: {m}");
    }
    let token = login(&raw, &account, &id).await;
    let cases = [
        (
            "/v1/cases",
            json!({ "label": "Case 1", "patient_name": "Jan Peeters" }),
        ),
        ("/v1/cases", json!({ "label": ["Case 1"] })),
        ("/v1/envelopes", json!({ "header": {}, "fields": [] })),
        ("/v1/envelopes", json!([])),
        // The header and the fields are kept as received and parsed after: a bad field, or
        // a member the envelope does not have, is still the body's fault.
        (
            "/v1/envelopes",
            json!({ "header": { "payload": "", "sig": "", "key": "" }, "fields": [{ "field": 1 }] }),
        ),
        (
            "/v1/envelopes",
            json!({ "header": { "payload": "", "sig": "", "key": "" }, "fields": [], "extra": 1 }),
        ),
        (
            "/v1/consents",
            json!({ "consent": { "payload": "", "sig": "", "key": "" }, "extra": 1 }),
        ),
    ];
    for (path, body) in &cases {
        raw.post_refused(path, body, Some(&token), 400, "malformed_json")
            .await;
    }
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn bad_base64_or_bad_signature_in_a_signed_object_is_refused() {
    let (app, raw, account, id) = server_with_a_physician().await;
    let code = app
        .invite(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    let (fresh_account, fresh, good) = new_key_record(Role::Occupational);

    // Bad base64 anywhere in the signed object: malformed JSON for this endpoint.
    for (part, bad) in [
        ("payload", "%%%not base64%%%"),
        ("sig", "@@@@"),
        ("payload", "QUJD="),
    ] {
        let mut rec = good.clone();
        rec[part] = json!(bad);
        let body = json!({ "key_record": rec, "invite_code": code });
        let m = raw
            .post_refused("/v1/accounts", &body, None, 400, "malformed_json")
            .await;
        assert!(m.contains("base64"), "{m}");
    }
    // Bad base64 in a login signature.
    let nonce = challenge(&raw, &account).await;
    let body = json!({ "account": account, "nonce": B64::encode(&nonce), "sig": "!!not-base64!!" });
    raw.post_refused("/v1/auth/login", &body, None, 400, "malformed_json")
        .await;

    // Good base64, wrong signature: the key record is refused as such.
    let mut rec = good.clone();
    let other = Identity::generate().expect("identity");
    let forged = other
        .key_record(&fresh_account, Role::Occupational, now())
        .expect("key record");
    rec["sig"] = serde_json::to_value(&forged).expect("json")["sig"].clone();
    let body = json!({ "key_record": rec, "invite_code": code });
    raw.post_refused("/v1/accounts", &body, None, 400, "bad_key_record")
        .await;

    // Nothing was lost: the invitation was not used up by the refused attempts.
    raw.post_ok(
        "/v1/accounts",
        &json!({ "key_record": good, "invite_code": code }),
        None,
        201,
    )
    .await;
    still_serves(&raw, &fresh_account, &fresh).await;
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn missing_or_wrong_content_type_gets_415() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let body = json!({ "account": account }).to_string();
    let path = "/v1/auth/challenge";
    let resp = raw.post_typed(path, None, body.clone(), None).await;
    expect_error(resp, 415, "unsupported_media_type").await;
    let resp = raw
        .post_typed(path, Some("text/plain"), body.clone(), None)
        .await;
    expect_error(resp, 415, "unsupported_media_type").await;
    let token = login(&raw, &account, &id).await;
    let body = json!({ "label": "Case 1" }).to_string();
    let resp = raw.post_typed("/v1/cases", None, body, Some(&token)).await;
    expect_error(resp, 415, "unsupported_media_type").await;
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn oversized_bodies_get_413_body_too_large() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let mib = 1024 * 1024;
    let big = json!({ "invite_code": "A".repeat(mib) }).to_string();
    assert!(big.len() > mib);
    raw.post_bytes_refused("/v1/accounts", big.clone(), None, 413, "body_too_large")
        .await;
    raw.post_bytes_refused(
        "/v1/invitations/lookup",
        big.clone(),
        None,
        413,
        "body_too_large",
    )
    .await;
    // Just over the general limit.
    let over = json!({ "invite_code": "A".repeat(trialog_server::MAX_BODY) }).to_string();
    raw.post_bytes_refused("/v1/invitations/lookup", over, None, 413, "body_too_large")
        .await;

    // Envelopes have their own, larger limit: 1 MiB is read (and refused for its content),
    // beyond the envelope limit is refused for its size.
    let token = login(&raw, &account, &id).await;
    raw.post_bytes_refused("/v1/envelopes", big, Some(&token), 400, "malformed_json")
        .await;
    let huge = json!({ "header": "A".repeat(trialog_server::MAX_ENVELOPE_BODY) }).to_string();
    raw.post_bytes_refused("/v1/envelopes", huge, Some(&token), 413, "body_too_large")
        .await;
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn unknown_path_gets_404_not_found() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let token = login(&raw, &account, &id).await;
    for path in [
        "/v1/nope",
        "/nope",
        "/",
        "/v2/server",
        "/v1/cases/x/y/z",
        "/v1/accounts/me/keys",
    ] {
        expect_error(raw.get(path, None).await, 404, "not_found").await;
        expect_error(raw.get(path, Some(&token)).await, 404, "not_found").await;
    }
    raw.post_refused("/v1/nope", &json!({}), Some(&token), 404, "not_found")
        .await;
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn wrong_http_method_gets_a_clear_4xx() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let token = login(&raw, &account, &id).await;
    for (method, path) in [
        (reqwest::Method::DELETE, "/v1/accounts"),
        (reqwest::Method::GET, "/v1/auth/login"),
        (reqwest::Method::PUT, "/v1/cases"),
        (reqwest::Method::DELETE, "/v1/accounts/me"),
    ] {
        let resp = raw.request(method, path, Some(&token)).await;
        expect_error(resp, 405, "method_not_allowed").await;
    }
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn bad_id_or_query_gets_400_bad_parameter() {
    let (_app, raw, account, id) = server_with_a_physician().await;
    let token = login(&raw, &account, &id).await;
    let t = Some(token.as_str());
    for path in [
        "/v1/cases/nope",
        "/v1/cases/nope/consents",
        "/v1/cases/nope/audit",
        "/v1/consents/nope",
        "/v1/envelopes/nope",
        "/v1/accounts/nope",
        // Right prefix, wrong kind of id.
        "/v1/cases/acc_00000000000000000000000000000000",
        "/v1/envelopes/msg_0000",
        "/v1/inbox?all=maybe",
        "/v1/inbox?bogus=1",
        "/v1/directory?role=wizard",
        "/v1/directory?role=patient",
    ] {
        let m = expect_error(raw.get(path, t).await, 400, "bad_parameter").await;
        assert!(!m.is_empty(), "{path}");
    }
    // With a body of the right shape, so that only the id is wrong.
    let signed = json!({ "payload": "", "sig": "", "key": "" });
    for (path, body) in [
        (
            "/v1/cases/nope/confirm",
            json!({ "binding": signed, "sealed_label": "AAAA" }),
        ),
        ("/v1/cases/nope/members", json!({ "account": account })),
        (
            "/v1/cases/nope/members/nope/remove",
            json!({ "revocations": [] }),
        ),
    ] {
        raw.post_refused(path, &body, t, 400, "bad_parameter").await;
    }
    raw.post_bytes_refused(
        "/v1/envelopes/nope/ack",
        Vec::new(),
        t,
        400,
        "bad_parameter",
    )
    .await;
    // A well-formed id that does not exist is a 404, not a 400.
    let missing = "/v1/cases/case_00000000000000000000000000000000";
    expect_error(raw.get(missing, t).await, 404, "unknown_case").await;
    still_serves(&raw, &account, &id).await;
}

#[tokio::test]
async fn bad_or_reused_invitation_and_enrolment_codes_get_401() {
    let app = TestApp::spawn().await;
    let raw = Raw::new(&app);
    let bogus = "ABCD-EFGH-JKMN-PQRS-TVWX";
    raw.post_refused(
        "/v1/invitations/lookup",
        &json!({ "invite_code": bogus }),
        None,
        401,
        "bad_invitation",
    )
    .await;
    let (_, _, rec) = new_key_record(Role::Treating);
    let body = json!({ "key_record": rec, "invite_code": bogus });
    raw.post_refused("/v1/accounts", &body, None, 401, "bad_invitation")
        .await;

    // An invitation is used once; a role mismatch does not use it up.
    let code = app
        .invite(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
        .await;
    let (_, _, wrong_role) = new_key_record(Role::Advising);
    let body = json!({ "key_record": wrong_role, "invite_code": code });
    raw.post_refused("/v1/accounts", &body, None, 403, "role_mismatch")
        .await;
    let (treating, treating_id, rec) = new_key_record(Role::Treating);
    raw.post_ok(
        "/v1/accounts",
        &json!({ "key_record": rec, "invite_code": code }),
        None,
        201,
    )
    .await;
    let (_, _, rec) = new_key_record(Role::Treating);
    let body = json!({ "key_record": rec, "invite_code": code });
    raw.post_refused("/v1/accounts", &body, None, 401, "bad_invitation")
        .await;
    raw.post_refused(
        "/v1/invitations/lookup",
        &json!({ "invite_code": code }),
        None,
        401,
        "bad_invitation",
    )
    .await;
    // Neither or both codes.
    let (_, _, rec) = new_key_record(Role::Treating);
    raw.post_refused(
        "/v1/accounts",
        &json!({ "key_record": rec }),
        None,
        400,
        "code_kind",
    )
    .await;

    // An enrolment code is used once.
    let token = login(&raw, &treating, &treating_id).await;
    let opened = raw
        .post_ok(
            "/v1/cases",
            &json!({
                "case_id": trialog_protocol::CaseId::random().expect("randomness"),
                "sealed_label": B64::encode(&[1u8; 64]),
            }),
            Some(&token),
            201,
        )
        .await;
    let enrolment = opened["enrolment_code"].as_str().expect("code").to_owned();
    let (patient, patient_id, rec) = new_key_record(Role::Patient);
    let joined = raw
        .post_ok(
            "/v1/accounts",
            &json!({ "key_record": rec, "enrolment_code": enrolment }),
            None,
            201,
        )
        .await;
    assert_eq!(joined["case_id"], opened["case_id"]);
    let (intruder, _, rec) = new_key_record(Role::Patient);
    let body = json!({ "key_record": rec, "enrolment_code": enrolment });
    raw.post_refused("/v1/accounts", &body, None, 401, "bad_enrolment_code")
        .await;
    let (_, _, rec) = new_key_record(Role::Patient);
    let body = json!({ "key_record": rec, "enrolment_code": bogus });
    raw.post_refused("/v1/accounts", &body, None, 401, "bad_enrolment_code")
        .await;
    // The refused registrant left no account behind.
    let body = json!({ "account": intruder });
    raw.post_refused("/v1/auth/challenge", &body, None, 404, "unknown_account")
        .await;

    // Nothing was lost: the case still has its one patient, and both accounts log in.
    let case = opened["case_id"].as_str().expect("case id");
    let view = expect_ok(
        raw.get(&format!("/v1/cases/{case}"), Some(&token)).await,
        200,
    )
    .await;
    assert_eq!(view["patient"]["account"].as_str(), Some(patient.as_str()));
    still_serves(&raw, &patient, &patient_id).await;
    still_serves(&raw, &treating, &treating_id).await;
}

#[tokio::test]
async fn bad_login_signature_and_reused_nonce_get_401() {
    let (app, raw, account, id) = server_with_a_physician().await;
    let (other, other_id) = register_physician(&app, &raw, Role::Occupational, 234567, 4).await;
    let stranger = Identity::generate().expect("identity");

    // Signed by another key.
    let nonce = challenge(&raw, &account).await;
    let body = login_body(&account, &nonce, stranger.signing_key());
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_login_signature")
        .await;
    // A failed attempt writes nothing (a stranger cannot use anyone's challenges up): the
    // right signature over the same challenge still logs in, once.
    let body = login_body(&account, &nonce, id.signing_key());
    raw.post_ok("/v1/auth/login", &body, None, 200).await;
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_challenge")
        .await;

    // A signature of the wrong length.
    let nonce = challenge(&raw, &account).await;
    let body =
        json!({ "account": account, "nonce": B64::encode(&nonce), "sig": B64::encode(&[7u8; 32]) });
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_login_signature")
        .await;

    // The signature over another account's login message.
    let nonce = challenge(&raw, &account).await;
    let sig = id.signing_key().sign(&login_message(&other, &nonce));
    let body = json!({ "account": account, "nonce": B64::encode(&nonce), "sig": B64::encode(&sig.to_bytes()) });
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_login_signature")
        .await;

    // A nonce reused after a successful login.
    let nonce = challenge(&raw, &account).await;
    let body = login_body(&account, &nonce, id.signing_key());
    raw.post_ok("/v1/auth/login", &body, None, 200).await;
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_challenge")
        .await;

    // A nonce issued to another account, correctly signed by the one who uses it.
    let nonce = challenge(&raw, &other).await;
    let body = login_body(&account, &nonce, id.signing_key());
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_challenge")
        .await;
    // ...which the rightful account can still use.
    let body = login_body(&other, &nonce, other_id.signing_key());
    raw.post_ok("/v1/auth/login", &body, None, 200).await;

    // A nonce the server never issued.
    let body = login_body(&account, &[9u8; 32], id.signing_key());
    raw.post_refused("/v1/auth/login", &body, None, 401, "bad_challenge")
        .await;

    // An account that does not exist.
    let ghost = AccountId::random().expect("randomness");
    let body = login_body(&ghost, &[9u8; 32], stranger.signing_key());
    raw.post_refused("/v1/auth/login", &body, None, 404, "unknown_account")
        .await;
    raw.post_refused(
        "/v1/auth/challenge",
        &json!({ "account": ghost }),
        None,
        404,
        "unknown_account",
    )
    .await;

    still_serves(&raw, &account, &id).await;
    still_serves(&raw, &other, &other_id).await;
}
