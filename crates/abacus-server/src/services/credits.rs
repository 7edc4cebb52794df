//! Monetary credit grants on subscriptions: granting (`POST /subscriptions/{id}/credits/grant`),
//! the balance, and what the invoice scheduler calls to draw credit for an invoice and to give
//! it back. Rules in docs/invoicing.md §26.

use std::str::FromStr;

use abacus_core::billing::CreditDraw;
use abacus_core::currency::Currency;
use abacus_core::invoicing::{check_money_scale, check_text};
use abacus_core::money;
use abacus_core::subscription::Status;
use abacus_core::time::{Micros, parse_rfc3339};
use abacus_core::validation::{Naming, Validation};
use abacus_core::webhooks::{CreditBalancePayload, CreditGrantedPayload, Event};
use abacus_store::credits::{self, Grant, GrantWithDraws, MONETARY, NewGrant};
use abacus_store::subscriptions;
use abacus_store::{Connection, Tx, webhooks};
use rust_decimal::Decimal;

use crate::problem::{ApiError, ApiResult};

/// The longest grant reason.
pub const MAX_REASON_LEN: usize = 1_000;

/// A grant's amount must be below this (10^15), so sums of grants never leave the decimal range.
pub fn max_amount() -> Decimal {
    Decimal::from(1_000_000_000_000_000_i64)
}

/// The request of `POST /subscriptions/{id}/credits/grant`, as sent.
#[derive(Debug, Clone, Default)]
pub struct GrantInput {
    /// A decimal string.
    pub amount: String,
    /// `monetary` (the default) or `units` (refused).
    pub credit_type: Option<String>,
    /// RFC 3339, in the future.
    pub expires_at: Option<String>,
    pub reason: String,
}

/// A subscription's credit balance at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub subscription_id: String,
    pub currency: String,
    /// In the currency's minor units (`0.00`).
    pub balance: Decimal,
    pub as_of: Micros,
}

fn currency_of(code: &str) -> ApiResult<Currency> {
    Currency::parse(code).map_err(|_| ApiError::internal())
}

async fn subscription(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> ApiResult<abacus_core::subscription::Subscription> {
    subscriptions::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Subscription", id))
}

/// Grants monetary credit to a subscription (any subscription not canceled: drafts too, so a
/// welcome credit can be set up before activation), in its currency, and enqueues
/// `account.credits.granted` in the same transaction.
pub async fn grant(
    tx: &mut Tx,
    org_id: &str,
    subscription_id: &str,
    input: GrantInput,
    naming: Naming,
    now: Micros,
) -> ApiResult<Grant> {
    // The organization's subscription lock: no cancellation or deletion slips in between.
    subscriptions::lock(tx, org_id).await?;
    let sub = subscription(tx, org_id, subscription_id).await?;
    let currency = currency_of(&sub.currency)?;
    let f = |s: &str| naming.field(s);
    let mut v = Validation::new();
    let plain = input
        .amount
        .char_indices()
        .all(|(i, c)| c.is_ascii_digit() || c == '.' || (i == 0 && (c == '-' || c == '+')));
    let amount = match Decimal::from_str(&input.amount) {
        Ok(d) if plain => {
            if d <= Decimal::ZERO {
                v.push(f("amount"), "must be greater than 0");
            } else if d >= max_amount() {
                v.push(f("amount"), format!("must be less than {}", max_amount()));
            } else {
                check_money_scale(&mut v, f("amount"), d, currency);
            }
            Some(d)
        }
        _ => {
            v.push(
                f("amount"),
                format!(
                    "'{}' is not a decimal amount such as \"100.00\"",
                    input.amount
                ),
            );
            None
        }
    };
    match input.credit_type.as_deref() {
        None | Some(MONETARY) => {}
        Some("units") => v.push(
            f("credit_type"),
            "only monetary credits are supported (units credits are not)",
        ),
        Some(other) => v.push(f("credit_type"), format!("'{other}' is not monetary")),
    }
    let expires_at = input.expires_at.as_deref().and_then(|s| {
        match parse_rfc3339(s) {
            Ok(t) if t <= now => v.push(f("expires_at"), "must be in the future"),
            Ok(t) => return Some(t),
            Err(e) => v.push(f("expires_at"), e),
        }
        None
    });
    let reason = check_text(
        &mut v,
        f("reason"),
        Some(input.reason.as_str()),
        MAX_REASON_LEN,
    );
    v.into_result().map_err(ApiError::invalid)?;
    if sub.status_at(now) == Status::Canceled {
        return Err(ApiError::conflict(format!(
            "Subscription '{subscription_id}' is canceled: credit can only be granted to a draft or active subscription"
        )));
    }
    let amount = money::round(amount.unwrap_or_default(), currency);
    let grant = credits::insert_grant(
        tx,
        org_id,
        &NewGrant {
            customer_id: sub.customer_id.clone(),
            subscription_id: sub.id.clone(),
            currency: sub.currency.clone(),
            amount,
            reason,
            expires_at,
        },
        now,
    )
    .await?;
    webhooks::enqueue_event(
        tx,
        org_id,
        &Event::AccountCreditsGranted(CreditGrantedPayload {
            account_id: grant.customer_id.clone(),
            grant_id: grant.id.clone(),
            amount: grant.amount,
            kind: MONETARY.into(),
            reason: grant.reason.clone().unwrap_or_default(),
        }),
        now,
    )
    .await?;
    Ok(grant)
}

/// The subscription's credit balance at `as_of`: what is left of the grants made by then and not
/// expired at it, after the draws made by then.
pub async fn balance(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    as_of: Micros,
) -> ApiResult<Balance> {
    let sub = subscription(c, org_id, subscription_id).await?;
    let currency = currency_of(&sub.currency)?;
    let balance = credits::balance(c, org_id, &sub.id, as_of).await?;
    Ok(Balance {
        subscription_id: sub.id,
        currency: sub.currency,
        balance: money::round(balance, currency),
        as_of,
    })
}

/// A subscription's grants, oldest first, with what remains of each.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> ApiResult<Vec<GrantWithDraws>> {
    let sub = subscription(c, org_id, subscription_id).await?;
    Ok(credits::list_grants(c, org_id, &sub.id).await?)
}

