//! Several devices per account (DESIGN.md §2.5): a device added from an existing one after
//! the person compared its fingerprint, every field encrypted to every current device, a
//! removed device that cannot read what is sent after, and a server that cannot bring a
//! removed device back or slip in a device of its own.

use trialog_client::client::DeviceRequest;
use trialog_client::{Client, ClientError, Home};
use trialog_e2e::{FUNCTIONAL, PASSPHRASE, World, grant};
use trialog_protocol::devices::{Device, DeviceList};
use trialog_protocol::{MessageId, Signed};

use crate::attacks::db;

/// A new, empty home set up from `onboarding` (as `trialog device add` does), claiming it.
async fn new_device(w: &World, dir: &str, onboarding: &str, name: &str) -> (Client, DeviceRequest) {
    let o = trialog_protocol::onboarding::Onboarding::decode(onboarding).expect("string");
    let mut c = Client::init_from(
        Home::new(w.app.data.path().join("clients").join(dir)),
        &o,
        PASSPHRASE,
    )
    .await
    .expect("init");
    let req = c.request_device(&o.code, name).await.expect("claim");
    (c, req)
}

/// The field ciphertexts of the envelope `id`, fetched by `reader`, not acknowledged.
async fn ciphertexts(reader: &mut Client, id: &MessageId) -> Vec<Vec<u8>> {
    let env = reader
        .api()
        .await
        .expect("api")
        .envelope(id)
        .await
        .expect("fetch");
    env.envelope
        .fields
        .into_iter()
        .map(|f| f.ciphertext.0)
        .collect()
}

/// Whether `device`'s own encryption key opens every one of `cts`.
fn opens(cts: &[Vec<u8>], device: &Client) -> bool {
    cts.iter()
        .all(|ct| age::decrypt(device.identity().age_identity(), ct).is_ok())
}

#[tokio::test]
async fn a_device_added_after_comparison_reads_and_a_removed_one_does_not() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;

    // The existing device shows a string; the new one claims it and shows its fingerprint.
    let (link, _) = w.occupational.device_link().await.expect("link");
    let (mut laptop, req) = new_device(&w, "janssens-laptop", &link.encode(), "laptop").await;
    // A code works once.
    let mut other = Client::init_from(
        Home::new(w.app.data.path().join("clients").join("intruder")),
        &link,
        PASSPHRASE,
    )
    .await
    .expect("init");
    let again = other.request_device(&link.code, "intruder").await;
    assert_eq!(again.expect_err("used").api_code(), Some("bad_device_link"));

    let waiting = w.occupational.waiting_devices().await.expect("waiting");
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].1, req.fingerprint);
    // Not approved yet: the new device keeps waiting.
    assert!(
        !laptop
            .complete_device(&req, PASSPHRASE)
            .await
            .expect("poll")
    );
    // A fingerprint that is not the new device's approves nothing.
    let e = w
        .occupational
        .approve_device("0000 0000 0000 0000 0000 0000 0000 0000")
        .await
        .expect_err("wrong fingerprint");
    assert!(matches!(e, ClientError::Invalid(_)), "{e:?}");
    w.occupational
        .approve_device(&req.fingerprint.short())
        .await
        .expect("approve");
    assert!(
        laptop
            .complete_device(&req, PASSPHRASE)
            .await
            .expect("complete")
    );
    assert_eq!(laptop.account().expect("account"), &w.occupational_id);
    assert_eq!(laptop.fingerprint(), w.occupational.fingerprint());
    let listed = laptop.devices().await.expect("devices");
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().any(|d| d.this && d.device.name == "laptop"));

    // Each field of the next bilan opens on both devices; either reads it.
    let first = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let cts = ciphertexts(&mut laptop, &first.message_id).await;
    assert!(opens(&cts, &w.occupational) && opens(&cts, &laptop));
    let read = laptop
        .read(&first.message_id)
        .await
        .expect("the laptop reads");
    assert!(!read.fields.is_empty());
    let second = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    w.occupational
        .read(&second.message_id)
        .await
        .expect("the first device reads too");

    // The laptop removes the first device: the next bilan does not open there.
    let pool = db(&w.app).await;
    let (before, version): (String, i64) =
        sqlx::query_as("SELECT devices, devices_version FROM accounts WHERE id = $1")
            .bind(w.occupational_id.as_str())
            .fetch_one(&pool)
            .await
            .expect("list");
    let first_device = listed.iter().find(|d| !d.this).expect("the other one");
    laptop
        .remove_device(&first_device.fingerprint.short())
        .await
        .expect("remove");
    let third = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect("send");
    let cts = ciphertexts(&mut laptop, &third.message_id).await;
    assert!(!opens(&cts, &w.occupational) && opens(&cts, &laptop));
    laptop
        .read(&third.message_id)
        .await
        .expect("the laptop reads");

    // The server puts the old list back (the removed device with it): refused by the
    // sender's client, which saw the newer one, before anything is encrypted.
    sqlx::query("UPDATE accounts SET devices = $1, devices_version = $2 WHERE id = $3")
        .bind(&before)
        .bind(version)
        .bind(w.occupational_id.as_str())
        .execute(&pool)
        .await
        .expect("roll back");
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect_err("rolled back");
    assert!(
        format!("{e}").contains("older than one already seen"),
        "{e}"
    );
    // …or drops the list altogether.
    sqlx::query("UPDATE accounts SET devices = NULL WHERE id = $1")
        .bind(w.occupational_id.as_str())
        .execute(&pool)
        .await
        .expect("drop");
    assert!(
        w.treating
            .send(w.bilan_to(&w.occupational_id))
            .await
            .is_err()
    );
}

