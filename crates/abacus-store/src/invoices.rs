//! Invoices with their lines, the PDFs frozen at issue, and the per-organization document
//! numbers (`document_numbers`).
//!
//! Money columns are canonical decimal TEXT on both databases, parsed with `rust_decimal`;
//! totals are recomputed in Rust from the lines ([`refresh_totals`]).

use std::str::FromStr;

use abacus_core::currency::Currency;
use abacus_core::ids;
use abacus_core::invoicing::{self, InvoiceStatus, LineAmounts, Totals};
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::on;

/// The `kind` of a line written by hand (ad-hoc invoices, lines added to drafts).
pub const MANUAL: &str = "manual";
/// The `kind` of a draw on monetary credit (after tax; it acts as a payment).
pub const CREDIT_APPLIED: &str = "credit_applied";

/// An invoice as stored. `lines` is empty in lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invoice {
    pub id: String,
    pub customer_id: String,
    pub subscription_id: Option<String>,
    pub boundary: Option<Micros>,
    pub currency: String,
    /// The stored status; readers see [`Invoice::status_at`].
    pub status: InvoiceStatus,
    pub number: Option<i64>,
    pub external_reference: Option<String>,
    pub description: String,
    pub purchase_order_number: Option<String>,
    pub payment_terms: String,
    pub invoicing_date: Option<Micros>,
    pub issue_date: Option<Micros>,
    pub due_date: Option<Micros>,
    pub paid_date: Option<Micros>,
    pub void_date: Option<Micros>,
    pub billing_period_start: Option<Micros>,
    pub billing_period_end: Option<Micros>,
    pub subtotal: Decimal,
    pub tax: Decimal,
    pub total: Decimal,
    pub credits_applied: Decimal,
    /// What payments settled (manual, credit notes, credit balance).
    pub amount_paid: Decimal,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub lines: Vec<LineItem>,
}

impl Invoice {
    /// The status a reader sees at `now` (an issued invoice past due is overdue).
    pub fn status_at(&self, now: Micros) -> InvoiceStatus {
        invoicing::effective_status(self.status, self.due_date, now)
    }

    pub fn currency(&self) -> StoreResult<Currency> {
        Currency::parse(&self.currency).map_err(StoreError::Corrupt)
    }

    /// `total − credits_applied − amount_paid`, at least 0.
    pub fn amount_remaining(&self) -> StoreResult<Decimal> {
        invoicing::amount_remaining(
            self.total,
            self.credits_applied,
            self.amount_paid,
            self.currency()?,
        )
        .map_err(|_| StoreError::Corrupt(format!("invoice {} amounts overflow", self.id)))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineItem {
    pub id: String,
    pub position: i32,
    pub kind: String,
    pub description: String,
    pub product_id: Option<String>,
    pub item_key: Option<String>,
    pub version_id: Option<String>,
    pub credit_grant_id: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    /// Excluding tax.
    pub amount: Decimal,
    pub tax_rate: Option<Decimal>,
    pub tax: Decimal,
    /// Days charged of the period's days, for prorated fees.
    pub proration: Option<(i64, i64)>,
    pub period_start: Option<Micros>,
    pub period_end: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

/// A line to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewLine {
    pub kind: String,
    pub description: String,
    pub product_id: Option<String>,
    pub item_key: Option<String>,
    pub version_id: Option<String>,
    pub credit_grant_id: Option<String>,
    pub quantity: Decimal,
    pub unit_price: Decimal,
    pub amount: Decimal,
    pub tax_rate: Option<Decimal>,
    pub tax: Decimal,
    pub proration: Option<(i64, i64)>,
    pub period: Option<(Micros, Micros)>,
}

impl NewLine {
    /// A hand-written line: `amount = round(quantity × unit_price)`, tax at `tax_rate`.
    pub fn manual(
        description: String,
        product_id: Option<String>,
        quantity: Decimal,
        unit_price: Decimal,
        tax_rate: Option<Decimal>,
        period: Option<(Micros, Micros)>,
        currency: Currency,
    ) -> StoreResult<NewLine> {
        let (amount, tax) = invoicing::line_amounts(quantity, unit_price, tax_rate, currency)
            .map_err(|_| StoreError::Corrupt("line amount out of range".into()))?;
        Ok(NewLine {
            kind: MANUAL.into(),
            description,
            product_id,
            item_key: None,
            version_id: None,
            credit_grant_id: None,
            quantity,
            unit_price,
            amount,
            tax_rate,
            tax,
            proration: None,
            period,
        })
    }
}

/// An invoice to store, as a draft.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvoice {
    pub customer_id: String,
    /// With `boundary`: the billing key of a subscription's period. A second invoice with the same
    /// key is not stored ([`insert`] returns `None`).
    pub subscription_id: Option<String>,
    pub boundary: Option<Micros>,
    pub currency: Currency,
    pub description: String,
    pub purchase_order_number: Option<String>,
    pub payment_terms: String,
    pub invoicing_date: Option<Micros>,
    pub issue_date: Option<Micros>,
    pub billing_period: Option<(Micros, Micros)>,
    pub lines: Vec<NewLine>,
    /// A scheduler's draft: the grace period it starts in (see `billing_runs`).
    pub schedule: Option<DraftSchedule>,
}

/// The grace period of a draft the billing scheduler made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DraftSchedule {
    /// When its grace period ends; `None` when it is never finalized automatically.
    pub finalize_at: Option<Micros>,
    /// When it was last computed.
    pub refreshed_at: Micros,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    customer_id: String,
    subscription_id: Option<String>,
    boundary: Option<i64>,
    currency: String,
    status: String,
    number: Option<i64>,
    external_reference: Option<String>,
    description: String,
    purchase_order_number: Option<String>,
    payment_terms: String,
    invoicing_date: Option<i64>,
    issue_date: Option<i64>,
    due_date: Option<i64>,
    paid_date: Option<i64>,
    void_date: Option<i64>,
    billing_period_start: Option<i64>,
    billing_period_end: Option<i64>,
    subtotal: String,
    tax: String,
    total: String,
    credits_applied: String,
    amount_paid: String,
    created_at: i64,
    updated_at: i64,
}

