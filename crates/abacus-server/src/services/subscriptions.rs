//! Subscription operations: lifecycle (create, update, activate, cancel, revert, delete),
//! versions, changes and their previews, billing dates and entitlements. Every write takes the
//! organization's subscription lock first, reads what it checks, lets the core decide, and
//! stores the result in the caller's transaction, with the webhook events of the change (the
//! outbox: see [`subscription_payload`] and docs/webhooks.md for which event fires when).

use abacus_core::calendar::{
    BillingDates, CalendarError, Interval, SubscriptionCalendar, local_date, parse_time_zone,
    start_of_day,
};
use abacus_core::catalog::plan::EntitlementInput;
use abacus_core::catalog::{Plan, PlanItemInput, normalize_bundle_id};
use abacus_core::subscription::{
    self as core, Cancellation, ChangesApplied, CustomerRef, Delta, Effective, NewContext, Status,
    Subscription, SubscriptionInput, SubscriptionPatch, Version, VersionSpec, VersionStatus,
    cancellation_at, change, check_cancel, check_version_content, service_end, version_start,
};
use abacus_core::time::{Micros, now_micros};
use abacus_core::validation::Naming;
use abacus_core::webhooks::{Event, SubscriptionPayload, SubscriptionVersionPayload};
use abacus_store::subscriptions::{self, DueEvents, ListFilter, OnceEvent, SortField};
use abacus_store::{Connection, Tx, customers, orgs, plans, webhooks};
use jiff::civil::Date;
use jiff::tz::TimeZone;

use crate::problem::{ApiError, ApiResult};
use crate::services::catalog;

const WHAT: &str = "Subscription";

/// How many on-cycle dates `billing-dates` lists.
pub const ON_CYCLE_DATES: usize = 12;

/// A subscription with its versions, its billing time zone and the instant it was read at:
/// everything a response shows.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub sub: Subscription,
    pub versions: Vec<Version>,
    pub tz: TimeZone,
    pub now: Micros,
}

fn calendar_error(e: CalendarError) -> ApiError {
    tracing::error!(error = %e, "calendar failed on stored terms");
    ApiError::internal()
}

impl Loaded {
    pub fn today(&self) -> Date {
        local_date(self.now, &self.tz).unwrap_or(Date::MIN)
    }

    pub fn status(&self) -> Status {
        self.sub.status_at(self.now)
    }

    /// The version in effect now (or at the start, for a subscription that has not started).
    pub fn current(&self) -> Option<&Version> {
        let at = match self.service_start() {
            Some(start) if self.sub.status != Status::Draft => self.now.max(start),
            _ => self.now,
        };
        core::current_at(&self.versions, self.sub.ends_at, at).map(|i| &self.versions[i])
    }

    /// The version in effect right now, strictly.
    pub fn in_effect(&self) -> Option<&Version> {
        core::current_at(&self.versions, self.sub.ends_at, self.now).map(|i| &self.versions[i])
    }

    pub fn pending(&self) -> Vec<&Version> {
        core::pending(&self.versions, self.sub.ends_at, self.now)
            .into_iter()
            .map(|i| &self.versions[i])
            .collect()
    }

    fn service_start(&self) -> Option<Micros> {
        self.sub
            .terms
            .contract
            .start_date
            .and_then(|d| start_of_day(d, &self.tz).ok())
    }

    /// The subscription's cycle: the finest interval of the version in effect (or the first
    /// one with items).
    pub fn interval(&self) -> Interval {
        let version = self
            .current()
            .or_else(|| self.versions.iter().find(|v| !v.items.is_empty()));
        core::billing_interval(version.into_iter().flat_map(|v| v.prices()))
    }

    /// The calendar as the subscription stands (a draft as if it started today).
    pub fn calendar(&self) -> ApiResult<SubscriptionCalendar> {
        self.sub
            .calendar(self.tz.clone(), self.interval(), self.today())
            .map_err(calendar_error)
    }

    /// The same without any cancellation: what a new cancellation is judged against.
    fn calendar_uncanceled(&self) -> ApiResult<SubscriptionCalendar> {
        let mut sub = self.sub.clone();
        sub.cancellation = None;
        sub.calendar(self.tz.clone(), self.interval(), self.today())
            .map_err(calendar_error)
    }

    pub fn billing_dates(&self, at: Micros) -> ApiResult<BillingDates> {
        self.calendar()?
            .billing_dates(at, ON_CYCLE_DATES)
            .map_err(calendar_error)
    }

    /// When published version `v` stops being in effect: the next version's start or the end of
    /// service.
    pub fn version_end(&self, v: &Version) -> Option<Micros> {
        core::timeline::timeline(&self.versions, self.sub.ends_at)
            .into_iter()
            .find(|s| self.versions[s.index].id == v.id)
            .and_then(|s| s.end)
    }

