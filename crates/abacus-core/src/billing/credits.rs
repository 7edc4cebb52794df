//! Tax per line, then monetary credits drawn on what the invoice owes.
//!
//! Tax is `round(amount × tax_rate)` on every line, so the invoice's tax is the sum of its lines'
//! taxes. Credits come after tax, as a payment would: each usable grant (something left, not
//! expired at `as_of`) is drawn in order of expiry (soonest first, grants without expiry last),
//! then priority (lower first), then id, until the invoice owes nothing. A credit never makes an
//! invoice negative, and an invoice that owes nothing (a net credit) draws nothing.

use rust_decimal::{Decimal, RoundingStrategy};

use super::charge::round;
use super::error::BillingError;
use super::input::CreditGrant;
use super::invoice::{CreditDraw, InvoiceLine};
use crate::currency::Currency;
use crate::money;
use crate::time::{Micros, format_micros};

pub(crate) fn tax(
    lines: &mut [InvoiceLine],
    rate: Decimal,
    currency: Currency,
) -> Result<(), BillingError> {
    if rate < Decimal::ZERO || rate > Decimal::ONE {
        return Err(BillingError::TaxRate(rate));
    }
    for l in lines {
        l.tax = round(money::mul(l.amount, rate)?, currency)?;
    }
    Ok(())
}

pub(crate) fn check(grants: &[CreditGrant]) -> Result<(), BillingError> {
    match grants.iter().find(|g| g.remaining < Decimal::ZERO) {
        Some(g) => Err(BillingError::NegativeCredit(g.id.clone())),
        None => Ok(()),
    }
}

/// The draws on `grants` that pay (at most) `due`.
pub(crate) fn draw(
    grants: &[CreditGrant],
    as_of: Micros,
    due: Decimal,
    currency: Currency,
) -> Result<Vec<CreditDraw>, BillingError> {
    check(grants)?;
    let mut usable: Vec<&CreditGrant> = grants
        .iter()
        .filter(|g| g.remaining > Decimal::ZERO && g.expires_at.is_none_or(|e| e > as_of))
        .collect();
    usable.sort_by(|a, b| {
        (a.expires_at.is_none(), a.expires_at, a.priority, &a.id).cmp(&(
            b.expires_at.is_none(),
            b.expires_at,
            b.priority,
            &b.id,
        ))
    });
    let dp = currency.minor_units();
    let mut left = due;
    let mut out = Vec::new();
    for g in usable {
        if left <= Decimal::ZERO {
            break;
        }
        // Never draw more than the grant holds: its remainder is truncated to minor units.
        let mut available = g
            .remaining
            .round_dp_with_strategy(dp, RoundingStrategy::ToZero);
        available.rescale(dp);
        let take = available.min(left);
        if take > Decimal::ZERO {
            left = money::sub(left, take)?;
            out.push(CreditDraw {
                grant_id: g.id.clone(),
                amount: take,
            });
        }
    }
    Ok(out)
}

pub(crate) fn describe(grant: &CreditGrant) -> String {
    match grant.expires_at {
        Some(e) => format!(
            "Credit applied (grant {}, expires {})",
            grant.id,
            format_micros(e)
        ),
        None => format!("Credit applied (grant {})", grant.id),
    }
}