const COLUMNS: &str = "id, customer_id, subscription_id, boundary, currency, status, number, \
    external_reference, description, purchase_order_number, payment_terms, invoicing_date, \
    issue_date, due_date, paid_date, void_date, billing_period_start, billing_period_end, subtotal, \
    tax, total, credits_applied, amount_paid, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct LineRow {
    id: String,
    position: i32,
    kind: String,
    description: String,
    product_id: Option<String>,
    item_key: Option<String>,
    version_id: Option<String>,
    credit_grant_id: Option<String>,
    quantity: String,
    unit_price: String,
    amount: String,
    tax_rate: Option<String>,
    tax: String,
    proration_days: Option<i64>,
    proration_period_days: Option<i64>,
    period_start: Option<i64>,
    period_end: Option<i64>,
    created_at: i64,
    updated_at: i64,
}

const LINE_COLUMNS: &str = "id, position, kind, description, product_id, item_key, \
    version_id, credit_grant_id, quantity, unit_price, amount, tax_rate, tax, proration_days, \
    proration_period_days, period_start, period_end, created_at, updated_at";

/// Parses a stored decimal.
pub(crate) fn dec(what: &str, s: &str) -> StoreResult<Decimal> {
    Decimal::from_str(s).map_err(|_| StoreError::Corrupt(format!("{what} '{s}'")))
}

pub(crate) fn opt_dec(what: &str, s: Option<&str>) -> StoreResult<Option<Decimal>> {
    s.map(|s| dec(what, s)).transpose()
}

impl TryFrom<Row> for Invoice {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Invoice> {
        Ok(Invoice {
            status: InvoiceStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("invoice status '{}'", r.status)))?,
            subtotal: dec("subtotal", &r.subtotal)?,
            tax: dec("tax", &r.tax)?,
            total: dec("total", &r.total)?,
            credits_applied: dec("credits_applied", &r.credits_applied)?,
            amount_paid: dec("amount_paid", &r.amount_paid)?,
            id: r.id,
            customer_id: r.customer_id,
            subscription_id: r.subscription_id,
            boundary: r.boundary,
            currency: r.currency,
            number: r.number,
            external_reference: r.external_reference,
            description: r.description,
            purchase_order_number: r.purchase_order_number,
            payment_terms: r.payment_terms,
            invoicing_date: r.invoicing_date,
            issue_date: r.issue_date,
            due_date: r.due_date,
            paid_date: r.paid_date,
            void_date: r.void_date,
            billing_period_start: r.billing_period_start,
            billing_period_end: r.billing_period_end,
            created_at: r.created_at,
            updated_at: r.updated_at,
            lines: Vec::new(),
        })
    }
}

