//! Helpers for the end-to-end tests and the benchmark tool: start the real server over TLS
//! on a random port with a fresh database (SQLite, or PostgreSQL: see `database`), and
//! drive it with real clients.

pub mod database;

use std::path::PathBuf;
use tempfile::TempDir;
use trialog_client::api::Api;
use trialog_client::{Client, Grant, Home, Outgoing};
use trialog_protocol::api::{InvitationView, LoginRequest, MemberView};
use trialog_protocol::attestation::Attestation;
use trialog_protocol::auth::login_message;
use trialog_protocol::consent::Purpose;
use trialog_protocol::encoding::B64;
use trialog_protocol::envelope::{Envelope, EnvelopeHeader, seal};
use trialog_protocol::keys::VerifiedKeys;
use trialog_protocol::riziv::Riziv;
use trialog_protocol::{
    AccountId, CaseId, ConsentId, FieldId, Fingerprint, Lang, MessageId, MessageKind, Role,
};
use trialog_server::operator::AccountRef;
use trialog_server::operator_key::OperatorKey;
use trialog_server::state::Settings;
use trialog_server::{App, Config, OperatorError};

pub const PASSPHRASE: &str = "correct horse battery staple";

/// The operator key's passphrase in every test data directory.
pub const OPERATOR_PASSPHRASE: &str = "operator's own passphrase";

/// The label of the tests' case.
pub const LABEL: &str = "Case 2026-017 Vandenberghe";

/// Installs the one TLS provider of the process (ring). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A running server with its own data directory.
pub struct TestApp {
    pub url: String,
    pub cert_sha256: String,
    /// `http://ADDR/metrics` when the server has a metrics listener.
    pub metrics_url: Option<String>,
    pub data: TempDir,
    pub config: Config,
    /// The operator key of this data directory, unlocked once (as `trialog-server approve`
    /// unlocks it on each run).
    pub operator: OperatorKey,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    /// The `trialog-server` process serving, for a server started with [`TestApp::process`].
    process: Option<ServerProcess>,
    /// The arguments that process was started with (before and after `serve`), to start
    /// it again after a crash.
    serving: Option<(Vec<String>, Vec<String>)>,
}

impl TestApp {
    pub async fn spawn() -> TestApp {
        Self::spawn_with(Settings::default()).await
    }

    pub async fn spawn_with(settings: Settings) -> TestApp {
        Self::spawn_config(|c| c.settings = settings).await
    }

    /// A server that also serves `GET /metrics` over plain HTTP on a free port.
    pub async fn spawn_with_metrics() -> TestApp {
        Self::spawn_config(|c| c.metrics_listen = Some("127.0.0.1:0".parse().expect("addr"))).await
    }

