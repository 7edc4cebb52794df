//! ISO 3166-1 countries. Alpha-2 is canonical; alpha-3 input (`USA`, seen in Alguna's v2 examples)
//! is accepted and normalised to alpha-2.

/// Parses an alpha-2 or alpha-3 code (any case) into its alpha-2 form.
pub fn parse_country(code: &str) -> Result<&'static str, String> {
    let trimmed = code.trim();
    let found = match trimmed.len() {
        2 => celes::Country::from_alpha2(trimmed).ok(),
        3 => celes::Country::from_alpha3(trimmed).ok(),
        _ => None,
    };
    found
        .map(|c| c.alpha2)
        .ok_or_else(|| format!("'{code}' is not an ISO 3166-1 country code"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alpha2_and_alpha3() {
        assert_eq!(parse_country("US").unwrap(), "US");
        assert_eq!(parse_country("de").unwrap(), "DE");
        assert_eq!(parse_country("USA").unwrap(), "US");
        assert_eq!(parse_country("GBR").unwrap(), "GB");
    }

    #[test]
    fn rejects_non_countries() {
        for bad in ["", "U", "XX", "ZZZ", "United States", "12"] {
            assert!(parse_country(bad).is_err(), "{bad}");
        }
    }
}