    /// The plan the subscription is on: the current version's, else the one it started from.
    pub fn plan_id(&self) -> Option<String> {
        self.current()
            .and_then(|v| v.plan_id.clone())
            .or_else(|| self.sub.plan_id.clone())
    }

    pub fn version(&self, vid: &str) -> ApiResult<&Version> {
        self.versions
            .iter()
            .find(|v| v.id == vid)
            .ok_or_else(|| ApiError::not_found("Version", vid))
    }
}

/// The organization's settings, or 500 (an authenticated request's organization exists).
pub async fn org_settings(c: &mut impl Connection, org_id: &str) -> ApiResult<orgs::Settings> {
    orgs::settings(c, org_id).await?.ok_or_else(|| {
        tracing::error!(
            org_id,
            "organization of an authenticated request is missing"
        );
        ApiError::internal()
    })
}

fn zone(name: &str) -> ApiResult<TimeZone> {
    parse_time_zone(name).map_err(|e| {
        tracing::error!(error = %e, "stored time zone is unknown");
        ApiError::internal()
    })
}

async fn loaded(
    c: &mut impl Connection,
    org_id: &str,
    sub: Subscription,
    org_zone: Option<&TimeZone>,
) -> ApiResult<Loaded> {
    let tz = match (&sub.time_zone, org_zone) {
        (Some(z), _) => zone(z)?,
        (None, Some(z)) => z.clone(),
        (None, None) => zone(&org_settings(c, org_id).await?.time_zone)?,
    };
    let versions = subscriptions::versions(c, org_id, &sub.id).await?;
    Ok(Loaded {
        sub,
        versions,
        tz,
        now: now_micros(),
    })
}

