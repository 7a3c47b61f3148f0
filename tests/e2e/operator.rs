//! The operator's tools are safe (issue 8): `invite` refuses a data directory with no
//! server, a registered RIZIV/INAMI number and out-of-range validity; invitations are
//! listed with their state and can be revoked; a suspended account can neither log in,
//! send nor receive, and what is sent to it is held, then delivered once the suspension is
//! lifted. The library functions the CLI calls, and the real `trialog-server` binary.

use std::path::Path;
use std::process::{Command, Output};

use trialog_client::Client;
use trialog_e2e::{
    FUNCTIONAL, OPERATOR_PASSPHRASE, PASSPHRASE, TestApp, World, bin_dir, grant, riziv, server_cmd,
};
use trialog_protocol::Role;
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::riziv::Riziv;
use trialog_server::OperatorError;
use trialog_server::operator::{self, AccountRef, InvitationState};

fn number(n: u32, qualification: u32) -> Riziv {
    Riziv::parse(&riziv(n, qualification)).expect("riziv")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[tokio::test]
async fn invite_refuses_a_directory_with_no_server_and_creates_nothing() {
    let root = tempfile::tempdir().expect("tmp");
    // A directory that does not exist, and one that exists but where no server ran.
    let missing = root.path().join("typo");
    let empty = root.path().join("empty");
    std::fs::create_dir(&empty).expect("mkdir");
    for dir in [&missing, &empty] {
        let config = trialog_e2e::config(dir.as_path());
        let err = trialog_server::invite(
            &config,
            Role::Treating,
            &number(123456, 580),
            "Dr. An Peeters",
            14,
        )
        .await
        .expect_err("no server there");
        assert!(matches!(err, OperatorError::NoServer(_)), "{err}");
        assert!(err.to_string().contains("trialog-server serve"), "{err}");
        let listed = operator::list_invitations(&config).await.expect_err("list");
        assert!(matches!(listed, OperatorError::NoServer(_)), "{listed}");
        let suspended = operator::suspend(&config, &AccountRef::Riziv(number(123456, 580)))
            .await
            .expect_err("suspend");
        assert!(
            matches!(suspended, OperatorError::NoServer(_)),
            "{suspended}"
        );
    }
    assert!(!missing.exists(), "nothing created");
    assert_eq!(std::fs::read_dir(&empty).expect("read").count(), 0);

    // The real binary: a sentence, a non-zero exit, nothing created.
    let out = server_cmd(
        &missing,
        &[
            "invite",
            "--role",
            "treating",
            "--riziv",
            "1-23456-25-580",
            "--name",
            "Dr. An Peeters",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no Trialog server"),
        "{}",
        stderr(&out)
    );
    assert!(stdout(&out).is_empty(), "no code printed");
    assert!(!missing.exists(), "nothing created");
}

/// The operator key: made by the first `invite` with the operator's passphrase, never
/// without one; a wrong passphrase signs and stores nothing; the onboarding string carries
/// the public half, which is also what `serve` publishes.
#[tokio::test]
async fn the_operator_key_is_made_once_and_a_wrong_passphrase_signs_nothing() {
    trialog_e2e::install_tls_provider();
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("data");
    let server = trialog_e2e::ServerProcess::start(&data, "127.0.0.1:0");
    let invite = [
        "invite",
        "--role",
        "treating",
        "--riziv",
        "1-23456-25-580",
        "--name",
        "Dr. An Peeters",
    ];
    let run = |passphrase: Option<&str>| {
        let mut c = Command::new(bin_dir().join("trialog-server"));
        c.arg("--data-dir")
            .arg(&data)
            .args(trialog_e2e::database_args(&data))
            .args(invite);
        c.env_remove("TRIALOG_OPERATOR_PASSPHRASE")
            .stdin(std::process::Stdio::null());
        if let Some(p) = passphrase {
            c.env("TRIALOG_OPERATOR_PASSPHRASE", p);
        }
        c.output().expect("run trialog-server")
    };

    // No passphrase and no terminal to ask on: refused, nothing made.
    let out = run(None);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("TRIALOG_OPERATOR_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
    assert!(!data.join("operator-key.age").exists());
    // Too short a passphrase for a new key.
    let out = run(Some("short"));
    assert!(
        !out.status.success() && stderr(&out).contains("at least 10"),
        "{}",
        stderr(&out)
    );

    let out = run(Some(OPERATOR_PASSPHRASE));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Created the operator key"),
        "{}",
        stderr(&out)
    );
    let onboarding = stdout(&out).lines().nth(1).expect("onboarding").to_owned();
    let carried = Onboarding::decode(&onboarding)
        .expect("decodes")
        .operator_key
        .expect("the string carries the operator key");
    let published = std::fs::read_to_string(data.join("operator-key.pub")).expect("pub");
    assert_eq!(carried, published.trim());
    let info = trialog_client::api::Api::new(
        &server.url,
        trialog_client::tls::parse_pin(&server.cert_sha256).expect("pin"),
    )
    .expect("api")
    .server_info()
    .await
    .expect("server info");
    assert_eq!(
        info.operator_key.map(|k| hex::encode(k.0)).as_deref(),
        Some(carried.as_str())
    );

    // A wrong passphrase: refused before anything is stored.
    let list = |data: &Path| {
        let out = server_cmd(data, &["invitations", "list", "--json"]);
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("json")
    };
    let before = list(&data);
    let out = run(Some("not the operator's passphrase"));
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("passphrase is wrong"),
        "{}",
        stderr(&out)
    );
    assert_eq!(list(&data), before);
}

#[tokio::test]
async fn invite_refuses_registered_numbers_pending_ones_and_bad_validity() {
    let w = World::new().await;
    let config = &w.app.config;

    // Registered: refused, with the way forward.
    let err = trialog_server::invite(
        config,
        Role::Occupational,
        &number(234567, 4),
        "Dr. Luc Janssens",
        14,
    )
    .await
    .expect_err("registered");
    assert!(
        matches!(err, OperatorError::RizivRegistered { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("--recovery"), "{err}");

    // Validity: 1..=90 days.
    for days in [0, -3, 91, 365] {
        let err = trialog_server::invite(config, Role::Advising, &number(456789, 9), "X", days)
            .await
            .expect_err("out of range");
        assert!(
            matches!(err, OperatorError::ValidDays(d) if d == days),
            "{err}"
        );
    }
    trialog_server::invite(
        config,
        Role::Advising,
        &number(456789, 9),
        "Dr. Els Maes",
        90,
    )
    .await
    .expect("90 days");

    // A pending invitation for the same number: refused, unless replaced.
    let err = trialog_server::invite(
        config,
        Role::Advising,
        &number(456789, 9),
        "Dr. Els Maes",
        14,
    )
    .await
    .expect_err("pending");
    assert!(matches!(err, OperatorError::InvitationPending(_)), "{err}");
    let replacement = operator::invite_with(
        config,
        Role::Advising,
        &number(456789, 9),
        "Dr. Els Maes",
        14,
        true,
    )
    .await
    .expect("replace")
    .0;
    let states: Vec<_> = operator::list_invitations(config)
        .await
        .expect("list")
        .into_iter()
        .filter(|i| i.riziv == number(456789, 9).to_string())
        .map(|i| i.state)
        .collect();
    assert_eq!(
        states,
        [InvitationState::Revoked, InvitationState::Pending],
        "the replaced one is revoked"
    );
    let mut c = w.app.client("maes").await;
    c.register(&replacement)
        .await
        .expect("the replacement works");

    // The real binary: --valid-days is bounded by the parser.
    let data = &config.data_dir;
    for days in ["0", "91"] {
        let out = server_cmd(
            data,
            &[
                "invite",
                "--role",
                "advising",
                "--riziv",
                "5-67890-45-009",
                "--name",
                "Dr. Nora Claes",
                "--valid-days",
                days,
            ],
        );
        assert!(!out.status.success(), "--valid-days {days}");
        assert!(stderr(&out).contains("1..=90"), "{}", stderr(&out));
    }
    let out = server_cmd(
        data,
        &[
            "invite",
            "--role",
            "occupational",
            "--riziv",
            "2-34567-76-004",
            "--name",
            "Dr. Luc Janssens",
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already registered"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn invitations_are_listed_with_their_state_and_revoked_or_expired_ones_do_not_register() {
    let app = TestApp::spawn().await;
    let config = &app.config;
    let data = config.data_dir.clone();
    let (_used, _) = app
        .physician(Role::Treating, &riziv(123456, 580), "Dr. An Peeters")
        .await;
    let revoked = app
        .invite(Role::Occupational, &riziv(234567, 4), "Dr. Luc Janssens")
        .await;
    let _pending = app
        .invite(Role::Advising, &riziv(345678, 9), "Dr. Marie Dubois")
        .await;
    // An invitation past its expiry, written as `invite` writes it.
    let expired = trialog_server::codes::generate().expect("code");
    let db = trialog_server::db::Db::open(&config.database_url())
        .await
        .expect("db");
    let now = trialog_client::client::now();
    trialog_server::db::accounts::insert_invitation(
        db.pool(),
        &trialog_server::codes::hash(&expired),
        &trialog_server::db::accounts::InvitationRow {
            role: Role::Occupational,
            riziv: riziv(456789, 4),
            name: "Dr. Eva Claes".into(),
            recovers: None,
        },
        now - 15 * 24 * 3600,
        now - 3600,
    )
    .await
    .expect("insert");
    db.close().await;

    // Revoked through the real binary.
    let out = server_cmd(
        &data,
        &["invitations", "revoke", "--riziv", "2-34567-76-004"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("revoked"), "{}", stdout(&out));
    let again = operator::revoke_invitation(config, &number(234567, 4))
        .await
        .expect_err("nothing left to revoke");
    assert!(
        matches!(again, OperatorError::NothingToRevoke(_)),
        "{again}"
    );

    // Neither a revoked nor an expired code registers.
    for code in [&revoked, &expired] {
        let mut c = app.client(&format!("c{}", &code[..4])).await;
        let e = c.register(code).await.expect_err("refused");
        assert_eq!(e.api_code(), Some("bad_invitation"), "{e}");
    }

    // The list: every state, never a code.
    let list = operator::list_invitations(config).await.expect("list");
    let states: Vec<_> = list.iter().map(|i| (i.name.as_str(), i.state)).collect();
    assert_eq!(
        states,
        [
            ("Dr. Eva Claes", InvitationState::Expired),
            ("Dr. An Peeters", InvitationState::Used),
            ("Dr. Luc Janssens", InvitationState::Revoked),
            ("Dr. Marie Dubois", InvitationState::Pending),
        ]
    );
    let out = server_cmd(&data, &["invitations", "list", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("JSON");
    let states: Vec<_> = json
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["expired", "used", "revoked", "pending"]);
    assert_eq!(json[2]["riziv"], "2-34567-76-004");
    let out = server_cmd(&data, &["invitations", "list"]);
    let table = stdout(&out);
    assert!(table.starts_with("ROLE"), "{table}");
    for word in ["expired", "used", "revoked", "pending", "Dr. Marie Dubois"] {
        assert!(table.contains(word), "{word}: {table}");
    }
    for code in [&revoked, &expired] {
        let plain = trialog_server::codes::normalize(code);
        assert!(!table.contains(code.as_str()) && !table.contains(&plain));
        assert!(!json.to_string().contains(&plain));
    }
}

#[tokio::test]
async fn a_suspended_physician_cannot_log_in_send_or_read_and_their_mail_is_held() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let config = w.app.config.clone();
    // Logged in before the suspension: the token it holds must stop working.
    assert!(w.occupational.inbox().await.expect("inbox").is_empty());

    let occ = AccountRef::Id(w.occupational_id.clone());
    let id = operator::suspend(&config, &occ).await.expect("suspend");
    assert_eq!(id, w.occupational_id);
    let again = operator::suspend(&config, &occ).await.expect_err("twice");
    assert!(
        matches!(again, OperatorError::AlreadySuspended(_)),
        "{again}"
    );

    // Its token: refused, with the new code, on every authenticated route.
    let e = w.occupational.inbox().await.expect_err("inbox");
    assert_eq!(e.api_code(), Some("account_suspended"), "{e}");
    assert!(
        matches!(e, trialog_client::ClientError::Api { status: 403, .. }),
        "{e}"
    );
    for lang in [
        trialog_protocol::Lang::Nl,
        trialog_protocol::Lang::Fr,
        trialog_protocol::Lang::En,
    ] {
        let sentence = trialog_client::i18n::explain(&e, lang);
        assert!(sentence.ends_with("[account_suspended]"), "{sentence}");
    }
    assert!(trialog_client::i18n::explain(&e, trialog_protocol::Lang::En).contains("suspended"));
    // A new login: refused.
    let mut fresh = Client::open(w.occupational.home().clone(), PASSPHRASE).expect("open");
    let e = fresh.inbox().await.expect_err("login");
    assert_eq!(e.api_code(), Some("account_suspended"), "{e}");

    // A bilan to it is accepted (the sender learns nothing) and held: not listed, not
    // fetchable.
    let sent = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("accepted while suspended");
    let e = w
        .occupational
        .read(&sent.message_id)
        .await
        .expect_err("held");
    assert_eq!(e.api_code(), Some("account_suspended"), "{e}");

    // A suspended sender cannot send.
    let treating = AccountRef::Riziv(number(123456, 580));
    operator::suspend(&config, &treating)
        .await
        .expect("suspend");
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect_err("suspended sender");
    assert_eq!(e.api_code(), Some("account_suspended"), "{e}");
    operator::unsuspend(&config, &treating).await.expect("lift");

    // Lifted: the same token works again, the held bilan is listed and read.
    operator::unsuspend(&config, &occ).await.expect("unsuspend");
    let again = operator::unsuspend(&config, &occ).await.expect_err("twice");
    assert!(matches!(again, OperatorError::NotSuspended(_)), "{again}");
    let inbox = w.occupational.inbox().await.expect("inbox");
    assert_eq!(inbox.len(), 1);
    assert_eq!(inbox[0].message_id, sent.message_id);
    let read = w.occupational.read(&sent.message_id).await.expect("read");
    assert_eq!(read.sender, w.treating_id);
    fresh.inbox().await.expect("a new login works again");

    // The directory's chain records both, verified by the client against the checkpoint.
    let log = w.advising.directory_audit().await.expect("verified log");
    let about = |who: &trialog_protocol::AccountId, ev: AuditEvent| {
        log.iter()
            .filter(|e| e.event == ev && e.subject.as_deref() == Some(who.as_str()))
            .count()
    };
    assert_eq!(about(&w.occupational_id, AuditEvent::AccountSuspended), 1);
    assert_eq!(about(&w.occupational_id, AuditEvent::AccountUnsuspended), 1);
    assert_eq!(about(&w.treating_id, AuditEvent::AccountSuspended), 1);
    assert_eq!(about(&w.treating_id, AuditEvent::AccountUnsuspended), 1);
    let suspended_at = log
        .iter()
        .position(|e| e.event == AuditEvent::AccountSuspended)
        .expect("suspension");
    let lifted_at = log
        .iter()
        .rposition(|e| e.event == AuditEvent::AccountUnsuspended)
        .expect("lift");
    assert!(suspended_at < lifted_at);
}

#[tokio::test]
async fn suspend_and_unsuspend_with_the_real_binary() {
    let mut w = World::new().await;
    let data = w.app.config.data_dir.clone();
    let id = w.advising_id.to_string();
    let out = server_cmd(&data, &["suspend", "--account", &id]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("suspended"), "{}", stdout(&out));
    let e = w.advising.inbox().await.expect_err("suspended");
    assert_eq!(e.api_code(), Some("account_suspended"), "{e}");
    let out = server_cmd(&data, &["suspend", "--account", &id]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already suspended"),
        "{}",
        stderr(&out)
    );
    // Exactly one of --account and --riziv.
    let out = server_cmd(&data, &["suspend"]);
    assert!(!out.status.success());
    let out = server_cmd(&data, &["unsuspend", "--riziv", "3-45678-30-009"]);
    assert!(out.status.success(), "{}", stderr(&out));
    w.advising.inbox().await.expect("works again");
    let out = server_cmd(&data, &["unsuspend", "--riziv", "5-67890-45-009"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("no account"), "{}", stderr(&out));
}
