//! What an invoice's PDF shows: the stored invoice formatted for `abacus_pdf` (dates in the
//! organization's time zone, amounts with the currency's minor units and thousands separators).

use abacus_core::calendar::local_date;
use abacus_core::currency::Currency;
use abacus_core::customer::Customer;
use abacus_core::invoicing::{self, InvoiceStatus, billing_period_label, short_date};
use abacus_core::money::{format_amount, format_quantity, group_thousands};
use abacus_core::time::Micros;
use abacus_pdf::{DocumentLine, InvoiceDocument, Party, TotalRow};
use abacus_store::invoices::{CREDIT_APPLIED, Invoice};
use jiff::tz::TimeZone;

use crate::problem::ApiResult;

fn date(at: Micros, tz: &TimeZone) -> String {
    local_date(at, tz).map(short_date).unwrap_or_default()
}

fn address_lines(c: &Customer) -> Vec<String> {
    let Some(a) = &c.billing_address else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(a.line1.clone());
    out.extend(a.line2.clone());
    let city_line = [
        a.city.as_deref(),
        a.state.as_deref(),
        a.postal_code.as_deref(),
    ];
    let city = match city_line {
        [Some(city), state, postal] => {
            let rest: Vec<&str> = [state, postal].into_iter().flatten().collect();
            if rest.is_empty() {
                city.to_string()
            } else {
                format!("{city}, {}", rest.join(" "))
            }
        }
        [None, state, postal] => [state, postal]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" "),
    };
    if !city.is_empty() {
        out.push(city);
    }
    out.extend(a.country.clone());
    out
}

/// The document of `inv` as it stands at `now` (at issue for the stored PDF).
pub fn document(
    inv: &Invoice,
    seller: &str,
    customer: Option<&Customer>,
    tz: &TimeZone,
    currency: Currency,
    now: Micros,
) -> ApiResult<InvoiceDocument> {
    let draft = inv.status == InvoiceStatus::Draft;
    let money = |d| format_amount(d, currency);
    let code = currency.code();
    let mut facts = Vec::new();
    facts.push((
        "Invoice number".to_string(),
        inv.external_reference
            .clone()
            .unwrap_or_else(|| "Draft".into()),
    ));
    facts.push((
        "Issue date".to_string(),
        date(inv.issue_date.unwrap_or(now), tz),
    ));
    let due = inv
        .due_date
        .or_else(|| invoicing::due_date(inv.issue_date.unwrap_or(now), &inv.payment_terms));
    if let Some(due) = due {
        facts.push(("Due date".to_string(), date(due, tz)));
    }
    if let (Some(s), Some(e)) = (inv.billing_period_start, inv.billing_period_end) {
        facts.push(("Billing period".to_string(), billing_period_label(s, e, tz)));
    }
    if let Some(po) = &inv.purchase_order_number {
        facts.push(("PO number".to_string(), po.clone()));
    }
    facts.push(("Currency".to_string(), code.to_string()));

    let lines = inv
        .lines
        .iter()
        .filter(|l| l.kind != CREDIT_APPLIED)
        .map(|l| DocumentLine {
            description: l.description.clone(),
            detail: match (l.period_start, l.period_end) {
                (Some(s), Some(e)) => Some(billing_period_label(s, e, tz)),
                _ => None,
            },
            quantity: format_quantity(l.quantity),
            unit_price: group_thousands(l.unit_price),
            tax: money(l.tax),
            amount: money(l.amount),
        })
        .collect();

    let remaining = inv.amount_remaining()?;
    let mut totals = vec![
        TotalRow::new("Subtotal", money(inv.subtotal)),
        TotalRow::new("Tax", money(inv.tax)),
        TotalRow::new("Total", format!("{code} {}", money(inv.total))),
    ];
    if !inv.credits_applied.is_zero() {
        totals.push(TotalRow::new(
            "Credits applied",
            format!("-{}", money(inv.credits_applied)),
        ));
    }
    if !inv.amount_paid.is_zero() {
        totals.push(TotalRow::new(
            "Amount paid",
            format!("-{}", money(inv.amount_paid)),
        ));
    }
    totals.push(TotalRow::bold(
        "Amount due",
        format!("{code} {}", money(remaining)),
    ));

    let reference = inv.external_reference.as_deref().unwrap_or("(draft)");
    Ok(InvoiceDocument {
        title: if draft { "DRAFT INVOICE" } else { "INVOICE" }.into(),
        seller: Party {
            name: seller.to_string(),
            lines: Vec::new(),
        },
        customer: Party {
            name: customer
                .map(|c| c.name.clone())
                .unwrap_or_else(|| inv.customer_id.clone()),
            lines: customer.map(address_lines).unwrap_or_default(),
        },
        facts,
        memo: Some(inv.description.clone()).filter(|d| !d.trim().is_empty()),
        lines,
        totals,
        footer: Some(format!(
            "Payment terms: {}. Please quote {reference} with your payment.",
            inv.payment_terms.replace('_', " ")
        )),
        document_title: format!("Invoice {reference}"),
    })
}