    async fn spawn_config(set: impl FnOnce(&mut Config)) -> TestApp {
        install_tls_provider();
        let data = tempfile::tempdir().expect("temp dir");
        let mut config = config(data.path().join("server"));
        set(&mut config);
        let app = App::build(config.clone()).await.expect("server starts");
        let operator =
            OperatorKey::create(&config.data_dir, OPERATOR_PASSPHRASE).expect("operator key");
        let url = format!("https://{}", app.local_addr);
        let cert_sha256 = app.cert_sha256.clone();
        let metrics_url = app.metrics_addr.map(|a| format!("http://{a}/metrics"));
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = rx.await;
        }));
        TestApp {
            url,
            cert_sha256,
            metrics_url,
            data,
            config,
            operator,
            shutdown: Some(tx),
            task: Some(task),
            process: None,
            serving: None,
        }
    }

    /// The real `trialog-server` binary serving a fresh data directory, as the operator
    /// starts it: `global` arguments before `serve` (`--log-format json`), `serve_args`
    /// after it, its log lines (stderr) written to `logs`. The operator's commands and the
    /// clients work on it as on [`TestApp::spawn`]'s; it is killed on drop.
    pub async fn process(global: &[&str], serve_args: &[&str], logs: &std::path::Path) -> TestApp {
        install_tls_provider();
        let data = tempfile::tempdir().expect("temp dir");
        let config = config(data.path().join("server"));
        let process =
            ServerProcess::start_serving(&config.data_dir, global, serve_args, Some(logs));
        let operator =
            OperatorKey::create(&config.data_dir, OPERATOR_PASSPHRASE).expect("operator key");
        TestApp {
            url: process.url.clone(),
            cert_sha256: process.cert_sha256.clone(),
            metrics_url: process.metrics_url.clone(),
            data,
            config,
            operator,
            shutdown: None,
            task: None,
            process: Some(process),
            serving: Some((owned(global), owned(serve_args))),
        }
    }

    /// Starts the `trialog-server` process of [`TestApp::process`] again after [`stop`]
    /// killed it: the same data directory and database, the same arguments, and the same
    /// address, so the clients made before reconnect to it; its log lines go to `logs`.
    ///
    /// [`stop`]: TestApp::stop
    pub fn restart(&mut self, logs: &std::path::Path) {
        let (global, serve) = self
            .serving
            .as_ref()
            .expect("restart is for a server started with TestApp::process");
        assert!(
            self.process.is_none(),
            "stop the server before restarting it"
        );
        let address = self.url.trim_start_matches("https://").to_owned();
        // The address it had, in place of the one it was first given (port 0).
        let mut args: Vec<&str> = Vec::new();
        let mut given = serve.iter();
        while let Some(a) = given.next() {
            if a == "--listen" {
                given.next();
            } else {
                args.push(a);
            }
        }
        args.extend(["--listen", &address]);
        let global: Vec<&str> = global.iter().map(String::as_str).collect();
        let process =
            ServerProcess::start_serving(&self.config.data_dir, &global, &args, Some(logs));
        assert_eq!(process.url, self.url, "restarted on the same address");
        assert_eq!(
            process.cert_sha256, self.cert_sha256,
            "with the same certificate"
        );
        self.process = Some(process);
    }

    /// A second `trialog-server` process on this server's PostgreSQL database, as another
    /// replica of one deployment: the same server key, certificate and operator key, a data
    /// directory of its own (`name` under this app's). PostgreSQL only: replicas share one
    /// database.
    pub fn replica(&self, name: &str, logs: Option<&std::path::Path>) -> ServerProcess {
        let data = self.data.path().join(name);
        std::fs::create_dir_all(&data).expect("replica data directory");
        for f in [
            "server-key.pem",
            "tls-cert.pem",
            "tls-key.pem",
            "operator-key.pub",
        ] {
            let from = self.config.data_dir.join(f);
            if from.exists() {
                std::fs::copy(&from, data.join(f)).expect("copy to the replica");
            }
        }
        assert!(
            database::share(&self.config.data_dir, &data),
            "replicas need the suite to run on PostgreSQL"
        );
        let replica = ServerProcess::start_with(&data, "127.0.0.1:0", &[], logs);
        assert_eq!(
            replica.cert_sha256, self.cert_sha256,
            "one certificate for both"
        );
        replica
    }

    /// Stops the server and waits for it, so the database file is complete (a server
    /// process is killed, as a crash would).
    pub async fn stop(&mut self) {
        if let Some(p) = self.process.take() {
            p.kill();
        }
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// The SQLite file and its WAL (none on PostgreSQL: see `database::is_postgres`).
    pub fn database_files(&self) -> Vec<PathBuf> {
        if database::is_postgres() {
            return Vec::new();
        }
        let db = self.config.data_dir.join("trialog.db");
        vec![
            db.clone(),
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
        ]
    }

    pub fn database_path(&self) -> PathBuf {
        self.config.data_dir.join("trialog.db")
    }

    /// Every byte the database stores, to search for what must not be there: on SQLite the
    /// files (stop the server first, so they are complete), on PostgreSQL every column of
    /// every row of every table, as SQL reads them (its files belong to another user; what
    /// PostgreSQL keeps of destroyed rows until vacuum is its known limit, see the README).
    pub async fn stored_bytes(&self) -> Vec<u8> {
        if !database::is_postgres() {
            let mut all = Vec::new();
            for f in self.database_files() {
                if let Ok(b) = std::fs::read(&f) {
                    all.extend_from_slice(&b);
                }
            }
            return all;
        }
        use sqlx::Row;
        let pool = self.sql().await;
        let tables: Vec<String> = sqlx::query_scalar(
            // Trialog's tables (sqlx's own table of migrations holds only their SQL).
            "SELECT table_name::text FROM information_schema.tables
             WHERE table_schema = 'public' AND table_name NOT LIKE '\\_sqlx%'",
        )
        .fetch_all(&pool)
        .await
        .expect("list tables");
        let mut all = Vec::new();
        for t in tables {
            // Safe to splice: names read from the catalogue, quoted.
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT * FROM \"{t}\"")))
                .fetch_all(&pool)
                .await
                .expect("read table");
            for row in rows {
                for i in 0..row.len() {
                    if let Ok(Some(b)) = row.try_get::<Option<Vec<u8>>, _>(i) {
                        all.extend_from_slice(&b);
                    } else if let Ok(Some(s)) = row.try_get::<Option<String>, _>(i) {
                        all.extend_from_slice(s.as_bytes());
                    }
                    all.push(b'\n');
                }
            }
        }
        all
    }

    /// A pool on this server's database, for tests that read or tamper with what it
    /// stores (as an attacker with the database would).
    pub async fn sql(&self) -> sqlx::AnyPool {
        trialog_server::db::Db::open(&self.config.database_url())
            .await
            .expect("open the database")
            .pool()
            .clone()
    }

    /// The pending counts the quotas read (kept by triggers on every change to an
    /// envelope) agree with the envelopes whose ciphertext is still on the server.
    pub async fn assert_pending_counts_agree(&self) {
        let pool = self.sql().await;
        let kept: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT recipient, sender, pending, bytes FROM pending_queues
             WHERE pending <> 0 OR bytes <> 0 ORDER BY recipient, sender",
        )
        .fetch_all(&pool)
        .await
        .expect("the kept counts");
        let counted: Vec<(String, String, i64, i64)> = sqlx::query_as(
            "SELECT recipient, sender, COUNT(*), CAST(SUM(size) AS BIGINT) FROM envelopes
             WHERE fields IS NOT NULL GROUP BY recipient, sender ORDER BY recipient, sender",
        )
        .fetch_all(&pool)
        .await
        .expect("the envelopes counted");
        pool.close().await;
        assert_eq!(
            kept, counted,
            "the quotas' counts drifted from the envelopes"
        );
    }

    /// The operator's `trialog-server invite`.
    pub async fn invite(&self, role: Role, riziv: &str, name: &str) -> String {
        let riziv = Riziv::parse(riziv).expect("valid riziv");
        trialog_server::invite(&self.config, role, &riziv, name, 14)
            .await
            .expect("invite")
            .0
    }

    /// The operator key as onboarding strings carry it.
    pub fn operator_key(&self) -> String {
        self.operator.public_hex()
    }

    /// A fresh client home, initialised against this server with the operator key pinned
    /// (as from an onboarding string).
    pub async fn client(&self, who: &str) -> Client {
        let home = Home::new(self.data.path().join("clients").join(who));
        Client::init(
            home,
            &self.url,
            &self.cert_sha256,
            Some(&self.operator_key()),
            PASSPHRASE,
        )
        .await
        .expect("client init")
    }

    /// The operator's `trialog-server approve`: attests the key registered for `riziv`
    /// after comparing the fingerprint the physician read out (`typed`).
    pub async fn approve(&self, riziv: &str, typed: &str) -> Result<Attestation, OperatorError> {
        self.approve_as(riziv, typed, false).await
    }

    /// `trialog-server approve --recovery`: attests a key that replaces a lost one.
    pub async fn approve_recovery(
        &self,
        riziv: &str,
        typed: &str,
    ) -> Result<Attestation, OperatorError> {
        self.approve_as(riziv, typed, true).await
    }

    async fn approve_as(
        &self,
        riziv: &str,
        typed: &str,
        recovery: bool,
    ) -> Result<Attestation, OperatorError> {
        let who = AccountRef::Riziv(Riziv::parse(riziv).expect("valid riziv"));
        trialog_server::operator::approve(&self.config, &who, typed, &self.operator, recovery)
            .await
            .map(|a| a.attestation)
    }

    /// A registered physician whose key the operator attested, as every real one is: the
    /// one place the tests approve (the attack tests make unattested ones by hand).
    pub async fn physician(&self, role: Role, riziv: &str, name: &str) -> (Client, AccountId) {
        let (c, account) = self.unapproved_physician(role, riziv, name).await;
        self.approve(riziv, &c.fingerprint().short())
            .await
            .expect("approve");
        (c, account)
    }

    /// A registered physician the operator has not approved yet.
    pub async fn unapproved_physician(
        &self,
        role: Role,
        riziv: &str,
        name: &str,
    ) -> (Client, AccountId) {
        let code = self.invite(role, riziv, name).await;
        let mut c = self.client(name).await;
        let InvitationView { role: r, .. } = c.lookup_invitation(&code).await.expect("lookup");
        assert_eq!(r, role);
        let view = c.register(&code).await.expect("register");
        (c, view.account)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

/// The configuration of a server on the data directory `data`, on the suite's database.
pub fn config(data: impl Into<PathBuf>) -> Config {
    let data = data.into();
    let mut config = Config::new(data.clone(), "127.0.0.1:0".parse().expect("addr"));
    config.database_url = database::url_for(&data);
    config
}

/// `--database-url URL` for a server process on `data` when the suite runs on PostgreSQL.
pub fn database_args(data: &std::path::Path) -> Vec<String> {
    database::url_for(data)
        .map(|u| vec!["--database-url".to_owned(), u])
        .unwrap_or_default()
}

/// `trialog-server --data-dir DATA ARGS…` as the operator runs it (the operator key's
/// passphrase in the environment, the database the data directory's own), to completion.
pub fn server_cmd(data: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin_dir().join("trialog-server"))
        .arg("--data-dir")
        .arg(data)
        .args(database_args(data))
        .args(args)
        .env_remove("TRIALOG_DATABASE_URL")
        .env("TRIALOG_OPERATOR_PASSPHRASE", OPERATOR_PASSPHRASE)
        .output()
        .expect("run trialog-server")
}

