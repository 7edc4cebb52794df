//! Customers with their aliases and contacts.

use std::collections::HashMap;

use abacus_core::customer::{
    Address, Contact, Customer, CustomerState, EmailPreference, TaxDetails,
};
use abacus_core::ids;
use abacus_core::time::Micros;
use rust_decimal::Decimal;
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::Connection;
use crate::error::{StoreError, StoreResult};
use crate::on;

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: String,
    name: String,
    currency: String,
    billing_address: Option<Json<Address>>,
    tax_country: Option<String>,
    tax_id: Option<String>,
    tax_rate: Option<String>,
    tax_reason: Option<String>,
    tax_status: Option<String>,
    tax_type: Option<String>,
    created_at: Micros,
    updated_at: Micros,
}

#[derive(sqlx::FromRow)]
struct ContactRow {
    id: String,
    customer_id: String,
    email: String,
    first_name: Option<String>,
    last_name: Option<String>,
    is_primary: bool,
    email_preferences: Json<Vec<String>>,
}

#[derive(sqlx::FromRow)]
struct AliasRow {
    customer_id: String,
    alias: String,
}

const COLUMNS: &str = "id, name, currency, billing_address, tax_country, tax_id, tax_rate, tax_reason, \
                       tax_status, tax_type, created_at, updated_at";

/// Why a customer's aliases cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AliasConflict {
    /// Another customer already has this alias.
    TakenByAlias(String),
    /// The alias is another customer's id.
    IsCustomerId(String),
}

/// Which customers a list returns, in which order.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub alias: Option<String>,
    pub email: Option<String>,
    /// Customers with (`true`) or without (`false`) a subscription that is active at `now`.
    pub has_active_subscriptions: Option<bool>,
    /// The instant "active" is judged at.
    pub now: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    Name,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sort {
    pub field: SortField,
    pub descending: bool,
}

