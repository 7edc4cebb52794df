//! Payments (read-only: recorded by mark-as-paid, applied credit notes and customer credit) and
//! refunds of money received.

use abacus_core::currency::Currency;
use abacus_core::invoicing::{check_money_scale, check_text};
use abacus_core::money;
use abacus_core::time::Micros;
use abacus_core::validation::{Naming, Validation};
use abacus_core::webhooks::{Event, PaymentAllocationPayload, RefundPayload};
use abacus_store::payments::{self, Method, NewRefund, Payment, Refund};
use abacus_store::{Connection, Tx, webhooks};
use rust_decimal::Decimal;

use crate::problem::{ApiError, ApiResult};
use crate::services::invoices::payment_payload;

/// The longest refund reason and statement descriptor.
pub const MAX_REASON_LEN: usize = 1_000;
pub const MAX_DESCRIPTOR_LEN: usize = 255;

pub async fn get_payment(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Payment> {
    payments::get_payment(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Payment", id))
}

pub async fn get_refund(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Refund> {
    payments::get_refund(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Refund", id))
}

/// The `data` of `refund.updated`.
pub fn refund_payload(r: &Refund) -> RefundPayload {
    RefundPayload {
        id: r.id.clone(),
        account_id: r.customer_id.clone(),
        amount: r.amount,
        currency: r.currency.clone(),
        status: r.status.clone(),
        prev_status: None,
        processor_name: "offline_payment".into(),
        processor_id: None,
        invoice_id: r.invoice_id.clone(),
        credit_note_id: r.credit_note_id.clone(),
        external_id: None,
        failure_reason: None,
        allocations: r
            .invoice_id
            .iter()
            .map(|i| PaymentAllocationPayload {
                invoice_id: i.clone(),
                amount: r.amount,
            })
            .collect(),
        created_at: r.created_at,
        updated_at: r.updated_at,
    }
}

/// Records a refund of `amount` from a locked payment (the caller checked it is refundable), and
/// enqueues `refund.updated` and `payment.updated` (its `amount_refunded` changed).
pub async fn record_refund(
    tx: &mut Tx,
    org_id: &str,
    payment: &Payment,
    amount: Decimal,
    new: NewRefund,
    now: Micros,
) -> ApiResult<Refund> {
    let refund = payments::insert_refund(tx, org_id, &new, now).await?;
    payments::set_refunded(
        tx,
        org_id,
        &payment.id,
        payment.amount_refunded + amount,
        now,
    )
    .await?;
    let payment = get_payment(tx, org_id, &payment.id).await?;
    webhooks::enqueue_event(
        tx,
        org_id,
        &Event::RefundUpdated(refund_payload(&refund)),
        now,
    )
    .await?;
    webhooks::enqueue_event(
        tx,
        org_id,
        &Event::PaymentUpdated(payment_payload(&payment)),
        now,
    )
    .await?;
    Ok(refund)
}

/// `POST /refunds`.
#[derive(Debug, Clone, Default)]
pub struct CreateRefund {
    pub payment_id: String,
    pub amount: Decimal,
    pub reason: Option<String>,
    pub statement_descriptor: Option<String>,
}

/// Refunds part or all of a payment received as money; never more than is left to refund on it
/// (409), never a payment made with credit (409).
pub async fn create_refund(
    tx: &mut Tx,
    org_id: &str,
    input: CreateRefund,
    naming: Naming,
    now: Micros,
) -> ApiResult<Refund> {
    let f = |s: &str| naming.field(s);
    let mut v = Validation::new();
    if input.payment_id.trim().is_empty() {
        v.push(f("payment_id"), "must not be empty");
    }
    if input.amount <= Decimal::ZERO {
        v.push(f("amount"), "must be greater than 0");
    }
    let reason = check_text(&mut v, f("reason"), input.reason.as_deref(), MAX_REASON_LEN);
    let descriptor = check_text(
        &mut v,
        f("statement_descriptor"),
        input.statement_descriptor.as_deref(),
        MAX_DESCRIPTOR_LEN,
    );
    v.into_result().map_err(ApiError::invalid)?;
    let payment = payments::lock_payment(tx, org_id, &input.payment_id)
        .await?
        .ok_or_else(|| {
            ApiError::invalid_field(
                &f("payment_id"),
                format!("payment '{}' was not found", input.payment_id),
            )
        })?;
    let currency = Currency::parse(&payment.currency).map_err(|_| ApiError::internal())?;
    let mut v = Validation::new();
    check_money_scale(&mut v, f("amount"), input.amount, currency);
    v.into_result().map_err(ApiError::invalid)?;
    if payment.method != Method::Manual {
        return Err(ApiError::conflict(format!(
            "Payment '{}' was settled with credit ({}), not money; there is nothing to refund",
            payment.id,
            payment.method.as_str()
        )));
    }
    let refundable = payment.refundable();
    if input.amount > refundable {
        return Err(ApiError::conflict(format!(
            "A refund of {} is more than the {refundable} left to refund on payment '{}' ({} paid, {} refunded)",
            input.amount, payment.id, payment.amount, payment.amount_refunded
        )));
    }
    let amount = money::round(input.amount, currency);
    record_refund(
        tx,
        org_id,
        &payment,
        amount,
        NewRefund {
            customer_id: payment.customer_id.clone(),
            payment_id: payment.id.clone(),
            invoice_id: Some(payment.invoice_id.clone()),
            credit_note_id: None,
            currency: payment.currency.clone(),
            amount,
            reason,
            statement_descriptor: descriptor,
        },
        now,
    )
    .await
}
