//! Credit notes: drafts (free-form or crediting an invoice's lines at the price and tax they were
//! issued with), and applying them: the credit reduces what the invoice still owes, becomes
//! customer credit, or is refunded from the invoice's payments (never more than was paid).

use abacus_core::currency::Currency;
use abacus_core::invoicing::{
    self, CreditError, CreditableLine, InvoiceStatus, check_period, check_text,
};
use abacus_core::money;
use abacus_core::time::Micros;
use abacus_core::validation::{Naming, Validation};
use abacus_core::webhooks::Event;
use abacus_store::credit_notes::{self, Applied, CreditNote, NewCreditNote, NewLine, Status};
use abacus_store::invoices::{self, CREDIT_APPLIED, Invoice};
use abacus_store::payments::{self, CreditRefs, Method, NewPayment, NewRefund};
use abacus_store::{Connection, Tx, customers, products, webhooks};
use rust_decimal::Decimal;

use crate::problem::{ApiError, ApiResult};
use crate::services::invoices::{invoice_payload, payment_payload, settle};

const WHAT: &str = "Credit note";
/// The document-number sequence of credit notes.
pub const NUMBER_KIND: &str = "credit_note";

pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<CreditNote> {
    credit_notes::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))
}

/// One line of `POST /credit-notes`.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    pub description: Option<String>,
    pub invoice_line_item_id: Option<String>,
    pub product_id: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Option<Decimal>,
}

/// `POST /credit-notes`.
#[derive(Debug, Clone, Default)]
pub struct CreateCreditNote {
    pub customer_id: Option<String>,
    pub invoice_id: Option<String>,
    pub description: Option<String>,
    pub billing_period_start: Option<String>,
    pub billing_period_end: Option<String>,
    pub line_items: Vec<LineInput>,
    pub apply: bool,
    /// `refund` was sent: refund the customer as part of applying.
    pub refund: Option<Option<String>>,
}

/// How to apply (`POST /credit-notes/{id}/apply`).
#[derive(Debug, Clone, Default)]
pub struct ApplyInput {
    pub do_refund: bool,
    pub refund_destination: Option<String>,
    pub wallet_id: Option<String>,
}

/// An invoice that may be credited: issued, overdue or paid.
async fn creditable_invoice(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    now: Micros,
) -> ApiResult<Option<Invoice>> {
    let Some(inv) = invoices::lock(tx, org_id, id).await? else {
        return Ok(None);
    };
    match inv.status_at(now) {
        InvoiceStatus::Draft => Err(ApiError::conflict(format!(
            "Invoice '{id}' is a draft; change the draft instead of crediting it"
        ))),
        InvoiceStatus::Void => Err(ApiError::conflict(format!(
            "Invoice '{id}' is void; there is nothing to credit"
        ))),
        _ => Ok(Some(inv)),
    }
}

/// What is left to credit on an invoice's line.
async fn creditable_lines(
    tx: &mut Tx,
    org_id: &str,
    inv: &Invoice,
    exclude: Option<&str>,
) -> ApiResult<Vec<(invoices::LineItem, CreditableLine)>> {
    let credited = credit_notes::credited_by_line(tx, org_id, &inv.id, exclude).await?;
    Ok(inv
        .lines
        .iter()
        .filter(|l| l.kind != CREDIT_APPLIED)
        .map(|l| {
            let (q, a, t) = credited.get(&l.id).copied().unwrap_or_default();
            (
                l.clone(),
                CreditableLine {
                    quantity: l.quantity,
                    amount: l.amount,
                    tax: l.tax,
                    credited_quantity: q,
                    credited_amount: a,
                    credited_tax: t,
                },
            )
        })
        .collect())
}

fn credit_line(
    line: &invoices::LineItem,
    quantity: Decimal,
    amount: Decimal,
    tax: Decimal,
    inv: &Invoice,
) -> NewLine {
    NewLine {
        invoice_line_item_id: Some(line.id.clone()),
        product_id: line.product_id.clone(),
        description: line.description.clone(),
        quantity,
        unit_price: line.unit_price,
        amount,
        tax_rate: line.tax_rate,
        tax,
        period: line
            .period_start
            .zip(line.period_end)
            .or(inv.billing_period_start.zip(inv.billing_period_end)),
    }
}