/// The customer that `id_or_alias` names: an id first, then an alias. Deleted customers are gone.
pub async fn resolve(
    c: &mut impl Connection,
    org_id: &str,
    id_or_alias: &str,
) -> StoreResult<Option<String>> {
    let by_id: Option<String> = on!(c, e => sqlx::query_scalar(
        "SELECT id FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id_or_alias).fetch_optional(e).await)?;
    if by_id.is_some() {
        return Ok(by_id);
    }
    alias_owner(c, org_id, id_or_alias).await
}

/// The customer that holds `alias`, if any.
pub async fn alias_owner(
    c: &mut impl Connection,
    org_id: &str,
    alias: &str,
) -> StoreResult<Option<String>> {
    Ok(
        on!(c, e => sqlx::query_scalar("SELECT customer_id FROM customer_aliases WHERE org_id = $1 AND alias = $2")
        .bind(org_id).bind(alias).fetch_optional(e).await)?,
    )
}

async fn id_in_use(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<bool> {
    let taken: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT 1 FROM customers WHERE id = $1 UNION ALL SELECT 1 FROM customer_aliases WHERE org_id = $2 AND alias = $1")
        .bind(id).bind(org_id).fetch_optional(e).await)?;
    Ok(taken.is_some())
}

/// Checks that `aliases` are free for customer `owner` (None for a new customer).
pub async fn check_aliases(
    c: &mut impl Connection,
    org_id: &str,
    owner: Option<&str>,
    aliases: &[String],
) -> StoreResult<Option<AliasConflict>> {
    for alias in aliases {
        if let Some(holder) = alias_owner(c, org_id, alias).await?
            && Some(holder.as_str()) != owner
        {
            return Ok(Some(AliasConflict::TakenByAlias(alias.clone())));
        }
        let as_id: Option<String> = on!(c, e => sqlx::query_scalar(
            "SELECT id FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
            .bind(org_id).bind(alias).fetch_optional(e).await)?;
        if let Some(holder) = as_id
            && Some(holder.as_str()) != owner
        {
            return Ok(Some(AliasConflict::IsCustomerId(alias.clone())));
        }
    }
    Ok(None)
}

/// Stores a new customer and returns it. Run [`check_aliases`] first in the same transaction.
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    state: &CustomerState,
    now: Micros,
) -> StoreResult<Customer> {
    let mut id = ids::short_id();
    while id_in_use(c, org_id, &id).await? {
        id = ids::short_id();
    }
    let address = state.billing_address.as_ref().map(Json);
    let tax = &state.tax;
    on!(c, e => sqlx::query(
        "INSERT INTO customers (id, org_id, name, currency, billing_address, tax_country, tax_id, tax_rate,
                                tax_reason, tax_status, tax_type, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12)")
        .bind(&id).bind(org_id).bind(&state.name).bind(state.currency.code()).bind(address)
        .bind(&tax.tax_country).bind(&tax.tax_id).bind(tax.tax_rate.map(|r| r.to_string()))
        .bind(&tax.tax_reason).bind(&tax.tax_status).bind(&tax.tax_type).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    write_aliases(c, org_id, &id, &state.aliases).await?;
    write_contacts(c, org_id, &id, state).await?;
    get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("customer {id} vanished after insert")))
}

/// Replaces a customer's fields, aliases and contacts with `state`.
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    state: &CustomerState,
    now: Micros,
) -> StoreResult<Customer> {
    let address = state.billing_address.as_ref().map(Json);
    let tax = &state.tax;
    on!(c, e => sqlx::query(
        "UPDATE customers SET name = $3, currency = $4, billing_address = $5, tax_country = $6, tax_id = $7,
                tax_rate = $8, tax_reason = $9, tax_status = $10, tax_type = $11, updated_at = $12
         WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id).bind(&state.name).bind(state.currency.code()).bind(address)
        .bind(&tax.tax_country).bind(&tax.tax_id).bind(tax.tax_rate.map(|r| r.to_string()))
        .bind(&tax.tax_reason).bind(&tax.tax_status).bind(&tax.tax_type).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    on!(c, e => sqlx::query("DELETE FROM customer_aliases WHERE org_id = $1 AND customer_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    write_aliases(c, org_id, id, &state.aliases).await?;
    on!(c, e => sqlx::query("DELETE FROM customer_contacts WHERE org_id = $1 AND customer_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    write_contacts(c, org_id, id, state).await?;
    get(c, org_id, id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("customer {id} vanished after update")))
}

async fn write_aliases(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    aliases: &[String],
) -> StoreResult<()> {
    for (pos, alias) in aliases.iter().enumerate() {
        on!(c, e => sqlx::query("INSERT INTO customer_aliases (org_id, alias, customer_id, position) VALUES ($1, $2, $3, $4)")
            .bind(org_id).bind(alias).bind(id).bind(pos as i32).execute(e).await.map(|r| r.rows_affected()))
        .map_err(|err| match StoreError::from(err) {
            StoreError::Unique(_) => StoreError::Unique(format!("alias:{alias}")),
            other => other,
        })?;
    }
    Ok(())
}

async fn write_contacts(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    state: &CustomerState,
) -> StoreResult<()> {
    for (pos, contact) in state.contacts.iter().enumerate() {
        let contact_id = match &contact.id {
            Some(id) => id.clone(),
            None => new_contact_id(c).await?,
        };
        let prefs: Vec<&str> = contact
            .email_preferences
            .iter()
            .map(|p| p.as_str())
            .collect();
        on!(c, e => sqlx::query(
            "INSERT INTO customer_contacts (id, org_id, customer_id, position, email, first_name, last_name, is_primary, email_preferences)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)")
            .bind(&contact_id).bind(org_id).bind(customer_id).bind(pos as i32).bind(&contact.email)
            .bind(&contact.first_name).bind(&contact.last_name).bind(contact.is_primary).bind(Json(&prefs))
            .execute(e).await.map(|r| r.rows_affected()))?;
    }
    Ok(())
}

async fn new_contact_id(c: &mut impl Connection) -> StoreResult<String> {
    loop {
        let id = ids::short_id();
        let taken: Option<i32> = on!(c, e => sqlx::query_scalar("SELECT 1 FROM customer_contacts WHERE id = $1")
            .bind(&id).fetch_optional(e).await)?;
        if taken.is_none() {
            return Ok(id);
        }
    }
}

/// A customer by its id (not an alias; see [`resolve`]).
pub async fn get(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<Option<Customer>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
    );
    let row: Option<CustomerRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    match row {
        None => Ok(None),
        Some(row) => Ok(assemble(c, org_id, vec![row]).await?.pop()),
    }
}

/// The tax rate of a customer that exists (not deleted): `None` when there is no such customer,
/// `Some(None)` when it has no rate. What billing reads, without the aliases and contacts.
pub async fn tax_rate(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Option<Decimal>>> {
    let row: Option<(Option<String>,)> = on!(c, e => sqlx::query_as(
        "SELECT tax_rate FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(|(rate,)| parse_tax_rate(rate.as_deref()))
        .transpose()
}

fn parse_tax_rate(stored: Option<&str>) -> StoreResult<Option<Decimal>> {
    stored
        .map(|s| {
            s.parse()
                .map_err(|_| StoreError::Corrupt(format!("tax rate '{s}'")))
        })
        .transpose()
}

/// One page of customers and the total number matching the filter.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: Sort,
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Customer>, i64)> {
    let order = match (sort.field, sort.descending) {
        (SortField::CreatedAt, false) => "created_at ASC, id ASC",
        (SortField::CreatedAt, true) => "created_at DESC, id DESC",
        (SortField::Name, false) => "name ASC, id ASC",
        (SortField::Name, true) => "name DESC, id DESC",
    };
    let condition = "org_id = $1 AND deleted_at IS NULL
        AND ($2 IS NULL OR id IN (SELECT customer_id FROM customer_aliases WHERE org_id = $1 AND alias = $2))
        AND ($3 IS NULL OR id IN (SELECT customer_id FROM customer_contacts WHERE org_id = $1 AND lower(email) = lower($3)))
        AND ($4 IS NULL OR $4 = EXISTS (SELECT 1 FROM subscriptions s WHERE s.org_id = $1 AND s.customer_id = customers.id
                                         AND s.status = 'active' AND (s.ends_at IS NULL OR s.ends_at > $5)))";
    let page_sql = format!(
        "SELECT {COLUMNS} FROM customers WHERE {condition} ORDER BY {order} LIMIT $6 OFFSET $7"
    );
    let count_sql = format!("SELECT COUNT(*) FROM customers WHERE {condition}");
    let rows: Vec<CustomerRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(page_sql.as_str()))
        .bind(org_id).bind(&filter.alias).bind(&filter.email).bind(filter.has_active_subscriptions)
        .bind(filter.now).bind(limit).bind(offset)
        .fetch_all(e).await)?;
    let total: i64 = on!(c, e => sqlx::query_scalar(AssertSqlSafe(count_sql.as_str()))
        .bind(org_id).bind(&filter.alias).bind(&filter.email).bind(filter.has_active_subscriptions)
        .bind(filter.now).fetch_one(e).await)?;
    Ok((assemble(c, org_id, rows).await?, total))
}

/// Marks a customer deleted and releases its aliases. Returns false when there was none.
pub async fn soft_delete(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    now: Micros,
) -> StoreResult<bool> {
    let done = on!(c, e => sqlx::query(
        "UPDATE customers SET deleted_at = $3, updated_at = $3 WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL")
        .bind(org_id).bind(id).bind(now).execute(e).await.map(|r| r.rows_affected()))?;
    on!(c, e => sqlx::query("DELETE FROM customer_aliases WHERE org_id = $1 AND customer_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Records that keep a customer from being deleted: each a table holding rows that reference the
/// customer through a `customer_id` column, and how to describe them. Every subscription, invoice
/// and credit note counts, drafts and canceled ones included (they hold the customer's history).
pub const DEPENDENTS: &[(&str, &str)] = &[
    ("subscriptions", "subscriptions"),
    ("invoices", "invoices"),
    ("credit_notes", "credit notes"),
];

/// The kinds of records that keep this customer from being deleted (empty when it may go). The
/// customer row is locked first (PostgreSQL), the lock invoices and credit notes take when they
/// are created, so the answer holds until the caller's transaction ends.
pub async fn dependents(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Vec<&'static str>> {
    crate::invoices::lock_customer(c, org_id, id).await?;
    dependents_in(c, DEPENDENTS, org_id, id).await
}

async fn dependents_in(
    c: &mut impl Connection,
    tables: &[(&str, &'static str)],
    org_id: &str,
    id: &str,
) -> StoreResult<Vec<&'static str>> {
    let mut found = Vec::new();
    for (table, what) in tables {
        let sql = format!("SELECT 1 FROM {table} WHERE org_id = $1 AND customer_id = $2 LIMIT 1");
        let hit: Option<i32> = on!(c, e => sqlx::query_scalar(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
        if hit.is_some() {
            found.push(*what);
        }
    }
    Ok(found)
}

/// Attaches aliases and contacts to customer rows, keeping the rows' order.
async fn assemble(
    c: &mut impl Connection,
    org_id: &str,
    rows: Vec<CustomerRow>,
) -> StoreResult<Vec<Customer>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let aliases: Vec<AliasRow> = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT customer_id, alias FROM customer_aliases WHERE org_id = ");
        q.push_bind(org_id).push(" AND customer_id IN (");
        let mut sep = q.separated(", ");
        for id in &ids {
            sep.push_bind(*id);
        }
        q.push(") ORDER BY customer_id, position");
        q.build_query_as().fetch_all(e).await
    })?;
    let contacts: Vec<ContactRow> = on!(c, e => {
        let mut q = QueryBuilder::new(
            "SELECT id, customer_id, email, first_name, last_name, is_primary, email_preferences
             FROM customer_contacts WHERE org_id = ");
        q.push_bind(org_id).push(" AND customer_id IN (");
        let mut sep = q.separated(", ");
        for id in &ids {
            sep.push_bind(*id);
        }
        q.push(") ORDER BY customer_id, position");
        q.build_query_as().fetch_all(e).await
    })?;

    let mut alias_map: HashMap<String, Vec<String>> = HashMap::new();
    for a in aliases {
        alias_map.entry(a.customer_id).or_default().push(a.alias);
    }
    let mut contact_map: HashMap<String, Vec<Contact>> = HashMap::new();
    for r in contacts {
        let prefs = r
            .email_preferences
            .0
            .iter()
            .map(|p| {
                EmailPreference::parse(p)
                    .ok_or_else(|| StoreError::Corrupt(format!("email preference '{p}'")))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        contact_map.entry(r.customer_id).or_default().push(Contact {
            id: r.id,
            email: r.email,
            first_name: r.first_name,
            last_name: r.last_name,
            is_primary: r.is_primary,
            email_preferences: prefs,
        });
    }

    rows.into_iter()
        .map(|r| {
            let tax_rate = parse_tax_rate(r.tax_rate.as_deref())?;
            Ok(Customer {
                aliases: alias_map.remove(&r.id).unwrap_or_default(),
                contacts: contact_map.remove(&r.id).unwrap_or_default(),
                id: r.id,
                name: r.name,
                currency: r.currency,
                billing_address: r.billing_address.map(|j| j.0),
                tax: TaxDetails {
                    tax_country: r.tax_country,
                    tax_id: r.tax_id,
                    tax_rate,
                    tax_reason: r.tax_reason,
                    tax_status: r.tax_status,
                    tax_type: r.tax_type,
                },
                created_at: r.created_at,
                updated_at: r.updated_at,
            })
        })
        .collect()
}
