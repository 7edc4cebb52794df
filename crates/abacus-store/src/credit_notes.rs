//! Credit notes (`cn_…`) and their lines (`cnli_…`).

use std::collections::HashMap;

use abacus_core::currency::Currency;
use abacus_core::ids;
use abacus_core::invoicing::{self, LineAmounts};
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::AssertSqlSafe;

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::invoices::{dec, opt_dec};
use crate::on;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Draft,
    Applied,
    Void,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Applied => "applied",
            Status::Void => "void",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [Status::Draft, Status::Applied, Status::Void]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNote {
    pub id: String,
    pub customer_id: String,
    pub invoice_id: Option<String>,
    pub currency: String,
    pub status: Status,
    pub number: Option<i64>,
    pub external_reference: Option<String>,
    pub description: String,
    pub billing_period_start: Option<Micros>,
    pub billing_period_end: Option<Micros>,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    /// Where an applied note's total went: what it took off its invoice, what became customer
    /// credit, what was refunded.
    pub amount_to_invoice: Option<Decimal>,
    pub amount_to_balance: Option<Decimal>,
    pub amount_refunded: Option<Decimal>,
    pub apply_date: Option<Micros>,
    pub void_date: Option<Micros>,
    pub last_refund_id: Option<String>,
    pub last_refund_date: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub lines: Vec<CreditNoteLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreditNoteLine {
    pub id: String,
    pub position: i32,
    pub invoice_line_item_id: Option<String>,
    pub product_id: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub tax_rate: Option<Decimal>,
    pub tax: Decimal,
    pub period_start: Option<Micros>,
    pub period_end: Option<Micros>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub invoice_line_item_id: Option<String>,
    pub product_id: Option<String>,
    pub description: String,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub tax_rate: Option<Decimal>,
    pub tax: Decimal,
    pub period: Option<(Micros, Micros)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCreditNote {
    pub customer_id: String,
    pub invoice_id: Option<String>,
    pub currency: Currency,
    pub description: String,
    pub billing_period: Option<(Micros, Micros)>,
    pub lines: Vec<NewLine>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    customer_id: String,
    invoice_id: Option<String>,
    currency: String,
    status: String,
    number: Option<i64>,
    external_reference: Option<String>,
    description: String,
    billing_period_start: Option<i64>,
    billing_period_end: Option<i64>,
    subtotal: String,
    tax: String,
    total: String,
    amount_to_invoice: Option<String>,
    amount_to_balance: Option<String>,
    amount_refunded: Option<String>,
    apply_date: Option<i64>,
    void_date: Option<i64>,
    last_refund_id: Option<String>,
    last_refund_date: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, customer_id, invoice_id, currency, status, number, external_reference, \
    description, billing_period_start, billing_period_end, subtotal, tax, total, amount_to_invoice, \
    amount_to_balance, amount_refunded, apply_date, void_date, last_refund_id, last_refund_date, \
    created_at, updated_at";

#[derive(sqlx::FromRow)]
struct LineRow {
    id: String,
    position: i32,
    invoice_line_item_id: Option<String>,
    product_id: Option<String>,
    description: String,
    quantity: String,
    unit_price: String,
    amount: String,
    tax_rate: Option<String>,
    tax: String,
    period_start: Option<i64>,
    period_end: Option<i64>,
}

impl TryFrom<Row> for CreditNote {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<CreditNote> {
        Ok(CreditNote {
            status: Status::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("credit note status '{}'", r.status)))?,
            subtotal: dec("subtotal", &r.subtotal)?,
            tax: dec("tax", &r.tax)?,
            total: dec("total", &r.total)?,
            amount_to_invoice: opt_dec("amount_to_invoice", r.amount_to_invoice.as_deref())?,
            amount_to_balance: opt_dec("amount_to_balance", r.amount_to_balance.as_deref())?,
            amount_refunded: opt_dec("amount_refunded", r.amount_refunded.as_deref())?,
            id: r.id,
            customer_id: r.customer_id,
            invoice_id: r.invoice_id,
            currency: r.currency,
            number: r.number,
            external_reference: r.external_reference,
            description: r.description,
            billing_period_start: r.billing_period_start,
            billing_period_end: r.billing_period_end,
            apply_date: r.apply_date,
            void_date: r.void_date,
            last_refund_id: r.last_refund_id,
            last_refund_date: r.last_refund_date,
            created_at: r.created_at,
            updated_at: r.updated_at,
            lines: Vec::new(),
        })
    }
}

impl TryFrom<LineRow> for CreditNoteLine {
    type Error = StoreError;

    fn try_from(r: LineRow) -> StoreResult<CreditNoteLine> {
        Ok(CreditNoteLine {
            quantity: dec("quantity", &r.quantity)?,
            unit_price: dec("unit_price", &r.unit_price)?,
            amount: dec("amount", &r.amount)?,
            tax_rate: opt_dec("tax_rate", r.tax_rate.as_deref())?,
            tax: dec("tax", &r.tax)?,
            id: r.id,
            position: r.position,
            invoice_line_item_id: r.invoice_line_item_id,
            product_id: r.product_id,
            description: r.description,
            period_start: r.period_start,
            period_end: r.period_end,
        })
    }
}

/// Stores a draft credit note with its lines and totals.
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    new: &NewCreditNote,
    now: Micros,
) -> StoreResult<CreditNote> {
    let id = ids::prefixed_id("cn");
    let t = invoicing::totals(
        new.lines.iter().map(|l| LineAmounts {
            amount: l.amount,
            tax: l.tax,
            credit_applied: false,
        }),
        new.currency,
    )
    .map_err(|_| StoreError::Corrupt("credit note totals out of range".into()))?;
    let (ps, pe) = match new.billing_period {
        Some((s, e)) => (Some(s), Some(e)),
        None => (None, None),
    };
    on!(c, e => sqlx::query(
        "INSERT INTO credit_notes (id, org_id, customer_id, invoice_id, currency, status, description,
                                   billing_period_start, billing_period_end, subtotal, tax, total, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, 'draft', $6, $7, $8, $9, $10, $11, $12, $12)")
        .bind(&id).bind(org_id).bind(&new.customer_id).bind(&new.invoice_id).bind(new.currency.code())
        .bind(&new.description).bind(ps).bind(pe).bind(t.subtotal.to_string()).bind(t.tax.to_string())
        .bind(t.total.to_string()).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    for (pos, l) in new.lines.iter().enumerate() {
        let line_id = ids::prefixed_id("cnli");
        let (ps, pe) = match l.period {
            Some((s, e)) => (Some(s), Some(e)),
            None => (None, None),
        };
        on!(c, e => sqlx::query(
            "INSERT INTO credit_note_line_items (id, org_id, credit_note_id, position, invoice_line_item_id, product_id,
                                                 description, quantity, unit_price, amount, tax_rate, tax,
                                                 period_start, period_end)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
            .bind(&line_id).bind(org_id).bind(&id).bind(pos as i32).bind(&l.invoice_line_item_id)
            .bind(&l.product_id).bind(&l.description).bind(l.quantity.to_string())
            .bind(l.unit_price.to_string()).bind(l.amount.to_string()).bind(l.tax_rate.map(|r| r.to_string()))
            .bind(l.tax.to_string()).bind(ps).bind(pe)
            .execute(e).await.map(|r| r.rows_affected()))?;
    }
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("credit note {id} vanished after insert")))
}