/// Records what the billing function drew for `invoice_id` (its `credit_draws`) on the
/// subscription's grants, in the caller's transaction, and enqueues
/// `account.credits.balance_depleted` when this took the subscription's balance at `now` from
/// above zero to zero.
///
/// Each draw must be on one of the subscription's grants, greater than 0 and at most what the
/// grant still holds (409 otherwise: another invoice drew it meanwhile; recompute the invoice).
/// Expiry is not checked here: the billing function checked it at the invoice's `credits_as_of`.
/// Calling it again with the same draws for the same invoice does nothing; with other draws it
/// is 409 (release the invoice's draws first).
pub async fn draw(
    tx: &mut Tx,
    org_id: &str,
    customer_id: &str,
    subscription_id: &str,
    invoice_id: &str,
    draws: &[CreditDraw],
    now: Micros,
) -> ApiResult<()> {
    if draws.is_empty() {
        return Ok(());
    }
    credits::lock_grants(tx, org_id, subscription_id).await?;
    let existing = credits::draws_of_invoice(tx, org_id, invoice_id).await?;
    if !existing.is_empty() {
        let mut want: Vec<(&str, Decimal)> = draws
            .iter()
            .map(|d| (d.grant_id.as_str(), d.amount.normalize()))
            .collect();
        want.sort();
        let have: Vec<(&str, Decimal)> = existing
            .iter()
            .map(|d| (d.grant_id.as_str(), d.amount.normalize()))
            .collect();
        if want == have {
            return Ok(());
        }
        return Err(ApiError::conflict(format!(
            "Invoice '{invoice_id}' already drew other credit; release its draws first"
        )));
    }
    let grants = credits::list_grants(tx, org_id, subscription_id).await?;
    let mut seen: Vec<&str> = Vec::new();
    for d in draws {
        let Some(g) = grants.iter().find(|g| g.grant.id == d.grant_id) else {
            return Err(ApiError::conflict(format!(
                "Credit grant '{}' is not a grant of subscription '{subscription_id}'",
                d.grant_id
            )));
        };
        if seen.contains(&d.grant_id.as_str()) {
            return Err(ApiError::conflict(format!(
                "Credit grant '{}' is drawn twice for invoice '{invoice_id}'",
                d.grant_id
            )));
        }
        seen.push(&d.grant_id);
        if d.amount <= Decimal::ZERO || d.amount > g.remaining {
            return Err(ApiError::conflict(format!(
                "A draw of {} on credit grant '{}' is not between 0 and the {} it still holds",
                d.amount, d.grant_id, g.remaining
            )));
        }
    }
    let before = credits::balance(tx, org_id, subscription_id, now).await?;
    credits::record_draws(tx, org_id, invoice_id, draws, now).await?;
    let after = credits::balance(tx, org_id, subscription_id, now).await?;
    if before > Decimal::ZERO && after <= Decimal::ZERO {
        let currency = grants
            .first()
            .map(|g| g.grant.currency.as_str())
            .unwrap_or("USD");
        webhooks::enqueue_event(
            tx,
            org_id,
            &Event::AccountCreditsBalanceDepleted(CreditBalancePayload {
                account_id: customer_id.to_string(),
                amount: money::round(Decimal::ZERO, currency_of(currency)?),
                kind: MONETARY.into(),
            }),
            now,
        )
        .await?;
    }
    Ok(())
}

/// Gives back the credit an invoice drew (a voided invoice): its draws are deleted, so what they
/// took is usable again. Nothing happens when the invoice drew none.
pub async fn release(tx: &mut Tx, org_id: &str, invoice_id: &str) -> ApiResult<()> {
    credits::release_draws(tx, org_id, invoice_id).await?;
    Ok(())
}
