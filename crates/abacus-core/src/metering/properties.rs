//! Event properties: a flat map of string, number and boolean values. Numbers keep the exact text
//! they arrived with (the JSON parser runs with arbitrary precision), so `0.0001` is never
//! rounded through a float.

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PropValue {
    Str(String),
    /// A JSON number, as written.
    Num(String),
    Bool(bool),
}

impl PropValue {
    /// The value as an exact decimal: a JSON number, or a string that reads as a plain decimal
    /// (`"0.0001"`). Booleans and other strings are not numeric.
    pub fn decimal(&self) -> Option<Decimal> {
        match self {
            PropValue::Num(s) => parse_decimal(s),
            PropValue::Str(s) => {
                let t = s.trim();
                let plain = !t.is_empty()
                    && t.bytes()
                        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+'));
                if plain {
                    Decimal::from_str(t).ok()
                } else {
                    None
                }
            }
            PropValue::Bool(_) => None,
        }
    }

    /// The value as text: what `count_unique` compares and string filters match.
    pub fn text(&self) -> std::borrow::Cow<'_, str> {
        match self {
            PropValue::Str(s) | PropValue::Num(s) => std::borrow::Cow::Borrowed(s),
            PropValue::Bool(true) => std::borrow::Cow::Borrowed("true"),
            PropValue::Bool(false) => std::borrow::Cow::Borrowed("false"),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            PropValue::Str(s) => Value::String(s.clone()),
            PropValue::Num(s) => {
                serde_json::from_str(s).unwrap_or_else(|_| Value::String(s.clone()))
            }
            PropValue::Bool(b) => Value::Bool(*b),
        }
    }
}

/// Parses a decimal written plainly (`12.5`) or in scientific notation (`1.25e1`).
pub fn parse_decimal(s: &str) -> Option<Decimal> {
    Decimal::from_str(s).ok().or_else(|| {
        if s.contains(['e', 'E']) {
            Decimal::from_scientific(s).ok()
        } else {
            None
        }
    })
}

pub type Properties = BTreeMap<String, PropValue>;

/// Properties as stored: a JSON object.
pub fn to_json_text(props: &Properties) -> String {
    let map: serde_json::Map<String, Value> = props
        .iter()
        .map(|(k, v)| (k.clone(), v.to_json()))
        .collect();
    Value::Object(map).to_string()
}

/// Reads stored properties back. Values that are not string, number or boolean (which ingestion
/// never stores) are dropped.
pub fn from_json_text(text: &str) -> Result<Properties, serde_json::Error> {
    let map: serde_json::Map<String, Value> = serde_json::from_str(text)?;
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| scalar(v).map(|p| (k, p)))
        .collect())
}

/// A JSON scalar as a property value; `None` for null, arrays and objects.
pub fn scalar(v: Value) -> Option<PropValue> {
    match v {
        Value::String(s) => Some(PropValue::Str(s)),
        Value::Number(n) => Some(PropValue::Num(n.to_string())),
        Value::Bool(b) => Some(PropValue::Bool(b)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_stay_exact() {
        let props = from_json_text(
            r#"{"a": 0.10000000000000000001, "b": "0.0001", "c": 1e3, "d": true, "e": "x1"}"#,
        )
        .unwrap();
        assert_eq!(props["a"], PropValue::Num("0.10000000000000000001".into()));
        assert_eq!(
            props["a"].decimal().unwrap().to_string(),
            "0.10000000000000000001"
        );
        assert_eq!(props["b"].decimal().unwrap().to_string(), "0.0001");
        assert_eq!(props["c"].decimal().unwrap(), Decimal::from(1000));
        assert_eq!(props["d"].decimal(), None);
        assert_eq!(props["e"].decimal(), None);
        assert_eq!(props["d"].text(), "true");
        let round = from_json_text(&to_json_text(&props)).unwrap();
        assert_eq!(round, props);
    }
}
