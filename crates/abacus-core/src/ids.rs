//! Public identifiers.
//!
//! Customers, contacts, subscriptions, invoices and line items carry 8-character base62 ids, as
//! in Alguna's own examples (`ywgWhtGp`). Catalog objects carry a type prefix and 22 base62
//! characters (`prod_02zBTaXIplpzpaI6CggiUA`). 8 characters are only ~47.6 bits, so every id
//! column is unique and callers regenerate on a collision.

use rand::RngExt;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Length of the short ids used for customers, contacts, subscriptions and invoices.
pub const SHORT_ID_LEN: usize = 8;
/// Length of the random part of prefixed ids.
pub const PREFIXED_ID_LEN: usize = 22;

/// `len` random base62 characters from the operating system's CSPRNG-seeded thread generator.
pub fn random_base62(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| BASE62[rng.random_range(0..62)] as char)
        .collect()
}

/// A new 8-character base62 id.
pub fn short_id() -> String {
    random_base62(SHORT_ID_LEN)
}

/// A new id of the form `{prefix}_{22 base62}`.
pub fn prefixed_id(prefix: &str) -> String {
    format!("{prefix}_{}", random_base62(PREFIXED_ID_LEN))
}

/// True when `s` is made only of base62 characters.
pub fn is_base62(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_8_base62_chars() {
        for _ in 0..1000 {
            let id = short_id();
            assert_eq!(id.len(), 8);
            assert!(is_base62(&id), "{id}");
        }
    }

    #[test]
    fn prefixed_ids_have_prefix_and_22_chars() {
        let id = prefixed_id("prod");
        let (prefix, rest) = id.split_once('_').unwrap();
        assert_eq!(prefix, "prod");
        assert_eq!(rest.len(), 22);
        assert!(is_base62(rest));
    }

    #[test]
    fn ids_differ() {
        let ids: std::collections::HashSet<_> = (0..10_000).map(|_| short_id()).collect();
        assert_eq!(ids.len(), 10_000);
    }
}