/// A treating physician (RIZIV/INAMI number `n`) registered against the server process
/// `server` on `data`, in the client home `home`; not approved by the operator: the tests
/// that use it are about the server process, not about who may receive.
pub async fn process_physician(
    data: &std::path::Path,
    home: &std::path::Path,
    server: &ServerProcess,
    n: u32,
) -> Client {
    let config = config(data);
    let number = Riziv::parse(&riziv(n, 580)).expect("riziv");
    let code = trialog_server::invite(&config, Role::Treating, &number, "Dr. An Peeters", 14)
        .await
        .expect("invite")
        .0;
    let mut c = Client::init(
        Home::new(home),
        &server.url,
        &server.cert_sha256,
        None,
        PASSPHRASE,
    )
    .await
    .expect("init");
    c.register(&code).await.expect("register");
    c
}

/// A session of `client`'s account on the server at `url`, on connections of its own. A
/// `Client` serves one task at a time: tasks that load the server together each log in
/// with this, as separate clients would.
pub async fn session(client: &Client, url: &str, cert_sha256: &str) -> Api {
    use ed25519_dalek::Signer;
    let pin = trialog_client::tls::parse_pin(cert_sha256).expect("pin");
    let mut api = Api::new(url, pin).expect("api");
    let account = client.account().expect("a registered client").clone();
    let ch = api.challenge(&account).await.expect("challenge");
    let sig = client
        .identity()
        .signing_key()
        .sign(&login_message(&account, &ch.nonce.0));
    let token = api
        .login(&LoginRequest {
            account,
            nonce: ch.nonce,
            sig: B64(sig.to_bytes().to_vec()),
        })
        .await
        .expect("login")
        .token;
    api.set_token(token);
    api
}