/// The subscription `id` with its versions, or 404.
pub async fn load(c: &mut impl Connection, org_id: &str, id: &str) -> ApiResult<Loaded> {
    let sub = subscriptions::get(c, org_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    loaded(c, org_id, sub, None).await
}

/// A page of subscriptions, each with its versions.
pub async fn list(
    c: &mut impl Connection,
    org_id: &str,
    filter: &ListFilter,
    sort: (SortField, bool),
    limit: i64,
    offset: i64,
) -> ApiResult<(Vec<Loaded>, i64)> {
    let (rows, total) = subscriptions::list(c, org_id, filter, sort, limit, offset).await?;
    let ids: Vec<String> = rows.iter().map(|s| s.id.clone()).collect();
    let mut versions = subscriptions::versions_of(c, org_id, &ids).await?;
    let org_zone = zone(&org_settings(c, org_id).await?.time_zone)?;
    let now = now_micros();
    let mut out = Vec::with_capacity(rows.len());
    for sub in rows {
        let tz = match &sub.time_zone {
            Some(z) => zone(z)?,
            None => org_zone.clone(),
        };
        out.push(Loaded {
            versions: versions.remove(&sub.id).unwrap_or_default(),
            sub,
            tz,
            now,
        });
    }
    Ok((out, total))
}

/// The customer a filter names (an id or an alias); `None` when there is no such customer.
pub async fn resolve_customer(
    c: &mut impl Connection,
    org_id: &str,
    id_or_alias: &str,
) -> ApiResult<Option<String>> {
    Ok(customers::resolve(c, org_id, id_or_alias).await?)
}

fn plan_ids(items: &[PlanItemInput]) -> (Vec<String>, Vec<String>) {
    let mut products = Vec::new();
    let mut bundles = Vec::new();
    for item in items {
        products.extend(item.product_id.clone());
        products.extend(item.items.iter().flatten().map(|c| c.product_id.clone()));
        bundles.extend(item.bundle_id.as_deref().map(normalize_bundle_id));
    }
    (products, bundles)
}

// ---- webhooks

/// A contract date as the API echoes it (`YYYY-MM-DDT00:00:00Z`), as an instant.
fn date_instant(d: Date) -> ApiResult<Micros> {
    start_of_day(d, &TimeZone::UTC).map_err(calendar_error)
}

/// The subscription as the SDK's `SubscriptionPayload` shows it, as read at `l.now`: the status a
/// reader sees then, the contract's dates as `GET /subscriptions/{id}` shows them, `endedAt` once
/// the service has ended.
pub fn subscription_payload(l: &Loaded) -> ApiResult<SubscriptionPayload> {
    let s = &l.sub;
    let t = &s.terms;
    let end_date = match s.status {
        Status::Draft => t.term().ok().and_then(|term| {
            let start = t.contract.start_date?;
            let months = term.duration_months()?;
            abacus_core::calendar::add_months(start, i64::from(months)).ok()
        }),
        _ => l.billing_dates(l.now)?.contract_end_date,
    };
    Ok(SubscriptionPayload {
        id: s.id.clone(),
        account_id: s.customer_id.clone(),
        name: s.name.clone(),
        status: l.status().as_str().into(),
        currency: s.currency.clone(),
        activated_at: s.activated_at,
        contract_start_date: t.contract.start_date.map(date_instant).transpose()?,
        contract_end_date: end_date.map(date_instant).transpose()?,
        ended_at: s.ended_at(l.now),
        created_at: s.created_at,
        updated_at: s.updated_at,
    })
}

/// A version as the SDK's `SubscriptionVersionPayload` shows it.
pub fn version_payload(l: &Loaded, v: &Version) -> SubscriptionVersionPayload {
    SubscriptionVersionPayload {
        id: v.id.clone(),
        account_id: l.sub.customer_id.clone(),
        subscription_id: l.sub.id.clone(),
        status: v.status.as_str().into(),
    }
}

/// Records `event` in the caller's transaction (the outbox).
async fn emit(tx: &mut Tx, org_id: &str, event: Event, now: Micros) -> ApiResult<()> {
    webhooks::enqueue_event(tx, org_id, &event, now).await?;
    Ok(())
}

/// `subscription.version.updated` for the version `vid` as `l` holds it.
async fn emit_version(tx: &mut Tx, org_id: &str, l: &Loaded, vid: &str) -> ApiResult<()> {
    let v = l.version(vid)?;
    emit(
        tx,
        org_id,
        Event::SubscriptionVersionUpdated(version_payload(l, v)),
        l.now,
    )
    .await
}

/// Sends a once-only event (`subscription.started`, `subscription.canceled`) if this transaction
/// is the one that records it ([`subscriptions::claim_event`]); `l` is the subscription as
/// written, read at the event's `now`. True when it was sent.
async fn emit_once(tx: &mut Tx, org_id: &str, l: &Loaded, event: OnceEvent) -> ApiResult<bool> {
    if !subscriptions::claim_event(tx, org_id, &l.sub.id, event, l.now).await? {
        return Ok(false);
    }
    let p = subscription_payload(l)?;
    let event = match event {
        OnceEvent::Started => Event::SubscriptionStarted(p),
        OnceEvent::Canceled => Event::SubscriptionCanceled(p),
    };
    emit(tx, org_id, event, l.now).await?;
    Ok(true)
}

/// What the sweep does for one subscription it claimed ([`subscriptions::due_events`]): sends
/// `subscription.started` and then `subscription.canceled`, each if due and not yet sent, as of
/// `now`. Returns how many it sent.
pub async fn send_due_events(tx: &mut Tx, due: &DueEvents, now: Micros) -> ApiResult<usize> {
    let mut l = load(tx, &due.org_id, &due.id).await?;
    l.now = now;
    let mut sent = 0;
    if due.started && emit_once(tx, &due.org_id, &l, OnceEvent::Started).await? {
        sent += 1;
    }
    if due.canceled && emit_once(tx, &due.org_id, &l, OnceEvent::Canceled).await? {
        sent += 1;
    }
    Ok(sent)
}

/// Creates a subscription (a draft, activated at once with `auto_activate`).
pub async fn create(
    tx: &mut Tx,
    org_id: &str,
    input: SubscriptionInput,
    naming: Naming,
) -> ApiResult<Loaded> {
    subscriptions::lock(tx, org_id).await?;
    let org = org_settings(tx, org_id).await?;
    let customer = match customers::resolve(tx, org_id, &input.customer_id).await? {
        Some(id) => customers::get(tx, org_id, &id).await?.map(|c| CustomerRef {
            id: c.id,
            name: c.name,
            currency: c.currency,
        }),
        None => None,
    };
    let plan = match &input.plan_id {
        Some(id) => plans::get(tx, org_id, id).await?,
        None => None,
    };
    let (product_ids, bundle_ids) = input.referenced();
    let tags = input.tags.clone().unwrap_or_default();
    let refs = catalog::refs(tx, org_id, &[], &tags, &product_ids, &bundle_ids).await?;
    let new = input
        .validate(
            naming,
            &NewContext {
                customer: customer.as_ref(),
                plan: plan.as_ref(),
                refs: &refs,
                default_payment_terms: &org.default_payment_terms,
            },
        )
        .map_err(ApiError::invalid)?;
    let now = now_micros();
    let (sub, first) = subscriptions::insert(tx, org_id, &new, now).await?;
    if new.auto_activate {
        // Published in the same transaction: one version.updated (published), from activation.
        return activate_locked(tx, org_id, &sub.id).await;
    }
    let l = load(tx, org_id, &sub.id).await?;
    emit_version(tx, org_id, &l, &first.id).await?;
    Ok(l)
}

/// `draft → active` (idempotent on an active subscription; 409 on a canceled one).
pub async fn activate(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Loaded> {
    subscriptions::lock(tx, org_id).await?;
    activate_locked(tx, org_id, id).await
}

async fn activate_locked(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Loaded> {
    let l = load(tx, org_id, id).await?;
    match l.status() {
        Status::Active => return Ok(l),
        Status::Canceled => {
            return Err(ApiError::conflict(format!(
                "Subscription '{id}' is canceled and cannot be activated again; create a new subscription"
            )));
        }
        Status::Draft => {}
    }
    if l.versions.is_empty() {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' has no version to activate; create one with POST /subscriptions/{id}/versions"
        )));
    }
    if let Some(empty) = l.versions.iter().find(|v| v.items.is_empty()) {
        return Err(ApiError::conflict(format!(
            "Version '{}' of subscription '{id}' has no items: every version needs at least one price before activation",
            empty.id
        )));
    }
    let org = org_settings(tx, org_id).await?;
    let tz = zone(&org.time_zone)?;
    let now = l.now;
    let today = local_date(now, &tz).map_err(calendar_error)?;
    let mut sub = l.sub.clone();
    let start = sub.terms.contract.start_date.unwrap_or(today);
    sub.terms.contract.start_date = Some(start);
    sub.time_zone = Some(org.time_zone.clone());
    let start_at = start_of_day(start, &tz).map_err(calendar_error)?;
    let ends_at = service_end(&sub.terms, start, &tz, None).map_err(calendar_error)?;
    if let Some(end) = ends_at
        && end <= now
    {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' cannot be activated: its contract, starting {start}, has already ended"
        )));
    }
    for v in &l.versions {
        if let Some(at) = v.effective_at
            && (at < start_at || ends_at.is_some_and(|e| at >= e))
        {
            return Err(ApiError::conflict(format!(
                "Version '{}' takes effect outside the contract (which starts on {start}); replace its effective_at first",
                v.id
            )));
        }
    }
    sub.status = Status::Active;
    sub.activated_at = Some(now);
    sub.ends_at = ends_at;
    subscriptions::update(tx, org_id, &sub, now)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    subscriptions::set_starts_at(tx, org_id, id, start_at).await?;
    let mut published = Vec::new();
    for v in &l.versions {
        if v.status == VersionStatus::Draft {
            subscriptions::publish_version(
                tx,
                org_id,
                id,
                &v.id,
                v.effective_at.unwrap_or(start_at),
                now,
            )
            .await?;
            published.push(v.id.clone());
        }
    }
    let mut l = load(tx, org_id, id).await?;
    l.now = now;
    emit(
        tx,
        org_id,
        Event::SubscriptionActivated(subscription_payload(&l)?),
        now,
    )
    .await?;
    for vid in &published {
        emit_version(tx, org_id, &l, vid).await?;
    }
    // A contract that started on or before today starts now; a later one from the sweep.
    emit_once(tx, org_id, &l, OnceEvent::Started).await?;
    Ok(l)
}