fn credit_error(v: &mut Validation, field: String, e: CreditError) {
    v.push(field, e.to_string());
}

/// What is left to credit on an invoice in all: its total less the totals of its applied credit
/// notes.
async fn left_on_invoice(tx: &mut Tx, org_id: &str, inv: &Invoice) -> ApiResult<Decimal> {
    Ok(inv.total - credit_notes::applied_total(tx, org_id, &inv.id).await?)
}

/// Creates a draft credit note (applied at once with `apply`).
pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    input: CreateCreditNote,
    naming: Naming,
    now: Micros,
) -> ApiResult<CreditNote> {
    let f = |s: &str| naming.field(s);
    let mut v = Validation::new();
    let description = check_text(
        &mut v,
        f("description"),
        input.description.as_deref(),
        invoicing::MAX_DESCRIPTION_LEN,
    );
    let period = check_period(
        &mut v,
        naming,
        "",
        input.billing_period_start.as_deref(),
        input.billing_period_end.as_deref(),
    );
    if input.customer_id.is_none() && input.invoice_id.is_none() {
        v.push(f("customer_id"), "is required unless invoice_id is given");
    }
    if input.line_items.is_empty() {
        v.push(f("line_items"), "at least one line is required");
    } else if input.line_items.len() > invoicing::MAX_LINES {
        v.push(
            f("line_items"),
            format!("at most {} lines are allowed", invoicing::MAX_LINES),
        );
    }
    let destination = input.refund.as_ref().and_then(|d| d.clone());
    if let Some(d) = &destination
        && d != "original_payment"
    {
        v.push(
            format!("{}.destination", f("refund")),
            format!("'{d}' is not one of: original_payment"),
        );
    }
    if input.refund.is_some() && !input.apply {
        v.push(f("refund"), "requires apply");
    }
    if input.refund.is_some() && input.invoice_id.is_none() {
        v.push(f("refund"), "requires a linked invoice that is paid");
    }
    v.into_result().map_err(ApiError::invalid)?;

    let invoice = match &input.invoice_id {
        Some(id) => Some(
            creditable_invoice(tx, org_id, id, now)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        &f("invoice_id"),
                        format!("invoice '{id}' was not found"),
                    )
                })?,
        ),
        None => None,
    };
    let customer_ref = match (&input.customer_id, &invoice) {
        (Some(c), _) => c.clone(),
        (None, Some(inv)) => inv.customer_id.clone(),
        (None, None) => return Err(ApiError::internal()),
    };
    let customer_id = customers::resolve(tx, org_id, &customer_ref).await?;
    let customer = match customer_id {
        Some(id) if invoices::lock_customer(tx, org_id, &id).await? => {
            customers::get(tx, org_id, &id).await?
        }
        _ => None,
    }
    .ok_or_else(|| {
        ApiError::invalid_field(
            &f("customer_id"),
            format!("customer '{customer_ref}' was not found"),
        )
    })?;
    if let Some(inv) = &invoice
        && inv.customer_id != customer.id
    {
        return Err(ApiError::invalid_field(
            &f("customer_id"),
            format!(
                "does not match invoice '{}', which is for customer '{}'",
                inv.id, inv.customer_id
            ),
        ));
    }
    let currency = match &invoice {
        Some(inv) => inv.currency()?,
        None => Currency::parse(&customer.currency).map_err(|_| ApiError::internal())?,
    };

    let mut creditable = match &invoice {
        Some(inv) => creditable_lines(tx, org_id, inv, None).await?,
        None => Vec::new(),
    };
    let product_ids: Vec<String> = input
        .line_items
        .iter()
        .filter_map(|l| l.product_id.clone())
        .collect();
    let known: Vec<String> = products::by_ids(tx, org_id, &product_ids)
        .await?
        .into_iter()
        .map(|p| p.id)
        .collect();
    let mut v = Validation::new();
    let mut lines = Vec::new();
    for (i, l) in input.line_items.iter().enumerate() {
        let base = format!("{}[{i}]", f("line_items"));
        let at = |s: &str| invoicing::field_at(naming, &base, s);
        let description = check_text(
            &mut v,
            at("description"),
            l.description.as_deref(),
            invoicing::MAX_DESCRIPTION_LEN,
        );
        if l.quantity <= Decimal::ZERO {
            v.push(at("quantity"), "must be greater than 0");
            continue;
        }
        if let Some(p) = &l.product_id
            && !known.contains(p)
        {
            v.push(at("product_id"), format!("product '{p}' was not found"));
        }
        match &l.invoice_line_item_id {
            Some(line_id) => {
                let Some(inv) = &invoice else {
                    v.push(at("invoice_line_item_id"), "requires invoice_id");
                    continue;
                };
                let Some((line, c)) = creditable.iter_mut().find(|(line, _)| line.id == *line_id)
                else {
                    v.push(
                        at("invoice_line_item_id"),
                        format!("'{line_id}' is not a line of invoice '{}'", inv.id),
                    );
                    continue;
                };
                if let Some(p) = l.unit_price
                    && p != line.unit_price
                {
                    v.push(at("unit_price"), format!("must be the invoice line's unit price, {} (a credit note credits at the issued price)", line.unit_price));
                    continue;
                }
                match c.credit(l.quantity, currency) {
                    Ok((amount, tax)) => {
                        c.credited_quantity += l.quantity;
                        c.credited_amount += amount;
                        c.credited_tax += tax;
                        let mut new = credit_line(line, l.quantity, amount, tax, inv);
                        if let Some(d) = description {
                            new.description = d;
                        }
                        lines.push(new);
                    }
                    Err(e) => credit_error(&mut v, at("quantity"), e),
                }
            }
            None => {
                let Some(unit_price) = l.unit_price else {
                    v.push(
                        at("unit_price"),
                        "is required unless invoice_line_item_id names the line",
                    );
                    continue;
                };
                if unit_price < Decimal::ZERO {
                    v.push(at("unit_price"), "must not be negative");
                    continue;
                }
                let Some(description) = description else {
                    v.push(
                        at("description"),
                        "is required unless invoice_line_item_id names the line",
                    );
                    continue;
                };
                match invoicing::line_amounts(
                    l.quantity,
                    unit_price,
                    customer.tax.tax_rate,
                    currency,
                ) {
                    Ok((amount, tax)) => lines.push(NewLine {
                        invoice_line_item_id: None,
                        product_id: l.product_id.clone(),
                        description,
                        quantity: l.quantity,
                        unit_price,
                        amount,
                        tax_rate: customer.tax.tax_rate,
                        tax,
                        period,
                    }),
                    Err(_) => v.push(at("unit_price"), "quantity × unit_price is out of range"),
                }
            }
        }
    }
    v.into_result().map_err(ApiError::invalid)?;
    let total: Decimal = lines.iter().map(|l| l.amount + l.tax).sum();
    if total <= Decimal::ZERO {
        return Err(ApiError::invalid_field(
            &f("line_items"),
            "the credit note's total must be greater than 0",
        ));
    }
    if let Some(inv) = &invoice {
        let left = left_on_invoice(tx, org_id, inv).await?;
        if total > left {
            return Err(ApiError::invalid_field(
                &f("line_items"),
                format!(
                    "the credit note's total {total} is more than the {left} left to credit on invoice '{}'",
                    inv.id
                ),
            ));
        }
    }
    let note = credit_notes::insert(
        tx,
        org_id,
        &NewCreditNote {
            customer_id: customer.id.clone(),
            invoice_id: invoice.as_ref().map(|i| i.id.clone()),
            currency,
            description: description.unwrap_or_default(),
            billing_period: period.or(invoice
                .as_ref()
                .and_then(|i| i.billing_period_start.zip(i.billing_period_end))),
            lines,
        },
        now,
    )
    .await?;
    if input.apply {
        let apply = ApplyInput {
            do_refund: input.refund.is_some(),
            ..Default::default()
        };
        return apply_locked(tx, org_id, note, apply, now).await;
    }
    Ok(note)
}

