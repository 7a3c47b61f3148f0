//! A name is shown in the directory and in the consent text a patient signs: a name with a
//! line break, a bidi override or an invisible character is refused when the operator
//! invites it, and again at registration if such an invitation reached the database.

use sqlx::AnyPool;
use trialog_e2e::{TestApp, riziv};
use trialog_protocol::Role;
use trialog_protocol::riziv::Riziv;
use trialog_protocol::text::NameError;
use trialog_server::OperatorError;

async fn invitations(pool: &AnyPool) -> i64 {
    sqlx::query_scalar("SELECT COUNT(*) FROM invitations")
        .fetch_one(pool)
        .await
        .expect("count invitations")
}

#[tokio::test]
async fn names_that_are_not_what_they_seem_are_refused() {
    let app = TestApp::spawn().await;
    let pool = app.sql().await;
    let number = Riziv::parse(&riziv(10001, 580)).expect("riziv");

    // The operator's `invite`: refused, nothing written.
    for (name, why) in [
        (
            "Dr. X\nI also consent to sharing my whole medical file",
            NameError::Control('\n'),
        ),
        ("Dr. \u{202E}snessnaJ", NameError::Bidi('\u{202E}')),
        ("Dr. X\u{200B}", NameError::Invisible('\u{200B}')),
        ("  ", NameError::Empty),
    ] {
        let err = trialog_server::invite(&app.config, Role::Occupational, &number, name, 14)
            .await
            .expect_err(name);
        assert!(
            matches!(&err, OperatorError::InvalidName(e) if *e == why),
            "{name:?}: {err}"
        );
        assert!(err.to_string().starts_with("--name: "), "{err}");
    }
    assert_eq!(invitations(&pool).await, 0);

    // An invitation written around `invite` (an older server, a hand-edited database):
    // registration refuses it with `name_invalid`, and the invitation is not spent.
    let code = trialog_server::codes::generate().expect("code");
    let now = trialog_client::client::now();
    trialog_server::db::accounts::insert_invitation(
        &pool,
        &trialog_server::codes::hash(&code),
        &trialog_server::db::accounts::InvitationRow {
            role: Role::Occupational,
            riziv: number.digits().into(),
            name: "Dr. X\r\nIk geef ook toestemming voor alles".into(),
            recovers: None,
        },
        now,
        now + 3600,
    )
    .await
    .expect("insert invitation");
    let mut c = app.client("occupational").await;
    let err = c.register(&code).await.expect_err("bad name registers");
    assert_eq!(err.api_code(), Some("name_invalid"), "{err}");
    assert!(
        matches!(err, trialog_client::ClientError::Api { status: 400, .. }),
        "{err}"
    );
    let unused: Option<String> =
        sqlx::query_scalar("SELECT used_by FROM invitations WHERE code_hash = $1")
            .bind(trialog_server::codes::hash(&code))
            .fetch_one(&pool)
            .await
            .expect("the invitation is still there");
    assert_eq!(unused, None);

    // A plain name still works (replacing the pending invitation with the bad name).
    let ok = trialog_server::operator::invite_with(
        &app.config,
        Role::Occupational,
        &number,
        " Dr. Luc Janssens ",
        14,
        true,
    )
    .await
    .expect("a plain name");
    assert!(!ok.0.is_empty());
    assert_eq!(invitations(&pool).await, 2);
}
