//! `trialog`: the command line for physicians and patients. Parses arguments, asks for the
//! passphrase, calls `trialog_client::Client`, prints the result in the user's language (or
//! JSON with `--json`). All checks live in the library.

use clap::{Args, Parser, Subcommand};
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use trialog_client::i18n::{explain, lang_from_env, strip_reason, tr};
use trialog_client::message_file;
use trialog_client::{Client, ClientError, Grant, Home, Outgoing};
use trialog_protocol::audit::AuditEvent;
use trialog_protocol::consent::{Purpose, consent_text};
use trialog_protocol::time::{format_date, format_ts};
use trialog_protocol::{AccountId, CaseId, ConsentId, FieldId, Lang, MessageId, MessageKind, Role};
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "trialog",
    version,
    about = "Trialog: end-to-end encrypted, consent-gated messages between the physicians around a worker on sick leave"
)]
struct Cli {
    /// Print machine-readable JSON instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Language of the output: nl, fr or en (default: TRIALOG_LANG or LANG).
    #[arg(long, global = true)]
    lang: Option<Lang>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create your keys and keystore, and pin the server's certificate.
    Init {
        /// The server, e.g. https://127.0.0.1:8443
        #[arg(long)]
        server: String,
        /// SHA-256 of the server's TLS certificate, as `trialog-server serve` prints it.
        #[arg(long)]
        cert_sha256: String,
    },
    /// Register as a physician with the operator's invitation code.
    Register {
        #[arg(long)]
        invite: String,
    },
    /// Join your case as a patient with the code your treating physician gave you.
    Join {
        #[arg(long)]
        code: String,
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
    /// Print a commented template of every field a kind of message can carry.
    Template {
        #[arg(long)]
        kind: MessageKind,
    },
    /// Send a message file to one physician of a case.
    Send {
        #[arg(long)]
        case: CaseId,
        #[arg(long)]
        to: AccountId,
        #[arg(long)]
        kind: MessageKind,
        /// TOML file mapping field ids to values (see `trialog template`).
        #[arg(long)]
        file: PathBuf,
        /// Send although the leak guard found words that may reveal the diagnosis
        /// (recorded in the signed message).
        #[arg(long)]
        override_leak_guard: bool,
    },
    /// List the messages waiting for you.
    Inbox {
        /// Include messages already read.
        #[arg(long)]
        all: bool,
        /// With nothing waiting, wait up to this many seconds for a message (at most 60).
        #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=60))]
        wait: u64,
    },
    /// Verify, decrypt and show a message (and acknowledge it).
    Read { message: MessageId },
    /// Show and verify everything that happened on your case (patient).
    Audit {
        #[arg(long)]
        case: CaseId,
    },
}

#[derive(Subcommand)]
enum CaseCmd {
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
    /// Show a case, its members and their key fingerprints.
    Show {
        #[arg(long)]
        case: CaseId,
    },
    /// List your cases.
    List,
}

#[derive(Subcommand)]
enum ConsentCmd {
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
struct GrantArgs {
    #[arg(long)]
    case: CaseId,
    /// The physician who may receive.
    #[arg(long)]
    to: AccountId,
    /// A field id to share (repeat); see `trialog template`.
    #[arg(long = "field", value_parser = parse_field)]
    fields: Vec<FieldId>,
    /// A medical field to share medically with this physician (repeat; explicit per field).
    #[arg(long = "share-medically", value_parser = parse_field)]
    share_medically: Vec<FieldId>,
    /// Last day of validity, YYYY-MM-DD (default and maximum: one year).
    #[arg(long)]
    until: Option<String>,
    /// Message kinds allowed (default: what this physician's role receives).
    #[arg(long = "kind")]
    kinds: Vec<MessageKind>,
    /// return-to-work, reintegration or pre-resumption-visit.
    #[arg(long, default_value = "return-to-work")]
    purpose: Purpose,
}

fn parse_field(s: &str) -> Result<FieldId, String> {
    FieldId::parse(s).map_err(|e| e.to_string())
}

fn passphrase(confirm: bool, lang: Lang) -> Result<Zeroizing<String>, ClientError> {
    if let Ok(p) = std::env::var("TRIALOG_PASSPHRASE") {
        return Ok(Zeroizing::new(p));
    }
    let ask = |prompt: &str| {
        rpassword::prompt_password(prompt)
            .map(Zeroizing::new)
            .map_err(|_| ClientError::NoPassphrase)
    };
    let p = ask(tr(lang, "Wachtzin: ", "Phrase secrète : ", "Passphrase: "))?;
    if confirm && *ask(tr(lang, "Nogmaals: ", "Encore une fois : ", "Again: "))? != *p {
        return Err(ClientError::Invalid(
            tr(
                lang,
                "De wachtzinnen verschillen.",
                "Les phrases secrètes diffèrent.",
                "The passphrases differ.",
            )
            .into(),
        ));
    }
    Ok(p)
}

fn open(lang: Lang) -> Result<Client, ClientError> {
    let home = Home::from_env()?;
    home.load_config()?;
    Client::open(home, &passphrase(false, lang)?)
}

fn role_label(r: Role, lang: Lang) -> &'static str {
    match r {
        Role::Treating => tr(
            lang,
            "behandelend arts",
            "médecin traitant",
            "treating physician",
        ),
        Role::Occupational => tr(
            lang,
            "arbeidsarts",
            "médecin du travail",
            "occupational physician",
        ),
        Role::Advising => tr(
            lang,
            "adviserend arts",
            "médecin-conseil",
            "advising physician",
        ),
        Role::Patient => tr(lang, "patiënt", "patient", "patient"),
    }
}

fn event_label(e: AuditEvent, lang: Lang) -> &'static str {
    use AuditEvent::*;
    match e {
        CaseOpened => tr(lang, "dossier geopend", "dossier ouvert", "case opened"),
        PatientJoined => tr(
            lang,
            "patiënt ingeschreven",
            "patient inscrit",
            "patient joined",
        ),
        PatientConfirmed => tr(
            lang,
            "sleutel patiënt bevestigd",
            "clé du patient confirmée",
            "patient key confirmed",
        ),
        MemberInvited => tr(
            lang,
            "arts uitgenodigd",
            "médecin invité",
            "physician invited",
        ),
        MemberAdded => tr(lang, "arts toegevoegd", "médecin ajouté", "physician added"),
        KeyRegistered => tr(
            lang,
            "sleutel geregistreerd",
            "clé enregistrée",
            "key registered",
        ),
        ConsentGranted => tr(
            lang,
            "toestemming gegeven",
            "consentement donné",
            "consent granted",
        ),
        ConsentSuperseded => tr(
            lang,
            "toestemming vervangen",
            "consentement remplacé",
            "consent superseded",
        ),
        ConsentRevoked => tr(
            lang,
            "toestemming ingetrokken",
            "consentement retiré",
            "consent revoked",
        ),
        EnvelopeAccepted => tr(
            lang,
            "bericht aanvaard",
            "message accepté",
            "message accepted",
        ),
        EnvelopeDelivered => tr(
            lang,
            "bericht afgehaald",
            "message retiré",
            "message delivered",
        ),
        EnvelopeAcknowledged => tr(
            lang,
            "bericht ontvangen bevestigd",
            "réception confirmée",
            "message acknowledged",
        ),
        EnvelopePurged => tr(
            lang,
            "bericht vernietigd",
            "message détruit",
            "message destroyed",
        ),
    }
}