/// Valid RIZIV/INAMI numbers for tests: the check digits are computed, not typed.
pub fn riziv(number: u32, qualification: u32) -> String {
    format!(
        "{number:06}{:02}{qualification:03}",
        Riziv::check_digits(number)
    )
}

/// The three physicians and the patient of one case, set up as the README describes:
/// invitations, registration, case opened, patient joined and confirmed, physicians added.
pub struct World {
    pub app: TestApp,
    pub treating: Client,
    pub treating_id: AccountId,
    pub occupational: Client,
    pub occupational_id: AccountId,
    pub advising: Client,
    pub advising_id: AccountId,
    pub patient: Client,
    pub patient_id: AccountId,
    pub case: CaseId,
}

impl World {
    pub async fn new() -> World {
        Self::with_app(TestApp::spawn().await).await
    }

    pub async fn with_app(app: TestApp) -> World {
        let (mut treating, treating_id) = app
            .physician(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
            .await;
        let (occupational, occupational_id) = app
            .physician(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
            .await;
        let (advising, advising_id) = app
            .physician(Role::Advising, &riziv(345678, 9), "Dr. Marie Dubois")
            .await;
        let opened = treating
            // Physicians name cases as they think of them, the patient's name included:
            // the label is sealed, and the leak guard treats it as revealing.
            .open_case(LABEL)
            .await
            .expect("open case");
        let mut patient = app.client("patient").await;
        let (view, case) = patient.join(&opened.enrolment_code).await.expect("join");
        assert_eq!(case, opened.case_id);
        treating
            .confirm_patient(&case, &view.fingerprint.short())
            .await
            .expect("confirm");
        patient
            .add_member(&case, &occupational_id)
            .await
            .expect("add occupational");
        patient
            .add_member(&case, &advising_id)
            .await
            .expect("add advising");
        World {
            app,
            treating,
            treating_id,
            occupational,
            occupational_id,
            advising,
            advising_id,
            patient,
            patient_id: view.account,
            case,
        }
    }
}

/// A consent as the patient grants it in the tests.
pub async fn grant(
    patient: &mut Client,
    case: &CaseId,
    to: &AccountId,
    fields: &[&str],
    share_medically: &[&str],
) -> trialog_protocol::consent::Consent {
    patient
        .grant(grant_request(case, to, fields, share_medically))
        .await
        .expect("grant")
        .0
}

/// What [`grant`] asks the patient's client for: no end date, the kinds and senders the
/// recipient's role implies, for a return to work, in English. Tests that need other terms
/// change those fields of it.
pub fn grant_request(
    case: &CaseId,
    to: &AccountId,
    fields: &[&str],
    share_medically: &[&str],
) -> Grant {
    Grant {
        case: case.clone(),
        to: to.clone(),
        fields: field_ids(fields),
        share_medically: field_ids(share_medically),
        until: None,
        kinds: None,
        senders: None,
        purpose: Purpose::ReturnToWork,
        lang: Lang::En,
    }
}

/// A field of the catalogue, by its id.
pub fn field(id: &str) -> FieldId {
    FieldId::parse(id).expect("known field")
}

/// Fields of the catalogue, by their ids.
pub fn field_ids(ids: &[&str]) -> Vec<FieldId> {
    ids.iter().map(|id| field(id)).collect()
}

impl World {
    /// A message of `kind` in this case to `to`, the leak guard left on.
    pub fn message(
        &self,
        to: &AccountId,
        kind: MessageKind,
        values: Vec<(FieldId, serde_json::Value)>,
    ) -> Outgoing {
        Outgoing {
            case: self.case.clone(),
            to: to.clone(),
            kind,
            values,
            override_leak_guard: false,
        }
    }

    /// The whole test bilan ([`bilan_values`], diagnosis included) in this case to `to`.
    pub fn bilan_to(&self, to: &AccountId) -> Outgoing {
        self.message(to, MessageKind::Bilan, bilan_values())
    }
}

/// The entry of `who` among a case's members, as the server lists them.
pub fn member<'a>(case: &'a trialog_client::VerifiedCase, who: &AccountId) -> &'a MemberView {
    case.view
        .members
        .iter()
        .find(|m| &m.account.account == who)
        .expect("a member of the case")
}

