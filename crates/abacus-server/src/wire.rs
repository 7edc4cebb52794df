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
