//! ISO 4217 currencies, restricted to those with a defined number of minor units (the ones an
//! invoice can be issued in; funds and precious metals have none).

use std::fmt;

/// A billing currency: a real ISO 4217 code with a minor-unit exponent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(iso_currency::Currency);

impl Currency {
    /// Parses a three-letter code. Lower case is accepted and normalised.
    pub fn parse(code: &str) -> Result<Self, String> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 3 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "'{code}' is not a three-letter ISO 4217 currency code"
            ));
        }
        let c = iso_currency::Currency::from_code(&upper)
            .ok_or_else(|| format!("'{code}' is not an ISO 4217 currency code"))?;
        if c.exponent().is_none() {
            return Err(format!(
                "'{upper}' has no minor units and cannot be billed in"
            ));
        }
        Ok(Currency(c))
    }

    pub fn code(self) -> &'static str {
        self.0.code()
    }

    /// Digits after the decimal point of the smallest unit: 2 for USD, 0 for JPY, 3 for BHD.
    pub fn minor_units(self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(2)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_codes() {
        assert_eq!(Currency::parse("USD").unwrap().code(), "USD");
        assert_eq!(Currency::parse("eur").unwrap().code(), "EUR");
        assert_eq!(Currency::parse("JPY").unwrap().minor_units(), 0);
        assert_eq!(Currency::parse("BHD").unwrap().minor_units(), 3);
        assert_eq!(Currency::parse("USD").unwrap().minor_units(), 2);
    }

    #[test]
    fn rejects_fake_and_unbillable_codes() {
        for bad in ["", "US", "USDD", "XXX1", "ABC", "123", "XAU", "XTS"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
    }
}
