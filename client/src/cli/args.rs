//! The command line as clap types: every command, subcommand and flag of `trialog`.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use trialog_protocol::consent::Purpose;
use trialog_protocol::onboarding::Onboarding;
use trialog_protocol::{AccountId, CaseId, ConsentId, FieldId, Lang, MessageId, MessageKind, Role};

#[derive(Parser)]
#[command(
    name = "trialog",
    version,
    about = "Trialog: end-to-end encrypted, consent-gated messages between the physicians around a worker on sick leave"
)]
pub struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    pub json: bool,
    /// Language of the output: nl, fr or en (default: TRIALOG_LANG or LANG).
    #[arg(long, global = true)]
    pub lang: Option<Lang>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Create your keys and keystore, and pin the server's certificate.
    Init {
        /// The server, e.g. https://127.0.0.1:8443
        #[arg(long, required_unless_present = "onboarding", requires = "cert_sha256")]
        server: Option<String>,
        /// SHA-256 of the server's TLS certificate, as `trialog-server serve` prints it.
        #[arg(long, requires = "server")]
        cert_sha256: Option<String>,
        /// The operator's public key (64 hex digits), pinned to check physicians' keys;
        /// without it, the one the server publishes is taken (only as trustworthy as the
        /// server: prefer --onboarding, which carries it).
        #[arg(long, requires = "server")]
        operator_key: Option<String>,
        /// Instead: the onboarding string of an enrolment sheet or invitation
        /// (`trialog:v1:…`), which carries the server, its certificate and the operator key.
        #[arg(long, conflicts_with_all = ["server", "cert_sha256", "operator_key"], value_parser = parse_onboarding)]
        onboarding: Option<Onboarding>,
    },
    /// Register as a physician with the operator's invitation code.
    Register {
        #[arg(long, required_unless_present = "onboarding")]
        invite: Option<String>,
        /// Instead: the invitation's onboarding string (`trialog:v1:…`); sets up this home
        /// first if needed (`trialog init` and `register` in one step).
        #[arg(long, conflicts_with = "invite", value_parser = parse_onboarding)]
        onboarding: Option<Onboarding>,
    },
    /// Join your case as a patient with the code your treating physician gave you.
    Join {
        #[arg(long, required_unless_present = "onboarding")]
        code: Option<String>,
        /// Instead: the onboarding string of the enrolment sheet (`trialog:v1:…`); sets up
        /// this home first if needed (`trialog init` and `join` in one step).
        #[arg(long, conflicts_with = "code", value_parser = parse_onboarding)]
        onboarding: Option<Onboarding>,
    },
    /// Show your account, role and key fingerprint.
    Whoami,
    /// Search the directory of physicians.
    Directory {
        #[arg(long)]
        role: Option<Role>,
        /// Part of a name, a RIZIV/INAMI number or an account id.
        #[arg(long)]
        query: Option<String>,
    },
    /// Open, confirm, extend and show cases.
    #[command(subcommand)]
    Case(CaseCmd),
    /// Grant, list and revoke consents (patient).
    #[command(subcommand)]
    Consent(ConsentCmd),
    /// Read on several devices: link, add, approve, list and remove devices.
    #[command(subcommand)]
    Device(DeviceCmd),
    /// Print a commented template of every field a kind of message can carry.
    Template {
        #[arg(long)]
        kind: MessageKind,
    },
    /// Send a message file to physicians of a case (one message each, under each one's
    /// consent).
    Send {
        #[arg(long)]
        case: CaseId,
        /// A recipient (repeat): an account id, a role of the case (occupational, advising,
        /// treating) or a RIZIV/INAMI number.
        #[arg(long, required = true)]
        to: Vec<String>,
        #[arg(long)]
        kind: MessageKind,
        /// TOML file mapping field ids to values (see `trialog template`).
        #[arg(long)]
        file: PathBuf,
        /// Send although the leak guard found words that may reveal the diagnosis
        /// (recorded in the signed message).
        #[arg(long)]
        override_leak_guard: bool,
        /// Show what each recipient would get (fields sent and stripped, the leak guard's
        /// findings) without sending anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// List the messages waiting for you.
    Inbox {
        /// With nothing waiting, wait up to this many seconds for a message (at most 60).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60))]
        wait: u64,
        /// Then stay and print each new message, acknowledgement and destruction as it
        /// happens (live, reconnecting by itself), until interrupted.
        #[arg(long, conflicts_with = "wait")]
        follow: bool,
    },
    /// Verify, decrypt and show a message (and acknowledge it).
    Read { message: MessageId },
    /// Show and verify everything that happened on your case (patient).
    Audit {
        /// Your case (patient).
        #[arg(
            long,
            required_unless_present = "directory",
            conflicts_with = "directory"
        )]
        case: Option<CaseId>,
        /// Instead: every key registration on the server (any account).
        #[arg(long)]
        directory: bool,
    },
    /// Start the web client on this computer (127.0.0.1 only) and print its address.
    Ui {
        /// The local port; 0 picks a free one.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Lock the keystore again after this many minutes without activity.
        #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=1440))]
        idle_lock_minutes: u64,
        /// Also open the address in the default browser.
        #[arg(long)]
        open: bool,
    },
}