/// The server checks lists too: a list not signed by the account's identity key, a replay
/// of the current version, and a list the server writes itself are all refused.
#[tokio::test]
async fn a_device_list_the_account_did_not_sign_is_refused() {
    let mut w = World::new().await;
    grant(&mut w.patient, &w.case, &w.occupational_id, FUNCTIONAL, &[]).await;
    let me = w.occupational.whoami().await.expect("me");
    let server_device = age::x25519::Identity::generate();
    let list = DeviceList {
        account: w.occupational_id.clone(),
        version: 1,
        devices: vec![Device {
            age_recipient: server_device.to_public().to_string(),
            name: "server's own".into(),
            added_at: 1,
        }],
        issued_at: 1,
    };
    let forger = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
    let forged = Signed::sign(&list, &forger).expect("sign");
    let api = w.occupational.api().await.expect("api").clone();
    let e = api
        .put_devices(&trialog_protocol::api::PutDevices {
            devices: forged.clone(),
        })
        .await
        .expect_err("not the identity's");
    assert_eq!(e.api_code(), Some("bad_device_list"), "{e}");

    // Signed by the identity key, the same version twice: the second is a replay.
    let genuine = Signed::sign(&list, w.occupational.identity().signing_key()).expect("sign");
    api.put_devices(&trialog_protocol::api::PutDevices {
        devices: genuine.clone(),
    })
    .await
    .expect("version 1");
    let e = api
        .put_devices(&trialog_protocol::api::PutDevices { devices: genuine })
        .await
        .expect_err("replayed");
    assert_eq!(e.api_code(), Some("devices_rolled_back"), "{e}");

    // Written into the database behind the server's back: every client refuses it.
    let pool = db(&w.app).await;
    sqlx::query("UPDATE accounts SET devices = $1, devices_version = 2 WHERE id = $2")
        .bind(serde_json::to_string(&forged).expect("json"))
        .bind(me.account.as_str())
        .execute(&pool)
        .await
        .expect("plant");
    let e = w
        .treating
        .send(w.bilan_to(&w.occupational_id))
        .await
        .expect_err("planted list");
    assert!(matches!(e, ClientError::Verification(_)), "{e:?}");
}
