//! Account roles and message kinds, and which role may send which kind.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The role of an account, fixed at registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Oncologist, GP or other treating specialist.
    Treating,
    /// Occupational physician of the prevention service.
    Occupational,
    /// Advising physician of the health-insurance fund.
    Advising,
    /// The worker whose data this is.
    Patient,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Treating => "treating",
            Role::Occupational => "occupational",
            Role::Advising => "advising",
            Role::Patient => "patient",
        }
    }
    /// The role as people say it.
    pub fn label(self, lang: crate::Lang) -> &'static str {
        use crate::Lang::*;
        match (self, lang) {
            (Role::Treating, Nl) => "behandelend arts",
            (Role::Treating, Fr) => "médecin traitant",
            (Role::Treating, En) => "treating physician",
            (Role::Occupational, Nl) => "arbeidsarts",
            (Role::Occupational, Fr) => "médecin du travail",
            (Role::Occupational, En) => "occupational physician",
            (Role::Advising, Nl) => "adviserend arts",
            (Role::Advising, Fr) => "médecin-conseil",
            (Role::Advising, En) => "advising physician",
            (Role::Patient, Nl) => "patiënt",
            (Role::Patient, Fr | En) => "patient",
        }
    }

    pub fn is_physician(self) -> bool {
        self != Role::Patient
    }
    /// May an account of this role send a message of this kind?
    pub fn may_send(self, kind: MessageKind) -> bool {
        match kind {
            MessageKind::Bilan => self == Role::Treating,
            MessageKind::Feedback => matches!(self, Role::Occupational | Role::Advising),
            MessageKind::Request => self.is_physician(),
        }
    }

    /// May an account of this role receive a message of this kind? A bilan goes to the
    /// work side, feedback comes back to the treating physician, any physician may be asked
    /// for an update; a patient receives no message.
    pub fn may_receive(self, kind: MessageKind) -> bool {
        match kind {
            MessageKind::Bilan => matches!(self, Role::Occupational | Role::Advising),
            MessageKind::Feedback => self == Role::Treating,
            MessageKind::Request => self.is_physician(),
        }
    }

    /// The kinds a consent to a physician of this role names when the patient does not
    /// choose: everything that role can receive.
    pub fn receivable_kinds(self) -> Vec<MessageKind> {
        MessageKind::ALL
            .into_iter()
            .filter(|k| self.may_receive(*k))
            .collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "treating" => Ok(Role::Treating),
            "occupational" => Ok(Role::Occupational),
            "advising" => Ok(Role::Advising),
            "patient" => Ok(Role::Patient),
            _ => Err(format!(
                "unknown role `{s}` (use treating, occupational, advising or patient)"
            )),
        }
    }
}

/// What a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum MessageKind {
    /// Functional capacity summary, treating → occupational/advising.
    Bilan,
    /// Work-side answer, occupational/advising → treating.
    Feedback,
    /// A physician asks another for an update.
    Request,
}

impl MessageKind {
    pub const ALL: [MessageKind; 3] = [
        MessageKind::Bilan,
        MessageKind::Feedback,
        MessageKind::Request,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Bilan => "bilan",
            MessageKind::Feedback => "feedback",
            MessageKind::Request => "request",
        }
    }
}

impl fmt::Display for MessageKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MessageKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "bilan" => Ok(MessageKind::Bilan),
            "feedback" => Ok(MessageKind::Feedback),
            "request" => Ok(MessageKind::Request),
            _ => Err(format!(
                "unknown message kind `{s}` (use bilan, feedback or request)"
            )),
        }
    }
}

/// Names as stored (a database column holds `Role::as_str`): parsed back with the same
/// refusal as any other text.
macro_rules! parse_stored {
    ($($t:ty),*) => {$(
        impl TryFrom<String> for $t {
            type Error = String;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    )*};
}
pub(crate) use parse_stored;

parse_stored!(Role, MessageKind);
