//! A usage event as sent (`unique_id`, `account`, `event_name`, `timestamp?`, `properties?`) and
//! the rules it must pass. Each event is judged alone: a bad event fails with its reason and never
//! takes its neighbours down.

use serde_json::Value;

use crate::metering::properties::{Properties, scalar, to_json_text};
use crate::time::{Micros, parse_rfc3339};

/// How far ahead of the server's clock a timestamp may be.
pub const MAX_FUTURE_MICROS: Micros = 5 * 60 * 1_000_000;
pub const MAX_PROPERTIES: usize = 50;
pub const MAX_KEY_LEN: usize = 128;
pub const MAX_STRING_VALUE_LEN: usize = 1024;
pub const MAX_NAME_LEN: usize = 255;

/// Limits that differ between the API surfaces.
#[derive(Debug, Clone, Copy)]
pub struct EventLimits {
    /// 72 characters on v2, 255 on v1.
    pub max_unique_id_len: usize,
}

/// The fields of one event, already picked out of the request under the surface's names.
#[derive(Debug, Clone, Default)]
pub struct EventFields {
    pub unique_id: Option<Value>,
    pub account: Option<Value>,
    pub event_name: Option<Value>,
    pub timestamp: Option<Value>,
    pub properties: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEvent {
    pub unique_id: String,
    pub account: String,
    pub event_name: String,
    pub ts: Micros,
    pub properties: Properties,
    /// `properties` as stored: serialized where the event is made (a request handler), not on
    /// the single SQLite writer's path.
    stored_properties: String,
}

impl ValidEvent {
    pub fn new(
        unique_id: String,
        account: String,
        event_name: String,
        ts: Micros,
        properties: Properties,
    ) -> ValidEvent {
        let stored_properties = to_json_text(&properties);
        ValidEvent {
            unique_id,
            account,
            event_name,
            ts,
            properties,
            stored_properties,
        }
    }

    /// The properties as compact JSON text, as the events table stores them.
    pub fn stored_properties(&self) -> &str {
        &self.stored_properties
    }
}

/// Why an event was refused. `code` is stable and machine-readable; `reason` is for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedEvent {
    pub unique_id: Option<String>,
    pub code: &'static str,
    pub reason: String,
}

/// Field names as the caller spells them.
#[derive(Debug, Clone, Copy)]
pub struct FieldNames {
    pub unique_id: &'static str,
    pub account: &'static str,
    pub event_name: &'static str,
}

pub const V2_NAMES: FieldNames = FieldNames {
    unique_id: "unique_id",
    account: "account",
    event_name: "event_name",
};
pub const V1_NAMES: FieldNames = FieldNames {
    unique_id: "uniqueId",
    account: "account",
    event_name: "eventName",
};

/// Which spelling of the field names an event arrives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    /// `unique_id`, `account`, `event_name` only.
    Snake,
    /// `uniqueId`, `account` or `accountId`, `eventName`; the snake_case names are accepted too.
    Camel,
}

impl EventFields {
    /// Picks the event's fields out of a JSON object.
    pub fn from_object(mut o: serde_json::Map<String, Value>, spelling: Spelling) -> EventFields {
        let mut take = |names: &[&str]| names.iter().find_map(|n| o.remove(*n));
        match spelling {
            Spelling::Snake => EventFields {
                unique_id: take(&["unique_id"]),
                account: take(&["account"]),
                event_name: take(&["event_name"]),
                timestamp: take(&["timestamp"]),
                properties: take(&["properties"]),
            },
            Spelling::Camel => EventFields {
                unique_id: take(&["uniqueId", "unique_id"]),
                account: take(&["account", "accountId", "account_id"]),
                event_name: take(&["eventName", "event_name"]),
                timestamp: take(&["timestamp"]),
                properties: take(&["properties"]),
            },
        }
    }

    /// Validates the event against the server clock `now`.
    pub fn validate(
        self,
        names: FieldNames,
        limits: EventLimits,
        now: Micros,
    ) -> Result<ValidEvent, RejectedEvent> {
        let unique_id = match &self.unique_id {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        let reject = |code: &'static str, reason: String| RejectedEvent {
            unique_id: unique_id.clone(),
            code,
            reason,
        };

        let unique = text_field(self.unique_id, names.unique_id, limits.max_unique_id_len)
            .map_err(|r| reject("invalid_unique_id", r))?;
        let account = text_field(self.account, names.account, MAX_NAME_LEN)
            .map_err(|r| reject("invalid_account", r))?;
        let event_name = text_field(self.event_name, names.event_name, MAX_NAME_LEN)
            .map_err(|r| reject("invalid_event_name", r))?;
        let ts = match self.timestamp {
            None | Some(Value::Null) => now,
            Some(Value::String(s)) => {
                let ts = parse_rfc3339(&s)
                    .map_err(|e| reject("invalid_timestamp", format!("timestamp '{s}': {e}")))?;
                if ts > now + MAX_FUTURE_MICROS {
                    return Err(reject(
                        "future_timestamp",
                        format!("timestamp '{s}' is more than 5 minutes in the future"),
                    ));
                }
                if ts < 0 {
                    return Err(reject(
                        "invalid_timestamp",
                        format!("timestamp '{s}' is before 1970"),
                    ));
                }
                ts
            }
            Some(other) => {
                return Err(reject(
                    "invalid_timestamp",
                    format!("timestamp must be an RFC 3339 string, not {}", kind(&other)),
                ));
            }
        };
        let properties =
            properties(self.properties).map_err(|r| reject("invalid_properties", r))?;
        Ok(ValidEvent::new(unique, account, event_name, ts, properties))
    }
}

