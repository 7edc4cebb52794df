//! Money: exact decimal amounts, rounded to a currency's minor units.
//!
//! Amounts are `rust_decimal::Decimal` end to end; nothing here touches a float. A document line
//! is rounded exactly once ([`round`]) and totals are sums of rounded lines, so a total always
//! equals the sum of what the customer sees.
//!
//! Rounding is **half away from zero** (0.125 → 0.13, −0.125 → −0.13): the "commercial" rule
//! customers check by hand, and symmetric, so a discount of x% of a line rounds to the same
//! magnitude as the x% itself.

use rust_decimal::{Decimal, RoundingStrategy};

use crate::currency::Currency;

/// The exact arithmetic left the decimal range (about ±7.9 × 10^28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the amount is out of range (more than 28 significant digits)")]
pub struct Overflow;

/// Rounds to the currency's minor units (2 for USD, 0 for JPY, 3 for BHD), half away from zero,
/// and gives the result exactly that many decimal places ("25.00", not "25").
pub fn round(amount: Decimal, currency: Currency) -> Decimal {
    round_dp(amount, currency.minor_units())
}

/// [`round`] to `dp` decimal places.
pub fn round_dp(amount: Decimal, dp: u32) -> Decimal {
    let mut r = amount.round_dp_with_strategy(dp, RoundingStrategy::MidpointAwayFromZero);
    // Rescaling up saturates instead of failing when the integer part is already 28 digits long.
    r.rescale(dp);
    if r.is_zero() {
        r.set_sign_positive(true);
    }
    r
}

pub fn add(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_add(b).ok_or(Overflow)
}

pub fn sub(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_sub(b).ok_or(Overflow)
}

pub fn mul(a: Decimal, b: Decimal) -> Result<Decimal, Overflow> {
    a.checked_mul(b).ok_or(Overflow)
}

/// Sums amounts, failing on overflow instead of wrapping or saturating.
pub fn sum<I: IntoIterator<Item = Decimal>>(amounts: I) -> Result<Decimal, Overflow> {
    amounts.into_iter().try_fold(Decimal::ZERO, add)
}

/// A percent number as a fraction: `2.5` → `0.025`.
pub fn percent(p: Decimal) -> Result<Decimal, Overflow> {
    p.checked_div(Decimal::ONE_HUNDRED).ok_or(Overflow)
}

/// A decimal with thousands separators, keeping its own scale: `1234567.50` → `1,234,567.50`.
pub fn group_thousands(d: Decimal) -> String {
    let text = d.to_string();
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text.as_str()),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    let mut out = String::with_capacity(text.len() + int.len() / 3);
    out.push_str(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    out
}

/// A quantity for a description: trailing zeros dropped, thousands grouped (`1,000.5`).
pub fn format_quantity(d: Decimal) -> String {
    group_thousands(d.normalize())
}

/// An amount for a description, rounded and shown with the currency's minor units (`1,234.50`).
pub fn format_amount(amount: Decimal, currency: Currency) -> String {
    group_thousands(round(amount, currency))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn cur(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn rounds_half_away_from_zero_to_minor_units() {
        let usd = cur("USD");
        assert_eq!(round(d("0.125"), usd).to_string(), "0.13");
        assert_eq!(round(d("-0.125"), usd).to_string(), "-0.13");
        assert_eq!(round(d("0.124999"), usd).to_string(), "0.12");
        assert_eq!(round(d("25"), usd).to_string(), "25.00");
        assert_eq!(round(d("2.5"), cur("JPY")).to_string(), "3");
        assert_eq!(round(d("-2.5"), cur("JPY")).to_string(), "-3");
        assert_eq!(round(d("1.2345"), cur("BHD")).to_string(), "1.235");
        assert_eq!(round(d("1"), cur("BHD")).to_string(), "1.000");
    }

    #[test]
    fn zero_is_never_negative() {
        assert_eq!(round(d("-0.001"), cur("USD")).to_string(), "0.00");
    }

    #[test]
    fn rounding_huge_amounts_does_not_panic() {
        let r = round(Decimal::MAX, cur("BHD"));
        assert_eq!(r, Decimal::MAX);
        assert_eq!(round(Decimal::MIN, cur("USD")), Decimal::MIN);
    }

    #[test]
    fn checked_arithmetic_reports_overflow() {
        assert_eq!(mul(Decimal::MAX, d("2")), Err(Overflow));
        assert_eq!(add(Decimal::MAX, Decimal::ONE), Err(Overflow));
        assert_eq!(sub(Decimal::MIN, Decimal::ONE), Err(Overflow));
        assert_eq!(sum([d("1.5"), d("2.25")]), Ok(d("3.75")));
        assert_eq!(percent(d("2.5")), Ok(d("0.025")));
    }

    #[test]
    fn groups_thousands() {
        assert_eq!(group_thousands(d("1234567.50")), "1,234,567.50");
        assert_eq!(group_thousands(d("-1000")), "-1,000");
        assert_eq!(group_thousands(d("999")), "999");
        assert_eq!(format_quantity(d("1000.500")), "1,000.5");
        assert_eq!(format_amount(d("1234.5"), cur("USD")), "1,234.50");
    }
}
