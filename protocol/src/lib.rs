//! Trialog's protocol: the wire formats, the field catalogue, and the rules that decide
//! whether something may move.
//!
//! This crate owns every decision about consent and every signed format. The server and
//! the clients call it; neither re-implements a rule (DESIGN.md §9). It does no I/O, keeps
//! no state and must never panic on input from the network, a file or a user.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod attestation;
pub mod audit;
pub mod auth;
pub mod binding;
pub mod catalogue;
pub mod certificate;
pub mod chain;
mod confusables;
pub mod consent;
pub mod decide;
pub mod devices;
pub mod encoding;
pub mod envelope;
pub mod error;
pub mod ids;
pub mod keys;
pub mod label;
pub mod leak_guard;
mod leak_terms;
pub mod onboarding;
pub mod riziv;
pub mod roles;
pub mod signed;
pub mod text;
pub mod time;

pub use catalogue::{FieldClass, FieldId, Lang};
pub use error::Code;
pub use ids::{AccountId, CaseId, ConsentId, Fingerprint, MessageId};
pub use roles::{MessageKind, Role};
pub use signed::{Signed, SignedKind};
