//! An item's price in one billing period, and the one place a line amount is rounded.
//!
//! In a period an item is priced with its own discount while that lasts (months from the item's
//! start, judged on the period's first day), its spend thresholds prorated to the days priced,
//! and its rates escalated by the subscription's escalation factor of the period.

use jiff::civil::Date;
use rust_decimal::Decimal;

use super::error::{self, BillingError};
use super::escalation;
use super::input::{Item, active_on};
use super::invoice::InvoiceLineKind;
use super::timeline::{Key, Timeline};
use crate::calendar::Proration;
use crate::currency::Currency;
use crate::money;
use crate::pricing::{self, Charge, ChargeLine, LineKind, Price, PricingInput};

/// Prices `item` for the period starting on `period_start`. `share` prorates the price's
/// minimum and maximum spend (the days priced out of the cycle's).
pub(crate) fn price_item(
    tl: &Timeline,
    key: &Key,
    item: &Item,
    period_start: Date,
    share: Proration,
    input: &PricingInput,
) -> Result<Charge, BillingError> {
    let mut price: Price = item.price.clone();
    if !active_on(item.discount_months, key.start_date, period_start) {
        price.discount = None;
    }
    if !share.is_full() {
        price.minimum_spend = price.minimum_spend.map(|m| apply(share, m)).transpose()?;
        price.maximum_spend = price.maximum_spend.map(|m| apply(share, m)).transpose()?;
    }
    if let Some(esc) = &tl.sub.escalation
        && item.is_recurring()
        && (!item.is_metered() || esc.metered)
    {
        let f = escalation::factor(esc, &tl.sub.calendar.contract, period_start)?;
        price.model = escalation::escalate(&price.model, f)?;
    }
    pricing::price(&price, tl.sub.currency, input).map_err(|e| error::pricing(&item.key, e))
}

/// `round(value)` to the currency's minor units, refusing amounts whose minor units no longer fit.
pub(crate) fn round(value: Decimal, currency: Currency) -> Result<Decimal, BillingError> {
    let r = money::round(value, currency);
    if r.scale() != currency.minor_units() {
        return Err(BillingError::Overflow);
    }
    Ok(r)
}

/// `round(quantity × unit_price × days / period_days)`.
pub(crate) fn prorated(
    line: &ChargeLine,
    share: Proration,
    currency: Currency,
) -> Result<Decimal, BillingError> {
    let full = money::mul(line.quantity, line.unit_price)?;
    let part = if share.is_full() {
        full
    } else {
        apply(share, full)?
    };
    round(part, currency)
}

/// `value × days / period_days`, unrounded.
pub(crate) fn apply(share: Proration, value: Decimal) -> Result<Decimal, BillingError> {
    share.apply(value).map_err(|_| BillingError::Overflow)
}

/// The invoice kind of a pricing line billed as `as_kind`: a price's own discount and spend
/// thresholds keep their nature; everything else is the fee or usage it is billed as.
pub(crate) fn kind_of(line: LineKind, as_kind: InvoiceLineKind) -> InvoiceLineKind {
    match (as_kind, line) {
        (InvoiceLineKind::ProrationCredit | InvoiceLineKind::ProrationCharge, _) => as_kind,
        (_, LineKind::Discount) => InvoiceLineKind::Discount,
        (_, LineKind::MinimumSpend) => InvoiceLineKind::MinimumSpend,
        (_, LineKind::MaximumSpend) => InvoiceLineKind::MaximumSpend,
        _ => as_kind,
    }
}
