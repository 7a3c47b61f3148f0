//! The field catalogue: every piece of information a Trialog message can carry,
//! with a stable id, a value type, a class and labels in Dutch, French and English.
//!
//! Ids are part of the wire format and of signed consents: never rename one,
//! only add. The data lives in `fields.rs`; this module holds the types and lookups.

mod fields;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

use crate::roles::MessageKind;

/// A text in the three languages of the product.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Labels {
    pub nl: &'static str,
    pub fr: &'static str,
    pub en: &'static str,
}

impl Labels {
    pub fn get(&self, lang: Lang) -> &'static str {
        match lang {
            Lang::Nl => self.nl,
            Lang::Fr => self.fr,
            Lang::En => self.en,
        }
    }
}

/// The languages of the user-facing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    Nl,
    Fr,
    #[default]
    En,
}

impl Lang {
    pub const ALL: [Lang; 3] = [Lang::Nl, Lang::Fr, Lang::En];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::Nl => "nl",
            Lang::Fr => "fr",
            Lang::En => "en",
        }
    }

    /// Accepts `nl`, `fr`, `en` and locale strings such as `nl_BE.UTF-8`.
    pub fn parse(s: &str) -> Option<Lang> {
        let head = s.get(..2)?.to_ascii_lowercase();
        match head.as_str() {
            "nl" => Some(Lang::Nl),
            "fr" => Some(Lang::Fr),
            "en" => Some(Lang::En),
            _ => None,
        }
    }
}

impl std::str::FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Lang::parse(s).ok_or_else(|| format!("unknown language `{s}` (use nl, fr or en)"))
    }
}

/// What a field may reveal, which decides how it can be consented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldClass {
    /// What the person can and cannot do, for work. Shareable with a plain consent.
    Functional,
    /// Dates and procedure facts. Shareable with a plain consent.
    Administrative,
    /// Diagnosis, treatment, prognosis. Only when the patient shares it medically, per field.
    Medical,
}

/// The shape a field's value must have.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueType {
    /// Free text (subject to the leak guard when the field is not medical).
    Text,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// A number within bounds, e.g. hours per week.
    Number { min: f64, max: f64 },
    /// One of a fixed list of values.
    Choice(&'static [&'static str]),
}

/// One entry of the catalogue.
#[derive(Debug)]
pub struct FieldDef {
    pub id: &'static str,
    pub class: FieldClass,
    pub value: ValueType,
    /// The message kinds that may carry this field.
    pub kinds: &'static [MessageKind],
    /// Short label, as shown beside the value.
    pub label: Labels,
    /// What a good value looks like, shown in templates.
    pub hint: Labels,
}

/// The whole catalogue, in display order.
pub fn catalogue() -> &'static [FieldDef] {
    fields::FIELDS
}

/// Looks a field up by id.
pub fn field(id: &str) -> Option<&'static FieldDef> {
    fields::FIELDS.iter().find(|f| f.id == id)
}

/// A field id that is known to be in the catalogue.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(&'static str);

impl FieldId {
    pub fn parse(s: &str) -> Result<FieldId, UnknownField> {
        field(s)
            .map(|f| FieldId(f.id))
            .ok_or_else(|| UnknownField(s.chars().take(80).collect()))
    }
    pub fn as_str(&self) -> &'static str {
        self.0
    }
    pub fn def(&self) -> &'static FieldDef {
        // Constructed only from the catalogue, so the lookup always succeeds; fall back to
        // the first entry rather than panic if that invariant were ever broken.
        field(self.0).unwrap_or(&fields::FIELDS[0])
    }
    pub fn class(&self) -> FieldClass {
        self.def().class
    }
    pub fn is_medical(&self) -> bool {
        self.class() == FieldClass::Medical
    }
}

impl fmt::Debug for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for FieldId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl Serialize for FieldId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0)
    }
}

impl<'de> Deserialize<'de> for FieldId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FieldId::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown field `{0}`: it is not in the Trialog field catalogue")]
pub struct UnknownField(pub String);

/// Why a value does not fit its field.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("{field} expects text")]
    NotText { field: &'static str },
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} expects a date as YYYY-MM-DD")]
    NotDate { field: &'static str },
    #[error("{field} expects a number between {min} and {max}")]
    OutOfRange {
        field: &'static str,
        min: f64,
        max: f64,
    },
    #[error("{field} expects one of: {allowed}")]
    NotAChoice {
        field: &'static str,
        allowed: String,
    },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
}