/// The header of a hand-built envelope from `from` to `to` (whose key has the fingerprint
/// `to_fp`) under `consent`, created now; [`seal_for`] fills in the manifest. Tests build
/// envelopes by hand to send what an honest client would refuse to.
pub fn envelope_header(
    case: &CaseId,
    from: &AccountId,
    to: &AccountId,
    to_fp: &Fingerprint,
    consent: &ConsentId,
    kind: MessageKind,
) -> EnvelopeHeader {
    EnvelopeHeader {
        message_id: MessageId::random().expect("randomness"),
        created_at: trialog_client::client::now(),
        kind,
        case_id: case.clone(),
        sender: from.clone(),
        recipient: to.clone(),
        recipient_fingerprint: to_fp.clone(),
        consent_id: consent.clone(),
        manifest: Vec::new(),
        leak_guard_override: false,
    }
}

/// Seals `values` under `header`, signed by `sender`'s key and encrypted to `to`'s, without
/// any of the checks the client's own `send` makes.
pub fn seal_for(
    sender: &Client,
    header: EnvelopeHeader,
    to: &VerifiedKeys,
    values: &[(FieldId, serde_json::Value)],
) -> Envelope {
    seal(sender.identity(), header, &to.devices, values).expect("seal")
}

/// Functional fields the tests' patient shares with the work-side physicians.
pub const FUNCTIONAL: &[&str] = &[
    "capacity.hours_per_week",
    "capacity.schedule",
    "limits.fatigue",
    "limits.physical",
    "limits.cognitive",
    "adaptations.recommended",
    "review.next_date",
];