/// Deletes a draft for good; 409 for any other status.
pub async fn delete(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<String> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    if l.sub.status != Status::Draft {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' is {}: only draft subscriptions can be deleted (cancel an active one instead)",
            l.status().as_str()
        )));
    }
    subscriptions::delete(tx, org_id, id).await?;
    Ok(l.sub.id)
}

/// The request of `PATCH /subscriptions/{id}`.
pub async fn update(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    patch: SubscriptionPatch,
    naming: Naming,
) -> ApiResult<Loaded> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    if l.status() == Status::Canceled && patch.changes_terms() {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' is canceled: only its name, description, metadata and tags can change"
        )));
    }
    let tags = patch.tags.clone().unwrap_or_default();
    let refs = catalog::refs(tx, org_id, &[], &tags, &[], &[]).await?;
    let mut sub = patch
        .apply_to(&l.sub, naming, &refs, &l.tz, l.now)
        .map_err(ApiError::invalid)?;
    if sub.status != Status::Draft
        && let Some(start) = sub.terms.contract.start_date
    {
        sub.ends_at = service_end(
            &sub.terms,
            start,
            &l.tz,
            sub.cancellation.as_ref().map(|c| c.effective_at),
        )
        .map_err(calendar_error)?;
    }
    sub.updated_at = l.sub.updated_at;
    if sub == l.sub {
        // Nothing changed: nothing written, no subscription.updated.
        return Ok(l);
    }
    subscriptions::update(tx, org_id, &sub, l.now)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    let l = load(tx, org_id, id).await?;
    emit(
        tx,
        org_id,
        Event::SubscriptionUpdated(subscription_payload(&l)?),
        l.now,
    )
    .await?;
    Ok(l)
}

/// `POST /subscriptions/{id}/cancel`.
pub struct CancelRequest {
    pub reason: Option<String>,
    pub effective: Option<String>,
    pub reason_description: Option<String>,
}

