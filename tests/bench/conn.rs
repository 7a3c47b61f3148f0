//! One connection to the server, as the real client makes it (TLS 1.3 trusting only the
//! pinned certificate, HTTP/2 when the server offers it), sending bodies serialised before
//! the clock starts: on a 2-core machine shared with the server, every microsecond of
//! client work per request is taken from the server.

use ed25519_dalek::Signer;
use std::fmt;
use std::time::Duration;
use trialog_client::api::Api;
use trialog_protocol::AccountId;
use trialog_protocol::api::LoginRequest;
use trialog_protocol::auth::login_message;
use trialog_protocol::encoding::B64;
use trialog_protocol::keys::Identity;

use crate::error::{BenchError, Context};

/// A session token: sent as a bearer, never printed.
#[derive(Clone)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token([redacted])")
    }
}

/// Logs in as the account of `identity` with the client's own API and login message.
pub async fn login(
    url: &str,
    pin: [u8; 32],
    identity: &Identity,
    account: &AccountId,
) -> Result<Token, BenchError> {
    let api = Api::new(url, pin).context("API client")?;
    let ch = api.challenge(account).await.context("login challenge")?;
    let sig = identity
        .signing_key()
        .sign(&login_message(account, &ch.nonce.0));
    let resp = api
        .login(&LoginRequest {
            account: account.clone(),
            nonce: ch.nonce,
            sig: B64(sig.to_bytes().to_vec()),
        })
        .await
        .context("login")?;
    Ok(Token(resp.token))
}

/// What one request came to.
pub enum Outcome {
    /// A 2xx answer, its body read to the end.
    Ok(reqwest::Version),
    /// Anything else, by what a person would look up: the API's error code with the
    /// status, or the transport's failure.
    Err(String),
}

/// One TCP connection: its own `reqwest::Client`, so its own pool, used by one task one
/// request at a time.
pub struct Conn {
    http: reqwest::Client,
    base: String,
    token: Option<Token>,
}

/// No request waits longer: a server that stops answering ends the run with errors rather
/// than hanging it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl Conn {
    pub fn new(base: &str, pin: [u8; 32], token: Option<Token>) -> Result<Conn, BenchError> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(trialog_client::tls::pinned_config(pin))
            .timeout(REQUEST_TIMEOUT)
            .build()?;
        Ok(Conn {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// `GET /healthz`: no session, no database; TLS, HTTP and routing only.
    pub async fn healthz(&self) -> Outcome {
        finish(self.http.get(format!("{}/healthz", self.base)).send().await).await
    }

    /// `POST /v1/envelopes` with a body serialised beforehand (the JSON `Api` would send).
    pub async fn submit(&self, body: Vec<u8>) -> Outcome {
        let req = self
            .http
            .post(format!("{}/v1/envelopes", self.base))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body);
        finish(self.authorised(req).send().await).await
    }

    /// `GET /v1/inbox`: the first page of the session's inbox, no long poll.
    pub async fn inbox(&self, limit: u32) -> Outcome {
        let req = self
            .http
            .get(format!("{}/v1/inbox?wait=0&limit={limit}", self.base));
        finish(self.authorised(req).send().await).await
    }

    /// The first page of the inbox, counted: to check once what the timed requests list.
    pub async fn inbox_items(&self, limit: u32) -> Result<usize, String> {
        let req = self
            .http
            .get(format!("{}/v1/inbox?wait=0&limit={limit}", self.base));
        let resp = self
            .authorised(req)
            .send()
            .await
            .map_err(|e| transport(&e))?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| transport(&e))?;
        if !status.is_success() {
            return Err(api_error(status, &text));
        }
        let page: trialog_protocol::api::InboxPage =
            serde_json::from_str(&text).map_err(|e| format!("inbox page: {e}"))?;
        Ok(page.items.len())
    }

    fn authorised(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(Token(t)) => req.bearer_auth(t),
            None => req,
        }
    }
}

async fn finish(sent: Result<reqwest::Response, reqwest::Error>) -> Outcome {
    let resp = match sent {
        Ok(r) => r,
        Err(e) => return Outcome::Err(transport(&e)),
    };
    let (status, version) = (resp.status(), resp.version());
    // Read to the end either way: the answer is part of the request's cost.
    match resp.bytes().await {
        Ok(_) if status.is_success() => Outcome::Ok(version),
        Ok(body) => Outcome::Err(api_error(status, &String::from_utf8_lossy(&body))),
        Err(e) => Outcome::Err(transport(&e)),
    }
}

/// `409 replay`: the status and the API's stable code, never the message (it may name
/// ids) nor anything of the body beyond the code.
fn api_error(status: reqwest::StatusCode, body: &str) -> String {
    let code = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "(no code)".into());
    format!("{} {code}", status.as_u16())
}

fn transport(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timeout"
    } else if e.is_connect() {
        "connect"
    } else if e.is_body() || e.is_decode() {
        "body"
    } else {
        "request"
    };
    format!("transport: {kind}")
}
