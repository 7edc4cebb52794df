//! Tests of the billing function: the hand-computed scenarios of [`super::fixtures`], unit tests
//! of its rules and errors, and properties over generated subscriptions.

mod properties;
mod scenarios;
mod units;

use rust_decimal::Decimal;

use super::*;
use crate::money;

/// What every invoice must satisfy, whatever its input.
pub(crate) fn check_invariants(inv: &Invoice) -> Result<(), String> {
    let c = inv.currency;
    let dp = c.minor_units();
    let mut subtotal = Decimal::ZERO;
    let mut tax = Decimal::ZERO;
    let mut credits = Decimal::ZERO;
    for (i, l) in inv.lines.iter().enumerate() {
        if l.amount.scale() != dp || l.tax.scale() != dp {
            return Err(format!(
                "line {i} is not at {dp} decimals: {} / {}",
                l.amount, l.tax
            ));
        }
        if l.kind == InvoiceLineKind::CreditApplied {
            if !l.tax.is_zero() || l.amount > Decimal::ZERO {
                return Err(format!("credit line {i} is taxed or positive"));
            }
            credits -= l.amount;
        } else {
            subtotal += l.amount;
            let expected_tax = money::round(l.amount * inv.tax_rate, c);
            if l.tax != expected_tax {
                return Err(format!(
                    "line {i}: tax {} is not round({} × {})",
                    l.tax, l.amount, inv.tax_rate
                ));
            }
        }
        tax += l.tax;
    }
    if subtotal != inv.subtotal || tax != inv.tax || credits != inv.credits_applied {
        return Err(format!(
            "totals are not sums of lines: {subtotal}/{} {tax}/{} {credits}/{}",
            inv.subtotal, inv.tax, inv.credits_applied
        ));
    }
    if inv.subtotal + inv.tax - inv.credits_applied != inv.total
        || inv.subtotal + inv.tax != inv.total_before_credits
    {
        return Err(format!("subtotal + tax − credits != total: {inv:?}"));
    }
    let drawn: Decimal = inv.credit_draws.iter().map(|d| d.amount).sum();
    if drawn != inv.credits_applied {
        return Err("draws do not add up to the credits applied".into());
    }
    if inv.credits_applied > Decimal::ZERO && inv.total < Decimal::ZERO {
        return Err("credits made the total negative".into());
    }
    if inv.credits_applied > inv.total_before_credits.max(Decimal::ZERO) {
        return Err("more credit drawn than owed".into());
    }
    for s in [inv.subtotal, inv.tax, inv.credits_applied, inv.total] {
        if s.scale() != dp {
            return Err(format!("total {s} is not at {dp} decimals"));
        }
    }
    Ok(())
}
