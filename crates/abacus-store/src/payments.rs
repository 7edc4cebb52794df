//! Payments (`pay_…`), refunds (`re_…`) and the customers' credit ledger.
//!
//! A payment settles part or all of one invoice: `manual` (mark-as-paid, money received outside
//! Abacus), `credit_note` (an applied credit note reducing what an open invoice owes) or
//! `credit_balance` (customer credit drawn when an invoice is issued). Only manual payments carry
//! money that can be refunded.

use abacus_core::ids;
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::invoices::dec;
use crate::on;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Manual,
    CreditNote,
    CreditBalance,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Manual => "manual",
            Method::CreditNote => "credit_note",
            Method::CreditBalance => "credit_balance",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        [Method::Manual, Method::CreditNote, Method::CreditBalance]
            .into_iter()
            .find(|m| m.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payment {
    pub id: String,
    pub customer_id: String,
    pub invoice_id: String,
    pub credit_note_id: Option<String>,
    pub method: Method,
    /// Mark-as-paid's `external_payment_source`.
    pub source: Option<String>,
    pub note: Option<String>,
    pub currency: String,
    pub amount: Decimal,
    pub amount_refunded: Decimal,
    /// `completed`.
    pub status: String,
    pub paid_at: Micros,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Payment {
    /// What can still be refunded: the rest of a manual payment; nothing of credit.
    pub fn refundable(&self) -> Decimal {
        match self.method {
            Method::Manual => (self.amount - self.amount_refunded).max(Decimal::ZERO),
            _ => Decimal::ZERO,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayment {
    pub customer_id: String,
    pub invoice_id: String,
    pub credit_note_id: Option<String>,
    pub method: Method,
    pub source: Option<String>,
    pub note: Option<String>,
    pub currency: String,
    pub amount: Decimal,
    pub paid_at: Micros,
}

#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    customer_id: String,
    invoice_id: String,
    credit_note_id: Option<String>,
    method: String,
    source: Option<String>,
    note: Option<String>,
    currency: String,
    amount: String,
    amount_refunded: String,
    status: String,
    paid_at: i64,
    created_at: i64,
    updated_at: i64,
}

const PAYMENT_COLUMNS: &str = "id, customer_id, invoice_id, credit_note_id, method, source, note, \
    currency, amount, amount_refunded, status, paid_at, created_at, updated_at";

impl TryFrom<PaymentRow> for Payment {
    type Error = StoreError;

    fn try_from(r: PaymentRow) -> StoreResult<Payment> {
        Ok(Payment {
            method: Method::parse(&r.method)
                .ok_or_else(|| StoreError::Corrupt(format!("payment method '{}'", r.method)))?,
            amount: dec("amount", &r.amount)?,
            amount_refunded: dec("amount_refunded", &r.amount_refunded)?,
            id: r.id,
            customer_id: r.customer_id,
            invoice_id: r.invoice_id,
            credit_note_id: r.credit_note_id,
            source: r.source,
            note: r.note,
            currency: r.currency,
            status: r.status,
            paid_at: r.paid_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub async fn insert_payment(
    c: &mut impl Connection,
    org_id: &str,
    p: &NewPayment,
    now: Micros,
) -> StoreResult<Payment> {
    let id = ids::prefixed_id("pay");
    on!(c, e => sqlx::query(
        "INSERT INTO payments (id, org_id, customer_id, invoice_id, credit_note_id, method, source, note, currency,
                               amount, amount_refunded, status, paid_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, 'completed', $12, $13, $13)")
        .bind(&id).bind(org_id).bind(&p.customer_id).bind(&p.invoice_id).bind(&p.credit_note_id)
        .bind(p.method.as_str()).bind(&p.source).bind(&p.note).bind(&p.currency)
        .bind(p.amount.to_string()).bind(Decimal::new(0, p.amount.scale()).to_string())
        .bind(p.paid_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get_payment(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("payment {id} vanished after insert")))
}

pub async fn get_payment(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Payment>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE org_id = $1 AND id = $2");
    let row: Option<PaymentRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Payment::try_from).transpose()
}

/// [`get_payment`], locking the payment until the transaction ends (PostgreSQL).
pub async fn lock_payment(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Payment>> {
    let row: Option<PaymentRow> = match c.conn() {
        Conn::Sqlite(e) => {
            let sql =
                format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE org_id = $1 AND id = $2");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!(
                "SELECT {PAYMENT_COLUMNS} FROM payments WHERE org_id = $1 AND id = $2 FOR UPDATE"
            );
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
    };
    row.map(Payment::try_from).transpose()
}

/// An invoice's payments, oldest first.
pub async fn payments_of_invoice(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Vec<Payment>> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE org_id = $1 AND invoice_id = $2 ORDER BY created_at, id"
    );
    let rows: Vec<PaymentRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(invoice_id).fetch_all(e).await)?;
    rows.into_iter().map(Payment::try_from).collect()
}

/// One page of payments, newest first, and how many match.
pub async fn list_payments(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: Option<&str>,
    invoice_id: Option<&str>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Payment>, i64)> {
    let condition =
        "org_id = $1 AND ($2 IS NULL OR customer_id = $2) AND ($3 IS NULL OR invoice_id = $3)";
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE {condition}
         ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    );
    let count = format!("SELECT COUNT(*) FROM payments WHERE {condition}");
    let rows: Vec<PaymentRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(customer_id).bind(invoice_id).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar(AssertSqlSafe(count.as_str()))
        .bind(org_id).bind(customer_id).bind(invoice_id).fetch_one(e).await)?;
    Ok((
        rows.into_iter()
            .map(Payment::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// Sets how much of a payment was refunded.
pub async fn set_refunded(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    amount_refunded: Decimal,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE payments SET amount_refunded = $3, updated_at = $4 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(amount_refunded.to_string()).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub customer_id: String,
    pub payment_id: String,
    pub invoice_id: Option<String>,
    pub credit_note_id: Option<String>,
    pub currency: String,
    pub amount: Decimal,
    /// `succeeded`: a refund of money received outside Abacus is recorded once it was made.
    pub status: String,
    pub reason: Option<String>,
    pub statement_descriptor: Option<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    pub customer_id: String,
    pub payment_id: String,
    pub invoice_id: Option<String>,
    pub credit_note_id: Option<String>,
    pub currency: String,
    pub amount: Decimal,
    pub reason: Option<String>,
    pub statement_descriptor: Option<String>,
}

#[derive(sqlx::FromRow)]
struct RefundRow {
    id: String,
    customer_id: String,
    payment_id: String,
    invoice_id: Option<String>,
    credit_note_id: Option<String>,
    currency: String,
    amount: String,
    status: String,
    reason: Option<String>,
    statement_descriptor: Option<String>,
    created_at: i64,
    updated_at: i64,
}

const REFUND_COLUMNS: &str = "id, customer_id, payment_id, invoice_id, credit_note_id, currency, \
    amount, status, reason, statement_descriptor, created_at, updated_at";

impl TryFrom<RefundRow> for Refund {
    type Error = StoreError;

    fn try_from(r: RefundRow) -> StoreResult<Refund> {
        Ok(Refund {
            amount: dec("amount", &r.amount)?,
            id: r.id,
            customer_id: r.customer_id,
            payment_id: r.payment_id,
            invoice_id: r.invoice_id,
            credit_note_id: r.credit_note_id,
            currency: r.currency,
            status: r.status,
            reason: r.reason,
            statement_descriptor: r.statement_descriptor,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

pub async fn insert_refund(
    c: &mut impl Connection,
    org_id: &str,
    r: &NewRefund,
    now: Micros,
) -> StoreResult<Refund> {
    let id = ids::prefixed_id("re");
    on!(c, e => sqlx::query(
        "INSERT INTO refunds (id, org_id, customer_id, payment_id, invoice_id, credit_note_id, currency, amount,
                              status, reason, statement_descriptor, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'succeeded', $9, $10, $11, $11)")
        .bind(&id).bind(org_id).bind(&r.customer_id).bind(&r.payment_id).bind(&r.invoice_id)
        .bind(&r.credit_note_id).bind(&r.currency).bind(r.amount.to_string()).bind(&r.reason)
        .bind(&r.statement_descriptor).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    get_refund(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("refund {id} vanished after insert")))
}

pub async fn get_refund(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Refund>> {
    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE org_id = $1 AND id = $2");
    let row: Option<RefundRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Refund::try_from).transpose()
}

#[derive(Debug, Clone, Default)]
pub struct RefundFilter {
    pub currency: Option<String>,
    pub customer_id: Option<String>,
    pub payment_id: Option<String>,
    pub statuses: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefundSort {
    #[default]
    CreatedAt,
    Amount,
    Currency,
    Status,
}

/// One page of refunds and how many match. Without a sort, newest first.
pub async fn list_refunds(
    c: &mut impl Connection,
    org_id: &str,
    f: &RefundFilter,
    sort: Option<(RefundSort, bool)>,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Refund>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &RefundFilter)
    where
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE org_id = ").push_bind(org_id.to_string());
        for (column, value) in [
            ("currency", &f.currency),
            ("customer_id", &f.customer_id),
            ("payment_id", &f.payment_id),
        ] {
            if let Some(v) = value {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        if !f.statuses.is_empty() {
            q.push(" AND status IN (");
            let mut sep = q.separated(", ");
            for s in &f.statuses {
                sep.push_bind(s.clone());
            }
            q.push(")");
        }
    }
    let (field, descending) = sort.unwrap_or((RefundSort::CreatedAt, true));
    let direction = if descending { "DESC" } else { "ASC" };
    // Amounts are decimal text: sorted by their numeric value (the cast is for ordering only).
    let column = match (field, c.conn()) {
        (RefundSort::CreatedAt, _) => "created_at",
        (RefundSort::Amount, Conn::Sqlite(_)) => "CAST(amount AS REAL)",
        (RefundSort::Amount, Conn::Postgres(_)) => "CAST(amount AS NUMERIC)",
        (RefundSort::Currency, _) => "currency",
        (RefundSort::Status, _) => "status",
    };
    let order = format!(" ORDER BY {column} {direction}, created_at {direction}, id {direction}");
    let rows: Vec<RefundRow> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {REFUND_COLUMNS} FROM refunds"));
        conditions(&mut q, org_id, f);
        q.push(order.as_str()).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM refunds");
        conditions(&mut q, org_id, f);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((
        rows.into_iter()
            .map(Refund::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// One movement of a customer's credit balance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditEntry {
    pub id: String,
    pub customer_id: String,
    pub currency: String,
    /// Positive: credit added; negative: credit drawn.
    pub amount: Decimal,
    pub credit_note_id: Option<String>,
    pub invoice_id: Option<String>,
    pub payment_id: Option<String>,
    pub description: String,
    pub created_at: Micros,
}

#[derive(sqlx::FromRow)]
struct CreditRow {
    id: String,
    customer_id: String,
    currency: String,
    amount: String,
    credit_note_id: Option<String>,
    invoice_id: Option<String>,
    payment_id: Option<String>,
    description: String,
    created_at: i64,
}

/// Records a movement of a customer's credit balance.
#[allow(clippy::too_many_arguments)]
pub async fn add_credit(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    currency: &str,
    amount: Decimal,
    refs: CreditRefs<'_>,
    description: &str,
    now: Micros,
) -> StoreResult<String> {
    let id = ids::prefixed_id("ccl");
    on!(c, e => sqlx::query(
        "INSERT INTO customer_credit_ledger (id, org_id, customer_id, currency, amount, credit_note_id, invoice_id,
                                             payment_id, description, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(&id).bind(org_id).bind(customer_id).bind(currency).bind(amount.to_string())
        .bind(refs.credit_note_id).bind(refs.invoice_id).bind(refs.payment_id).bind(description).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

/// What a ledger movement came from.
#[derive(Debug, Clone, Copy, Default)]
pub struct CreditRefs<'a> {
    pub credit_note_id: Option<&'a str>,
    pub invoice_id: Option<&'a str>,
    pub payment_id: Option<&'a str>,
}

/// A customer's ledger, oldest first.
pub async fn credit_ledger(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
) -> StoreResult<Vec<CreditEntry>> {
    let rows: Vec<CreditRow> = on!(c, e => sqlx::query_as(
        "SELECT id, customer_id, currency, amount, credit_note_id, invoice_id, payment_id, description, created_at
         FROM customer_credit_ledger WHERE org_id = $1 AND customer_id = $2 ORDER BY created_at, id")
        .bind(org_id).bind(customer_id).fetch_all(e).await)?;
    rows.into_iter()
        .map(|r| {
            Ok(CreditEntry {
                amount: dec("credit amount", &r.amount)?,
                id: r.id,
                customer_id: r.customer_id,
                currency: r.currency,
                credit_note_id: r.credit_note_id,
                invoice_id: r.invoice_id,
                payment_id: r.payment_id,
                description: r.description,
                created_at: r.created_at,
            })
        })
        .collect()
}

/// A customer's credit balance in each currency it has movements in (summed exactly in Rust).
pub async fn credit_balances(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
) -> StoreResult<Vec<(String, Decimal)>> {
    let mut out: Vec<(String, Decimal)> = Vec::new();
    for e in credit_ledger(c, org_id, customer_id).await? {
        match out.iter_mut().find(|(cur, _)| *cur == e.currency) {
            Some((_, b)) => *b += e.amount,
            None => out.push((e.currency, e.amount)),
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A customer's credit balance in one currency.
pub async fn credit_balance(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    currency: &str,
) -> StoreResult<Decimal> {
    let amounts: Vec<String> = on!(c, e => sqlx::query_scalar(
        "SELECT amount FROM customer_credit_ledger WHERE org_id = $1 AND customer_id = $2 AND currency = $3")
        .bind(org_id).bind(customer_id).bind(currency).fetch_all(e).await)?;
    amounts
        .iter()
        .try_fold(Decimal::ZERO, |acc, a| Ok(acc + dec("credit amount", a)?))
}