pub async fn cancel(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    req: CancelRequest,
    naming: Naming,
) -> ApiResult<Loaded> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    let (reason, description) = check_cancel(
        req.reason.as_deref(),
        req.reason_description.as_deref(),
        naming,
    )
    .map_err(ApiError::invalid)?;
    let effective_field = naming.field("effective");
    let effective = match &req.effective {
        None => Effective::Immediate,
        Some(e) => Effective::parse(e).map_err(|m| ApiError::invalid_field(&effective_field, m))?,
    };
    match l.status() {
        Status::Draft => {
            return Err(ApiError::conflict(format!(
                "Subscription '{id}' is a draft: delete it instead of canceling it"
            )));
        }
        Status::Canceled => {
            return Err(ApiError::conflict(format!(
                "Subscription '{id}' is already canceled"
            )));
        }
        Status::Active => {}
    }
    let cal = l.calendar_uncanceled()?;
    let at = cancellation_at(effective, &cal, l.now)
        .map_err(|m| ApiError::invalid_field(&effective_field, m))?;
    let mut sub = l.sub.clone();
    sub.cancellation = Some(Cancellation {
        requested_at: l.now,
        effective_at: at,
        reason,
        reason_description: description,
    });
    let start = sub.terms.contract.start_date.unwrap_or(l.today());
    sub.ends_at = service_end(&sub.terms, start, &l.tz, Some(at)).map_err(calendar_error)?;
    let immediate = at <= l.now;
    if immediate {
        sub.status = Status::Canceled;
    }
    subscriptions::update(tx, org_id, &sub, l.now)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    let done = load(tx, org_id, id).await?;
    if immediate {
        emit_once(tx, org_id, &done, OnceEvent::Canceled).await?;
    } else {
        // A new date for a cancellation already scheduled is scheduled again.
        emit(
            tx,
            org_id,
            Event::SubscriptionCancelationScheduled(subscription_payload(&done)?),
            done.now,
        )
        .await?;
    }
    Ok(done)
}

/// Extension: withdraws a cancellation that has not taken effect yet.
pub async fn revert_cancellation(tx: &mut Tx, org_id: &str, id: &str) -> ApiResult<Loaded> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    if l.sub.scheduled_cancellation(l.now).is_none() {
        let why = match l.status() {
            Status::Canceled => "its cancellation has already taken effect",
            _ => "no cancellation is scheduled",
        };
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' has no cancellation to revert: {why}"
        )));
    }
    let mut sub = l.sub.clone();
    sub.cancellation = None;
    let start = sub.terms.contract.start_date.unwrap_or(l.today());
    sub.ends_at = service_end(&sub.terms, start, &l.tz, None).map_err(calendar_error)?;
    subscriptions::update(tx, org_id, &sub, l.now)
        .await?
        .ok_or_else(|| ApiError::not_found(WHAT, id))?;
    let l = load(tx, org_id, id).await?;
    emit(
        tx,
        org_id,
        Event::SubscriptionCancelationReverted(subscription_payload(&l)?),
        l.now,
    )
    .await?;
    Ok(l)
}

// ---- versions

/// `subscription_versions.create` and `replace`.
pub struct VersionRequest {
    pub items: Vec<PlanItemInput>,
    pub description: Option<String>,
    pub effective_at: Option<String>,
    pub entitlements: Option<Vec<EntitlementInput>>,
    /// Create as a draft (default) or publish at once.
    pub draft: Option<bool>,
}

fn refuse_if_canceled(l: &Loaded, what: &str) -> ApiResult<()> {
    if l.status() == Status::Canceled {
        return Err(ApiError::conflict(format!(
            "Subscription '{}' is canceled: {what}",
            l.sub.id
        )));
    }
    Ok(())
}

/// When a version given `effective_at` takes effect. In a draft subscription only a date can be
/// given (keywords need a running calendar).
fn version_effective(
    l: &Loaded,
    raw: Option<&str>,
    published: bool,
    field: &str,
) -> ApiResult<Option<Micros>> {
    let parsed = raw
        .map(Effective::parse)
        .transpose()
        .map_err(|m| ApiError::invalid_field(field, m))?;
    if l.sub.status == Status::Draft {
        return match parsed {
            None => Ok(None),
            Some(Effective::Date(d)) => {
                if let Some(start) = l.sub.terms.contract.start_date
                    && d < start
                {
                    return Err(ApiError::invalid_field(
                        field,
                        format!("{d} is before the contract start ({start})"),
                    ));
                }
                Ok(Some(start_of_day(d, &l.tz).map_err(calendar_error)?))
            }
            Some(_) => Err(ApiError::invalid_field(
                field,
                "a draft subscription takes a date (YYYY-MM-DD) or nothing (the contract start)",
            )),
        };
    }
    let e = match parsed {
        Some(e) => e,
        None if published => Effective::Immediate,
        None => return Ok(None),
    };
    version_start(e, &l.calendar()?, l.now)
        .map(Some)
        .map_err(|m| ApiError::invalid_field(field, m))
}

