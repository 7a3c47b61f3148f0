//! The README walkthrough, run with the real binaries: `trialog-server serve` on a random
//! port, `trialog-server invite`, and `trialog` for four people in four homes. At the end,
//! every `trialog …` command the README shows must have been run here with its flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use trialog_e2e::{OPERATOR_PASSPHRASE, ServerProcess, bin_dir};

const PASSPHRASE: &str = "a long passphrase for the demo";

/// One command as it appears in the README or as this test ran it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Invocation {
    program: String,
    subcommand: Vec<String>,
    flags: BTreeSet<String>,
}

fn invocation(program: &str, args: &[&str]) -> Invocation {
    let mut subcommand = Vec::new();
    let mut i = 0;
    while let Some(a) = args.get(i) {
        i += 1;
        match *a {
            // Global options may stand before the subcommand.
            "--json" => continue,
            "--lang" | "--data-dir" | "--database-url" => {
                i += 1;
                continue;
            }
            a if a.starts_with('-') || a.starts_with('<') || a.starts_with('"') => break,
            a => {
                subcommand.push(a.to_string());
                if !matches!(a, "case" | "consent" | "invitations") {
                    break;
                }
            }
        }
    }
    let flags = args
        .iter()
        .filter(|a| a.starts_with("--"))
        .map(|a| a.to_string())
        .collect();
    Invocation {
        program: program.into(),
        subcommand,
        flags,
    }
}