/// One line of `POST /invoices/{id}/credit-notes`.
#[derive(Debug, Clone)]
pub struct InvoiceLineCredit {
    pub invoice_line_item_id: String,
    pub quantity: Decimal,
}

/// `POST /invoices/{id}/credit-notes`.
#[derive(Debug, Clone, Default)]
pub struct FromInvoice {
    /// `None`: everything still uncredited.
    pub line_items: Option<Vec<InvoiceLineCredit>>,
    pub apply: bool,
    /// `refund` was sent (with its destination, if any).
    pub refund: Option<Option<String>>,
}

/// Creates a draft credit note against an invoice's lines, at their issued price and tax; without
/// lines, for everything still uncredited on it.
pub async fn create_from_invoice(
    tx: &mut Tx,
    org_id: &str,
    invoice_id: &str,
    input: FromInvoice,
    naming: Naming,
    now: Micros,
) -> ApiResult<CreditNote> {
    let FromInvoice {
        line_items,
        apply,
        refund,
    } = input;
    let f = |s: &str| naming.field(s);
    let mut v = Validation::new();
    if let Some(Some(d)) = &refund
        && d != "original_payment"
    {
        v.push(
            format!("{}.destination", f("refund")),
            format!("'{d}' is not one of: original_payment"),
        );
    }
    if refund.is_some() && !apply {
        v.push(f("refund"), "requires apply");
    }
    if line_items.as_ref().is_some_and(|l| l.is_empty()) {
        v.push(
            f("line_items"),
            "leave it out to credit everything, or name at least one line",
        );
    }
    v.into_result().map_err(ApiError::invalid)?;
    let inv = creditable_invoice(tx, org_id, invoice_id, now)
        .await?
        .ok_or_else(|| ApiError::not_found("Invoice", invoice_id))?;
    invoices::lock_customer(tx, org_id, &inv.customer_id).await?;
    let currency = inv.currency()?;
    let mut creditable = creditable_lines(tx, org_id, &inv, None).await?;
    let mut lines = Vec::new();
    match line_items {
        None => {
            for (line, c) in &creditable {
                let left = c.quantity_left();
                if left <= Decimal::ZERO {
                    continue;
                }
                let (amount, tax) = c.credit(left, currency).map_err(|_| ApiError::internal())?;
                lines.push(credit_line(line, left, amount, tax, &inv));
            }
            if lines.is_empty() {
                return Err(ApiError::conflict(format!(
                    "Invoice '{invoice_id}' has been credited in full already"
                )));
            }
        }
        Some(items) => {
            let mut v = Validation::new();
            for (i, item) in items.iter().enumerate() {
                let base = format!("{}[{i}]", f("line_items"));
                let at = |s: &str| invoicing::field_at(naming, &base, s);
                let Some((line, c)) = creditable
                    .iter_mut()
                    .find(|(l, _)| l.id == item.invoice_line_item_id)
                else {
                    v.push(
                        at("invoice_line_item_id"),
                        format!(
                            "'{}' is not a line of invoice '{invoice_id}'",
                            item.invoice_line_item_id
                        ),
                    );
                    continue;
                };
                match c.credit(item.quantity, currency) {
                    Ok((amount, tax)) => {
                        c.credited_quantity += item.quantity;
                        c.credited_amount += amount;
                        c.credited_tax += tax;
                        lines.push(credit_line(line, item.quantity, amount, tax, &inv));
                    }
                    Err(e) => credit_error(&mut v, at("quantity"), e),
                }
            }
            v.into_result().map_err(ApiError::invalid)?;
        }
    }
    let total: Decimal = lines.iter().map(|l| l.amount + l.tax).sum();
    if total <= Decimal::ZERO {
        return Err(ApiError::invalid_field(
            &f("line_items"),
            "the credit note's total must be greater than 0",
        ));
    }
    let left = left_on_invoice(tx, org_id, &inv).await?;
    if total > left {
        return Err(ApiError::conflict(format!(
            "A credit of {total} is more than the {left} left to credit on invoice '{invoice_id}'"
        )));
    }
    let note = credit_notes::insert(
        tx,
        org_id,
        &NewCreditNote {
            customer_id: inv.customer_id.clone(),
            invoice_id: Some(inv.id.clone()),
            currency,
            description: format!(
                "Credit for invoice {}",
                inv.external_reference.as_deref().unwrap_or(&inv.id)
            ),
            billing_period: inv.billing_period_start.zip(inv.billing_period_end),
            lines,
        },
        now,
    )
    .await?;
    if apply {
        let a = ApplyInput {
            do_refund: refund.is_some(),
            ..Default::default()
        };
        return apply_locked(tx, org_id, note, a, now).await;
    }
    Ok(note)
}