#[derive(Subcommand)]
pub enum CaseCmd {
    /// Open a case for a patient (treating physician); prints the enrolment code.
    Open {
        /// A pseudonymous label, never the national register number.
        #[arg(long)]
        label: String,
    },
    /// Confirm the patient's key after they read you its fingerprint.
    ConfirmPatient {
        #[arg(long)]
        case: CaseId,
        #[arg(long)]
        fingerprint: String,
    },
    /// Add a physician (patient), or invite one (treating physician).
    Add {
        #[arg(long)]
        case: CaseId,
        #[arg(long)]
        member: AccountId,
    },
    /// Remove a physician from your case (patient): their consents are revoked and their
    /// unread messages destroyed in the same step; they no longer see the case.
    Remove {
        #[arg(long)]
        case: CaseId,
        #[arg(long)]
        member: AccountId,
    },
    /// Show a case, its members and their key fingerprints.
    Show {
        #[arg(long)]
        case: CaseId,
    },
    /// List your cases.
    List,
    /// Issue a new enrolment code for a case (treating physician): for a patient who lost
    /// the sheet or their device. An earlier unused code stops working; a patient who had
    /// joined enrols a new key for the same account, which you confirm again.
    Reenrol {
        #[arg(long)]
        case: CaseId,
    },
}

#[derive(Subcommand)]
pub enum DeviceCmd {
    /// On a device that already works: a one-time string for the new device (10 minutes).
    Link,
    /// On the new device, in an empty home: claim the string, show this device's
    /// fingerprint, and wait until an existing device approves it.
    Add {
        /// The string `trialog device link` printed on the existing device.
        #[arg(long, value_parser = parse_onboarding)]
        onboarding: Onboarding,
        /// What to call this device, e.g. "desktop at the practice".
        #[arg(long)]
        name: String,
    },
    /// On a device that already works: approve the new device after comparing its
    /// fingerprint with the one its screen shows.
    Approve {
        #[arg(long)]
        fingerprint: String,
    },
    /// This account's devices, with their fingerprints.
    List,
    /// Remove a device (from another one): what is sent from now on is not readable there.
    Remove {
        #[arg(long)]
        fingerprint: String,
    },
}

#[derive(Subcommand)]
pub enum ConsentCmd {
    /// Allow one physician to receive named fields (deny by default).
    Grant(GrantArgs),
    /// List the consents of a case.
    List {
        #[arg(long)]
        case: CaseId,
    },
    /// Revoke a consent: nothing more is sent under it; unread messages are destroyed.
    Revoke {
        #[arg(long)]
        consent: ConsentId,
    },
}

#[derive(Args)]
pub struct GrantArgs {
    #[arg(long)]
    pub case: CaseId,
    /// The physician who may receive: an account id, a role of the case (occupational,
    /// advising, treating) or a RIZIV/INAMI number.
    #[arg(long)]
    pub to: String,
    /// A field id to share (repeat); see `trialog template`.
    #[arg(long = "field", value_parser = parse_field)]
    pub fields: Vec<FieldId>,
    /// A medical field to share medically with this physician (repeat; explicit per field).
    #[arg(long = "share-medically", value_parser = parse_field)]
    pub share_medically: Vec<FieldId>,
    /// Last day of validity, YYYY-MM-DD (default and maximum: one year).
    #[arg(long)]
    pub until: Option<String>,
    /// Message kinds allowed (default: what this physician's role receives).
    #[arg(long = "kind")]
    pub kinds: Vec<MessageKind>,
    /// A physician who may send under this consent (repeat; default: those who send this
    /// recipient's role its messages: the treating physician for a bilan, the work side
    /// for feedback).
    #[arg(long = "sender")]
    pub senders: Vec<AccountId>,
    /// return-to-work, reintegration or pre-resumption-visit.
    #[arg(long, default_value = "return-to-work")]
    pub purpose: Purpose,
    /// Sign without asking (the text is still printed): for scripts that showed it.
    #[arg(long)]
    pub yes: bool,
}

fn parse_onboarding(s: &str) -> Result<Onboarding, String> {
    Onboarding::decode(s).map_err(|e| e.to_string())
}

fn parse_field(s: &str) -> Result<FieldId, String> {
    FieldId::parse(s).map_err(|e| e.to_string())
}
