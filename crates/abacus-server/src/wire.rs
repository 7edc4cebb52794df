//! Small helpers shared by the DTOs of both API surfaces.

use abacus_core::time::{Micros, format_micros};

/// An instant as the API prints it: RFC 3339, UTC, six fractional digits.
pub fn timestamp(us: Micros) -> String {
    format_micros(us)
}

/// Serde's default for a skipped `Option`.
pub fn is_none<T>(v: &Option<T>) -> bool {
    v.is_none()
}

/// The v1 spelling of a v2 document: every key in camelCase, except the keys inside
/// `properties`, which are the client's own names.
pub fn v1_keys(v: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let v = if k == "properties" { v } else { v1_keys(v) };
                    (abacus_core::validation::Naming::Camel.field(&k), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(v1_keys).collect()),
        other => other,
    }
}