async fn version_refs(
    c: &mut impl Connection,
    org_id: &str,
    items: &[PlanItemInput],
) -> ApiResult<abacus_core::catalog::Refs> {
    let (products, bundles) = plan_ids(items);
    catalog::refs(c, org_id, &[], &[], &products, &bundles).await
}

pub async fn create_version(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    req: VersionRequest,
    naming: Naming,
) -> ApiResult<(Loaded, Version)> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    refuse_if_canceled(&l, "its versions can no longer change")?;
    let draft = req.draft.unwrap_or(true);
    if !draft && l.sub.status == Status::Draft {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' is a draft: its versions are published when it is activated (send draft: true, or activate it first)"
        )));
    }
    let refs = version_refs(tx, org_id, &req.items).await?;
    let (items, entitlements) = check_version_content(
        &req.items,
        req.entitlements.as_deref(),
        &l.sub.currency,
        naming,
        &refs,
    )
    .map_err(ApiError::invalid)?;
    let effective_at = version_effective(
        &l,
        req.effective_at.as_deref(),
        !draft,
        &naming.field("effective_at"),
    )?;
    let base = l.current().or(l.versions.last());
    let spec = VersionSpec {
        status: if draft {
            VersionStatus::Draft
        } else {
            VersionStatus::Published
        },
        plan_id: base.and_then(|v| v.plan_id.clone()),
        description: req.description.clone(),
        effective_at,
        items,
        entitlements: entitlements
            .unwrap_or_else(|| base.map(|v| v.entitlements.clone()).unwrap_or_default()),
    };
    check_description(&spec.description, naming)?;
    let v = subscriptions::insert_version(tx, org_id, id, &spec, l.now).await?;
    let l = load(tx, org_id, id).await?;
    emit_version(tx, org_id, &l, &v.id).await?;
    Ok((l, v))
}

fn check_description(d: &Option<String>, naming: Naming) -> ApiResult<()> {
    if let Some(d) = d
        && d.chars().count() > abacus_core::catalog::MAX_DESCRIPTION_LEN
    {
        return Err(ApiError::invalid_field(
            &naming.field("description"),
            format!(
                "must be at most {} characters",
                abacus_core::catalog::MAX_DESCRIPTION_LEN
            ),
        ));
    }
    Ok(())
}

pub async fn replace_version(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    vid: &str,
    req: VersionRequest,
    naming: Naming,
) -> ApiResult<(Loaded, Version)> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    let current = l.version(vid)?.clone();
    if current.status == VersionStatus::Published {
        return Err(ApiError::conflict(format!(
            "Version '{vid}' is published and immutable; create a new version instead"
        )));
    }
    refuse_if_canceled(&l, "its versions can no longer change")?;
    let refs = version_refs(tx, org_id, &req.items).await?;
    let (items, entitlements) = check_version_content(
        &req.items,
        req.entitlements.as_deref(),
        &l.sub.currency,
        naming,
        &refs,
    )
    .map_err(ApiError::invalid)?;
    let effective_at = match &req.effective_at {
        None => current.effective_at,
        Some(raw) => version_effective(&l, Some(raw), false, &naming.field("effective_at"))?,
    };
    let spec = VersionSpec {
        status: VersionStatus::Draft,
        plan_id: current.plan_id.clone(),
        description: req.description.clone().or(current.description.clone()),
        effective_at,
        items,
        entitlements: entitlements.unwrap_or(current.entitlements.clone()),
    };
    check_description(&spec.description, naming)?;
    let v = subscriptions::replace_version(tx, org_id, id, vid, &spec, l.now)
        .await?
        .ok_or_else(|| ApiError::not_found("Version", vid))?;
    let l = load(tx, org_id, id).await?;
    emit_version(tx, org_id, &l, &v.id).await?;
    Ok((l, v))
}

pub async fn publish_version(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    vid: &str,
) -> ApiResult<(Loaded, Version)> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    let v = l.version(vid)?.clone();
    if v.status == VersionStatus::Published {
        return Err(ApiError::conflict(format!(
            "Version '{vid}' is already published"
        )));
    }
    refuse_if_canceled(&l, "its versions can no longer be published")?;
    if l.sub.status == Status::Draft {
        return Err(ApiError::conflict(format!(
            "Subscription '{id}' is a draft: activate it, which publishes its draft versions"
        )));
    }
    if v.items.is_empty() {
        return Err(ApiError::conflict(format!(
            "Version '{vid}' has no items: a published version needs at least one price"
        )));
    }
    let effective = match v.effective_at {
        Some(t) => Effective::Instant(t),
        None => Effective::Immediate,
    };
    let at = version_start(effective, &l.calendar()?, l.now).map_err(|m| {
        ApiError::conflict(format!(
            "Version '{vid}' cannot be published: {m}; replace its effective_at first"
        ))
    })?;
    let v = subscriptions::publish_version(tx, org_id, id, vid, at, l.now)
        .await?
        .ok_or_else(|| ApiError::not_found("Version", vid))?;
    let l = load(tx, org_id, id).await?;
    emit_version(tx, org_id, &l, &v.id).await?;
    Ok((l, v))
}

