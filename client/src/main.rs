//! `trialog`: the command line for physicians and patients. Parses arguments, asks for the
//! passphrase, calls `trialog_client::Client`, prints the result in the user's language (or
//! JSON with `--json`). All checks live in the library.
//!
//! This file only dispatches: the arguments are in `cli::args`, the output of each area in
//! `cli::{account, case, consent, message, audit}`, and every byte written to the terminal
//! goes through `cli::output`, which makes it safe to show.
#![deny(clippy::print_stdout, clippy::print_stderr)]

mod cli;

use clap::Parser;
use serde_json::json;
use std::process::ExitCode;
use trialog_client::i18n::{explain, lang_from_env};

use cli::args::{Cli, Command};
use cli::{account, audit, case, consent, device, message, output, ui};

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for the whole process (ring); reqwest panics without it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // clap's usage errors quote what was typed, and help is output too: both go
        // through `output` like everything else (without clap's colours).
        Err(e) => {
            let text = e.render().to_string();
            if e.use_stderr() {
                output::err_text(&text);
            } else {
                output::text(&text);
            }
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    let lang = cli.lang.unwrap_or_else(lang_from_env);
    let json = cli.json;
    let result = match cli.command {
        Command::Init {
            server,
            cert_sha256,
            operator_key,
            onboarding,
        } => {
            let (server, cert, operator_key) = match onboarding {
                Some(o) => (o.server, o.cert_sha256, o.operator_key),
                None => (
                    server.unwrap_or_default(),
                    cert_sha256.unwrap_or_default(),
                    operator_key,
                ),
            };
            account::init(server, cert, operator_key, json, lang).await
        }
        Command::Register { invite, onboarding } => {
            account::register(invite, onboarding, json, lang).await
        }
        Command::Join { code, onboarding } => account::join(code, onboarding, json, lang).await,
        Command::Whoami => account::whoami(json, lang).await,
        Command::Directory { role, query } => account::directory(role, query, json, lang).await,
        Command::Case(cmd) => case::run(cmd, json, lang).await,
        Command::Consent(cmd) => consent::run(cmd, json, lang).await,
        Command::Device(cmd) => device::run(cmd, json, lang).await,
        Command::Template { kind } => {
            message::template(kind, lang);
            Ok(())
        }
        Command::Send {
            case,
            to,
            kind,
            file,
            override_leak_guard,
            dry_run,
        } => {
            message::send(
                message::SendArgs {
                    case,
                    to,
                    kind,
                    file,
                    override_leak_guard,
                    dry_run,
                },
                json,
                lang,
            )
            .await
        }
        Command::Inbox { wait, follow } => message::inbox(wait, follow, json, lang).await,
        Command::Read { message } => message::read(message, json, lang).await,
        Command::Audit { case, directory } => audit::audit(case, directory, json, lang).await,
        Command::Ui {
            port,
            idle_lock_minutes,
            open,
        } => ui::run(port, idle_lock_minutes, open, lang).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                // The API's key names: `code` (never null) and `message`.
                output::err_json(&json!({ "code": e.code(), "message": explain(&e, lang) }));
            } else {
                // The explanation can quote the server's message: `output` makes it safe.
                output::err(&format!("trialog: {}", explain(&e, lang)));
            }
            ExitCode::FAILURE
        }
    }
}
