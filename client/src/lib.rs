//! The Trialog client: keystore, pinned-TLS API client, and the sender's and recipient's
//! checks (compose, strip, leak guard, verify, decrypt). The `trialog` binary is a thin
//! command line over `Client`.
//!
//! Secrets stay here: keys are decrypted from the keystore only in memory and never sent,
//! printed or logged; field values leave this process only encrypted to their recipient.

pub mod api;
pub mod audit_words;
pub mod case_memory;
pub mod cert_follow;
pub mod client;
pub mod consent_words;
pub mod error;
pub mod home;
pub mod i18n;
pub mod keystore;
pub mod live;
pub mod message_file;
pub mod tls;
pub mod web;

pub use client::{
    Client, Follower, Grant, Outgoing, Preview, ReadMessage, SendReport, VerifiedCase,
};
pub use error::ClientError;
pub use home::Home;