fn text_field(v: Option<Value>, name: &str, max: usize) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Err(format!("{name} is required")),
        Some(Value::String(s)) if s.trim().is_empty() => Err(format!("{name} must not be empty")),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(format!("{name} must be at most {max} characters"))
        }
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{name} must be a string, not {}", kind(&other))),
    }
}

fn properties(v: Option<Value>) -> Result<Properties, String> {
    let map = match v {
        None | Some(Value::Null) => return Ok(Properties::new()),
        Some(Value::Object(map)) => map,
        Some(other) => {
            return Err(format!(
                "properties must be an object, not {}",
                kind(&other)
            ));
        }
    };
    if map.len() > MAX_PROPERTIES {
        return Err(format!(
            "properties may hold at most {MAX_PROPERTIES} entries, not {}",
            map.len()
        ));
    }
    let mut out = Properties::new();
    for (key, value) in map {
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(format!("property names must be 1 to {MAX_KEY_LEN} bytes"));
        }
        if let Value::String(s) = &value
            && s.chars().count() > MAX_STRING_VALUE_LEN
        {
            return Err(format!(
                "property '{key}' is longer than {MAX_STRING_VALUE_LEN} characters"
            ));
        }
        let k = kind(&value);
        let scalar = scalar(value).ok_or_else(|| {
            format!(
                "property '{key}' is {k}; values must be strings, numbers or booleans (no nesting)"
            )
        })?;
        out.insert(key, scalar);
    }
    Ok(out)
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::metering::PropValue;

    const NOW: Micros = 1_700_000_000_000_000;
    const LIMITS: EventLimits = EventLimits {
        max_unique_id_len: 72,
    };

    fn fields(v: Value) -> EventFields {
        let get = |k: &str| v.get(k).cloned();
        EventFields {
            unique_id: get("unique_id"),
            account: get("account"),
            event_name: get("event_name"),
            timestamp: get("timestamp"),
            properties: get("properties"),
        }
    }

    fn check(v: Value) -> Result<ValidEvent, RejectedEvent> {
        fields(v).validate(V2_NAMES, LIMITS, NOW)
    }

    #[test]
    fn a_good_event() {
        let e = check(json!({"unique_id": "u1", "account": "acme", "event_name": "api_call",
            "timestamp": "2023-11-14T22:13:20Z", "properties": {"tokens": 12.5, "region": "eu", "cached": false}}))
        .unwrap();
        assert_eq!(e.ts, NOW);
        assert_eq!(e.properties["tokens"], PropValue::Num("12.5".into()));
        assert_eq!(e.properties["cached"], PropValue::Bool(false));
        let defaulted =
            check(json!({"unique_id": "u2", "account": "a", "event_name": "e"})).unwrap();
        assert_eq!(defaulted.ts, NOW, "timestamp defaults to receipt");
        assert!(defaulted.properties.is_empty());
    }

    #[test]
    fn each_rule_has_its_code() {
        let base = json!({"unique_id": "u", "account": "a", "event_name": "e"});
        let with = |k: &str, v: Value| {
            let mut b = base.clone();
            b[k] = v;
            b
        };
        let many: serde_json::Map<String, Value> =
            (0..51).map(|i| (format!("p{i}"), json!(i))).collect();
        let cases = [
            (
                json!({"account": "a", "event_name": "e"}),
                "invalid_unique_id",
            ),
            (
                with("unique_id", json!("x".repeat(73))),
                "invalid_unique_id",
            ),
            (with("unique_id", json!(7)), "invalid_unique_id"),
            (with("account", json!("")), "invalid_account"),
            (with("account", Value::Null), "invalid_account"),
            (with("event_name", json!(["e"])), "invalid_event_name"),
            (with("timestamp", json!("yesterday")), "invalid_timestamp"),
            (with("timestamp", json!(1700000000)), "invalid_timestamp"),
            (
                with("timestamp", json!("2023-11-14T22:20:00.000001Z")),
                "future_timestamp",
            ),
            (
                with("properties", json!({"nested": {"a": 1}})),
                "invalid_properties",
            ),
            (
                with("properties", json!({"list": [1]})),
                "invalid_properties",
            ),
            (with("properties", json!({"n": null})), "invalid_properties"),
            (with("properties", json!("flat")), "invalid_properties"),
            (
                with("properties", Value::Object(many)),
                "invalid_properties",
            ),
            (
                with("properties", json!({"long": "x".repeat(1025)})),
                "invalid_properties",
            ),
        ];
        for (event, code) in cases {
            let err = check(event.clone()).unwrap_err();
            assert_eq!(err.code, code, "{event}: {}", err.reason);
        }
        // Exactly five minutes ahead is still fine.
        assert!(check(with("timestamp", json!("2023-11-14T22:18:20Z"))).is_ok());
        // The v1 limit is longer.
        let v1 = fields(with("unique_id", json!("x".repeat(255)))).validate(
            V1_NAMES,
            EventLimits {
                max_unique_id_len: 255,
            },
            NOW,
        );
        assert!(v1.is_ok());
    }
}
