//! The message file a physician writes: TOML mapping field ids to values, dotted ids
//! nesting as TOML nests them (`limits.fatigue = "…"` or `[limits]` / `fatigue = "…"`),
//! and the commented template that lists every field a kind of message can carry.

use serde_json::Value;
use trialog_protocol::catalogue::{FieldClass, ValueType, catalogue};
use trialog_protocol::{FieldId, Lang, MessageKind};

use crate::error::ClientError;

/// Parses a message file into catalogue fields with checked values.
pub fn parse(text: &str) -> Result<Vec<(FieldId, Value)>, ClientError> {
    let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
        ClientError::File(format!(
            "the message file is not valid TOML: {}",
            e.message()
        ))
    })?;
    let mut out = Vec::new();
    let mut errors = Vec::new();
    flatten("", &table, &mut out, &mut errors);
    if !errors.is_empty() {
        return Err(ClientError::File(errors.join("\n")));
    }
    if out.is_empty() {
        return Err(ClientError::File(
            "the message file has no field: fill in the template first".into(),
        ));
    }
    Ok(out)
}

fn flatten(
    prefix: &str,
    t: &toml::Table,
    out: &mut Vec<(FieldId, Value)>,
    errors: &mut Vec<String>,
) {
    for (k, v) in t {
        let id = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        if let toml::Value::Table(inner) = v
            && FieldId::parse(&id).is_err()
        {
            flatten(&id, inner, out, errors);
            continue;
        }
        let field = match FieldId::parse(&id) {
            Ok(f) => f,
            Err(e) => {
                errors.push(format!("{e} (see `trialog template`)"));
                continue;
            }
        };
        let value = match v {
            toml::Value::String(s) => Value::String(s.clone()),
            toml::Value::Integer(i) => Value::from(*i),
            toml::Value::Float(f) => Value::from(*f),
            toml::Value::Boolean(b) => Value::Bool(*b),
            toml::Value::Datetime(d) => match (d.date, d.time) {
                (Some(date), None) => Value::String(date.to_string()),
                _ => {
                    errors.push(format!("{id}: give a date as YYYY-MM-DD, without a time"));
                    continue;
                }
            },
            toml::Value::Array(_) | toml::Value::Table(_) => {
                errors.push(format!("{id}: expected a single value"));
                continue;
            }
        };
        match field.def().check_value(&value) {
            Ok(()) => out.push((field, value)),
            Err(e) => errors.push(e.to_string()),
        }
    }
}

/// A value typed into a form (the web client's compose page) as the field's value:
/// `None` when left empty; a number may use a decimal comma, as written in Belgium; a date
/// is `YYYY-MM-DD` (what a date input sends). Checked like a message file's values.
pub fn form_value(
    field: FieldId,
    typed: &str,
) -> Result<Option<Value>, trialog_protocol::catalogue::ValueError> {
    let typed = typed.trim();
    if typed.is_empty() {
        return Ok(None);
    }
    let def = field.def();
    let value = match def.value {
        ValueType::Number { min, max } => {
            let n: f64 = typed.replace(',', ".").parse().map_err(|_| {
                trialog_protocol::catalogue::ValueError::OutOfRange {
                    field: def.id,
                    min,
                    max,
                }
            })?;
            // Whole numbers stay integers, as in a message file (`12`, not `12.0`).
            if n.fract() == 0.0 && n.abs() < 1e15 {
                Value::from(n as i64)
            } else {
                Value::from(n)
            }
        }
        ValueType::Text | ValueType::Date | ValueType::Choice(_) => Value::String(typed.to_owned()),
    };
    def.check_value(&value)?;
    Ok(Some(value))
}

/// A commented TOML template of every field `kind` can carry, labelled in `lang`.
pub fn template(kind: MessageKind, lang: Lang) -> String {
    let (title, intro, medical_note) = match lang {
        Lang::Nl => (
            "Trialog-bericht",
            "Haal het # weg voor elk veld dat u invult; laat de rest staan.\n\
             # Velden waarvoor de patiënt geen toestemming gaf, worden vóór verzending verwijderd.",
            "MEDISCH: enkel verstuurd naar een arts met wie de patiënt dit veld medisch deelde",
        ),
        Lang::Fr => (
            "Message Trialog",
            "Retirez le # de chaque champ que vous remplissez ; laissez les autres.\n\
             # Les champs que le patient n'a pas autorisés sont retirés avant l'envoi.",
            "MÉDICAL : envoyé seulement au médecin avec qui le patient a partagé ce champ médicalement",
        ),
        Lang::En => (
            "Trialog message",
            "Remove the # in front of each field you fill in; leave the others.\n\
             # Fields the patient has not consented to are stripped before sending.",
            "MEDICAL: sent only to a physician the patient shared this field with medically",
        ),
    };
    let mut s = format!("# {title}: {kind}\n# {intro}\n");
    for f in catalogue().iter().filter(|f| f.kinds.contains(&kind)) {
        s.push('\n');
        s.push_str(&format!("# {} — {}\n", f.label.get(lang), f.hint.get(lang)));
        if f.class == FieldClass::Medical {
            s.push_str(&format!("# {medical_note}\n"));
        }
        let example = match f.value {
            ValueType::Text => "\"\"".to_owned(),
            ValueType::Date => "2026-01-31".to_owned(),
            ValueType::Number { min, .. } => format!("{min}"),
            ValueType::Choice(c) => format!("\"{}\"", c.join("|")),
        };
        s.push_str(&format!("#{} = {example}\n", f.id));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_values_follow_the_field_type() {
        let f = |id: &str| FieldId::parse(id).unwrap();
        assert_eq!(
            form_value(f("capacity.hours_per_week"), " 12 ").unwrap(),
            Some(Value::from(12))
        );
        assert_eq!(
            form_value(f("capacity.hours_per_day"), "3,5").unwrap(),
            Some(Value::from(3.5))
        );
        assert!(form_value(f("capacity.hours_per_week"), "twelve").is_err());
        assert!(form_value(f("capacity.hours_per_week"), "400").is_err());
        assert!(form_value(f("review.next_date"), "2027-02-30").is_err());
        assert_eq!(form_value(f("remarks"), "   ").unwrap(), None);
        assert!(form_value(f("employment.status"), "boss").is_err());
    }

    #[test]
    fn nested_and_dotted_keys_are_the_same_field() {
        let a = parse("limits.fatigue = \"6/10\"\ncapacity.hours_per_week = 12\nreview.next_date = 2027-01-15").unwrap();
        let b = parse("[limits]\nfatigue = \"6/10\"\n[capacity]\nhours_per_week = 12\n[review]\nnext_date = \"2027-01-15\"").unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn unknown_fields_and_bad_values_are_named() {
        let e = parse("limits.fatig = \"x\"\ncapacity.hours_per_week = 400")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("limits.fatig") && e.contains("capacity.hours_per_week"),
            "{e}"
        );
    }

    #[test]
    fn template_lists_only_fields_of_the_kind_and_parses_when_uncommented() {
        let t = template(MessageKind::Request, Lang::Nl);
        assert!(t.contains("#remarks") && !t.contains("medical.diagnosis"));
        let bilan = template(MessageKind::Bilan, Lang::Fr);
        assert!(bilan.contains("#medical.diagnosis") && bilan.contains("MÉDICAL"));
        // An untouched template is all comments: valid TOML, no field.
        assert!(matches!(parse(&bilan), Err(ClientError::File(_))));
    }
}