async fn with_lines(
    c: &mut impl Connection,
    org_id: &str,
    row: Option<Row>,
) -> StoreResult<Option<CreditNote>> {
    let Some(row) = row else { return Ok(None) };
    let mut note = CreditNote::try_from(row)?;
    let rows: Vec<LineRow> = on!(c, e => sqlx::query_as(
        "SELECT id, position, invoice_line_item_id, product_id, description, quantity, unit_price, amount,
                tax_rate, tax, period_start, period_end
         FROM credit_note_line_items WHERE org_id = $1 AND credit_note_id = $2 ORDER BY position")
        .bind(org_id).bind(&note.id).fetch_all(e).await)?;
    note.lines = rows
        .into_iter()
        .map(CreditNoteLine::try_from)
        .collect::<StoreResult<_>>()?;
    Ok(Some(note))
}

pub async fn get(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<CreditNote>> {
    let sql = format!("SELECT {COLUMNS} FROM credit_notes WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    with_lines(c, org_id, row).await
}

/// [`get`], locking the credit note until the transaction ends (PostgreSQL).
pub async fn lock(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<CreditNote>> {
    let row: Option<Row> = match c.conn() {
        Conn::Sqlite(e) => {
            let sql = format!("SELECT {COLUMNS} FROM credit_notes WHERE org_id = $1 AND id = $2");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM credit_notes WHERE org_id = $1 AND id = $2 FOR UPDATE"
            );
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
    };
    with_lines(c, org_id, row).await
}

/// One page of a customer's credit notes (newest first, with their lines) and how many there are.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<CreditNote>, i64)> {
    let sql = format!(
        "SELECT {COLUMNS} FROM credit_notes WHERE org_id = $1 AND customer_id = $2
         ORDER BY created_at DESC, id DESC LIMIT $3 OFFSET $4"
    );
    let rows: Vec<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(customer_id).bind(limit).bind(offset).fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar(
        "SELECT COUNT(*) FROM credit_notes WHERE org_id = $1 AND customer_id = $2")
        .bind(org_id).bind(customer_id).fetch_one(e).await)?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        if let Some(note) = with_lines(c, org_id, Some(row)).await? {
            out.push(note);
        }
    }
    Ok((out, total))
}

/// What the credit notes of an invoice (not void, except `exclude`) already take from each of its
/// lines: quantity, amount and tax, by invoice line id.
pub async fn credited_by_line(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    exclude: Option<&str>,
) -> StoreResult<HashMap<String, (Decimal, Decimal, Decimal)>> {
    let rows: Vec<(String, String, String, String)> = on!(c, e => sqlx::query_as(
        "SELECT l.invoice_line_item_id, l.quantity, l.amount, l.tax
         FROM credit_note_line_items l JOIN credit_notes n ON n.id = l.credit_note_id
         WHERE n.org_id = $1 AND n.invoice_id = $2 AND n.status <> 'void'
           AND l.invoice_line_item_id IS NOT NULL AND ($3 IS NULL OR n.id <> $3)")
        .bind(org_id).bind(invoice_id).bind(exclude).fetch_all(e).await)?;
    let mut out: HashMap<String, (Decimal, Decimal, Decimal)> = HashMap::new();
    for (line, q, a, t) in rows {
        let e = out.entry(line).or_default();
        e.0 += dec("quantity", &q)?;
        e.1 += dec("amount", &a)?;
        e.2 += dec("tax", &t)?;
    }
    Ok(out)
}

/// The sum of the totals of an invoice's applied credit notes.
pub async fn applied_total(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Decimal> {
    let totals: Vec<String> = on!(c, e => sqlx::query_scalar(
        "SELECT total FROM credit_notes WHERE org_id = $1 AND invoice_id = $2 AND status = 'applied'")
        .bind(org_id).bind(invoice_id).fetch_all(e).await)?;
    totals
        .iter()
        .try_fold(Decimal::ZERO, |acc, t| Ok(acc + dec("total", t)?))
}

/// What applying sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub number: i64,
    pub external_reference: String,
    pub apply_date: Micros,
    pub amount_to_invoice: Decimal,
    pub amount_to_balance: Decimal,
    pub amount_refunded: Decimal,
    pub last_refund: Option<(String, Micros)>,
}

/// Records the application of a draft. False when it is not a draft any more.
pub async fn mark_applied(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    a: &Applied,
    now: Micros,
) -> StoreResult<bool> {
    let (refund_id, refund_date) = match &a.last_refund {
        Some((id, at)) => (Some(id.as_str()), Some(*at)),
        None => (None, None),
    };
    let n = on!(c, e => sqlx::query(
        "UPDATE credit_notes SET status = 'applied', number = $3, external_reference = $4, apply_date = $5,
                amount_to_invoice = $6, amount_to_balance = $7, amount_refunded = $8, last_refund_id = $9,
                last_refund_date = $10, updated_at = $11
         WHERE org_id = $1 AND id = $2 AND status = 'draft'")
        .bind(org_id).bind(id).bind(a.number).bind(&a.external_reference).bind(a.apply_date)
        .bind(a.amount_to_invoice.to_string()).bind(a.amount_to_balance.to_string())
        .bind(a.amount_refunded.to_string()).bind(refund_id).bind(refund_date).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Voids a draft. False when it is not a draft.
pub async fn mark_void(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    void_date: Micros,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE credit_notes SET status = 'void', void_date = $3, updated_at = $4
         WHERE org_id = $1 AND id = $2 AND status = 'draft'")
        .bind(org_id).bind(id).bind(void_date).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}