/// Applies a draft credit note (see [`apply_locked`]).
pub async fn apply(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    input: ApplyInput,
    naming: Naming,
    now: Micros,
) -> ApiResult<CreditNote> {
    let note = credit_notes::lock(tx, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    let mut v = Validation::new();
    match input.refund_destination.as_deref() {
        None | Some("original_payment") => {}
        Some("wallet") => v.push(
            naming.field("refund_destination"),
            "wallets are not supported by Abacus; use original_payment",
        ),
        Some(other) => v.push(
            naming.field("refund_destination"),
            format!("'{other}' is not one of: original_payment, wallet"),
        ),
    }
    if input.wallet_id.is_some() {
        v.push(
            naming.field("wallet_id"),
            "wallets are not supported by Abacus",
        );
    }
    v.into_result().map_err(ApiError::invalid)?;
    apply_locked(tx, org_id, note, input, now).await
}

/// Applies a locked credit note of total `T`:
///
/// - without an invoice, `T` becomes customer credit (drawn by the customer's next invoices);
/// - on an open invoice, it reduces what the invoice still owes (a `credit_note` payment; the
///   invoice is paid once nothing is left) and any rest becomes customer credit;
/// - with `do_refund`, on a paid invoice, `T` is refunded from the invoice's payments, oldest
///   first, never more than they can still refund (409 otherwise);
/// - on a paid invoice without a refund, `T` becomes customer credit.
///
/// Applying twice is 409; an applied credit note never changes.
pub async fn apply_locked(
    tx: &mut Tx,
    org_id: &str,
    note: CreditNote,
    input: ApplyInput,
    now: Micros,
) -> ApiResult<CreditNote> {
    match note.status {
        Status::Draft => {}
        Status::Applied => {
            return Err(ApiError::conflict(format!(
                "Credit note '{}' was applied already; an applied credit note cannot be applied again",
                note.id
            )));
        }
        Status::Void => {
            return Err(ApiError::conflict(format!(
                "Credit note '{}' is void",
                note.id
            )));
        }
    }
    let currency = Currency::parse(&note.currency).map_err(|_| ApiError::internal())?;
    let total = note.total;
    // The invoice is locked before the number is taken, in the order issuing takes them, so two
    // transactions never wait on each other in a circle.
    let invoice = match &note.invoice_id {
        Some(id) => Some(
            creditable_invoice(tx, org_id, id, now)
                .await?
                .ok_or_else(ApiError::internal)?,
        ),
        None => None,
    };
    let number = invoices::next_number(tx, org_id, NUMBER_KIND).await?;
    let reference = invoicing::credit_note_number(number);
    let (mut to_invoice, mut to_balance, mut refunded) =
        (Decimal::ZERO, Decimal::ZERO, Decimal::ZERO);
    let mut last_refund = None;
    match invoice {
        None => {
            if input.do_refund {
                return Err(ApiError::invalid_field(
                    "do_refund",
                    "a refund needs a credit note linked to a paid invoice",
                ));
            }
            to_balance = total;
        }
        Some(inv) => {
            let invoice_id = &inv.id;
            let left = left_on_invoice(tx, org_id, &inv).await?;
            if total > left {
                return Err(ApiError::conflict(format!(
                    "Credit note '{}' credits {total}, more than the {left} left to credit on invoice '{invoice_id}'",
                    note.id
                )));
            }
            let lines = creditable_lines(tx, org_id, &inv, Some(&note.id)).await?;
            for l in &note.lines {
                if let Some(line_id) = &l.invoice_line_item_id
                    && let Some((_, c)) = lines.iter().find(|(line, _)| line.id == *line_id)
                    && l.quantity > c.quantity_left()
                {
                    return Err(ApiError::conflict(format!(
                        "Credit note '{}' credits {} of invoice line '{line_id}', which has only {} left to credit",
                        note.id,
                        l.quantity,
                        c.quantity_left()
                    )));
                }
            }
            let status = inv.status_at(now);
            if input.do_refund {
                if status != InvoiceStatus::Paid {
                    return Err(ApiError::conflict(format!(
                        "Invoice '{invoice_id}' is not paid, so there is nothing to refund; apply the credit note without a refund to reduce what it owes"
                    )));
                }
                let payments = payments::payments_of_invoice(tx, org_id, invoice_id).await?;
                let refundable: Decimal = payments.iter().map(|p| p.refundable()).sum();
                if total > refundable {
                    return Err(ApiError::conflict(format!(
                        "Cannot refund {total}: only {refundable} of the payments of invoice '{invoice_id}' is left to refund"
                    )));
                }
                let mut left = total;
                for p in payments.iter().filter(|p| p.method == Method::Manual) {
                    if left.is_zero() {
                        break;
                    }
                    let take = p.refundable().min(left);
                    if take.is_zero() {
                        continue;
                    }
                    let p = payments::lock_payment(tx, org_id, &p.id)
                        .await?
                        .ok_or_else(ApiError::internal)?;
                    let r = crate::services::payments::record_refund(
                        tx,
                        org_id,
                        &p,
                        take,
                        NewRefund {
                            customer_id: p.customer_id.clone(),
                            payment_id: p.id.clone(),
                            invoice_id: Some(invoice_id.clone()),
                            credit_note_id: Some(note.id.clone()),
                            currency: p.currency.clone(),
                            amount: take,
                            reason: Some(format!("Credit note {reference}")),
                            statement_descriptor: None,
                        },
                        now,
                    )
                    .await?;
                    left -= take;
                    last_refund = Some((r.id.clone(), r.created_at));
                }
                refunded = total;
            } else {
                if status.is_open() {
                    to_invoice = inv.amount_remaining()?.min(total);
                }
                to_balance = total - to_invoice;
                if to_invoice > Decimal::ZERO {
                    let p = payments::insert_payment(
                        tx,
                        org_id,
                        &NewPayment {
                            customer_id: inv.customer_id.clone(),
                            invoice_id: inv.id.clone(),
                            credit_note_id: Some(note.id.clone()),
                            method: Method::CreditNote,
                            source: None,
                            note: Some(format!("Credit note {reference}")),
                            currency: inv.currency.clone(),
                            amount: to_invoice,
                            paid_at: now,
                        },
                        now,
                    )
                    .await?;
                    let settles = to_invoice == inv.amount_remaining()?;
                    settle(tx, org_id, &inv, to_invoice, settles.then_some(now), now).await?;
                    webhooks::enqueue_event(
                        tx,
                        org_id,
                        &Event::PaymentCreated(payment_payload(&p)),
                        now,
                    )
                    .await?;
                    if settles {
                        let inv = invoices::get(tx, org_id, invoice_id)
                            .await?
                            .ok_or_else(ApiError::internal)?;
                        webhooks::enqueue_event(
                            tx,
                            org_id,
                            &Event::InvoicePaid(invoice_payload(&inv, InvoiceStatus::Paid)),
                            now,
                        )
                        .await?;
                    }
                }
            }
        }
    }
    if to_balance > Decimal::ZERO {
        payments::add_credit(
            tx,
            org_id,
            &note.customer_id,
            &note.currency,
            to_balance,
            CreditRefs {
                credit_note_id: Some(&note.id),
                ..Default::default()
            },
            &format!("Credit note {reference}"),
            now,
        )
        .await?;
    }
    let applied = Applied {
        number,
        external_reference: reference,
        apply_date: now,
        amount_to_invoice: money::round(to_invoice, currency),
        amount_to_balance: money::round(to_balance, currency),
        amount_refunded: money::round(refunded, currency),
        last_refund,
    };
    if !credit_notes::mark_applied(tx, org_id, &note.id, &applied, now).await? {
        return Err(ApiError::internal());
    }
    get(tx, org_id, &note.id).await
}

/// Voids a draft credit note (extension). An applied one is 409.
pub async fn void(tx: &mut Tx, org_id: &str, id: &str, now: Micros) -> ApiResult<CreditNote> {
    let note = credit_notes::lock(tx, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    match note.status {
        Status::Draft => {}
        Status::Applied => {
            return Err(ApiError::conflict(format!(
                "Credit note '{id}' is applied; an applied credit note cannot be voided"
            )));
        }
        Status::Void => {
            return Err(ApiError::conflict(format!(
                "Credit note '{id}' is void already"
            )));
        }
    }
    credit_notes::mark_void(tx, org_id, id, now, now).await?;
    get(tx, org_id, id).await
}
