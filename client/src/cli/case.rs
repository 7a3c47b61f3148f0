//! Output of `trialog case …`: open, confirm-patient, add, show, list.

use serde_json::json;
use trialog_client::i18n::tr;
use trialog_client::{Client, ClientError};
use trialog_protocol::time::{format_date, format_ts};
use trialog_protocol::{AccountId, CaseId, Lang, Role};

use super::args::CaseCmd;
use super::output::{name_of, out, qr, role_label};
use super::passphrase::open;

/// Every `case` subcommand needs the unlocked keystore, so it is opened once, first.
pub async fn run(cmd: CaseCmd, json: bool, lang: Lang) -> Result<(), ClientError> {
    let mut c = open(lang)?;
    match cmd {
        CaseCmd::Open { label } => open_case(&mut c, label, json, lang).await,
        CaseCmd::ConfirmPatient { case, fingerprint } => {
            confirm_patient(&mut c, case, fingerprint, json, lang).await
        }
        CaseCmd::Add { case, member } => add(&mut c, case, member, json, lang).await,
        CaseCmd::Remove { case, member } => remove(&mut c, case, member, json, lang).await,
        CaseCmd::Show { case } => show(&mut c, case, json, lang).await,
        CaseCmd::List => list(&mut c, json, lang).await,
        CaseCmd::Reenrol { case } => {
            let r = c.reissue_enrolment(&case).await?;
            sheet(&c, &r, json, lang)
        }
    }
}

async fn open_case(
    c: &mut Client,
    label: String,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let r = c.open_case(&label).await?;
    sheet(c, &r, json, lang)
}

/// The enrolment sheet: the code, the one string that carries server, certificate and code,
/// its QR code and what the patient does with it (a new case or a re-issued code alike).
fn sheet(
    c: &Client,
    r: &trialog_protocol::api::OpenCaseResponse,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    // The enrolment sheet's one string: server, certificate, operator key and code.
    let onboarding = c.onboarding(&r.enrolment_code)?.encode();
    let mut value = serde_json::to_value(r).unwrap_or_default();
    if let Some(o) = value.as_object_mut() {
        o.insert("onboarding".into(), json!(onboarding));
    }
    out(json, value, || {
        format!(
            "{} {}\n{} {}\n{} {}\n{} {}\n{}\n{}",
            tr(lang, "Dossier:", "Dossier :", "Case:"),
            r.case_id,
            tr(
                lang,
                "Inschrijvingscode voor de patiënt:",
                "Code d'inscription pour le patient :",
                "Enrolment code for the patient:"
            ),
            r.enrolment_code,
            tr(
                lang,
                "Alles in één (server, certificaat, code):",
                "Tout en un (serveur, certificat, code) :",
                "All in one (server, certificate, code):"
            ),
            onboarding,
            tr(lang, "Geldig tot", "Valable jusqu'au", "Valid until"),
            format_date(r.expires_at),
            tr(
                lang,
                "Geef de code persoonlijk aan de patiënt; die schrijft zich in met `trialog join --code CODE`.",
                "Remettez le code en personne au patient ; il s'inscrit avec `trialog join --code CODE`.",
                "Hand the code to the patient in person; they join with `trialog join --code CODE`."
            ),
            tr(
                lang,
                "Of in één stap, ook op een nieuw toestel: `trialog join --onboarding TEKENREEKS` (de QR-code bevat die tekenreeks).",
                "Ou en une étape, même sur un nouvel appareil : `trialog join --onboarding CHAÎNE` (le QR code contient cette chaîne).",
                "Or in one step, also on a new device: `trialog join --onboarding STRING` (the QR code carries that string)."
            )
        ) + &qr(&onboarding)
    });
    Ok(())
}

async fn confirm_patient(
    c: &mut Client,
    case: CaseId,
    fingerprint: String,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
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
    Ok(())
}

async fn add(
    c: &mut Client,
    case: CaseId,
    member: AccountId,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
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
    Ok(())
}

async fn remove(
    c: &mut Client,
    case: CaseId,
    member: AccountId,
    json: bool,
    lang: Lang,
) -> Result<(), ClientError> {
    let r = c.remove_member(&case, &member).await?;
    out(json, serde_json::to_value(&r).unwrap_or_default(), || {
        format!(
            "{} {}
{} {}
{} {}
{}",
            r.account,
            tr(
                lang,
                "is uit het dossier verwijderd en ziet er niets meer van.",
                "a été retiré du dossier et n'en voit plus rien.",
                "was removed from the case and no longer sees anything of it."
            ),
            tr(
                lang,
                "Toestemmingen ingetrokken:",
                "Consentements retirés :",
                "Consents revoked:"
            ),
            r.revoked.len(),
            tr(
                lang,
                "Ongelezen berichten vernietigd:",
                "Messages non lus détruits :",
                "Unread messages destroyed:"
            ),
            r.purged,
            tr(
                lang,
                "Wat al bezorgd was, kan niet worden teruggehaald.",
                "Ce qui a déjà été remis ne peut pas être rappelé.",
                "What was already delivered cannot be recalled."
            )
        )
    });
    Ok(())
}

async fn show(c: &mut Client, case: CaseId, json: bool, lang: Lang) -> Result<(), ClientError> {
    let v = c.case(&case).await?;
    // A physician's key that replaced a lost one, on the operator's word: said as such.
    let new_key = |account: &trialog_protocol::AccountId| -> String {
        match c.key_trust(account).ok().and_then(|t| t.change) {
            Some(change) => format!(
                " — {} {}",
                tr(
                    lang,
                    "nieuwe sleutel, bevestigd door de beheerder op",
                    "nouvelle clé, attestée par l'opérateur le",
                    "new key, attested by the operator on"
                ),
                trialog_protocol::time::format_date(change.attested_at)
            ),
            None => String::new(),
        }
    };
    out(
        json,
        serde_json::to_value(&v.view).unwrap_or_default(),
        || {
            let mut s = format!(
                "{} {} — {}\n{} {}\n",
                tr(lang, "Dossier", "Dossier", "Case"),
                v.view.case_id,
                v.name(),
                tr(lang, "Geopend", "Ouvert le", "Opened"),
                format_ts(v.view.opened_at)
            );
            s.push_str(&format!(
                "  {:<24} {} [{}]{}\n",
                role_label(Role::Treating, lang),
                name_of(&v.view.treating),
                v.view.treating.fingerprint.short(),
                new_key(&v.view.treating.account)
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
                let status = match m.status {
                    trialog_protocol::api::MemberStatus::Invited => {
                        tr(lang, " (uitgenodigd)", " (invité)", " (invited)")
                    }
                    trialog_protocol::api::MemberStatus::Removed => tr(
                        lang,
                        " (verwijderd uit het dossier)",
                        " (retiré du dossier)",
                        " (removed from the case)",
                    ),
                    trialog_protocol::api::MemberStatus::Active => "",
                };
                s.push_str(&format!(
                    "  {:<24} {} {} [{}]{status}{}\n",
                    role_label(m.account.role, lang),
                    name_of(&m.account),
                    m.account.account,
                    m.account.fingerprint.short(),
                    new_key(&m.account.account)
                ));
            }
            s
        },
    );
    Ok(())
}

async fn list(c: &mut Client, json: bool, lang: Lang) -> Result<(), ClientError> {
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
                    format!(
                        "{}  {}  {}",
                        v.case_id,
                        c.case_name(v),
                        format_date(v.opened_at)
                    )
                })
                .collect::<Vec<_>>()
                .join("\n")
        },
    );
    Ok(())
}
