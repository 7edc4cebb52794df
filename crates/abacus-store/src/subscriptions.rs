//! Subscriptions, their versions and each version's priced items; and what billing reads from
//! them ([`billing_view`]).

use std::collections::HashMap;

use abacus_core::calendar::{Interval, SubscriptionCalendar, add_months, parse_time_zone};
use abacus_core::catalog::ProductPrice;
use abacus_core::catalog::plan::EntitlementInput;
use abacus_core::ids;
use abacus_core::pricing::PriceInput;
use abacus_core::subscription::{
    BillingSpan, Cancellation, Item, NewSubscription, Status, Subscription, Terms, Version,
    VersionSpec, VersionStatus, billing_spans,
};
use abacus_core::time::Micros;
use jiff::tz::TimeZone;
use serde_json::{Map, Value};
use sqlx::types::Json;
use sqlx::{AssertSqlSafe, QueryBuilder};

use crate::db::{Conn, Connection};
use crate::error::{StoreError, StoreResult};
use crate::json_ids::push_any_of;
use crate::on;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    customer_id: String,
    name: String,
    description: Option<String>,
    currency: String,
    status: String,
    plan_id: Option<String>,
    terms: Json<Terms>,
    metadata: Json<Map<String, Value>>,
    tag_ids: Json<Vec<String>>,
    time_zone: Option<String>,
    cancel_requested_at: Option<Micros>,
    cancel_at: Option<Micros>,
    cancel_reason: Option<String>,
    cancel_reason_description: Option<String>,
    ends_at: Option<Micros>,
    activated_at: Option<Micros>,
    created_at: Micros,
    updated_at: Micros,
}

const COLUMNS: &str = "id, customer_id, name, description, currency, status, plan_id, terms, metadata, \
                       tag_ids, time_zone, cancel_requested_at, cancel_at, cancel_reason, \
                       cancel_reason_description, ends_at, activated_at, created_at, updated_at";

impl TryFrom<Row> for Subscription {
    type Error = StoreError;

