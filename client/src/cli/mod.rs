//! The `trialog` binary's own modules: the clap types, the passphrase prompt, and the
//! human or JSON output of each area's commands. Part of the binary only, never of the
//! library: every check they rely on lives in `trialog_client`.

pub mod account;
pub mod args;
pub mod audit;
pub mod case;
pub mod consent;
pub mod device;
pub mod message;
pub mod output;
pub mod passphrase;
pub mod ui;