/// Longest text value accepted in one field (characters).
pub const MAX_TEXT_CHARS: usize = 8_000;

impl FieldDef {
    /// Checks that a value has the shape this field expects.
    pub fn check_value(&self, v: &serde_json::Value) -> Result<(), ValueError> {
        let field = self.id;
        match self.value {
            ValueType::Text => {
                let s = v.as_str().ok_or(ValueError::NotText { field })?;
                if s.trim().is_empty() {
                    return Err(ValueError::Empty { field });
                }
                if s.chars().count() > MAX_TEXT_CHARS {
                    return Err(ValueError::TooLong {
                        field,
                        max: MAX_TEXT_CHARS,
                    });
                }
                Ok(())
            }
            ValueType::Date => {
                let s = v.as_str().ok_or(ValueError::NotDate { field })?;
                crate::time::parse_date(s)
                    .map(|_| ())
                    .ok_or(ValueError::NotDate { field })
            }
            ValueType::Number { min, max } => match v.as_f64() {
                Some(n) if n >= min && n <= max => Ok(()),
                _ => Err(ValueError::OutOfRange { field, min, max }),
            },
            ValueType::Choice(allowed) => match v.as_str() {
                Some(s) if allowed.contains(&s) => Ok(()),
                _ => Err(ValueError::NotAChoice {
                    field,
                    allowed: allowed.join(", "),
                }),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_well_formed() {
        let mut seen = std::collections::HashSet::new();
        for f in catalogue() {
            assert!(seen.insert(f.id), "duplicate id {}", f.id);
            assert!(f.id.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_lowercase() || c == '_')), "{}", f.id);
            assert!(!f.kinds.is_empty(), "{} has no kind", f.id);
            for l in Lang::ALL {
                assert!(
                    !f.label.get(l).is_empty() && !f.hint.get(l).is_empty(),
                    "{} lacks {:?}",
                    f.id,
                    l
                );
            }
        }
    }

    #[test]
    fn design_catalogue_is_all_there() {
        let required = [
            ("capacity.hours_per_week", FieldClass::Functional),
            ("capacity.hours_per_day", FieldClass::Functional),
            ("capacity.days_per_week", FieldClass::Functional),
            ("capacity.schedule", FieldClass::Functional),
            ("capacity.resumption_plan", FieldClass::Functional),
            ("limits.physical", FieldClass::Functional),
            ("limits.fatigue", FieldClass::Functional),
            ("limits.cognitive", FieldClass::Functional),
            ("limits.emotional", FieldClass::Functional),
            ("limits.environment", FieldClass::Functional),
            ("limits.side_effects", FieldClass::Functional),
            ("treatment.work_impact", FieldClass::Functional),
            ("adaptations.recommended", FieldClass::Functional),
            ("outlook.functional", FieldClass::Functional),
            ("review.next_date", FieldClass::Administrative),
            ("incapacity.certificate_end", FieldClass::Administrative),
            ("employment.status", FieldClass::Administrative),
            ("reintegration.step", FieldClass::Administrative),
            ("job.demands", FieldClass::Functional),
            ("job.adaptation_options", FieldClass::Functional),
            ("reintegration.plan", FieldClass::Functional),
            (
                "decision.progressive_resumption",
                FieldClass::Administrative,
            ),
            ("remarks", FieldClass::Functional),
            ("medical.diagnosis_category", FieldClass::Medical),
            ("medical.diagnosis", FieldClass::Medical),
            ("medical.treatment", FieldClass::Medical),
            ("medical.prognosis", FieldClass::Medical),
        ];
        for (id, class) in required {
            let f = field(id).unwrap_or_else(|| panic!("{id} missing"));
            assert_eq!(f.class, class, "{id}");
        }
    }

    #[test]
    fn values_are_checked() {
        let hours = field("capacity.hours_per_week").unwrap();
        assert!(hours.check_value(&serde_json::json!(12)).is_ok());
        assert!(hours.check_value(&serde_json::json!(-1)).is_err());
        assert!(hours.check_value(&serde_json::json!("twelve")).is_err());
        let date = field("review.next_date").unwrap();
        assert!(date.check_value(&serde_json::json!("2026-12-01")).is_ok());
        assert!(date.check_value(&serde_json::json!("2026-13-01")).is_err());
        assert!(FieldId::parse("medical.nope").is_err());
    }
}