pub async fn delete_version(tx: &mut Tx, org_id: &str, id: &str, vid: &str) -> ApiResult<()> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    let v = l.version(vid)?;
    if v.status == VersionStatus::Published {
        return Err(ApiError::conflict(format!(
            "Version '{vid}' is published: published versions are kept; supersede it with a new version"
        )));
    }
    subscriptions::delete_version(tx, org_id, id, vid).await?;
    Ok(())
}

// ---- changes

/// `subscription_changes.create` and `preview`.
#[derive(Debug, Clone, Default)]
pub struct ChangeRequest {
    pub delta: Delta,
    pub description: Option<String>,
    pub draft: bool,
    pub effective: Option<String>,
    pub plan_id: Option<String>,
    pub source_version_id: Option<String>,
}

/// The version a change makes, before it is written.
#[derive(Debug, Clone)]
pub struct ChangeOutcome {
    pub source_version_id: String,
    pub effective_at: Micros,
    pub applied: ChangesApplied,
    pub spec: VersionSpec,
}

fn delta_ids(d: &Delta) -> (Vec<String>, Vec<String>) {
    let mut products = Vec::new();
    let mut bundles = Vec::new();
    for a in &d.add {
        products.extend(a.product_id.clone());
        products.extend(a.items.iter().flatten().map(|c| c.product_id.clone()));
        bundles.extend(a.bundle_id.as_deref().map(normalize_bundle_id));
    }
    for u in &d.update {
        products.extend(u.product_id.clone());
        products.extend(u.items.iter().flatten().map(|c| c.product_id.clone()));
        products.extend(u.add_items.iter().flatten().map(|c| c.product_id.clone()));
    }
    (products, bundles)
}

/// Computes a change against the subscription as loaded: the same function serves the preview
/// and the write, so the preview is what the change writes.
pub async fn plan_change(
    c: &mut impl Connection,
    org_id: &str,
    l: &Loaded,
    req: &ChangeRequest,
    naming: Naming,
) -> ApiResult<ChangeOutcome> {
    let id = &l.sub.id;
    match l.status() {
        Status::Draft => {
            return Err(ApiError::conflict(format!(
                "Subscription '{id}' is a draft: activate it first, or edit its draft version with PUT /subscriptions/{id}/versions/{{vid}}"
            )));
        }
        Status::Canceled => {
            return Err(ApiError::conflict(format!(
                "Subscription '{id}' is canceled and can no longer change"
            )));
        }
        Status::Active => {}
    }
    let effective_field = naming.field("effective");
    let effective = match &req.effective {
        None => Effective::Immediate,
        Some(e) => Effective::parse(e).map_err(|m| ApiError::invalid_field(&effective_field, m))?,
    };
    let at = version_start(effective, &l.calendar()?, l.now)
        .map_err(|m| ApiError::invalid_field(&effective_field, m))?;
    let source = match &req.source_version_id {
        Some(vid) => l.versions.iter().find(|v| v.id == *vid).ok_or_else(|| {
            ApiError::invalid_field(
                &naming.field("source_version_id"),
                format!("'{vid}' is not a version of subscription '{id}'"),
            )
        })?,
        None => l.current().ok_or_else(|| {
            ApiError::conflict(format!(
                "Subscription '{id}' has no version in effect to change; name a source_version_id"
            ))
        })?,
    };
    let plan_field = naming.field("plan_id");
    let plan: Option<Plan> = match &req.plan_id {
        None => None,
        Some(pid) => {
            let p = plans::get(c, org_id, pid).await?.ok_or_else(|| {
                ApiError::invalid_field(&plan_field, format!("unknown plan '{pid}'"))
            })?;
            if p.archived_at.is_some() {
                return Err(ApiError::invalid_field(
                    &plan_field,
                    format!("plan '{pid}' is archived"),
                ));
            }
            if p.spec.currency != l.sub.currency {
                return Err(ApiError::invalid_field(
                    &plan_field,
                    format!(
                        "the plan's prices are in {}, the subscription's in {}",
                        p.spec.currency, l.sub.currency
                    ),
                ));
            }
            Some(p)
        }
    };
    if req.delta.is_empty() && plan.is_none() {
        return Err(ApiError::invalid_field(
            &naming.field("add"),
            "nothing to change: give add, remove, update or plan_id",
        ));
    }
    check_description(&req.description, naming)?;
    let base = match &plan {
        Some(p) => p.spec.items.clone(),
        None => source.items.clone(),
    };
    let (products, bundles) = delta_ids(&req.delta);
    let refs = catalog::refs(c, org_id, &[], &[], &products, &bundles).await?;
    let items = change::apply(&base, &req.delta, &l.sub.currency, naming, &refs)
        .map_err(ApiError::invalid)?;
    if items.is_empty() {
        return Err(ApiError::invalid_field(
            &naming.field("remove"),
            "would leave the subscription without items; cancel it instead",
        ));
    }
    let applied = change::diff(&source.items, &items);
    Ok(ChangeOutcome {
        source_version_id: source.id.clone(),
        effective_at: at,
        applied,
        spec: VersionSpec {
            status: if req.draft {
                VersionStatus::Draft
            } else {
                VersionStatus::Published
            },
            plan_id: plan
                .as_ref()
                .map(|p| p.id.clone())
                .or(source.plan_id.clone()),
            description: req.description.clone(),
            effective_at: Some(at),
            items,
            entitlements: match &plan {
                Some(p) => p.spec.terms.entitlements.clone(),
                None => source.entitlements.clone(),
            },
        },
    })
}

