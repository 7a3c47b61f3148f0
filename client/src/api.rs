//! The HTTP API client: one method per endpoint, JSON in and out, TLS pinned.

use reqwest::Method;
use serde::Serialize;
use serde::de::DeserializeOwned;
use trialog_protocol::api::*;
use trialog_protocol::envelope::Envelope;
use trialog_protocol::{AccountId, CaseId, ConsentId, MessageId, Role};

use crate::cert_follow::Follow;
use crate::error::ClientError;
use crate::tls::Pin;
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    pin: Pin,
    /// Set once the server key is pinned: a rotated certificate it vouches for is followed.
    follow: Option<Arc<Follow>>,
}

impl Api {
    pub fn new(server: &str, cert_sha256: [u8; 32]) -> Result<Api, ClientError> {
        let pin = Pin::new(cert_sha256);
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::tls::shared_pinned_config(&pin))
            // Long enough for the longest inbox long poll.
            .timeout(std::time::Duration::from_secs(90))
            .build()?;
        Ok(Api {
            http,
            base: server.trim_end_matches('/').to_owned(),
            token: None,
            pin,
            follow: None,
        })
    }

    /// Follows a certificate change the pinned server key vouches for (`cert_follow`).
    pub fn follow_certificates(&mut self, follow: Arc<Follow>) {
        self.follow = Some(follow);
    }

    /// The certificate pinned now (it moves when a change is followed).
    pub fn pin(&self) -> &Pin {
        &self.pin
    }

    pub fn follower(&self) -> Option<&Arc<Follow>> {
        self.follow.as_ref()
    }

    pub fn set_token(&mut self, token: String) {
        self.token = Some(token);
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends one request; maps any non-2xx answer to `ClientError::Api`.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<R, ClientError> {
        let text = self.call_raw(method, path, body).await?;
        let text = if text.is_empty() {
            "null".to_owned()
        } else {
            text
        };
        serde_json::from_str(&text).map_err(|e| ClientError::BadResponse(e.to_string()))
    }

    pub async fn call_raw<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<String, ClientError> {
        Ok(self.answered(method, path, body).await?.text().await?)
    }

    /// Sends and returns a 2xx answer, its body unread; any other answer becomes
    /// `ClientError::Api`.
    async fn answered<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, ClientError> {
        let before = self.pin.current();
        let resp = match self.send(method.clone(), path, body).await {
            Ok(resp) => resp,
            Err(e) => match (self.pin.take_refused(), &self.follow) {
                // The handshake met another certificate: nothing was sent, not even the
                // token. Once followed, the request is made again, once.
                (Some(_), Some(f)) => {
                    f.follow(&self.base, &self.pin, before, e.into()).await?;
                    self.send(method, path, body).await?
                }
                _ => return Err(e.into()),
            },
        };
        if resp.status().is_success() {
            return Ok(resp);
        }
        Err(error_of(resp).await)
    }

    /// Sends once; a GET that failed on a pooled connection the server had closed (a
    /// restart, a crash) is sent once more, on a new connection: it changes nothing, and
    /// a person would otherwise see one "cannot reach the server" right after a restart.
    /// A refused certificate is a connect error and is left to `call_raw`.
    async fn send<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        match self.send_once(method.clone(), path, body).await {
            Err(e)
                if method == Method::GET
                    && e.is_request()
                    && !e.is_connect()
                    && !e.is_timeout() =>
            {
                self.send_once(method, path, body).await
            }
            r => r,
        }
    }

    async fn send_once<B: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut req = self
            .http
            .request(method, format!("{}/v1{}", self.base, path));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        req.send().await
    }

    async fn get<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call::<(), R>(Method::GET, path, None).await
    }

    async fn post<B: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<R, ClientError> {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn device_link(&self) -> Result<DeviceLinkCode, ClientError> {
        self.call::<(), _>(Method::POST, "/accounts/me/device-links", None)
            .await
    }
    pub async fn claim_device_link(
        &self,
        req: &ClaimDeviceLink,
    ) -> Result<ClaimedDeviceLink, ClientError> {
        self.post("/device-links", req).await
    }
    pub async fn waiting_devices(&self) -> Result<Vec<DeviceLinkView>, ClientError> {
        self.get("/accounts/me/device-links").await
    }
    pub async fn approve_device(
        &self,
        link_id: &str,
        req: &ApproveDeviceLink,
    ) -> Result<(), ClientError> {
        self.post(&format!("/accounts/me/device-links/{link_id}/approve"), req)
            .await
    }
    pub async fn collect_device_link(&self, link_id: &str) -> Result<DeviceLinkState, ClientError> {
        self.get(&format!("/device-links/{link_id}")).await
    }
    pub async fn put_devices(&self, req: &PutDevices) -> Result<(), ClientError> {
        self.call(Method::PUT, "/accounts/me/devices", Some(req))
            .await
    }

    pub async fn server_info(&self) -> Result<ServerInfo, ClientError> {
        self.get("/server").await
    }
    /// The server key's statement for the certificate the server presents.
    pub async fn certificate(
        &self,
    ) -> Result<trialog_protocol::certificate::CertificateView, ClientError> {
        self.get("/certificate").await
    }
    pub async fn lookup_enrolment(&self, code: &str) -> Result<EnrolmentView, ClientError> {
        self.post(
            "/enrolments/lookup",
            &EnrolmentLookup {
                enrolment_code: code.into(),
            },
        )
        .await
    }
    pub async fn reissue_enrolment(&self, id: &CaseId) -> Result<OpenCaseResponse, ClientError> {
        self.post(&format!("/cases/{id}/enrolment"), &()).await
    }
    pub async fn lookup_invitation(&self, code: &str) -> Result<InvitationView, ClientError> {
        self.post(
            "/invitations/lookup",
            &InvitationLookup {
                invite_code: code.into(),
            },
        )
        .await
    }
    pub async fn register(&self, req: &RegisterRequest) -> Result<RegisterResponse, ClientError> {
        self.post("/accounts", req).await
    }
    pub async fn challenge(&self, account: &AccountId) -> Result<ChallengeResponse, ClientError> {
        self.post(
            "/auth/challenge",
            &ChallengeRequest {
                account: account.clone(),
            },
        )
        .await
    }
    pub async fn login(&self, req: &LoginRequest) -> Result<LoginResponse, ClientError> {
        self.post("/auth/login", req).await
    }
    pub async fn me(&self) -> Result<AccountView, ClientError> {
        self.get("/accounts/me").await
    }
    pub async fn account(&self, id: &AccountId) -> Result<AccountView, ClientError> {
        self.get(&format!("/accounts/{id}")).await
    }
    pub async fn directory(
        &self,
        role: Option<Role>,
        q: Option<&str>,
    ) -> Result<Vec<AccountView>, ClientError> {
        let mut params = Vec::new();
        if let Some(r) = role {
            params.push(format!("role={r}"));
        }
        if let Some(q) = q {
            params.push(format!("q={}", encode_query(q)));
        }
        self.get(&format!("/directory?{}", params.join("&"))).await
    }
    pub async fn open_case(&self, req: &OpenCaseRequest) -> Result<OpenCaseResponse, ClientError> {
        self.post("/cases", req).await
    }
    pub async fn cases(&self) -> Result<Vec<CaseView>, ClientError> {
        self.get("/cases").await
    }
    pub async fn case(&self, id: &CaseId) -> Result<CaseView, ClientError> {
        self.get(&format!("/cases/{id}")).await
    }
    pub async fn confirm_patient(
        &self,
        id: &CaseId,
        req: &ConfirmPatientRequest,
    ) -> Result<CaseView, ClientError> {
        self.post(&format!("/cases/{id}/confirm"), req).await
    }
    pub async fn add_member(
        &self,
        id: &CaseId,
        account: &AccountId,
    ) -> Result<CaseView, ClientError> {
        self.post(
            &format!("/cases/{id}/members"),
            &AddMemberRequest {
                account: account.clone(),
            },
        )
        .await
    }
    pub async fn remove_member(
        &self,
        id: &CaseId,
        account: &AccountId,
        req: &RemoveMemberRequest,
    ) -> Result<RemoveMemberResponse, ClientError> {
        self.post(&format!("/cases/{id}/members/{account}/remove"), req)
            .await
    }
    /// The signed headers of what is unread for this consent's recipient (patient).
    pub async fn consent_pending(
        &self,
        id: &ConsentId,
    ) -> Result<
        Vec<trialog_protocol::Signed<trialog_protocol::envelope::EnvelopeHeader>>,
        ClientError,
    > {
        self.get(&format!("/consents/{id}/pending")).await
    }
    pub async fn consents(&self, id: &CaseId) -> Result<Vec<ConsentView>, ClientError> {
        self.get(&format!("/cases/{id}/consents")).await
    }
    pub async fn consent(&self, id: &ConsentId) -> Result<ConsentView, ClientError> {
        self.get(&format!("/consents/{id}")).await
    }
    pub async fn submit_consent(
        &self,
        req: &SubmitConsentRequest,
    ) -> Result<SubmitConsentResponse, ClientError> {
        self.post("/consents", req).await
    }
    pub async fn revoke(
        &self,
        id: &ConsentId,
        req: &RevokeRequest,
    ) -> Result<RevokeResponse, ClientError> {
        self.post(&format!("/consents/{id}/revoke"), req).await
    }
    pub async fn submit_envelope(
        &self,
        env: &Envelope,
    ) -> Result<SubmitEnvelopeResponse, ClientError> {
        self.post("/envelopes", env).await
    }
    /// One page of the inbox. `wait`: seconds to wait for a message when it is empty
    /// (long poll, ≤ 60); `after`: the previous page's `next`.
    pub async fn inbox_page(
        &self,
        wait: u64,
        limit: u32,
        after: Option<&str>,
    ) -> Result<InboxPage, ClientError> {
        let mut path = format!("/inbox?wait={wait}&limit={limit}");
        if let Some(a) = after {
            path.push_str(&format!("&after={}", encode_query(a)));
        }
        self.get(&path).await
    }
    /// Every pending message, page after page.
    pub async fn inbox_wait(&self, wait: u64) -> Result<Vec<InboxItem>, ClientError> {
        let mut page = self.inbox_page(wait, 200, None).await?;
        let mut items = std::mem::take(&mut page.items);
        while let Some(next) = page.next.take() {
            page = self.inbox_page(0, 200, Some(&next)).await?;
            items.append(&mut page.items);
        }
        Ok(items)
    }
    pub async fn envelope(&self, id: &MessageId) -> Result<EnvelopeView, ClientError> {
        self.get(&format!("/envelopes/{id}")).await
    }
    pub async fn acknowledge(&self, id: &MessageId) -> Result<(), ClientError> {
        self.call_raw::<()>(Method::POST, &format!("/envelopes/{id}/ack"), None)
            .await
            .map(|_| ())
    }
    /// Opens the live event stream after event `after` (from now on when `None`).
    pub async fn events(
        &self,
        after: Option<i64>,
    ) -> Result<crate::live::EventStream, ClientError> {
        let path = match after {
            Some(id) => format!("/events?after={id}"),
            None => "/events".to_owned(),
        };
        let resp = self.answered::<()>(Method::GET, &path, None).await?;
        Ok(crate::live::EventStream::new(resp))
    }
    pub async fn directory_audit(&self) -> Result<AuditView, ClientError> {
        self.get("/directory/audit").await
    }
    pub async fn audit(&self, id: &CaseId) -> Result<AuditView, ClientError> {
        self.get(&format!("/cases/{id}/audit")).await
    }
}

/// The error a non-2xx answer carries (its code and sentence), or one made of its status.
async fn error_of(resp: reqwest::Response) -> ClientError {
    let status = resp.status();
    let text = match resp.text().await {
        Ok(t) => t,
        Err(e) => return e.into(),
    };
    let err: ErrorBody = serde_json::from_str(&text).unwrap_or(ErrorBody {
        code: trialog_protocol::Code::Unknown,
        message: status.canonical_reason().unwrap_or("error").into(),
        reason: None,
    });
    ClientError::Api {
        status: status.as_u16(),
        code: err.code,
        message: err.message,
        reason: err.reason,
    }
}

/// Percent-encodes a query value (only unreserved characters pass through).
fn encode_query(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
