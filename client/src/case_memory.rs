//! What this client has seen of each case's medical values (sent or received), kept so the
//! leak guard can check a later message's free text against the whole case, not only the
//! message in hand (DESIGN.md §5). Stored in the client's home, age-encrypted to its own
//! key: the values are as sensitive as the messages themselves.

use std::path::PathBuf;
use trialog_protocol::keys::Identity;
use trialog_protocol::{CaseId, FieldId};

use crate::error::ClientError;
use crate::home::{Home, write_file};

/// Most values remembered per case (a case has a handful of medical fields per message).
const MAX_VALUES: usize = 512;

fn path(home: &Home, case: &CaseId) -> PathBuf {
    home.dir.join("cases").join(format!("{case}.medical.age"))
}

/// The medical values remembered for `case`.
pub fn load(
    home: &Home,
    me: &Identity,
    case: &CaseId,
) -> Result<Vec<(FieldId, String)>, ClientError> {
    let p = path(home, case);
    let bytes = match std::fs::read(&p) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(ClientError::Io(p.display().to_string(), e)),
    };
    let corrupt = |why: String| ClientError::Corrupt(p.display().to_string(), why);
    let plain = age::decrypt(me.age_identity(), &bytes).map_err(|e| corrupt(e.to_string()))?;
    serde_json::from_slice(&plain).map_err(|e| corrupt(e.to_string()))
}

/// Adds the medical text values among `values` to what is remembered for `case`.
pub fn remember(
    home: &Home,
    me: &Identity,
    case: &CaseId,
    values: &[(FieldId, serde_json::Value)],
) -> Result<(), ClientError> {
    let new: Vec<(FieldId, String)> = values
        .iter()
        .filter(|(f, _)| f.is_medical())
        .filter_map(|(f, v)| v.as_str().map(|s| (*f, s.to_owned())))
        .collect();
    if new.is_empty() {
        return Ok(());
    }
    let mut all = load(home, me, case)?;
    for v in new {
        if !all.contains(&v) {
            all.push(v);
        }
    }
    if all.len() > MAX_VALUES {
        all.drain(..all.len() - MAX_VALUES);
    }
    let plain = serde_json::to_vec(&all).map_err(|e| ClientError::Invalid(e.to_string()))?;
    let sealed = age::encrypt(&me.age_identity().to_public(), &plain)
        .map_err(|e| ClientError::Invalid(e.to_string()))?;
    write_file(&path(home, case), &sealed, true)
}