/// A bilan as an oncologist writes it, diagnosis included.
pub fn bilan_values() -> Vec<(trialog_protocol::FieldId, serde_json::Value)> {
    use serde_json::json;
    vec![
        (field("capacity.hours_per_week"), json!(12)),
        (
            field("capacity.schedule"),
            json!("3 days of 4 hours, not 2 of 6; a break every 2 hours"),
        ),
        (
            field("limits.fatigue"),
            json!("Fatigue 6/10, worst in the afternoon"),
        ),
        (
            field("limits.physical"),
            json!("No lifting above 5 kg; reduced fine motor skills in both hands"),
        ),
        (
            field("limits.cognitive"),
            json!("Concentration holds about 45 minutes"),
        ),
        (
            field("adaptations.recommended"),
            json!("Telework two days a week; quiet workspace"),
        ),
        (field("review.next_date"), json!("2027-02-15")),
        (
            field("medical.diagnosis"),
            json!("Invasive ductal carcinoma of the left breast, C50.4"),
        ),
    ]
}

/// Where the `trialog` and `trialog-server` binaries are. Builds them once if this test
/// binary was built alone (`cargo test` builds a binary only for its own package's tests).
pub fn bin_dir() -> &'static std::path::Path {
    use std::path::Path;
    use std::process::Command;
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let exe = std::env::current_exe().expect("current exe");
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("target dir")
            .to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
        let mut build = Command::new(cargo);
        // Cargo describes the test's own package to the test binary in its environment;
        // ring's build script reruns when some of those variables change, so passing them on
        // made this build and the next `cargo test` rebuild ring and everything above it,
        // each undoing the other, on every run.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy();
            if name.starts_with("CARGO_PKG_")
                || name.starts_with("CARGO_BIN_")
                || name.starts_with("CARGO_MANIFEST_")
                || [
                    "CARGO_CRATE_NAME",
                    "CARGO_PRIMARY_PACKAGE",
                    "CARGO_TARGET_TMPDIR",
                ]
                .contains(&name.as_ref())
            {
                build.env_remove(name.as_ref());
            }
        }
        let status = build
            .args([
                "build",
                "--bins",
                "-p",
                "trialog-client",
                "-p",
                "trialog-server",
                "--manifest-path",
            ])
            .arg(&manifest)
            .status()
            .expect("run cargo build");
        assert!(status.success(), "building the binaries failed");
        assert!(
            dir.join("trialog").exists() && dir.join("trialog-server").exists(),
            "binaries not in {}",
            dir.display()
        );
        dir
    })
}