fn out(json: bool, value: serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!("{}", text());
    }
}

/// The code as a QR code drawn with block characters, for the patient's phone camera.
fn qr(code: &str) -> String {
    match qrcode::QrCode::new(code.as_bytes()) {
        Ok(q) => format!(
            "\n\n{}",
            q.render::<qrcode::render::unicode::Dense1x2>()
                .quiet_zone(true)
                .build()
        ),
        // A code this short always fits; without a QR the text above still serves.
        Err(_) => String::new(),
    }
}

/// `1-23456-25-580`, as physicians write it.
fn riziv_display(digits: &Option<String>) -> String {
    digits
        .as_deref()
        .map(|d| {
            trialog_protocol::riziv::Riziv::parse(d)
                .map(|r| r.to_string())
                .unwrap_or_else(|_| d.to_owned())
        })
        .unwrap_or_default()
}

fn name_of(v: &trialog_protocol::api::AccountView) -> String {
    v.name.clone().unwrap_or_else(|| v.account.to_string())
}

async fn run(cli: Cli, lang: Lang) -> Result<(), ClientError> {
    let json = cli.json;
    match cli.command {
        Command::Init {
            server,
            cert_sha256,
        } => {
            let home = Home::from_env()?;
            let pass = passphrase(true, lang)?;
            let c = Client::init(home.clone(), &server, &cert_sha256, &pass).await?;
            let fp = c.fingerprint();
            out(
                json,
                json!({ "home": home.dir, "server": server, "fingerprint": fp }),
                || {
                    format!(
                        "{} {}\n{} {}\n{}",
                        tr(
                            lang,
                            "Sleutels aangemaakt in",
                            "Clés créées dans",
                            "Keys created in"
                        ),
                        home.dir.display(),
                        tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                        fp.short(),
                        tr(
                            lang,
                            "Registreer nu met `trialog register --invite CODE` (arts) of `trialog join --code CODE` (patiënt).",
                            "Enregistrez-vous avec `trialog register --invite CODE` (médecin) ou `trialog join --code CODE` (patient).",
                            "Now register with `trialog register --invite CODE` (physician) or `trialog join --code CODE` (patient)."
                        )
                    )
                },
            );
        }
        Command::Register { invite } => {
            let mut c = open(lang)?;
            let a = c.register(&invite).await?;
            out(
                json,
                json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint }),
                || {
                    format!(
                        "{} {} ({}, RIZIV/INAMI {})\n{} {}\n{} {}",
                        tr(lang, "Geregistreerd:", "Enregistré :", "Registered:"),
                        name_of(&a),
                        role_label(a.role, lang),
                        riziv_display(&a.riziv),
                        tr(lang, "Account:", "Compte :", "Account:"),
                        a.account,
                        tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                        a.fingerprint.short()
                    )
                },
            );
        }
        Command::Join { code } => {
            let mut c = open(lang)?;
            let (a, case) = c.join(&code).await?;
            out(
                json,
                json!({ "account": a.account, "case": case, "fingerprint": a.fingerprint, "fingerprint_short": a.fingerprint.short() }),
                || {
                    format!(
                        "{} {case}\n{} {}\n\n  {}\n\n{}",
                        tr(
                            lang,
                            "U nam deel aan dossier",
                            "Vous avez rejoint le dossier",
                            "You joined case"
                        ),
                        tr(lang, "Uw account:", "Votre compte :", "Your account:"),
                        a.account,
                        a.fingerprint.short(),
                        tr(
                            lang,
                            "Lees deze vingerafdruk voor aan uw behandelend arts; pas na bevestiging kan u toestemming geven.",
                            "Lisez cette empreinte à votre médecin traitant ; vous pourrez consentir après sa confirmation.",
                            "Read this fingerprint out to your treating physician; once they confirm it you can grant consents."
                        )
                    )
                },
            );
        }
        Command::Whoami => {
            let mut c = open(lang)?;
            let a = c.whoami().await?;
            out(
                json,
                json!({ "account": a.account, "role": a.role, "name": a.name, "riziv": a.riziv, "fingerprint": a.fingerprint, "server": c.config().server }),
                || {
                    let mut s = format!("{} ({})\n", a.account, role_label(a.role, lang));
                    if let Some(n) = &a.name {
                        s.push_str(&format!("{n}, RIZIV/INAMI {}\n", riziv_display(&a.riziv)));
                    }
                    s.push_str(&format!(
                        "{} {}\n{} {}",
                        tr(lang, "Vingerafdruk:", "Empreinte :", "Fingerprint:"),
                        a.fingerprint.short(),
                        tr(lang, "Server:", "Serveur :", "Server:"),
                        c.config().server
                    ));
                    s
                },
            );
        }
        Command::Directory { role, query } => {
            let mut c = open(lang)?;
            let list = c.directory(role, query.as_deref()).await?;
            out(
                json,
                serde_json::to_value(&list).unwrap_or_default(),
                || {
                    if list.is_empty() {
                        return tr(
                            lang,
                            "Niemand gevonden.",
                            "Personne trouvé.",
                            "Nobody found.",
                        )
                        .into();
                    }
                    list.iter()
                        .map(|a| {
                            format!(
                                "{}  {:<28} {:<24} RIZIV/INAMI {}  [{}]",
                                a.account,
                                name_of(a),
                                role_label(a.role, lang),
                                riziv_display(&a.riziv),
                                a.fingerprint.short()
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        Command::Case(cmd) => case_cmd(cmd, json, lang).await?,
        Command::Consent(cmd) => consent_cmd(cmd, json, lang).await?,
        Command::Template { kind } => {
            print!("{}", message_file::template(kind, lang));
        }
        Command::Send {
            case,
            to,
            kind,
            file,
            override_leak_guard,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| ClientError::Io(file.display().to_string(), e))?;
            let values = message_file::parse(&text)?;
            let mut c = open(lang)?;
            let r = c
                .send(Outgoing {
                    case,
                    to,
                    kind,
                    values,
                    override_leak_guard,
                })
                .await?;
            out(json, serde_json::to_value(&r).unwrap_or_default(), || {
                let who = r
                    .recipient_name
                    .clone()
                    .unwrap_or_else(|| r.recipient.to_string());
                let mut s = format!(
                    "{} {} → {who}\n{} {}",
                    tr(lang, "Verstuurd:", "Envoyé :", "Sent:"),
                    r.message_id,
                    tr(lang, "Velden:", "Champs :", "Fields:"),
                    r.sent
                        .iter()
                        .map(|f| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                for st in &r.stripped {
                    s.push_str(&format!(
                        "\n{} {} ({})",
                        tr(lang, "Weggelaten:", "Retiré :", "Stripped:"),
                        st.field,
                        strip_reason(st.reason, lang)
                    ));
                }
                if !r.leak_guard_overridden.is_empty() {
                    s.push_str(&format!(
                        "\n{}",
                        tr(
                            lang,
                            "Lekbewaking overschreven (vastgelegd in het bericht).",
                            "Garde-fou outrepassé (consigné dans le message).",
                            "Leak guard overridden (recorded in the message)."
                        )
                    ));
                }
                s
            });
        }
        Command::Inbox { all, wait } => {
            let mut c = open(lang)?;
            let items = c.inbox_wait(all, wait).await?;
            out(
                json,
                serde_json::to_value(&items).unwrap_or_default(),
                || {
                    if items.is_empty() {
                        return tr(lang, "Geen berichten.", "Aucun message.", "No messages.")
                            .into();
                    }
                    items
                        .iter()
                        .map(|i| {
                            format!(
                                "{}  {:<8} {}  {}  {}",
                                i.message_id,
                                i.kind,
                                format_ts(i.created_at),
                                i.sender_name
                                    .clone()
                                    .unwrap_or_else(|| i.sender.to_string()),
                                i.case_id
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
        Command::Read { message } => {
            let mut c = open(lang)?;
            let m = c.read(&message).await?;
            out(json, serde_json::to_value(&m).unwrap_or_default(), || {
                let who = m
                    .sender_name
                    .clone()
                    .unwrap_or_else(|| m.sender.to_string());
                let mut s = format!(
                    "{} ({}) — {} {who}, {}, {}\n{} {}  {} {}\n{}\n",
                    m.kind,
                    m.message_id,
                    tr(lang, "van", "de", "from"),
                    role_label(m.sender_role, lang),
                    format_ts(m.created_at),
                    tr(lang, "Dossier", "Dossier", "Case"),
                    m.case_id,
                    tr(lang, "toestemming", "consentement", "consent"),
                    m.consent_id,
                    tr(
                        lang,
                        "Geverifieerd: handtekening, toestemming van de patiënt, inhoud.",
                        "Vérifié : signature, consentement du patient, contenu.",
                        "Verified: signature, patient consent, content."
                    )
                );
                if m.leak_guard_override {
                    s.push_str(&format!(
                        "{}\n",
                        tr(
                            lang,
                            "Let op: de afzender overschreef de lekbewaking.",
                            "Attention : l'expéditeur a outrepassé le garde-fou.",
                            "Note: the sender overrode the leak guard."
                        )
                    ));
                }
                for (f, v) in &m.fields {
                    let v = v
                        .as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string());
                    s.push_str(&format!(
                        "\n{} ({f}):\n  {}\n",
                        f.def().label.get(lang),
                        v.replace('\n', "\n  ")
                    ));
                }
                s
            });
        }
        Command::Audit { case } => {
            let mut c = open(lang)?;
            let entries = c.audit(&case).await?;
            out(
                json,
                serde_json::to_value(&entries).unwrap_or_default(),
                || {
                    let mut s = format!(
                        "{} ({} {})\n",
                        tr(
                            lang,
                            "Auditlog geverifieerd",
                            "Journal d'audit vérifié",
                            "Audit log verified"
                        ),
                        entries.len(),
                        tr(lang, "gebeurtenissen", "événements", "events")
                    );
                    for e in &entries {
                        s.push_str(&format!(
                            "{:>3}  {}  {:<28} {} {}\n",
                            e.seq,
                            format_ts(e.at),
                            event_label(e.event, lang),
                            e.subject.clone().unwrap_or_default(),
                            e.detail
                                .clone()
                                .map(|d| format!("({d})"))
                                .unwrap_or_default()
                        ));
                    }
                    s
                },
            );
        }
    }
    Ok(())
}

async fn case_cmd(cmd: CaseCmd, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    match cmd {
        CaseCmd::Open { label } => {
            let r = c.open_case(&label).await?;
            out(json, serde_json::to_value(&r).unwrap_or_default(), || {
                format!(
                    "{} {}\n{} {}\n{} {}\n{}",
                    tr(lang, "Dossier:", "Dossier :", "Case:"),
                    r.case_id,
                    tr(
                        lang,
                        "Inschrijvingscode voor de patiënt:",
                        "Code d'inscription pour le patient :",
                        "Enrolment code for the patient:"
                    ),
                    r.enrolment_code,
                    tr(lang, "Geldig tot", "Valable jusqu'au", "Valid until"),
                    format_date(r.expires_at),
                    tr(
                        lang,
                        "Geef de code persoonlijk aan de patiënt; die schrijft zich in met `trialog join --code CODE`.",
                        "Remettez le code en personne au patient ; il s'inscrit avec `trialog join --code CODE`.",
                        "Hand the code to the patient in person; they join with `trialog join --code CODE`."
                    )
                ) + &qr(&r.enrolment_code)
            });
        }
        CaseCmd::ConfirmPatient { case, fingerprint } => {
            let v = c.confirm_patient(&case, &fingerprint).await?;
            let fp = v
                .patient
                .as_ref()
                .map(|p| p.fingerprint.short())
                .unwrap_or_default();
            out(
                json,
                json!({ "case": case, "patient_fingerprint": fp }),
                || {
                    format!(
                        "{} {fp}",
                        tr(
                            lang,
                            "Sleutel van de patiënt bevestigd:",
                            "Clé du patient confirmée :",
                            "Patient key confirmed:"
                        )
                    )
                },
            );
        }
        CaseCmd::Add { case, member } => {
            let v = c.add_member(&case, &member).await?;
            let m = v.view.members.iter().find(|m| m.account.account == member);
            let status = m.map(|m| m.status);
            out(
                json,
                json!({ "case": case, "member": member, "status": status }),
                || {
                    let name = m
                        .map(|m| name_of(&m.account))
                        .unwrap_or_else(|| member.to_string());
                    match status {
                        Some(trialog_protocol::api::MemberStatus::Invited) => format!(
                            "{name} {}",
                            tr(
                                lang,
                                "is uitgenodigd; de patiënt moet de arts ook toevoegen.",
                                "est invité ; le patient doit aussi l'ajouter.",
                                "is invited; the patient must add them too."
                            )
                        ),
                        _ => format!(
                            "{name} {}",
                            tr(
                                lang,
                                "is toegevoegd aan het dossier.",
                                "a été ajouté au dossier.",
                                "was added to the case."
                            )
                        ),
                    }
                },
            );
        }
        CaseCmd::Show { case } => {
            let v = c.case(&case).await?;
            out(
                json,
                serde_json::to_value(&v.view).unwrap_or_default(),
                || {
                    let mut s = format!(
                        "{} {} — {}\n{} {}\n",
                        tr(lang, "Dossier", "Dossier", "Case"),
                        v.view.case_id,
                        v.view.label,
                        tr(lang, "Geopend", "Ouvert le", "Opened"),
                        format_ts(v.view.opened_at)
                    );
                    s.push_str(&format!(
                        "  {:<24} {} [{}]\n",
                        role_label(Role::Treating, lang),
                        name_of(&v.view.treating),
                        v.view.treating.fingerprint.short()
                    ));
                    match (&v.view.patient, &v.patient) {
                        (Some(p), Some(_)) => s.push_str(&format!(
                            "  {:<24} {} [{}] {}\n",
                            role_label(Role::Patient, lang),
                            p.account,
                            p.fingerprint.short(),
                            tr(lang, "bevestigd", "confirmé", "confirmed")
                        )),
                        (Some(p), None) => s.push_str(&format!(
                            "  {:<24} {} [{}] {}\n",
                            role_label(Role::Patient, lang),
                            p.account,
                            p.fingerprint.short(),
                            tr(lang, "NIET bevestigd", "NON confirmé", "NOT confirmed")
                        )),
                        (None, _) => s.push_str(&format!(
                            "  {:<24} {}\n",
                            role_label(Role::Patient, lang),
                            tr(
                                lang,
                                "nog niet ingeschreven",
                                "pas encore inscrit",
                                "not joined yet"
                            )
                        )),
                    }
                    for m in &v.view.members {
                        let status = if m.status == trialog_protocol::api::MemberStatus::Invited {
                            tr(lang, " (uitgenodigd)", " (invité)", " (invited)")
                        } else {
                            ""
                        };
                        s.push_str(&format!(
                            "  {:<24} {} {} [{}]{status}\n",
                            role_label(m.account.role, lang),
                            name_of(&m.account),
                            m.account.account,
                            m.account.fingerprint.short()
                        ));
                    }
                    s
                },
            );
        }
        CaseCmd::List => {
            let list = c.cases().await?;
            out(
                json,
                serde_json::to_value(&list).unwrap_or_default(),
                || {
                    if list.is_empty() {
                        return tr(lang, "Geen dossiers.", "Aucun dossier.", "No cases.").into();
                    }
                    list.iter()
                        .map(|v| {
                            format!("{}  {}  {}", v.case_id, v.label, format_date(v.opened_at))
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
        }
    }
    Ok(())
}

async fn consent_cmd(cmd: ConsentCmd, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    match cmd {
        ConsentCmd::Grant(a) => {
            let until = match &a.until {
                Some(d) => Some(trialog_protocol::time::end_of_day(
                    trialog_protocol::time::parse_date(d).ok_or_else(|| {
                        ClientError::Invalid(format!(
                            "--until {d}: {}",
                            tr(
                                lang,
                                "geef een datum als JJJJ-MM-DD",
                                "donnez une date AAAA-MM-JJ",
                                "give a date as YYYY-MM-DD"
                            )
                        ))
                    })?,
                )),
                None => None,
            };
            let (consent, text) = c
                .grant(Grant {
                    case: a.case,
                    to: a.to,
                    fields: a.fields,
                    share_medically: a.share_medically,
                    until,
                    kinds: if a.kinds.is_empty() {
                        None
                    } else {
                        Some(a.kinds)
                    },
                    senders: None,
                    purpose: a.purpose,
                    lang,
                })
                .await?;
            out(
                json,
                json!({ "consent": consent.consent_id, "supersedes": consent.supersedes, "fields": consent.fields, "valid_until": format_date(consent.valid_until), "text": text }),
                || {
                    format!(
                        "{} {}\n\n{}\n",
                        tr(
                            lang,
                            "Toestemming ondertekend en bezorgd:",
                            "Consentement signé et transmis :",
                            "Consent signed and submitted:"
                        ),
                        consent.consent_id,
                        text
                    )
                },
            );
        }
        ConsentCmd::List { case } => {
            let list = c.consents(&case).await?;
            out(
                json,
                serde_json::to_value(&list).unwrap_or_default(),
                || {
                    if list.is_empty() {
                        return tr(
                            lang,
                            "Geen toestemmingen.",
                            "Aucun consentement.",
                            "No consents.",
                        )
                        .into();
                    }
                    let now = trialog_client::client::now();
                    list.iter()
                        .map(|ci| {
                            let state = if let Some(t) = ci.revoked_at {
                                format!(
                                    "{} {}",
                                    tr(lang, "ingetrokken op", "retiré le", "revoked on"),
                                    format_date(t)
                                )
                            } else if ci.superseded_by.is_some() {
                                tr(lang, "vervangen", "remplacé", "superseded").into()
                            } else if !ci.is_current(now) {
                                tr(lang, "verlopen", "expiré", "expired").into()
                            } else {
                                format!(
                                    "{} {}",
                                    tr(lang, "geldig tot", "valable jusqu'au", "valid until"),
                                    format_date(ci.consent.valid_until)
                                )
                            };
                            format!(
                                "{}  → {}  [{state}]\n    {}",
                                ci.consent.consent_id,
                                ci.consent.recipient,
                                ci.consent
                                    .fields
                                    .iter()
                                    .map(|f| f.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("\n")
                },
            );
            let _ = consent_text;
        }
        ConsentCmd::Revoke { consent } => {
            let r = c.revoke(&consent).await?;
            out(json, serde_json::to_value(&r).unwrap_or_default(), || {
                format!(
                    "{} {}\n{} {}\n{} {}\n{}",
                    tr(
                        lang,
                        "Toestemming ingetrokken:",
                        "Consentement retiré :",
                        "Consent revoked:"
                    ),
                    r.consent_id,
                    tr(
                        lang,
                        "Ongelezen berichten vernietigd:",
                        "Messages non lus détruits :",
                        "Unread messages destroyed:"
                    ),
                    r.purged,
                    tr(
                        lang,
                        "Al afgeleverde berichten:",
                        "Messages déjà remis :",
                        "Messages already delivered:"
                    ),
                    r.already_delivered,
                    tr(
                        lang,
                        "Wat al afgeleverd is, kan niet worden teruggehaald.",
                        "Ce qui a déjà été remis ne peut pas être rappelé.",
                        "What was already delivered cannot be recalled."
                    )
                )
            });
        }
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    // One TLS provider for the whole process (ring); reqwest panics without it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let cli = Cli::parse();
    let lang = cli.lang.unwrap_or_else(lang_from_env);
    let json = cli.json;
    match run(cli, lang).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if json {
                let code = e.api_code().map(str::to_owned);
                eprintln!("{}", json!({ "error": explain(&e, lang), "code": code }));
            } else {
                eprintln!("trialog: {}", explain(&e, lang));
            }
            ExitCode::FAILURE
        }
    }
}