/// Every `trialog …` / `trialog-server …` line in the README's shell blocks.
fn readme_invocations(readme: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in readme.lines() {
        if line.starts_with("```") {
            in_sh = line.trim() == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().take_while(|w| *w != ">").collect();
        if let Some((program, args)) = words.split_first()
            && (*program == "trialog" || *program == "trialog-server")
        {
            out.push(invocation(program, args));
        }
    }
    out
}

struct Walkthrough {
    root: tempfile::TempDir,
    data: PathBuf,
    ran: Vec<Invocation>,
}

impl Walkthrough {
    fn command(&mut self, program: &str, home: Option<&str>, args: &[&str]) -> Command {
        self.ran.push(invocation(program, args));
        let mut c = Command::new(bin_dir().join(program));
        c.args(args)
            .current_dir(self.root.path())
            .env("TRIALOG_PASSPHRASE", PASSPHRASE)
            .env("TRIALOG_OPERATOR_PASSPHRASE", OPERATOR_PASSPHRASE)
            .env_remove("TRIALOG_LANG");
        // The operator's commands find the server's database as the README's do: in the
        // data directory on SQLite; on PostgreSQL through the environment.
        match trialog_e2e::database::url_for(&self.data) {
            Some(url) if program == "trialog-server" => c.env("TRIALOG_DATABASE_URL", url),
            _ => c.env_remove("TRIALOG_DATABASE_URL"),
        };
        if let Some(h) = home {
            c.env("TRIALOG_HOME", self.root.path().join(h));
        }
        c
    }

    fn ok(&mut self, program: &str, home: Option<&str>, args: &[&str]) -> String {
        let out: Output = self.command(program, home, args).output().expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(
            out.status.success(),
            "{program} {args:?} failed:\n{stdout}\n{stderr}"
        );
        stdout
    }

    /// `trialog` in `home`, which must succeed; returns its standard output.
    fn trialog(&mut self, home: &str, args: &[&str]) -> String {
        self.ok("trialog", Some(home), args)
    }

    /// `trialog init` in `home` against the server at `url`, pinned to its certificate.
    fn init(&mut self, home: &str, url: &str, sha: &str) -> String {
        self.trialog(home, &["init", "--server", url, "--cert-sha256", sha])
    }

    fn json(&mut self, home: &str, args: &[&str]) -> Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let s = self.trialog(home, &a);
        serde_json::from_str(&s).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {s}"))
    }

    fn fails(&mut self, home: &str, args: &[&str]) -> String {
        let out = self
            .command("trialog", Some(home), args)
            .output()
            .expect("run");
        assert!(!out.status.success(), "{args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    }

    /// `trialog --lang LANG inbox --follow` in `home`, running: its output lines as they
    /// come, after the listing of what was already there has been printed.
    fn follow(
        &mut self,
        home: &str,
        lang: &str,
    ) -> (std::process::Child, std::sync::mpsc::Receiver<String>) {
        use std::io::BufRead;
        let mut child = self
            .command(
                "trialog",
                Some(home),
                &["--lang", lang, "inbox", "--follow"],
            )
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start trialog inbox --follow");
        // Its first line on stderr says it is waiting: from then on nothing is missed.
        let mut waiting = String::new();
        std::io::BufReader::new(child.stderr.take().expect("stderr"))
            .read_line(&mut waiting)
            .expect("inbox --follow says it waits");
        assert!(waiting.contains("Ctrl-C"), "{waiting}");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// `trialog ui` as a person starts it, in `home`: returns the running process and the
    /// one-time link it printed.
    fn ui(&mut self, home: &str) -> (std::process::Child, String) {
        use std::io::BufRead;
        let mut child = self
            .command("trialog", Some(home), &["ui"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start trialog ui");
        let out = child.stdout.take().expect("stdout");
        let link = std::io::BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .find_map(|l| {
                l.trim()
                    .starts_with("http://127.0.0.1:")
                    .then(|| l.trim().to_owned())
            })
            .expect("trialog ui prints its link");
        (child, link)
    }

    /// `trialog-server approve`: the operator attests the key of the physician in `home`,
    /// comparing the fingerprint that physician's `trialog whoami` shows (read out).
    fn approve(&mut self, home: &str, riziv: &str) -> String {
        self.approve_with(home, riziv, &[])
    }

    /// `approve` with extra flags (`--recovery`).
    fn approve_with(&mut self, home: &str, riziv: &str, extra: &[&str]) -> String {
        let fingerprint = s(&self.json(home, &["whoami"]), "fingerprint_short");
        let data = self.data.display().to_string();
        let mut args = vec![
            "approve",
            "--riziv",
            riziv,
            "--fingerprint",
            &fingerprint,
            "--data-dir",
            &data,
        ];
        args.extend_from_slice(extra);
        self.ok("trialog-server", None, &args)
    }

    /// `trialog-server invite`: the plain code (line 1) and the onboarding string (line 2).
    fn invite(&mut self, role: &str, riziv: &str, name: &str, url: &str) -> (String, String) {
        let data = self.data.display().to_string();
        let out = self.ok(
            "trialog-server",
            None,
            &[
                "invite",
                "--role",
                role,
                "--riziv",
                riziv,
                "--name",
                name,
                "--server-url",
                url,
                "--data-dir",
                &data,
            ],
        );
        let mut lines = out.lines().map(str::trim);
        let code = lines.next().expect("code").to_owned();
        let onboarding = lines.next().expect("onboarding string").to_owned();
        assert!(onboarding.starts_with("trialog:v1:"), "{out}");
        (code, onboarding)
    }
}

/// A free port on the loopback, for a server whose address must be known before it starts
/// (the invitations' onboarding strings carry it).
fn free_loopback() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    format!("127.0.0.1:{port}")
}

/// `trialog case confirm-patient`'s arguments.
fn confirm_args<'a>(case: &'a str, fingerprint: &'a str) -> [&'a str; 6] {
    [
        "case",
        "confirm-patient",
        "--case",
        case,
        "--fingerprint",
        fingerprint,
    ]
}

/// `trialog send`'s arguments, as the README writes them.
fn send_args<'a>(case: &'a str, to: &'a str, kind: &'a str, file: &'a str) -> Vec<&'a str> {
    vec![
        "send", "--case", case, "--to", to, "--kind", kind, "--file", file,
    ]
}

/// `trialog consent grant`'s arguments: each field, then each one shared medically.
fn grant_args<'a>(
    case: &'a str,
    to: &'a str,
    fields: &[&'a str],
    share_medically: &[&'a str],
) -> Vec<&'a str> {
    let mut args = vec!["consent", "grant", "--case", case, "--to", to];
    for f in fields {
        args.extend(["--field", f]);
    }
    for f in share_medically {
        args.extend(["--share-medically", f]);
    }
    // No terminal here to confirm on; the text is checked in the output instead.
    args.push("--yes");
    args
}

fn s(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn readme_walkthrough() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"))
            .expect("README");
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("trialog-data");
    let mut w = Walkthrough {
        root,
        data: data.clone(),
        ran: Vec::new(),
    };

    // Operator: the server first (it creates the data directory), then the invitations,
    // offline on the data directory. They carry the address the server listens on.
    let listen = free_loopback();
    let server_url = format!("https://{listen}");
    // With the README's metrics listener, on a free port here; scraped before the restart.
    let serve = ["--listen", &listen, "--metrics-listen", "127.0.0.1:0"];
    w.ran.push(invocation(
        "trialog-server",
        &[&["serve"][..], &serve[..]].concat(),
    ));
    let server = ServerProcess::start_serving(&data, &[], &serve, None);
    let (url, sha) = (server.url.clone(), server.cert_sha256.clone());
    assert_eq!(url, server_url);
    let (_, on_treating) = w.invite("treating", "1-23456-25-580", "Dr. An Peeters", &server_url);
    let (inv_occ, _) = w.invite(
        "occupational",
        "2-34567-76-004",
        "Dr. Luc Janssens",
        &server_url,
    );
    let (inv_adv, _) = w.invite(
        "advising",
        "3-45678-30-009",
        "Dr. Marie Dubois",
        &server_url,
    );
    // A bad RIZIV/INAMI number is refused with the reason.
    let bad = w
        .command(
            "trialog-server",
            None,
            &[
                "--data-dir",
                &data.display().to_string(),
                "invite",
                "--role",
                "treating",
                "--riziv",
                "1-23456-26-580",
                "--name",
                "X",
            ],
        )
        .output()
        .expect("run");
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).contains("check digits"));

    // Each physician: the onboarding string (init and register in one), or init then
    // register with the plain code; then whoami.
    let mut ids = Vec::new();
    let out = w.trialog("peeters", &["register", "--onboarding", &on_treating]);
    assert!(
        out.contains("Registered") && out.contains("operator"),
        "{out}"
    );
    ids.push(s(&w.json("peeters", &["whoami"]), "account"));
    for (home, code) in [("janssens", &inv_occ), ("dubois", &inv_adv)] {
        let out = w.init(home, &url, &sha);
        assert!(out.contains("Fingerprint"), "{out}");
        let out = w.trialog(home, &["register", "--invite", code]);
        assert!(out.contains("Registered"), "{out}");
        let me = w.json(home, &["whoami"]);
        ids.push(s(&me, "account"));
    }
    // The operator attests each key on the fingerprint the physician reads out; a wrong
    // one is refused and attests nothing.
    let wrong = w
        .command(
            "trialog-server",
            None,
            &[
                "approve",
                "--riziv",
                "1-23456-25-580",
                "--fingerprint",
                "0000 0000 0000 0000 0000 0000 0000 0000",
                "--data-dir",
                &data.display().to_string(),
            ],
        )
        .output()
        .expect("run");
    assert!(
        !wrong.status.success()
            && String::from_utf8_lossy(&wrong.stderr).contains("do NOT approve"),
        "{wrong:?}"
    );
    assert!(
        w.trialog("peeters", &["whoami"])
            .contains("Read this fingerprint out")
    );
    for (home, riziv) in [
        ("peeters", "1-23456-25-580"),
        ("janssens", "2-34567-76-004"),
        ("dubois", "3-45678-30-009"),
    ] {
        let out = w.approve(home, riziv);
        assert!(out.contains("attested"), "{out}");
    }
    assert!(
        w.trialog("peeters", &["whoami"])
            .contains("Key attested by the operator on")
    );
    let (treating, occ, adv) = (ids[0].clone(), ids[1].clone(), ids[2].clone());
    // An invitation works once.
    w.init("intruder", &url, &sha);
    let err = w.fails("intruder", &["register", "--invite", &inv_occ]);
    assert!(err.contains("unknown, used or expired"), "{err}");

    // Treating physician opens the case.
    let opened = w.json("peeters", &["case", "open", "--label", "Case 2026-017"]);
    // For people: the code as text and as a QR code; a label that looks like a national
    // register number is refused.
    let text = w.trialog("peeters", &["case", "open", "--label", "Case 2026-018"]);
    assert!(
        text.contains("Enrolment code") && text.contains("trialog:v1:") && text.contains('█'),
        "{text}"
    );
    let err = w.fails("peeters", &["case", "open", "--label", "85.07.30-033.61"]);
    assert!(err.contains("national register number"), "{err}");
    let (case, onboarding) = (s(&opened, "case_id"), s(&opened, "onboarding"));
    assert!(onboarding.starts_with("trialog:v1:"), "{opened}");

    // Patient joins with the sheet's one string (keys made in the same step) and reads out
    // the fingerprint.
    let joined = w.trialog(
        "patient",
        &["--lang", "nl", "join", "--onboarding", &onboarding],
    );
    assert!(joined.contains("Lees deze vingerafdruk voor"), "{joined}");
    let fingerprint = joined
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 39 && l.split(' ').count() == 8)
        .expect("fingerprint line")
        .to_owned();

    // A wrong fingerprint is refused; the right one confirms.
    let wrong = "0000 0000 0000 0000 0000 0000 0000 0000";
    let err = w.fails("peeters", &confirm_args(&case, wrong));
    assert!(err.contains("does not match"), "{err}");
    let out = w.trialog("peeters", &confirm_args(&case, &fingerprint));
    assert!(out.contains("confirmed"), "{out}");

    // Patient adds the physicians and checks the case.
    let dir = w.trialog("patient", &["directory", "--role", "occupational"]);
    assert!(
        dir.contains("Dr. Luc Janssens") && dir.contains(&occ) && !dir.contains("Dr. Marie Dubois"),
        "{dir}"
    );
    w.trialog(
        "patient",
        &["case", "add", "--case", &case, "--member", &occ],
    );
    w.trialog(
        "patient",
        &["case", "add", "--case", &case, "--member", &adv],
    );
    let show = w.trialog("patient", &["case", "show", "--case", &case]);
    assert!(
        show.contains("confirmed")
            && show.contains("Dr. Luc Janssens")
            && show.contains("Dr. Marie Dubois"),
        "{show}"
    );

    // Consents.
    let err = w.fails(
        "patient",
        &grant_args(&case, &occ, &["medical.diagnosis"], &[]),
    );
    assert!(err.contains("--share-medically"), "{err}");
    let work_side = [
        "capacity.hours_per_week",
        "limits.fatigue",
        "limits.physical",
    ];
    // `--to` names the physician by role (one of each here) or by RIZIV/INAMI number.
    let c_occ = w.json(
        "patient",
        &grant_args(&case, "occupational", &work_side, &[]),
    );
    assert_eq!(s(&c_occ, "recipient"), occ, "{c_occ}");
    let to_adv = grant_args(&case, "3.45678.30.009", &work_side, &["medical.diagnosis"]);
    // Without a terminal to confirm on, nothing is signed unless --yes says so.
    let unconfirmed: Vec<&str> = to_adv.iter().copied().filter(|a| *a != "--yes").collect();
    let err = w.fails("patient", &unconfirmed);
    assert!(err.contains("--yes"), "{err}");
    // The text the patient signs names the physician, their role and what is shared medically.
    let granted = w.trialog("patient", &to_adv);
    assert!(
        granted.contains("the advising physician Dr. Marie Dubois")
            && granted.contains("Diagnosis")
            && granted.contains("shared MEDICALLY"),
        "{granted}"
    );
    let c_treating = w.json(
        "patient",
        &grant_args(
            &case,
            "treating",
            &[
                "job.demands",
                "job.adaptation_options",
                "reintegration.plan",
            ],
            &[],
        ),
    );
    assert_eq!(s(&c_treating, "recipient"), treating, "{c_treating}");

    // Treating physician: template, then the README's filled-in bilan, sent to both.
    let template = w.trialog("peeters", &["template", "--kind", "bilan", "--lang", "nl"]);
    assert!(
        template.contains("#limits.fatigue") && template.contains("Vermoeidheid"),
        "{template}"
    );
    let bilan = readme
        .split("```toml\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("README toml block");
    std::fs::write(w.root.path().join("bilan.toml"), bilan).expect("write bilan");
    // To both at once, by role: first a dry run, then the real thing; one message each,
    // each under its own consent.
    let mut both = send_args(&case, "occupational", "bilan", "bilan.toml");
    both.extend(["--to", "advising"]);
    let mut dry = both.clone();
    dry.push("--dry-run");
    let preview = w.trialog("peeters", &dry);
    assert!(
        preview.matches("Dry run, nothing sent").count() == 2
            && preview.matches("Stripped: medical.diagnosis").count() == 1,
        "{preview}"
    );
    // The occupational physician keeps a terminal open on their inbox, live.
    let (mut follow, lines) = w.follow("janssens", "nl");
    let sent = w.trialog("peeters", &both);
    let live = lines
        .recv_timeout(std::time::Duration::from_secs(20))
        .expect("inbox --follow prints the new message");
    let _ = follow.kill();
    let _ = follow.wait();
    let id = live.split_whitespace().next().unwrap_or_default();
    assert!(
        id.starts_with("msg_")
            && live.contains("van Dr. An Peeters")
            && live.contains("dossier")
            && sent.contains(id),
        "{live}\n{sent}"
    );
    assert!(
        sent.matches("Sent: msg_").count() == 2
            && sent.matches("Stripped: medical.diagnosis").count() == 1
            && sent.contains("Dr. Luc Janssens")
            && sent.contains("Dr. Marie Dubois"),
        "{sent}"
    );

    // The leak guard stops a diagnosis hidden in free text, in words.
    std::fs::write(
        w.root.path().join("leaky.toml"),
        "capacity.hours_per_week = 12\nlimits.fatigue = \"Moe sinds de chemotherapie\"\n",
    )
    .expect("write");
    let err = w.fails("peeters", &send_args(&case, &adv, "bilan", "leaky.toml"));
    assert!(
        err.contains("chemotherapie") && err.contains("--override-leak-guard"),
        "{err}"
    );

    // Occupational physician reads (no diagnosis) and answers.
    let inbox = w.trialog("janssens", &["inbox"]);
    let msg = inbox
        .split_whitespace()
        .next()
        .expect("a message")
        .to_owned();
    assert!(
        msg.starts_with("msg_")
            && inbox.contains("from Dr. An Peeters")
            && !inbox.contains("case_"),
        "{inbox}"
    );
    let read = w.trialog("janssens", &["read", &msg]);
    assert!(
        read.contains("Vermoeidheid 6/10") && !read.contains("carcinoom"),
        "{read}"
    );
    let fb_template = w.trialog("janssens", &["template", "--kind", "feedback"]);
    assert!(fb_template.contains("#job.demands"));
    std::fs::write(
        w.root.path().join("feedback.toml"),
        "[job]\ndemands = \"Planner: screen work, lifting up to 10 kg\"\nadaptation_options = \"Desk tasks only for 3 months\"\n[reintegration]\nplan = \"Adapted work at 50 % from 2027-01-04\"\n",
    )
    .expect("write feedback");
    w.trialog(
        "janssens",
        &send_args(&case, "treating", "feedback", "feedback.toml"),
    );

    // The advising physician sees the diagnosis; the treating physician the feedback.
    let adv_inbox = w.json("dubois", &["inbox"]);
    let adv_msg = adv_inbox[0]["message_id"]
        .as_str()
        .expect("message")
        .to_owned();
    let read = w.trialog("dubois", &["--lang", "fr", "read", &adv_msg]);
    assert!(
        read.contains("Diagnostic") && read.contains("carcinoom"),
        "{read}"
    );
    let t_inbox = w.json("peeters", &["inbox"]);
    let fb = t_inbox[0]["message_id"]
        .as_str()
        .expect("feedback")
        .to_owned();
    let read = w.trialog("peeters", &["read", &fb]);
    assert!(read.contains("Desk tasks only"), "{read}");

    // Patient: consents, audit, revocation.
    let list = w.trialog("patient", &["consent", "list", "--case", &case]);
    assert!(
        list.contains(&occ)
            && list.contains("Dr. Luc Janssens (occupational physician")
            && list.contains("valid until"),
        "{list}"
    );
    // Everything read: a long poll ends empty at its limit.
    let idle = w.trialog("janssens", &["inbox", "--wait", "1"]);
    assert!(idle.contains("No messages"), "{idle}");
    let keys = w.trialog("janssens", &["audit", "--directory"]);
    assert!(
        keys.contains("key registered") && keys.contains(&occ),
        "{keys}"
    );
    let audit = w.trialog("patient", &["audit", "--case", &case]);
    assert!(
        audit.contains("Audit log verified")
            && audit.contains("message accepted")
            && audit.contains("Case 2026-017")
            && audit.contains("Dr. Luc Janssens"),
        "{audit}"
    );
    // A narrower version for the occupational physician: before signing, the patient sees
    // what changes and how many unread messages it would destroy.
    let narrowed = w.trialog(
        "patient",
        &grant_args(
            &case,
            &occ,
            &["capacity.hours_per_week", "limits.fatigue"],
            &[],
        ),
    );
    assert!(
        narrowed.contains("What changes")
            && narrowed.contains("− data: Physical")
            && narrowed.contains("Unread messages this version would destroy: 0"),
        "{narrowed}"
    );
    let current = narrowed
        .split_whitespace()
        .find(|w| w.starts_with("cons_") && *w != s(&c_occ, "consent"))
        .expect("the new version's id")
        .to_owned();
    // The old version can no longer be revoked on its own: the new one applies.
    let err = w.fails(
        "patient",
        &["consent", "revoke", "--consent", &s(&c_occ, "consent")],
    );
    assert!(err.contains("newer version"), "{err}");
    // The occupational physician follows in French: the revocation reaches them as it
    // happens, in words.
    let (mut follow, lines) = w.follow("janssens", "fr");
    let revoke = w.trialog("patient", &["consent", "revoke", "--consent", &current]);
    assert!(revoke.contains("cannot be recalled"), "{revoke}");
    let told = std::iter::from_fn(|| lines.recv_timeout(std::time::Duration::from_secs(20)).ok())
        .find(|l| l.contains("consentement révoqué dans le dossier"));
    let _ = follow.kill();
    let _ = follow.wait();
    assert!(
        told.is_some_and(|l| l.starts_with(&current)),
        "inbox --follow tells the revocation in French"
    );

    // The patient removes the advising physician, who then sees nothing of the case.
    let removed = w.trialog(
        "patient",
        &["case", "remove", "--case", &case, "--member", &adv],
    );
    assert!(removed.contains("no longer sees anything"), "{removed}");
    let err = w.fails("dubois", &["case", "show", "--case", &case]);
    assert!(
        err.contains("unknown_case") || err.contains("not a member"),
        "{err}"
    );
    let err = w.fails("dubois", &["--json", "case", "show", "--case", &case]);
    let err: Value = serde_json::from_str(err.trim()).expect("a JSON error");
    assert_eq!(err["code"], "unknown_case", "{err}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{err}"
    );

    // The next bilan under it is refused, in words, in the physician's language.
    let err = w.fails("peeters", &send_args(&case, &occ, "bilan", "bilan.toml"));
    assert!(err.contains("revoked this consent"), "{err}");
    let mut in_french = vec!["--lang", "fr"];
    in_french.extend(send_args(&case, &occ, "bilan", "bilan.toml"));
    let err = w.fails("peeters", &in_french);
    assert!(err.contains("retiré ce consentement"), "{err}");

    // Operator: the invitations and their states; one revoked; a suspension and its lift.
    let d = data.display().to_string();
    let list = w.ok(
        "trialog-server",
        None,
        &["invitations", "list", "--data-dir", &d],
    );
    assert!(
        list.contains("Dr. Luc Janssens") && list.contains("used"),
        "{list}"
    );
    w.invite(
        "occupational",
        "4-56789-81-004",
        "Dr. Eva Claes",
        &server_url,
    );
    let out = w.ok(
        "trialog-server",
        None,
        &[
            "invitations",
            "revoke",
            "--riziv",
            "4-56789-81-004",
            "--data-dir",
            &d,
        ],
    );
    assert!(out.contains("revoked"), "{out}");
    let list = w.ok(
        "trialog-server",
        None,
        &["invitations", "list", "--json", "--data-dir", &d],
    );
    let list: Value = serde_json::from_str(&list).expect("JSON list");
    assert_eq!(list.as_array().map(Vec::len), Some(4), "{list}");
    assert_eq!(list[3]["state"], "revoked", "{list}");
    assert!(!list.to_string().contains("code"), "{list}");
    let suspend = ["suspend", "--riziv", "2-34567-76-004", "--data-dir", &d];
    let out = w.ok("trialog-server", None, &suspend);
    assert!(out.contains("suspended"), "{out}");
    let err = w.fails("janssens", &["inbox"]);
    assert!(err.contains("account_suspended"), "{err}");
    let out = w.ok(
        "trialog-server",
        None,
        &["unsuspend", "--riziv", "2-34567-76-004", "--data-dir", &d],
    );
    assert!(out.contains("no longer suspended"), "{out}");
    w.trialog("janssens", &["inbox"]);
    // A backup of the running server.
    let backup = w
        .root
        .path()
        .join("trialog-backup.db")
        .display()
        .to_string();
    let args = ["backup", "--to", &backup, "--data-dir", &d];
    if trialog_e2e::database::is_postgres() {
        // PostgreSQL is backed up with its own tools: the command says so and writes nothing.
        let out = w
            .command("trialog-server", None, &args)
            .output()
            .expect("run");
        assert!(!out.status.success());
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    } else {
        let out = w.ok("trialog-server", None, &args);
        assert!(out.contains("Backup written"), "{out}");
    }

    // The web client's command, as the README starts it for someone with no keys yet:
    // the printed link signs the browser in once, and the first page is set-up.
    let (mut ui, link) = w.ui("newcomer");
    trialog_e2e::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("http");
    let r = http.get(&link).send().await.expect("open the link");
    assert_eq!(r.status(), reqwest::StatusCode::SEE_OTHER);
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .split(';')
        .next()
        .expect("cookie")
        .to_owned();
    let base = link.split("/login").next().expect("base").to_owned();
    let mut path = "/".to_owned();
    for _ in 0..3 {
        let r = http
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .await
            .expect("get");
        match r.headers().get("location") {
            Some(l) => path = l.to_str().expect("ascii").to_owned(),
            None => {
                let page = r.text().await.expect("page");
                assert!(page.contains("Set up Trialog on this computer"), "{page}");
                break;
            }
        }
    }
    assert_eq!(path, "/setup");
    let again = http.get(&link).send().await.expect("the link again");
    assert_eq!(
        again.status(),
        reqwest::StatusCode::FORBIDDEN,
        "the link works once"
    );
    let _ = ui.kill();
    let _ = ui.wait();

    // Dr. Janssens reads on a second computer too: the first shows a one-time string, the
    // new one claims it and shows its fingerprint, the first approves after comparing.
    let link = w.json("janssens", &["device", "link"]);
    let mut add = w
        .command(
            "trialog",
            Some("janssens-desktop"),
            &[
                "device",
                "add",
                "--onboarding",
                &s(&link, "onboarding"),
                "--name",
                "desktop",
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start trialog device add");
    let device_fp = {
        use std::io::BufRead;
        let err = add.stderr.take().expect("stderr");
        std::io::BufReader::new(err)
            .lines()
            .map_while(Result::ok)
            .map(|l| l.trim().to_owned())
            .find(|l| l.len() == 39 && l.split(' ').count() == 8)
            .expect("the new device's fingerprint")
    };
    let out = w.trialog(
        "janssens",
        &["device", "approve", "--fingerprint", &device_fp],
    );
    assert!(out.contains("Device added"), "{out}");
    let added = add.wait_with_output().expect("device add ends");
    assert!(added.status.success(), "{added:?}");
    let listed = w.trialog("janssens-desktop", &["device", "list"]);
    assert!(
        listed.contains("desktop") && listed.contains("(this device)"),
        "{listed}"
    );
    let first = w.json("janssens", &["device", "list"]);
    let first_fp = first
        .as_array()
        .and_then(|a| a.iter().find(|d| d["this"] == true))
        .map(|d| s(d, "fingerprint"))
        .expect("the first device");
    let out = w.trialog(
        "janssens-desktop",
        &["device", "remove", "--fingerprint", &first_fp],
    );
    assert!(out.contains("Device removed"), "{out}");

    // Dr. Dubois loses her laptop: a recovery invitation, a new home registers a new key
    // for the same account, the operator approves it and so revokes the old one.
    let out = w.ok(
        "trialog-server",
        None,
        &[
            "invite",
            "--recovery",
            "--riziv",
            "3-45678-30-009",
            "--server-url",
            &server_url,
            "--data-dir",
            &d,
        ],
    );
    let recovery = out
        .lines()
        .nth(1)
        .expect("onboarding string")
        .trim()
        .to_owned();
    let out = w.trialog("dubois-laptop", &["register", "--onboarding", &recovery]);
    assert!(out.contains("Registered") && out.contains(&adv), "{out}");
    let err = w.fails("dubois", &["whoami"]);
    assert!(!err.is_empty(), "the lost key no longer logs in");
    let out = w.approve_with("dubois-laptop", "3-45678-30-009", &["--recovery"]);
    assert!(out.contains("old key") && out.contains("revoked"), "{out}");
    let me = w.trialog("dubois-laptop", &["whoami"]);
    assert!(me.contains("Key attested by the operator on"), "{me}");
    // The patient's client knew the old key: it moves to the new one and says so.
    let show = w.trialog("patient", &["case", "show", "--case", &case]);
    assert!(
        show.contains("Dr. Marie Dubois") && show.contains("new key, attested by the operator on"),
        "{show}"
    );

    // The patient lost their device: the treating physician prints a new enrolment sheet,
    // the patient joins on a new device (the same account, a new key) and the treating
    // physician confirms the new key as the first time. The consents the old key signed
    // stay; the old device no longer logs in.
    let patient_id = s(&w.json("patient", &["whoami"]), "account");
    let reissued = w.json("peeters", &["case", "reenrol", "--case", &case]);
    let joined = w.trialog(
        "patient-new-device",
        &["join", "--onboarding", &s(&reissued, "onboarding")],
    );
    let new_fingerprint = joined
        .lines()
        .map(str::trim)
        .find(|l| l.len() == 39 && l.split(' ').count() == 8)
        .expect("fingerprint line")
        .to_owned();
    assert_ne!(new_fingerprint, fingerprint);
    assert_eq!(
        s(&w.json("patient-new-device", &["whoami"]), "account"),
        patient_id
    );
    w.fails("patient", &["whoami"]);
    let out = w.trialog("peeters", &confirm_args(&case, &new_fingerprint));
    assert!(out.contains("confirmed"), "{out}");
    let list = w.trialog("patient-new-device", &["consent", "list", "--case", &case]);
    assert!(list.contains(&occ), "{list}");

    // The metrics listener counted the messages sent above.
    trialog_e2e::install_tls_provider();
    let metrics_url = server.metrics_url.clone().expect("a metrics listener");
    let metrics = reqwest::get(&metrics_url)
        .await
        .expect("scrape")
        .text()
        .await
        .expect("metrics");
    let accepted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("trialog_envelopes_accepted_total "))
        .and_then(|n| n.parse::<f64>().ok());
    assert!(accepted.is_some_and(|n| n > 0.0), "{metrics}");

    // The operator rotates the certificate and restarts the server on the same address; a
    // client set up before follows by itself (the server key vouches for the new one) and
    // says so in one line.
    drop(server);
    let out = w.ok("trialog-server", None, &["rotate-cert", "--data-dir", &d]);
    assert!(out.contains("New TLS certificate SHA-256"), "{out}");
    let server = ServerProcess::start(&data, &listen);
    assert_ne!(server.cert_sha256, sha);
    let out = w
        .command("trialog", Some("janssens"), &["whoami"])
        .output()
        .expect("run");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains(&server.cert_sha256), "{stderr}");
    drop(server);

    // Every command the README shows was run above with at least its flags.
    let readme_cmds = readme_invocations(&readme);
    assert!(
        readme_cmds.len() >= 20,
        "README commands found: {}",
        readme_cmds.len()
    );
    for r in &readme_cmds {
        let covered = w.ran.iter().any(|x| {
            x.program == r.program && x.subcommand == r.subcommand && r.flags.is_subset(&x.flags)
        });
        assert!(covered, "README command not exercised by this test: {r:?}");
    }
}

/// `--to` by role and by RIZIV/INAMI number (and its refusals), several `--to` with one
/// failing, `--dry-run` that submits nothing, and the onboarding string both ways.
#[tokio::test(flavor = "multi_thread")]
async fn people_roles_riziv_dry_run_and_onboarding() {
    let root = tempfile::tempdir().expect("tmp");
    let data = root.path().join("trialog-data");
    let mut w = Walkthrough {
        root,
        data: data.clone(),
        ran: Vec::new(),
    };
    let listen = free_loopback();
    let url = format!("https://{listen}");
    let _server = ServerProcess::start(&data, &listen);
    let (_, on_t) = w.invite("treating", "1-23456-25-580", "Dr. An Peeters", &url);
    let (_, on_o1) = w.invite("occupational", "2-34567-76-004", "Dr. Luc Janssens", &url);
    let (_, on_o2) = w.invite("occupational", "4-56789-81-004", "Dr. Eva Claes", &url);
    let (_, on_a) = w.invite("advising", "3-45678-30-009", "Dr. Marie Dubois", &url);

    // A malformed onboarding string is refused with a sentence, before anything is created.
    let err = w.fails("x", &["join", "--onboarding", "K7QM-2XPA-9RTB"]);
    assert!(err.contains("starts with `trialog:v1:`"), "{err}");
    let mut damaged = on_o1.clone();
    damaged.push('!');
    let err = w.fails("x", &["register", "--onboarding", &damaged]);
    assert!(err.contains("damaged"), "{err}");
    assert!(!w.root.path().join("x").join("config.toml").exists());

    // Round trip: each physician registers from the string alone, against the right server.
    let mut ids = Vec::new();
    for (home, on, riziv) in [
        ("t", &on_t, "1-23456-25-580"),
        ("o1", &on_o1, "2-34567-76-004"),
        ("o2", &on_o2, "4-56789-81-004"),
        ("a", &on_a, "3-45678-30-009"),
    ] {
        w.trialog(home, &["register", "--onboarding", on]);
        let me = w.json(home, &["whoami"]);
        assert_eq!(s(&me, "server"), url, "{me}");
        ids.push(s(&me, "account"));
        w.approve(home, riziv);
    }
    let (o1, o2) = (ids[1].clone(), ids[2].clone());
    let opened = w.json("t", &["case", "open", "--label", "Case 2026-031"]);
    let case = s(&opened, "case_id");
    let joined = w.json("p", &["join", "--onboarding", &s(&opened, "onboarding")]);
    w.trialog("t", &confirm_args(&case, &s(&joined, "fingerprint")));
    for m in [&o1, &ids[3]] {
        w.trialog("p", &["case", "add", "--case", &case, "--member", m]);
    }

    // Unknown recipients are refused in words.
    let fields = ["capacity.hours_per_week", "limits.fatigue"];
    let err = w.fails("p", &grant_args(&case, "5-55555-61-000", &fields, &[]));
    assert!(
        err.contains("No physician of this case answers to"),
        "{err}"
    );
    let err = w.fails("p", &grant_args(&case, "nobody", &fields, &[]));
    assert!(
        err.contains("a role (occupational, advising, treating)"),
        "{err}"
    );
    // By role, by RIZIV/INAMI number with other separators.
    let g = w.json("p", &grant_args(&case, "occupational", &fields, &[]));
    assert_eq!(s(&g, "recipient"), o1);
    let g = w.json(
        "p",
        &grant_args(&case, "34567830009", &fields, &["medical.diagnosis"]),
    );
    assert_eq!(s(&g, "recipient"), ids[3]);

    // A second occupational physician: the role is now ambiguous, named in the refusal.
    w.trialog("p", &["case", "add", "--case", &case, "--member", &o2]);
    let err = w.fails("p", &grant_args(&case, "occupational", &fields, &[]));
    assert!(
        err.contains("Several physicians")
            && err.contains("Dr. Luc Janssens")
            && err.contains("Dr. Eva Claes"),
        "{err}"
    );
    std::fs::write(
        w.root.path().join("b.toml"),
        "capacity.hours_per_week = 12\nlimits.fatigue = \"Vermoeidheid 6/10\"\nmedical.diagnosis = \"Invasief ductaal carcinoom (C50.4)\"\n",
    )
    .expect("write");
    let err = w.fails("t", &send_args(&case, "occupational", "bilan", "b.toml"));
    assert!(err.contains("Several physicians"), "{err}");

    // A dry run shows each recipient's copy and submits nothing.
    let mut dry = send_args(&case, "2.34567.76.004", "bilan", "b.toml");
    dry.extend(["--to", "advising", "--dry-run"]);
    let preview = w.trialog("t", &dry);
    assert!(
        preview.matches("Dry run, nothing sent").count() == 2
            && preview.matches("Stripped: medical.diagnosis").count() == 1,
        "{preview}"
    );
    let json_preview = w.json("t", &dry);
    assert_eq!(
        json_preview.as_array().map(Vec::len),
        Some(2),
        "{json_preview}"
    );
    for home in ["o1", "a"] {
        let inbox = w.json(home, &["inbox"]);
        assert_eq!(inbox, Value::Array(vec![]), "{home}: {inbox}");
    }

    // Several --to, one without consent: the others still go, the failure is named and the
    // command ends in error.
    let mut several = send_args(&case, "2-34567-76-004", "bilan", "b.toml");
    several.extend(["--to", &o2, "--to", "advising"]);
    let out = w
        .command("trialog", Some("t"), &several)
        .output()
        .expect("run");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(!out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.matches("Sent: msg_").count() == 2
            && stderr.contains(&format!("--to {o2}"))
            && stderr.contains("no consent for Dr. Eva Claes")
            && stderr.contains("1/3"),
        "{stdout}\n{stderr}"
    );
    for home in ["o1", "a"] {
        let inbox = w.trialog(home, &["inbox"]);
        assert!(
            inbox.contains("from Dr. An Peeters") && inbox.contains("case TRIO-"),
            "{home}: {inbox}"
        );
    }
    assert_eq!(w.json("o2", &["inbox"]), Value::Array(vec![]));
}