/// Applies a change: writes the new version (published unless `draft`).
pub async fn apply_change(
    tx: &mut Tx,
    org_id: &str,
    id: &str,
    req: &ChangeRequest,
    naming: Naming,
) -> ApiResult<(Loaded, ChangeOutcome, Version)> {
    subscriptions::lock(tx, org_id).await?;
    let l = load(tx, org_id, id).await?;
    let outcome = plan_change(tx, org_id, &l, req, naming).await?;
    let v = subscriptions::insert_version(tx, org_id, id, &outcome.spec, l.now).await?;
    let l = load(tx, org_id, id).await?;
    emit_version(tx, org_id, &l, &v.id).await?;
    Ok((l, outcome, v))
}

// ---- entitlements

/// The entitlements of the version in effect (none for a draft or a canceled subscription).
pub fn entitlements(l: &Loaded) -> Vec<(&Version, &EntitlementInput)> {
    match l.in_effect() {
        Some(v) => v.entitlements.iter().map(|e| (v, e)).collect(),
        None => Vec::new(),
    }
}

/// Every entitlement of a customer's active subscriptions, subscription by subscription.
pub async fn customer_entitlements(
    c: &mut impl Connection,
    org_id: &str,
    customer: &str,
) -> ApiResult<Vec<Loaded>> {
    let id = customers::resolve(c, org_id, customer)
        .await?
        .ok_or_else(|| ApiError::not_found("Customer", customer))?;
    let now = now_micros();
    let subs = subscriptions::active_for_customer(c, org_id, &id, now).await?;
    let mut out = Vec::with_capacity(subs.len());
    for s in subs {
        out.push(loaded(c, org_id, s, None).await?);
    }
    Ok(out)
}

// ---- organization

/// What `PATCH /organization` changes.
#[derive(Debug, Default)]
pub struct OrgUpdate {
    pub name: Option<String>,
    pub time_zone: Option<String>,
    pub default_payment_terms: Option<String>,
}

/// Changes the organization's settings. A new time zone applies to subscriptions activated from
/// now on; active ones keep the zone they were activated in (their periods are already laid out).
pub async fn update_org(tx: &mut Tx, org_id: &str, u: OrgUpdate) -> ApiResult<orgs::Settings> {
    subscriptions::lock(tx, org_id).await?;
    let mut s = org_settings(tx, org_id).await?;
    let mut errors = Vec::new();
    if let Some(n) = u.name {
        let n = n.trim().to_string();
        if n.is_empty() || n.chars().count() > 255 {
            errors.push(abacus_core::FieldError {
                field: "name".into(),
                message: "must be 1 to 255 characters".into(),
            });
        }
        s.name = n;
    }
    if let Some(z) = u.time_zone {
        match parse_time_zone(z.trim()) {
            Ok(_) => s.time_zone = z.trim().to_string(),
            Err(_) => errors.push(abacus_core::FieldError {
                field: "time_zone".into(),
                message: format!(
                    "'{z}' is not an IANA time zone (such as UTC, America/New_York or Europe/Berlin)"
                ),
            }),
        }
    }
    if let Some(p) = u.default_payment_terms {
        if abacus_core::catalog::plan::valid_payment_terms(&p) {
            s.default_payment_terms = p;
        } else {
            errors.push(abacus_core::FieldError {
                field: "default_payment_terms".into(),
                message: format!(
                    "'{p}' is not 'due_on_receipt' or net_N with N from 0 to 365 days (e.g. net_30)"
                ),
            });
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    orgs::update_settings(tx, &s).await?;
    Ok(s)
}
