//! The README walkthrough, run with the real binaries: `trialog-server serve` on a random
//! port, `trialog-server invite`, and `trialog` for four people in four homes. At the end,
//! every `trialog …` command the README shows must have been run here with its flags.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use trialog_e2e::{ServerProcess, bin_dir};

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
                if !matches!(a, "case" | "consent") {
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
            .env_remove("TRIALOG_LANG");
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

    fn invite(&mut self, role: &str, riziv: &str, name: &str) -> String {
        let data = self.data.display().to_string();
        let code = self.ok(
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
                "--data-dir",
                &data,
            ],
        );
        code.trim().to_owned()
    }
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

    // Operator: invitations first (offline on the data directory), then the server.
    let inv_treating = w.invite("treating", "1-23456-25-580", "Dr. An Peeters");
    let inv_occ = w.invite("occupational", "2-34567-76-004", "Dr. Luc Janssens");
    let inv_adv = w.invite("advising", "3-45678-30-009", "Dr. Marie Dubois");
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

    w.ran.push(invocation("trialog-server", &["serve"]));
    let server = ServerProcess::start(&data, "127.0.0.1:0");
    let (url, sha) = (server.url.clone(), server.cert_sha256.clone());

    // Each physician: init, register, whoami.
    let mut ids = Vec::new();
    for (home, code) in [
        ("peeters", &inv_treating),
        ("janssens", &inv_occ),
        ("dubois", &inv_adv),
    ] {
        let out = w.init(home, &url, &sha);
        assert!(out.contains("Fingerprint"), "{out}");
        let out = w.trialog(home, &["register", "--invite", code]);
        assert!(out.contains("Registered"), "{out}");
        let me = w.json(home, &["whoami"]);
        ids.push(s(&me, "account"));
    }
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
        text.contains("Enrolment code") && text.contains('█'),
        "{text}"
    );
    let err = w.fails("peeters", &["case", "open", "--label", "85.07.30-033.61"]);
    assert!(err.contains("national register number"), "{err}");
    let (case, code) = (s(&opened, "case_id"), s(&opened, "enrolment_code"));

    // Patient joins and reads out the fingerprint.
    w.init("patient", &url, &sha);
    let joined = w.trialog("patient", &["--lang", "nl", "join", "--code", &code]);
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
    let c_occ = w.json("patient", &grant_args(&case, &occ, &work_side, &[]));
    let to_adv = grant_args(&case, &adv, &work_side, &["medical.diagnosis"]);
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
    w.trialog(
        "patient",
        &grant_args(
            &case,
            &treating,
            &[
                "job.demands",
                "job.adaptation_options",
                "reintegration.plan",
            ],
            &[],
        ),
    );

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
    let to_occ = w.trialog("peeters", &send_args(&case, &occ, "bilan", "bilan.toml"));
    assert!(to_occ.contains("Stripped: medical.diagnosis"), "{to_occ}");
    let to_adv = w.trialog("peeters", &send_args(&case, &adv, "bilan", "bilan.toml"));
    assert!(!to_adv.contains("Stripped"), "{to_adv}");

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
    assert!(msg.starts_with("msg_"), "{inbox}");
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
        &send_args(&case, &treating, "feedback", "feedback.toml"),
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
        audit.contains("Audit log verified") && audit.contains("message accepted"),
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
    let revoke = w.trialog("patient", &["consent", "revoke", "--consent", &current]);
    assert!(revoke.contains("cannot be recalled"), "{revoke}");

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