    fn try_from(r: Row) -> StoreResult<Subscription> {
        let status = Status::parse(&r.status)
            .ok_or_else(|| StoreError::Corrupt(format!("subscription status '{}'", r.status)))?;
        let cancellation = match (r.cancel_requested_at, r.cancel_at, r.cancel_reason) {
            (Some(requested_at), Some(effective_at), Some(reason)) => Some(Cancellation {
                requested_at,
                effective_at,
                reason,
                reason_description: r.cancel_reason_description,
            }),
            _ => None,
        };
        Ok(Subscription {
            id: r.id,
            customer_id: r.customer_id,
            name: r.name,
            description: r.description,
            currency: r.currency,
            status,
            plan_id: r.plan_id,
            terms: r.terms.0,
            metadata: r.metadata.0,
            tag_ids: r.tag_ids.0,
            time_zone: r.time_zone,
            cancellation,
            ends_at: r.ends_at,
            activated_at: r.activated_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct VersionRow {
    id: String,
    subscription_id: String,
    number: i32,
    status: String,
    plan_id: Option<String>,
    description: Option<String>,
    effective_at: Option<Micros>,
    entitlements: Json<Vec<EntitlementInput>>,
    published_at: Option<Micros>,
    created_at: Micros,
    updated_at: Micros,
}

const VERSION_COLUMNS: &str = "id, subscription_id, number, status, plan_id, description, effective_at, \
                               entitlements, published_at, created_at, updated_at";

#[derive(sqlx::FromRow)]
struct ItemRow {
    version_id: String,
    position: i32,
    product_id: String,
    bundle_id: Option<String>,
    bundle_name: Option<String>,
    bundle_description: Option<String>,
    price: Json<PriceInput>,
}

/// A new version id: `subv_` and 22 base62 characters.
pub fn new_version_id() -> String {
    ids::prefixed_id("subv")
}

/// Orders the subscription writes of an organization (PostgreSQL; SQLite has a single writer),
/// so what a write checks (a customer still there, a version still a draft, the next version
/// number) holds until it commits. Customer deletion and product deletion take it too.
pub async fn lock(c: &mut impl Connection, org_id: &str) -> StoreResult<()> {
    if let Conn::Postgres(e) = c.conn() {
        // FNV-1a of a key no other lock uses.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in b"subscriptions:".iter().chain(org_id.as_bytes()) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(h as i64)
            .execute(e)
            .await?;
    }
    Ok(())
}

/// The end of the initial fixed term, kept as a column to sort by.
fn contract_end_date(terms: &Terms) -> Option<String> {
    let start = terms.contract.start_date?;
    match terms.term().ok()? {
        abacus_core::calendar::Term::Fixed { months } => add_months(start, i64::from(months))
            .ok()
            .map(|d| d.to_string()),
        abacus_core::calendar::Term::MonthlyRolling => None,
    }
}

async fn id_taken(c: &mut impl Connection, id: &str) -> StoreResult<bool> {
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar("SELECT 1 FROM subscriptions WHERE id = $1")
        .bind(id).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Stores a new subscription (a draft) and its first version; returns both.
pub async fn insert(
    c: &mut impl Connection,
    org_id: &str,
    new: &NewSubscription,
    now: Micros,
) -> StoreResult<(Subscription, Version)> {
    let mut id = ids::short_id();
    while id_taken(c, &id).await? {
        id = ids::short_id();
    }
    let t = &new.terms;
    on!(c, e => sqlx::query(
        "INSERT INTO subscriptions (id, org_id, customer_id, name, description, currency, status, plan_id, terms,
                                    metadata, tag_ids, contract_start_date, contract_end_date, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, 'draft', $7, $8, $9, $10, $11, $12, $13, $13)")
        .bind(&id).bind(org_id).bind(&new.customer_id).bind(&new.name).bind(&new.description)
        .bind(&new.currency).bind(&new.plan_id).bind(Json(t)).bind(Json(&new.metadata))
        .bind(Json(&new.tag_ids)).bind(t.contract.start_date.map(|d| d.to_string()))
        .bind(contract_end_date(t)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    let version = insert_version(c, org_id, &id, &new.first_version, now).await?;
    let sub = get(c, org_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("subscription {id} vanished after insert")))?;
    Ok((sub, version))
}

/// A subscription by its id.
pub async fn get(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<Subscription>> {
    let sql = format!("SELECT {COLUMNS} FROM subscriptions WHERE org_id = $1 AND id = $2");
    let row: Option<Row> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str())).bind(org_id).bind(id).fetch_optional(e).await)?;
    row.map(Subscription::try_from).transpose()
}

/// Writes everything about `s` that can change (not its customer, currency or creation plan).
/// `None` when there is no such subscription.
pub async fn update(
    c: &mut impl Connection,
    org_id: &str,
    s: &Subscription,
    now: Micros,
) -> StoreResult<Option<Subscription>> {
    let t = &s.terms;
    let cancel = s.cancellation.as_ref();
    let done = on!(c, e => sqlx::query(
        "UPDATE subscriptions SET name = $3, description = $4, status = $5, terms = $6, metadata = $7, tag_ids = $8,
                contract_start_date = $9, contract_end_date = $10, time_zone = $11, cancel_requested_at = $12,
                cancel_at = $13, cancel_reason = $14, cancel_reason_description = $15, ends_at = $16,
                activated_at = $17, updated_at = $18, bill_at = NULL
         WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(&s.id).bind(&s.name).bind(&s.description).bind(s.status.as_str())
        .bind(Json(t)).bind(Json(&s.metadata)).bind(Json(&s.tag_ids))
        .bind(t.contract.start_date.map(|d| d.to_string())).bind(contract_end_date(t))
        .bind(&s.time_zone).bind(cancel.map(|c| c.requested_at)).bind(cancel.map(|c| c.effective_at))
        .bind(cancel.map(|c| c.reason.as_str())).bind(cancel.and_then(|c| c.reason_description.as_deref()))
        .bind(s.ends_at).bind(s.activated_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    get(c, org_id, &s.id).await
}

/// Deletes a subscription with its versions, items and credit grants for good (drafts only; the
/// caller checks). Returns false when there was none.
pub async fn delete(c: &mut impl Connection, org_id: &str, id: &str) -> StoreResult<bool> {
    crate::credits::delete_grants_of_subscription(c, org_id, id).await?;
    on!(c, e => sqlx::query("DELETE FROM subscription_items WHERE org_id = $1 AND subscription_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    on!(c, e => sqlx::query("DELETE FROM subscription_versions WHERE org_id = $1 AND subscription_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    let done = on!(c, e => sqlx::query("DELETE FROM subscriptions WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Records as `canceled` the active subscriptions whose service ended by `now` (readers already
/// see them so; this keeps the stored state, which deletion guards read, in step).
pub async fn settle_ended(c: &mut impl Connection, org_id: &str, now: Micros) -> StoreResult<u64> {
    Ok(on!(c, e => sqlx::query(
        "UPDATE subscriptions SET status = 'canceled'
         WHERE org_id = $1 AND status = 'active' AND ends_at IS NOT NULL AND ends_at <= $2")
        .bind(org_id).bind(now).execute(e).await.map(|r| r.rows_affected()))?)
}

// ---- once-only events (subscription.started, subscription.canceled)

/// An event that time can cause, recorded once per subscription: `subscription.started` when the
/// service starts, `subscription.canceled` when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnceEvent {
    Started,
    Canceled,
}

/// Records when the service of an activated subscription starts (the local midnight of its
/// contract start): what the sweep compares with the clock for `subscription.started`.
pub async fn set_starts_at(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    starts_at: Micros,
) -> StoreResult<()> {
    on!(c, e => sqlx::query("UPDATE subscriptions SET starts_at = $3, bill_at = NULL WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).bind(starts_at).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Claims `event` for subscription `id` at `now`: records it as sent, unless it already was or is
/// not due (the service has not started, or not ended, by `now`). True when this call recorded
/// it: the caller then enqueues the event in the same transaction. The update is conditional, so
/// of several transactions (a request and sweeps on other servers) exactly one gets true; on
/// PostgreSQL the others wait for its row lock and then find the flag set. Claiming
/// [`OnceEvent::Canceled`] also records the stored status as `canceled`.
pub async fn claim_event(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
    event: OnceEvent,
    now: Micros,
) -> StoreResult<bool> {
    let sql = match event {
        OnceEvent::Started => {
            "UPDATE subscriptions SET started_event_at = $3
             WHERE org_id = $1 AND id = $2 AND status <> 'draft' AND started_event_at IS NULL
               AND starts_at IS NOT NULL AND starts_at <= $3"
        }
        OnceEvent::Canceled => {
            "UPDATE subscriptions SET canceled_event_at = $3,
                    status = CASE WHEN status = 'active' THEN 'canceled' ELSE status END
             WHERE org_id = $1 AND id = $2 AND status <> 'draft' AND canceled_event_at IS NULL
               AND ends_at IS NOT NULL AND ends_at <= $3"
        }
    };
    let done = on!(c, e => sqlx::query(sql).bind(org_id).bind(id).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// A subscription with a time-based event due and not yet sent, as the sweep claims it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueEvents {
    pub org_id: String,
    pub id: String,
    /// The service started by `now` (and did not end before it started).
    pub started: bool,
    /// The service ended by `now`.
    pub canceled: bool,
}

/// The condition of [`DueEvents`], `$1` being `now`. A service that ended before it started
/// (canceled before its start date) never starts.
const DUE: &str = "status <> 'draft' AND (
        (started_event_at IS NULL AND starts_at IS NOT NULL AND starts_at <= $1
         AND (ends_at IS NULL OR ends_at > starts_at))
     OR (canceled_event_at IS NULL AND ends_at IS NOT NULL AND ends_at <= $1))";

/// Whether any subscription (of any organization) has a time-based event due at `now`: a cheap
/// read, so an idle SQLite server never takes the write lock for the sweep.
pub async fn any_events_due(c: &mut impl Connection, now: Micros) -> StoreResult<bool> {
    let sql = format!("SELECT 1 FROM subscriptions WHERE {DUE} LIMIT 1");
    let hit: Option<i32> = on!(c, e => sqlx::query_scalar(AssertSqlSafe(sql.as_str()))
        .bind(now).fetch_optional(e).await)?;
    Ok(hit.is_some())
}

/// Up to `limit` subscriptions (of any organization) with a time-based event due at `now`,
/// oldest first. On PostgreSQL the rows are locked `FOR UPDATE SKIP LOCKED` until the caller's
/// transaction ends, so sweeps on several servers take disjoint rows and never wait on each other
/// or on a request writing a subscription; SQLite has a single writer. The caller still claims
/// each event with [`claim_event`], which decides.
pub async fn due_events(
    c: &mut impl Connection,
    now: Micros,
    limit: i64,
) -> StoreResult<Vec<DueEvents>> {
    #[derive(sqlx::FromRow)]
    struct Hit {
        org_id: String,
        id: String,
        starts_at: Option<Micros>,
        ends_at: Option<Micros>,
        started_event_at: Option<Micros>,
        canceled_event_at: Option<Micros>,
    }
    let select = format!(
        "SELECT org_id, id, starts_at, ends_at, started_event_at, canceled_event_at FROM subscriptions
         WHERE {DUE} ORDER BY created_at, id LIMIT $2"
    );
    let hits: Vec<Hit> = match c.conn() {
        Conn::Sqlite(e) => {
            sqlx::query_as(AssertSqlSafe(select.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
        Conn::Postgres(e) => {
            let sql = format!("{select} FOR UPDATE SKIP LOCKED");
            sqlx::query_as(AssertSqlSafe(sql.as_str()))
                .bind(now)
                .bind(limit)
                .fetch_all(e)
                .await?
        }
    };
    Ok(hits
        .into_iter()
        .map(|h| DueEvents {
            started: h.started_event_at.is_none()
                && h.starts_at
                    .is_some_and(|s| s <= now && h.ends_at.is_none_or(|e| e > s)),
            canceled: h.canceled_event_at.is_none() && h.ends_at.is_some_and(|e| e <= now),
            org_id: h.org_id,
            id: h.id,
        })
        .collect())
}

/// Which subscriptions a list returns. Empty lists do not filter; each means "any of".
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub customer_id: Option<String>,
    /// Statuses as readers see them at `now`.
    pub statuses: Vec<Status>,
    pub tag_ids: Vec<String>,
    pub now: Micros,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortField {
    #[default]
    CreatedAt,
    Name,
    Status,
    ActivatedAt,
    EndedAt,
    UpdatedAt,
    ContractStartDate,
    ContractEndDate,
}

/// SQL for "the status a reader sees at `$now` is `s`", `now` bound by the caller.
fn status_condition<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, s: Status, now: Micros)
where
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    match s {
        Status::Draft => {
            q.push("status = 'draft'");
        }
        Status::Active => {
            q.push("(status = 'active' AND (ends_at IS NULL OR ends_at > ")
                .push_bind(now)
                .push("))");
        }
        Status::Canceled => {
            q.push("(status = 'canceled' OR (status = 'active' AND ends_at IS NOT NULL AND ends_at <= ")
                .push_bind(now)
                .push("))");
        }
    }
}

/// One page of subscriptions and how many match.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> StoreResult<(Vec<Subscription>, i64)> {
    fn conditions<DB: sqlx::Database>(q: &mut QueryBuilder<DB>, org_id: &str, f: &ListFilter)
    where
        for<'t> &'t str: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
        for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    {
        q.push(" WHERE org_id = ").push_bind(org_id);
        if let Some(customer) = &f.customer_id {
            q.push(" AND customer_id = ").push_bind(customer.as_str());
        }
        if !f.statuses.is_empty() {
            q.push(" AND (");
            for (i, s) in f.statuses.iter().enumerate() {
                if i > 0 {
                    q.push(" OR ");
                }
                status_condition(q, *s, f.now);
            }
            q.push(")");
        }
        push_any_of(q, "tag_ids", &f.tag_ids);
    }
    let column = match sort.0 {
        SortField::CreatedAt => "created_at",
        SortField::Name => "name",
        SortField::Status => "status",
        SortField::ActivatedAt => "activated_at",
        SortField::EndedAt => "ends_at",
        SortField::UpdatedAt => "updated_at",
        SortField::ContractStartDate => "contract_start_date",
        SortField::ContractEndDate => "contract_end_date",
    };
    let direction = if sort.1 { "DESC" } else { "ASC" };
    // Rows without a value sort last either way, on both databases.
    let order = format!(
        " ORDER BY ({column} IS NULL) ASC, {column} {direction}, created_at {direction}, id {direction}"
    );
    let rows: Vec<Row> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM subscriptions"));
        conditions(&mut q, org_id, filter);
        q.push(order.as_str()).push(" LIMIT ").push_bind(limit).push(" OFFSET ").push_bind(offset);
        q.build_query_as().fetch_all(e).await
    })?;
    let total: i64 = on!(c, e => {
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM subscriptions");
        conditions(&mut q, org_id, filter);
        q.build_query_scalar().fetch_one(e).await
    })?;
    Ok((
        rows.into_iter()
            .map(Subscription::try_from)
            .collect::<StoreResult<_>>()?,
        total,
    ))
}

/// A customer's subscriptions that are active at `now` (service not ended), oldest first.
pub async fn active_for_customer(
    c: &mut impl Connection,
    org_id: &str,
    customer_id: &str,
    now: Micros,
) -> StoreResult<Vec<Subscription>> {
    let filter = ListFilter {
        customer_id: Some(customer_id.to_string()),
        statuses: vec![Status::Active],
        tag_ids: Vec::new(),
        now,
    };
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let (page, total) = list(
            c,
            org_id,
            &filter,
            (SortField::CreatedAt, false),
            500,
            offset,
        )
        .await?;
        offset += page.len() as i64;
        let done = page.is_empty() || offset >= total;
        out.extend(page);
        if done {
            return Ok(out);
        }
    }
}

/// The ids of every subscription that has been activated (active or canceled), oldest first:
/// what an invoicing run walks.
pub async fn billable_ids(c: &mut impl Connection, org_id: &str) -> StoreResult<Vec<String>> {
    Ok(on!(c, e => sqlx::query_scalar(
        "SELECT id FROM subscriptions WHERE org_id = $1 AND status <> 'draft' ORDER BY created_at, id")
        .bind(org_id).fetch_all(e).await)?)
}

// ---- versions

impl TryFrom<VersionRow> for Version {
    type Error = StoreError;

    fn try_from(r: VersionRow) -> StoreResult<Version> {
        Ok(Version {
            status: VersionStatus::parse(&r.status)
                .ok_or_else(|| StoreError::Corrupt(format!("version status '{}'", r.status)))?,
            id: r.id,
            subscription_id: r.subscription_id,
            number: i64::from(r.number),
            plan_id: r.plan_id,
            description: r.description,
            effective_at: r.effective_at,
            items: Vec::new(),
            entitlements: r.entitlements.0,
            published_at: r.published_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        })
    }
}

async fn write_items(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    version_id: &str,
    items: &[Item],
) -> StoreResult<()> {
    for (pos, item) in items.iter().enumerate() {
        type BundleRef<'a> = Option<(&'a str, &'a str, Option<&'a str>)>;
        let (bundle, children): (BundleRef, Vec<&ProductPrice>) = match item {
            Item::Product(p) => (None, vec![p]),
            Item::Bundle {
                bundle_id,
                name,
                description,
                items,
            } => (
                Some((bundle_id, name, description.as_deref())),
                items.iter().collect(),
            ),
        };
        for (child, p) in children.into_iter().enumerate() {
            on!(c, e => sqlx::query(
                "INSERT INTO subscription_items (org_id, subscription_id, version_id, position, child_position, product_id,
                                                 bundle_id, bundle_name, bundle_description, price)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
                .bind(org_id).bind(subscription_id).bind(version_id).bind(pos as i32).bind(child as i32)
                .bind(&p.product_id).bind(bundle.map(|b| b.0)).bind(bundle.map(|b| b.1))
                .bind(bundle.and_then(|b| b.2)).bind(Json(&p.price))
                .execute(e).await.map(|r| r.rows_affected()))?;
        }
    }
    Ok(())
}

/// Adds a version (numbered after the subscription's last one) with its items.
pub async fn insert_version(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    spec: &VersionSpec,
    now: Micros,
) -> StoreResult<Version> {
    let id = new_version_id();
    let last: Option<i32> = on!(c, e => sqlx::query_scalar(
        "SELECT MAX(number) FROM subscription_versions WHERE org_id = $1 AND subscription_id = $2")
        .bind(org_id).bind(subscription_id).fetch_one(e).await)?;
    let number = last.unwrap_or(0) + 1;
    let published_at = (spec.status == VersionStatus::Published).then_some(now);
    on!(c, e => sqlx::query(
        "INSERT INTO subscription_versions (id, org_id, subscription_id, number, status, plan_id, description,
                                            effective_at, entitlements, published_at, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)")
        .bind(&id).bind(org_id).bind(subscription_id).bind(number).bind(spec.status.as_str())
        .bind(&spec.plan_id).bind(&spec.description).bind(spec.effective_at)
        .bind(Json(&spec.entitlements)).bind(published_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    write_items(c, org_id, subscription_id, &id, &spec.items).await?;
    if spec.status == VersionStatus::Published {
        reschedule_billing(c, org_id, subscription_id).await?;
    }
    version(c, org_id, subscription_id, &id)
        .await?
        .ok_or_else(|| StoreError::Corrupt(format!("version {id} vanished after insert")))
}

/// One version of a subscription, with its items.
pub async fn version(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    id: &str,
) -> StoreResult<Option<Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM subscription_versions WHERE org_id = $1 AND subscription_id = $2 AND id = $3"
    );
    let row: Option<VersionRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(subscription_id).bind(id).fetch_optional(e).await)?;
    match row {
        None => Ok(None),
        Some(r) => Ok(assemble(c, org_id, vec![r]).await?.pop()),
    }
}

/// Every version of a subscription, with items, by number.
pub async fn versions(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<Vec<Version>> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM subscription_versions WHERE org_id = $1 AND subscription_id = $2 ORDER BY number"
    );
    let rows: Vec<VersionRow> = on!(c, e => sqlx::query_as(AssertSqlSafe(sql.as_str()))
        .bind(org_id).bind(subscription_id).fetch_all(e).await)?;
    assemble(c, org_id, rows).await
}

/// The versions of several subscriptions, by subscription.
pub async fn versions_of(
    c: &mut impl Connection,
    org_id: &str,
    subscription_ids: &[String],
) -> StoreResult<HashMap<String, Vec<Version>>> {
    if subscription_ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<VersionRow> = on!(c, e => {
        let mut q = QueryBuilder::new(format!("SELECT {VERSION_COLUMNS} FROM subscription_versions WHERE org_id = "));
        q.push_bind(org_id).push(" AND subscription_id IN (");
        let mut sep = q.separated(", ");
        for id in subscription_ids {
            sep.push_bind(id.as_str());
        }
        q.push(") ORDER BY subscription_id, number");
        q.build_query_as().fetch_all(e).await
    })?;
    let mut out: HashMap<String, Vec<Version>> = HashMap::new();
    for v in assemble(c, org_id, rows).await? {
        out.entry(v.subscription_id.clone()).or_default().push(v);
    }
    Ok(out)
}

/// Replaces a draft's content (only drafts change: the condition is part of the update).
/// `None` when there is no such draft.
pub async fn replace_version(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    id: &str,
    spec: &VersionSpec,
    now: Micros,
) -> StoreResult<Option<Version>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE subscription_versions SET plan_id = $4, description = $5, effective_at = $6, entitlements = $7,
                updated_at = $8
         WHERE org_id = $1 AND subscription_id = $2 AND id = $3 AND status = 'draft'")
        .bind(org_id).bind(subscription_id).bind(id).bind(&spec.plan_id).bind(&spec.description)
        .bind(spec.effective_at).bind(Json(&spec.entitlements)).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    on!(c, e => sqlx::query("DELETE FROM subscription_items WHERE org_id = $1 AND version_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    write_items(c, org_id, subscription_id, id, &spec.items).await?;
    version(c, org_id, subscription_id, id).await
}

/// Publishes a draft, taking effect at `effective_at`. `None` when there is no such draft.
pub async fn publish_version(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    id: &str,
    effective_at: Micros,
    now: Micros,
) -> StoreResult<Option<Version>> {
    let done = on!(c, e => sqlx::query(
        "UPDATE subscription_versions SET status = 'published', effective_at = $4, published_at = $5, updated_at = $5
         WHERE org_id = $1 AND subscription_id = $2 AND id = $3 AND status = 'draft'")
        .bind(org_id).bind(subscription_id).bind(id).bind(effective_at).bind(now)
        .execute(e).await.map(|r| r.rows_affected()))?;
    if done == 0 {
        return Ok(None);
    }
    reschedule_billing(c, org_id, subscription_id).await?;
    version(c, org_id, subscription_id, id).await
}

/// Tells the billing scheduler that the subscription's boundaries may have moved (`bill_at` is
/// worked out again on its next round).
async fn reschedule_billing(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
) -> StoreResult<()> {
    on!(c, e => sqlx::query("UPDATE subscriptions SET bill_at = NULL WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(subscription_id).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes a draft with its items. False when there is no such draft.
pub async fn delete_version(
    c: &mut impl Connection,
    org_id: &str,
    subscription_id: &str,
    id: &str,
) -> StoreResult<bool> {
    let status: Option<String> = on!(c, e => sqlx::query_scalar(
        "SELECT status FROM subscription_versions WHERE org_id = $1 AND subscription_id = $2 AND id = $3")
        .bind(org_id).bind(subscription_id).bind(id).fetch_optional(e).await)?;
    if status.as_deref() != Some("draft") {
        return Ok(false);
    }
    on!(c, e => sqlx::query("DELETE FROM subscription_items WHERE org_id = $1 AND version_id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    on!(c, e => sqlx::query("DELETE FROM subscription_versions WHERE org_id = $1 AND id = $2")
        .bind(org_id).bind(id).execute(e).await.map(|r| r.rows_affected()))?;
    Ok(true)
}

/// Attaches items to version rows, keeping the rows' order.
async fn assemble(
    c: &mut impl Connection,
    org_id: &str,
    rows: Vec<VersionRow>,
) -> StoreResult<Vec<Version>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let items: Vec<ItemRow> = on!(c, e => {
        let mut q = QueryBuilder::new(
            "SELECT version_id, position, product_id, bundle_id, bundle_name, bundle_description, price
             FROM subscription_items WHERE org_id = ");
        q.push_bind(org_id).push(" AND version_id IN (");
        let mut sep = q.separated(", ");
        for r in &rows {
            sep.push_bind(r.id.as_str());
        }
        q.push(") ORDER BY version_id, position, child_position");
        q.build_query_as().fetch_all(e).await
    })?;
    let mut by_version: HashMap<String, Vec<(i32, Item)>> = HashMap::new();
    for r in items {
        let list = by_version.entry(r.version_id).or_default();
        let price = ProductPrice {
            product_id: r.product_id,
            price: r.price.0,
        };
        match (r.bundle_id, list.last_mut()) {
            (None, _) => list.push((r.position, Item::Product(price))),
            (Some(_), Some((pos, Item::Bundle { items, .. }))) if *pos == r.position => {
                items.push(price)
            }
            (Some(bundle_id), _) => list.push((
                r.position,
                Item::Bundle {
                    bundle_id,
                    name: r.bundle_name.unwrap_or_default(),
                    description: r.bundle_description,
                    items: vec![price],
                },
            )),
        }
    }
    rows.into_iter()
        .map(|r| {
            let items = by_version
                .remove(&r.id)
                .unwrap_or_default()
                .into_iter()
                .map(|(_, i)| i)
                .collect();
            let mut v = Version::try_from(r)?;
            v.items = items;
            Ok(v)
        })
        .collect()
}

// ---- billing

/// What invoicing reads about one subscription: the subscription (terms, status, cancellation),
/// its billing time zone, every version, and the published versions as spans of time with their
/// items' prices parsed.
#[derive(Debug, Clone)]
pub struct BillingView {
    pub subscription: Subscription,
    /// The subscription's time zone (fixed at activation), or the organization's for a draft.
    pub time_zone: TimeZone,
    pub versions: Vec<Version>,
    /// The published versions in effect, in order: `[start, end)` with their priced items.
    pub spans: Vec<BillingSpan>,
}

impl BillingView {
    /// The billing calendar with `interval` as its cycle (give each price interval its own
    /// calendar: they share the anchor). `None` for a draft, which has no calendar yet.
    pub fn calendar(&self, interval: Interval) -> Option<Result<SubscriptionCalendar, String>> {
        let start = self.subscription.terms.contract.start_date?;
        Some(
            self.subscription
                .calendar(self.time_zone.clone(), interval, start)
                .map_err(|e| e.to_string()),
        )
    }

    /// The subscription's own cycle: the finest interval among the prices of the version in
    /// effect at `at` (or the first one), monthly by default.
    pub fn billing_interval(&self, at: Micros) -> Interval {
        let span = self
            .spans
            .iter()
            .find(|s| s.start <= at && s.end.is_none_or(|e| at < e))
            .or(self.spans.first());
        abacus_core::subscription::billing_interval(
            span.into_iter()
                .flat_map(|s| s.items.iter().map(|i| &i.price)),
        )
    }
}

/// The subscription `id` as billing reads it ([`BillingView`]). `None` when there is none.
pub async fn billing_view(
    c: &mut impl Connection,
    org_id: &str,
    id: &str,
) -> StoreResult<Option<BillingView>> {
    let Some(subscription) = get(c, org_id, id).await? else {
        return Ok(None);
    };
    let zone_name = match &subscription.time_zone {
        Some(z) => z.clone(),
        None => crate::orgs::get(c, org_id)
            .await?
            .map(|o| o.time_zone)
            .unwrap_or_else(|| "UTC".into()),
    };
    let time_zone = parse_time_zone(&zone_name)
        .map_err(|e| StoreError::Corrupt(format!("subscription {id}: {e}")))?;
    let versions = versions(c, org_id, id).await?;
    let spans = billing_spans(&versions, subscription.ends_at)
        .map_err(|e| StoreError::Corrupt(format!("subscription {id}: {e}")))?;
    Ok(Some(BillingView {
        subscription,
        time_zone,
        versions,
        spans,
    }))
}