impl TryFrom<LineRow> for LineItem {
    type Error = StoreError;

    fn try_from(r: LineRow) -> StoreResult<LineItem> {
        Ok(LineItem {
            quantity: dec("quantity", &r.quantity)?,
            unit_price: dec("unit_price", &r.unit_price)?,
            amount: dec("amount", &r.amount)?,
            tax_rate: opt_dec("tax_rate", r.tax_rate.as_deref())?,
            tax: dec("tax", &r.tax)?,
            proration: r.proration_days.zip(r.proration_period_days),
            id: r.id,
            position: r.position,
            kind: r.kind,
            description: r.description,
            product_id: r.product_id,
            item_key: r.item_key,
            version_id: r.version_id,
            credit_grant_id: r.credit_grant_id,
            period_start: r.period_start,
            period_end: r.period_end,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

fn totals_of(lines: &[NewLine], currency: Currency) -> StoreResult<Totals> {
    invoicing::totals(
        lines.iter().map(|l| LineAmounts {
            amount: l.amount,
            tax: l.tax,
            credit_applied: l.kind == CREDIT_APPLIED,
        }),
        currency,
    )
    .map_err(|_| StoreError::Corrupt("invoice totals out of range".into()))
}

async fn new_line_id(c: &mut impl Connection) -> StoreResult<String> {
    loop {
        let id = ids::short_id();
        let taken: Option<i32> = on!(c, e => sqlx::query_scalar("SELECT 1 FROM invoice_line_items WHERE id = $1")
            .bind(&id).fetch_optional(e).await)?;
        if taken.is_none() {
            return Ok(id);
        }
    }
}

/// Stores a draft invoice with its lines and totals. With a billing key (`subscription_id` and
/// `boundary`) already invoiced, nothing is written and the answer is `None`: a period can never
/// be invoiced twice, even by two transactions racing (the unique index `invoices_period` decides;
/// on PostgreSQL the second insert waits for the first to commit or roll back).
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    new: &NewInvoice,
    now: Micros,
) -> StoreResult<Option<Invoice>> {
    match insert_id(c, org_id, new, now).await? {
        Some(id) => get(c, org_id, &id).await,
        None => Ok(None),
    }
}

/// [`insert`] without reading the invoice back: its id, or `None` when the period was invoiced.
pub async fn insert_id(
    c: &mut impl Connection,
    org_id: &str,
    new: &NewInvoice,
    now: Micros,
) -> StoreResult<Option<String>> {
    let t = totals_of(&new.lines, new.currency)?;
    let zero =
        invoicing::amount_remaining(Decimal::ZERO, Decimal::ZERO, Decimal::ZERO, new.currency)
            .map_err(|_| StoreError::Corrupt("zero".into()))?;
    let (ps, pe) = new.billing_period.unzip();
    let (finalize_at, refreshed_at) = match new.schedule {
        Some(s) => (s.finalize_at, Some(s.refreshed_at)),
        None => (None, None),
    };
    // A new random id rarely collides; nothing inserted means the id or the billing key is taken,
    // and only the billing key answers `None`. One statement instead of checking the id first.
    for _ in 0..ID_ATTEMPTS {
        let id = ids::short_id();
        let inserted = on!(c, e => sqlx::query(
            "INSERT INTO invoices (id, org_id, customer_id, subscription_id, boundary, currency, status, description,
                                   purchase_order_number, payment_terms, invoicing_date, issue_date,
                                   billing_period_start, billing_period_end, subtotal, tax, total, credits_applied,
                                   amount_paid, created_at, updated_at, finalize_at, refreshed_at)
             VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20, $21)
             ON CONFLICT DO NOTHING")
            .bind(&id).bind(org_id).bind(&new.customer_id).bind(&new.subscription_id).bind(new.boundary)
            .bind(new.currency.code()).bind(&new.description).bind(&new.purchase_order_number)
            .bind(&new.payment_terms).bind(new.invoicing_date).bind(new.issue_date).bind(ps).bind(pe)
            .bind(t.subtotal.to_string()).bind(t.tax.to_string()).bind(t.total.to_string())
            .bind(t.credits_applied.to_string()).bind(zero.to_string()).bind(now)
            .bind(finalize_at).bind(refreshed_at)
            .execute(e).await.map(|r| r.rows_affected()))?;
        if inserted == 1 {
            insert_lines(c, org_id, &id, &new.lines, now).await?;
            return Ok(Some(id));
        }
        if let (Some(sub), Some(boundary)) = (&new.subscription_id, new.boundary) {
            let taken: Option<i32> = on!(c, e => sqlx::query_scalar(
                "SELECT 1 FROM invoices WHERE subscription_id = $1 AND boundary = $2")
                .bind(sub).bind(boundary).fetch_optional(e).await)?;
            if taken.is_some() {
                return Ok(None);
            }
        }
    }
    Err(StoreError::Corrupt(format!(
        "no free invoice id in {ID_ATTEMPTS} attempts"
    )))
}

/// Random ids tried before giving up: with 62^8 ids, more than a couple means something else is
/// wrong.
const ID_ATTEMPTS: usize = 8;

/// Rows per multi-row `INSERT` of lines: 20 parameters each, far below both databases' limits.
const LINES_PER_INSERT: usize = 500;

/// Stores `lines` at positions 0, 1, 2… of an invoice: what [`insert_line`] does for each, in
/// one multi-row `INSERT` per [`LINES_PER_INSERT`] lines. A line whose random id was taken is
/// skipped by the insert and stored again with a new id.
async fn insert_lines(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    lines: &[NewLine],
    now: Micros,
) -> StoreResult<()> {
    let mut pending: Vec<(usize, &NewLine)> = lines.iter().enumerate().collect();
    for _ in 0..ID_ATTEMPTS {
        if pending.is_empty() {
            return Ok(());
        }
        let mut ids: Vec<String> = Vec::with_capacity(pending.len());
        while ids.len() < pending.len() {
            let id = ids::short_id();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let rows: Vec<(usize, &NewLine, &String)> = pending
            .iter()
            .zip(&ids)
            .map(|((pos, l), id)| (*pos, *l, id))
            .collect();
        let mut stored: std::collections::HashSet<String> =
            std::collections::HashSet::with_capacity(rows.len());
        for chunk in rows.chunks(LINES_PER_INSERT) {
            let returned: Vec<String> = on!(c, e => {
                let mut q = QueryBuilder::new(
                    "INSERT INTO invoice_line_items (id, org_id, invoice_id, position, kind, description, product_id, item_key,
                                                     version_id, credit_grant_id, quantity, unit_price, amount, tax_rate, tax,
                                                     proration_days, proration_period_days, period_start, period_end,
                                                     created_at, updated_at) ");
                q.push_values(chunk, |mut b, (pos, l, id)| {
                    let (ps, pe) = l.period.unzip();
                    let (pd, ppd) = l.proration.unzip();
                    b.push_bind(id.as_str()).push_bind(org_id).push_bind(invoice_id).push_bind(*pos as i32)
                        .push_bind(l.kind.as_str()).push_bind(l.description.as_str())
                        .push_bind(l.product_id.as_deref()).push_bind(l.item_key.as_deref())
                        .push_bind(l.version_id.as_deref()).push_bind(l.credit_grant_id.as_deref())
                        .push_bind(l.quantity.to_string()).push_bind(l.unit_price.to_string())
                        .push_bind(l.amount.to_string()).push_bind(l.tax_rate.map(|r| r.to_string()))
                        .push_bind(l.tax.to_string()).push_bind(pd).push_bind(ppd)
                        .push_bind(ps).push_bind(pe).push_bind(now).push_bind(now);
                });
                q.push(" ON CONFLICT (id) DO NOTHING RETURNING id");
                q.build_query_scalar().fetch_all(e).await
            })?;
            stored.extend(returned);
        }
        pending = rows
            .into_iter()
            .filter(|(_, _, id)| !stored.contains(id.as_str()))
            .map(|(pos, l, _)| (pos, l))
            .collect();
    }
    if pending.is_empty() {
        return Ok(());
    }
    Err(StoreError::Corrupt(format!(
        "no free invoice line ids in {ID_ATTEMPTS} attempts"
    )))
}

async fn insert_line(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    position: i32,
    l: &NewLine,
    now: Micros,
) -> StoreResult<String> {
    let id = new_line_id(c).await?;
    let (ps, pe) = match l.period {
        Some((s, e)) => (Some(s), Some(e)),
        None => (None, None),
    };
    let (pd, ppd) = match l.proration {
        Some((d, p)) => (Some(d), Some(p)),
        None => (None, None),
    };
    on!(c, e => sqlx::query(
        "INSERT INTO invoice_line_items (id, org_id, invoice_id, position, kind, description, product_id, item_key,
                                         version_id, credit_grant_id, quantity, unit_price, amount, tax_rate, tax,
                                         proration_days, proration_period_days, period_start, period_end,
                                         created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)")
        .bind(&id).bind(org_id).bind(invoice_id).bind(position).bind(&l.kind).bind(&l.description)
        .bind(&l.product_id).bind(&l.item_key).bind(&l.version_id).bind(&l.credit_grant_id)
        .bind(l.quantity.to_string()).bind(l.unit_price.to_string()).bind(l.amount.to_string())
        .bind(l.tax_rate.map(|r| r.to_string())).bind(l.tax.to_string()).bind(pd).bind(ppd)
        .bind(ps).bind(pe).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(id)
}

async fn lines_of(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Vec<LineItem>> {
    let sql = format!(
        "SELECT {LINE_COLUMNS} FROM invoice_line_items WHERE org_id = $1 AND invoice_id = $2 ORDER BY position, id"
    );
    let rows: Vec<LineRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(invoice_id).fetch_all(e).await)?;
    rows.into_iter().map(LineItem::try_from).collect()
}

async fn with_lines(
    c: &mut impl Connection,
    org_id: &str,
    row: Option<Row>,
) -> StoreResult<Option<Invoice>> {
    let Some(row) = row else { return Ok(None) };
    let mut invoice = Invoice::try_from(row)?;
    invoice.lines = lines_of(c, org_id, &invoice.id).await?;
    Ok(Some(invoice))
}

/// An invoice with its lines.
pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Invoice>> {
    let sql = format!("SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    with_lines(c, org_id, row).await
}

/// [`get`], locking the invoice until the transaction ends (PostgreSQL `FOR UPDATE`; SQLite's
/// single writer already excludes other writers). Every change to an invoice reads it this way
/// first, so concurrent changes apply one after the other.
pub async fn lock(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Invoice>> {
    let row: Option<Row> = match c.conn() {
        Conn::Sqlite(e) => {
            let sql = format!("SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND id = $2");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql =
                format!("SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND id = $2 FOR UPDATE");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(org_id)
                .bind(id)
                .fetch_optional(e)
                .await?
        }
    };
    with_lines(c, org_id, row).await
}

/// The invoice of a subscription's period, if it was stored.
pub async fn find_for_period(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    boundary: Micros,
) -> StoreResult<Option<Invoice>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM invoices WHERE org_id = $1 AND subscription_id = $2 AND boundary = $3"
    );
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(subscription_id).bind(boundary).fetch_optional(e).await)?;
    with_lines(c, org_id, row).await
}

/// Which invoices a list returns. Statuses are as readers see them at `now` (an issued invoice
/// past due counts as overdue); an empty list does not filter.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<InvoiceStatus>,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub external_reference: Option<String>,
    pub invoicing_date: (Option<Micros>, Option<Micros>),
    pub issue_date: (Option<Micros>, Option<Micros>),
    pub due_date: (Option<Micros>, Option<Micros>),
    pub paid_date: (Option<Micros>, Option<Micros>),
    pub now: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    InvoicingDate,
    IssueDate,
    DueDate,
    PaidDate,
    AccountName,
    Status,
}

/// One page of invoices (without their lines) and how many match.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Invoice>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &ListFilter)
    where
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE org_id = ").push_bind(org_id.to_string());
        if !f.statuses.is_empty() {
            q.push(" AND (");
            for (i, s) in f.statuses.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                match s {
                    InvoiceStatus::Issued => {
                        q.push("(status = 'issued' AND (due_date IS NULL OR due_date > ")
                            .push_bind(f.now)
                            .push("))");
                    }
                    InvoiceStatus::Overdue => {
                        q.push("(status = 'overdue' OR (status = 'issued' AND due_date <= ")
                            .push_bind(f.now)
                            .push("))");
                    }
                    other => {
                        q.push(format_args!("status = '{}'", other.as_str()));
                    }
                }
            }
            q.push(")");
        }
        for (column, value) in [
            ("customer_id", &f.customer_id),
            ("subscription_id", &f.subscription_id),
            ("external_reference", &f.external_reference),
        ] {
            if let Some(v) = value {
                q.push(format_args!(" AND {column} = "))
                    .push_bind(v.clone());
            }
        }
        for (column, (gte, lte)) in [
            ("invoicing_date", f.invoicing_date),
            ("issue_date", f.issue_date),
            ("due_date", f.due_date),
            ("paid_date", f.paid_date),
        ] {
            if let Some(v) = gte {
                q.push(format_args!(" AND {column} >= ")).push_bind(v);
            }
            if let Some(v) = lte {
                q.push(format_args!(" AND {column} <= ")).push_bind(v);
            }
        }
    }
    let (field, descending) = sort;
    let column = match field {
        SortField::CreatedAt => "created_at",
        SortField::InvoicingDate => "invoicing_date",
        SortField::IssueDate => "issue_date",
        SortField::DueDate => "due_date",
        SortField::PaidDate => "paid_date",
        SortField::AccountName => {
            "(SELECT name FROM customers WHERE customers.id = invoices.customer_id)"
        }
        SortField::Status => "status",
    };
    let direction = if descending { "DESC" } else { "ASC" };
    // NULL dates sort last either way, on both databases.
    let order = format!(
        " ORDER BY ({column}) IS NULL, {column} {direction}, created_at {direction}, id {direction}"
    );
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM invoices"));
        conditions(&mut q, org_id, filter);
        q.push(order.as_str()).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM invoices");
        conditions(&mut q, org_id, filter);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((
        rows.into_iter()
            .map(Invoice::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// Sets a draft's description and purchase order number.
pub async fn update_details(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    description: &str,
    purchase_order_number: Option<&str>,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE invoices SET description = $3, purchase_order_number = $4, updated_at = $5
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(description).bind(purchase_order_number).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Appends a line to an invoice and recomputes its totals. Returns the new line's id.
pub async fn add_line(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    line: &NewLine,
    currency: Currency,
    now: Micros,
) -> StoreResult<String> {
    let next: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT MAX(position) FROM invoice_line_items WHERE org_id = $1 AND invoice_id = $2")
        .bind(org_id).bind(invoice_id).fetch_one(e).await)?;
    let id = insert_line(c, org_id, invoice_id, next.map_or(0, |p| p + 1), line, now).await?;
    refresh_totals(c, org_id, invoice_id, currency, now).await?;
    Ok(id)
}

/// Changes a line's description. False when the invoice has no such line.
pub async fn update_line_description(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    line_id: &str,
    description: &str,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE invoice_line_items SET description = $4, updated_at = $5
         WHERE org_id = $1 AND invoice_id = $2 AND id = $3")
        .bind(org_id).bind(invoice_id).bind(line_id).bind(description).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if n == 1 {
        touch(c, org_id, invoice_id, now).await?;
    }
    Ok(n == 1)
}

/// Removes a line and recomputes the totals. False when the invoice has no such line.
pub async fn delete_line(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    line_id: &str,
    currency: Currency,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "DELETE FROM invoice_line_items WHERE org_id = $1 AND invoice_id = $2 AND id = $3")
        .bind(org_id).bind(invoice_id).bind(line_id)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if n == 1 {
        refresh_totals(c, org_id, invoice_id, currency, now).await?;
    }
    Ok(n == 1)
}

async fn touch(c: &mut impl Connection, org_id: &str, id: &str, now: Micros) -> StoreResult<()> {
    on!(c, e => sqlx::query("UPDATE invoices SET updated_at = $3 WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Recomputes an invoice's totals from its lines (sums of the rounded lines).
pub async fn refresh_totals(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    currency: Currency,
    now: Micros,
) -> StoreResult<Totals> {
    let lines = lines_of(c, org_id, id).await?;
    let t = invoicing::totals(
        lines.iter().map(|l| LineAmounts {
            amount: l.amount,
            tax: l.tax,
            credit_applied: l.kind == CREDIT_APPLIED,
        }),
        currency,
    )
    .map_err(|_| StoreError::Corrupt(format!("invoice {id} totals out of range")))?;
    on!(c, e => sqlx::query(
        "UPDATE invoices SET subtotal = $3, tax = $4, total = $5, credits_applied = $6, updated_at = $7
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(t.subtotal.to_string()).bind(t.tax.to_string())
        .bind(t.total.to_string()).bind(t.credits_applied.to_string()).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(t)
}

/// Replaces the lines the billing function wrote on a draft with `lines` (a recomputed period),
/// keeping the lines added by hand (after them, in their order, with their ids), and recomputes
/// the totals.
pub async fn replace_generated_lines(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    lines: &[NewLine],
    currency: Currency,
    now: Micros,
) -> StoreResult<Totals> {
    on!(c, e => sqlx::query(
        "DELETE FROM invoice_line_items WHERE org_id = $1 AND invoice_id = $2 AND kind <> $3")
        .bind(org_id).bind(invoice_id).bind(MANUAL)
        .execute(e).await.map(|r| r.rows_affected()))?;
    let manual: Vec<String> = on!(c, e => sqlx::query_scalar(
        "SELECT id FROM invoice_line_items WHERE org_id = $1 AND invoice_id = $2 ORDER BY position, id")
        .bind(org_id).bind(invoice_id).fetch_all(e).await)?;
    // Positions are not unique, so moving the manual lines after the new ones cannot collide.
    for (i, id) in manual.iter().enumerate() {
        let position = (lines.len() + i) as i32;
        on!(c, e => sqlx::query("UPDATE invoice_line_items SET position = $3 WHERE org_id = $1 AND id = $2")
            .bind(org_id).bind(id).bind(position).execute(e).await.map(|r| r.rows_affected()))?;
    }
    insert_lines(c, org_id, invoice_id, lines, now).await?;
    refresh_totals(c, org_id, invoice_id, currency, now).await
}

/// The next number of a kind of document (`invoice`, `credit_note`) in an organization: 1, 2, 3…
/// The counter row is updated in the caller's transaction, which holds its lock until it ends, so
/// concurrent issuers take turns, a committed number is never reused, and a rolled-back one is
/// given back: the numbers of committed documents have no gap.
pub async fn next_number(c: &mut impl Connection, org_id: &str, kind: &str) -> StoreResult<i64> {
    Ok(on!(c, e => sqlx::query_scalar(
        "INSERT INTO document_numbers (org_id, kind, last_number) VALUES ($1, $2, 1)
         ON CONFLICT (org_id, kind) DO UPDATE SET last_number = document_numbers.last_number + 1
         RETURNING last_number")
        .bind(org_id).bind(kind).fetch_one(e).await)?)
}

/// What issuing sets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    pub number: i64,
    pub external_reference: String,
    pub issue_date: Micros,
    pub due_date: Micros,
    /// `issued`, or `paid` when nothing is left to pay.
    pub status: InvoiceStatus,
    pub paid_date: Option<Micros>,
    pub amount_paid: Decimal,
}

/// Records the issue of a draft. False when the invoice is not a draft any more.
pub async fn mark_issued(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    i: &Issued,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE invoices SET status = $3, number = $4, external_reference = $5, issue_date = $6, due_date = $7,
                paid_date = $8, amount_paid = $9, updated_at = $10
         WHERE org_id = $1 AND id = $2 AND status = 'draft'")
        .bind(org_id).bind(id).bind(i.status.as_str()).bind(i.number).bind(&i.external_reference)
        .bind(i.issue_date).bind(i.due_date).bind(i.paid_date).bind(i.amount_paid.to_string()).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records a payment's effect: what is paid now, and the status (`paid` with its date once
/// settled).
pub async fn record_paid(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    amount_paid: Decimal,
    status: InvoiceStatus,
    paid_date: Option<Micros>,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE invoices SET amount_paid = $3, status = $4, paid_date = $5, updated_at = $6
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(amount_paid.to_string()).bind(status.as_str()).bind(paid_date).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Voids an open invoice. False when it was not issued or overdue.
pub async fn mark_void(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    void_date: Micros,
    now: Micros,
) -> StoreResult<bool> {
    let n = on!(c, e => sqlx::query(
        "UPDATE invoices SET status = 'void', void_date = $3, updated_at = $4
         WHERE org_id = $1 AND id = $2 AND status IN ('issued', 'overdue')")
        .bind(org_id).bind(id).bind(void_date).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Whether any issued invoice (of any organization) is due at `now`: a cheap read before
/// [`mark_overdue`] takes the write lock.
pub async fn any_overdue(c: &mut impl Connection, now: Micros) -> StoreResult<bool> {
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT 1 FROM invoices WHERE status = 'issued' AND due_date <= $1 LIMIT 1")
        .bind(now).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Records as `overdue` up to `limit` issued invoices (of any organization) whose due date is at
/// or before `now`, and returns them. Each invoice changes once: the update is conditional on
/// `status = 'issued'`, so of two sweeps racing (two servers) only one sees it; on PostgreSQL the
/// candidates are claimed with `FOR UPDATE SKIP LOCKED`, so sweeps never wait on each other or on
/// an invoice being paid.
pub async fn mark_overdue(
    c: &mut impl Connection,
    now: Micros,
    limit: i64,
) -> StoreResult<Vec<(String, Invoice)>> {
    #[derive(sqlx::FromRow)]
    struct Hit {
        org_id: String,
        #[sqlx(flatten)]
        row: Row,
    }
    let hits: Vec<Hit> = match c.conn() {
        Conn::Sqlite(e) => {
            let sql = format!(
                "UPDATE invoices SET status = 'overdue', updated_at = $1
                 WHERE status = 'issued' AND id IN (
                     SELECT id FROM invoices WHERE status = 'issued' AND due_date <= $1 ORDER BY due_date LIMIT $2)
                 RETURNING org_id, {COLUMNS}"
            );
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            // A CTE: a locking subquery inside IN (...) may be evaluated more than once.
            let sql = format!(
                "WITH picked AS (
                     SELECT id FROM invoices WHERE status = 'issued' AND due_date <= $1 ORDER BY due_date LIMIT $2
                     FOR UPDATE SKIP LOCKED)
                 UPDATE invoices SET status = 'overdue', updated_at = $1
                 FROM picked WHERE invoices.id = picked.id AND invoices.status = 'issued'
                 RETURNING invoices.org_id, {}",
                COLUMNS
                    .split(", ")
                    .map(|c| format!("invoices.{}", c.trim()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
    };
    hits.into_iter()
        .map(|h| Ok((h.org_id, Invoice::try_from(h.row)?)))
        .collect()
}

/// Stores the PDF of an invoice (once: a second call for the same invoice fails).
pub async fn store_pdf(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
    pdf: &[u8],
    sha256: &str,
    now: Micros,
) -> StoreResult<()> {
    on!(c, e => sqlx::query(
        "INSERT INTO invoice_documents (invoice_id, org_id, pdf, sha256, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(invoice_id).bind(org_id).bind(pdf).bind(sha256).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// The stored PDF of an issued invoice and its SHA-256 (hex).
pub async fn pdf(
    c: &mut impl Connection,
    org_id: &str,
    invoice_id: &str,
) -> StoreResult<Option<(Vec<u8>, String)>> {
    Ok(on!(c, e => sqlx::query_as(
        "SELECT pdf, sha256 FROM invoice_documents WHERE org_id = $1 AND invoice_id = $2")
        .bind(org_id).bind(invoice_id).fetch_optional(e).await)?)
}

/// Locks a customer row until the transaction ends (PostgreSQL), so an invoice or credit note is
/// never created for a customer being deleted or changing currency: those take the same lock
/// through `customers::dependents`. True when the customer exists and is not deleted.
pub async fn lock_customer(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
) -> StoreResult<bool> {
    let hit: Option<i32> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_scalar("SELECT 1 FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
                .bind(org_id).bind(customer_id).fetch_optional(e).await?
        }
        Conn::Postgres(e) => {
            sqlx::query_scalar(
                "SELECT 1 FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL FOR NO KEY UPDATE")
                .bind(org_id).bind(customer_id).fetch_optional(e).await?
        }
    };
    Ok(hit.is_some())
}