/// The real `trialog-server serve` binary in its own process; killed on drop.
pub struct ServerProcess {
    child: std::process::Child,
    pub url: String,
    pub cert_sha256: String,
    /// `http://ADDR/metrics`, if it was started with `--metrics-listen`.
    pub metrics_url: Option<String>,
}

impl ServerProcess {
    /// Starts `trialog-server --data-dir DATA serve --listen LISTEN` and reads the URL and
    /// certificate fingerprint it prints.
    pub fn start(data: &std::path::Path, listen: &str) -> ServerProcess {
        Self::start_with(data, listen, &[], None)
    }

    /// The same with more global arguments (`--log-format json`) and its log lines
    /// (stderr) written to `logs`.
    pub fn start_with(
        data: &std::path::Path,
        listen: &str,
        args: &[&str],
        logs: Option<&std::path::Path>,
    ) -> ServerProcess {
        Self::start_serving(data, args, &["--listen", listen], logs)
    }

    /// `trialog-server --data-dir DATA GLOBAL… serve SERVE_ARGS…` (on 127.0.0.1, port 0,
    /// unless `SERVE_ARGS` give `--listen`), its log lines written to `logs`.
    pub fn start_serving(
        data: &std::path::Path,
        global: &[&str],
        serve_args: &[&str],
        logs: Option<&std::path::Path>,
    ) -> ServerProcess {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let stderr = match logs {
            Some(p) => Stdio::from(std::fs::File::create(p).expect("log file")),
            None => Stdio::null(),
        };
        let mut child = Command::new(bin_dir().join("trialog-server"))
            .arg("--data-dir")
            .arg(data)
            .args(database_args(data))
            .args(global)
            .arg("serve")
            .args(if serve_args.contains(&"--listen") {
                &[][..]
            } else {
                &["--listen", "127.0.0.1:0"][..]
            })
            .args(serve_args)
            .env_remove("RUST_LOG")
            .env_remove("TRIALOG_DATABASE_URL")
            .env_remove("TRIALOG_METRICS_LISTEN")
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start trialog-server");
        let stdout = child.stdout.take().expect("server stdout");
        let (mut url, mut cert_sha256) = (String::new(), String::new());
        let mut metrics_url = None;
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            let line = line.expect("server output");
            if let Some(u) = line.strip_prefix("Trialog server listening on ") {
                url = u.trim().to_owned();
            }
            if let Some(u) = line.strip_prefix("Metrics on ") {
                metrics_url = Some(u.trim().to_owned());
            }
            if let Some(h) = line.strip_prefix("TLS certificate SHA-256: ") {
                cert_sha256 = h.trim().to_owned();
                break;
            }
        }
        assert!(
            url.starts_with("https://127.0.0.1:") && cert_sha256.len() == 64,
            "server did not start: {url} {cert_sha256}"
        );
        // Keep draining stdout so the server never writes into a closed pipe.
        std::thread::spawn(move || for _ in lines {});
        ServerProcess {
            child,
            url,
            cert_sha256,
            metrics_url,
        }
    }

    /// The server's process id (for its /proc figures).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`: no shutdown, no flush: what a crash looks like.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
