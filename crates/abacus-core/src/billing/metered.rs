//! Metered items, billed in arrears for the period ending: each definition of an item is priced
//! on the usage of the stretch of the period it was in effect (usage is never prorated), with its
//! spend thresholds prorated to that stretch's days.

use super::charge::{kind_of, price_item};
use super::describe;
use super::error::BillingError;
use super::invoice::{InvoiceLine, InvoiceLineKind};
use super::timeline::Timeline;
use super::usage::{Binding, Usage, UsageRequest};
use crate::calendar::{BillingPeriod, Period, Proration};

/// The usage lines of calendar `ci` for the period `closing`. Every stretch's usage requests go
/// to `requests`; lines are made only when `usage` is given.
pub(crate) fn usage(
    tl: &Timeline,
    ci: usize,
    closing: &BillingPeriod,
    usage: Option<&Usage>,
    requests: &mut Vec<UsageRequest>,
    out: &mut Vec<InvoiceLine>,
) -> Result<(), BillingError> {
    let Some(cycle) = &closing.cycle else {
        return Ok(());
    };
    let p = &closing.period;
    for key in &tl.keys {
        for seg in tl.segments(key.key, ci, p.start, p.end) {
            let Some(item) = seg.item.filter(|i| i.is_metered()) else {
                continue;
            };
            let from = seg.from.max(key.trial_end_at);
            let to = seg.to;
            if from >= to {
                continue;
            }
            let binding = Binding::of(item)?;
            requests.extend(binding.requests(from, to));
            let Some(usage) = usage else {
                continue;
            };
            let (days_from, days_to) = tl.fee_days(from, to, closing)?;
            let share = if from == p.start && to == p.end {
                closing.proration()
            } else {
                Proration::within(&cycle.period, days_from, days_to)
            };
            let input = binding.input(from, to, usage)?;
            let charge = price_item(tl, key, item, p.start_date, share, &input)?;
            let range = format!(", {}", describe::instants(from, to, &tl.tz));
            for cl in &charge.lines {
                out.push(InvoiceLine {
                    kind: kind_of(cl.kind, InvoiceLineKind::Usage),
                    description: format!("{}: {}{range}", item.name, cl.description),
                    product_id: Some(item.product_id.clone()),
                    item_key: Some(item.key.clone()),
                    version_id: seg.version.map(|v| v.id.clone()),
                    quantity: cl.quantity,
                    unit_price: cl.unit_price,
                    proration: None,
                    amount: cl.amount,
                    tax: Default::default(),
                    period: Some(Period {
                        start: from,
                        end: to,
                        start_date: days_from,
                        end_date: days_to,
                    }),
                    pricing_kind: Some(cl.kind),
                    credit_grant_id: None,
                });
            }
        }
    }
    Ok(())
}
