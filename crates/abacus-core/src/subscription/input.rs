//! Requests as callers send them (the SDK's `subscriptions.create` and `update` bodies,
//! `VersionItemInput`s, `cancel`), and the rules that turn them into stored subscriptions.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::{
    BillingTerms, ContractTerms, Item, RenewalTerms, Status, Subscription, Terms, VersionSpec,
    VersionStatus,
};
use super::timeline::price_interval;
use crate::calendar::local_date;
use crate::catalog::plan::{
    EntitlementInput, MAX_TRIAL_DAYS, PriceEscalationInput, check_entitlements, check_escalation,
    check_items, check_period, valid_payment_terms,
};
use crate::catalog::{
    Fields, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, Plan, PlanItemInput, Refs, normalize_bundle_id,
};
use crate::currency::Currency;
use crate::customer::Patch;
use crate::pricing::{DiscountInput, SpendingThresholdInput, validate_adjustments};
use crate::time::{Micros, parse_rfc3339};
use crate::validation::{FieldError, Naming};

/// `SubscriptionCancelationReason`.
pub const CANCEL_REASONS: &[&str] = &[
    "no_longer_required",
    "moving_provider",
    "pricing",
    "support",
    "features",
    "upgraded",
    "other",
];
pub const COLLECTION_METHODS: &[&str] = &["manual", "autopay", "external"];
/// Keys in one subscription's `metadata`.
pub const MAX_METADATA_KEYS: usize = 50;

/// `ContractInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    /// `YYYY-MM-DD` (an RFC 3339 timestamp is read as its date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_date: Option<String>,
}

/// `BillingInput` (and `UpdateBillingInput`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_issue_invoices: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_pay_invoices: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_billing_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_collection_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
}

/// `RenewalInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_type: Option<String>,
}

/// `subscriptions.create`'s body; the fields after `auto_activate` are extensions (the SDK sets
/// them through `update`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionInput {
    pub customer_id: String,
    pub name: Option<String>,
    pub currency: Option<String>,
    pub plan_id: Option<String>,
    pub items: Option<Vec<PlanItemInput>>,
    pub contract: Option<ContractInput>,
    pub billing: Option<BillingInput>,
    pub renewal: Option<RenewalInput>,
    pub metadata: Option<Map<String, Value>>,
    pub auto_activate: Option<bool>,
    pub description: Option<String>,
    pub trial_period_days: Option<i64>,
    pub discount: Option<DiscountInput>,
    pub minimum_spend: Option<SpendingThresholdInput>,
    pub maximum_spend: Option<SpendingThresholdInput>,
    pub price_escalation: Option<PriceEscalationInput>,
    pub tags: Option<Vec<String>>,
}

/// The customer a new subscription names, once found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRef {
    pub id: String,
    pub name: String,
    pub currency: String,
}

/// What a create request's ids resolve to, and the organization's defaults.
pub struct NewContext<'a> {
    /// `None`: `customer_id` names no customer of the organization.
    pub customer: Option<&'a CustomerRef>,
    /// The plan `plan_id` names (`None` when unknown or not asked for).
    pub plan: Option<&'a Plan>,
    /// Products, bundles and tags the request names.
    pub refs: &'a Refs,
    /// `billing.payment_terms` when neither the request nor the plan gives one.
    pub default_payment_terms: &'a str,
}

/// A valid new subscription, with its first version (a draft).
#[derive(Debug, Clone, PartialEq)]
pub struct NewSubscription {
    pub customer_id: String,
    pub name: String,
    pub description: Option<String>,
    pub currency: String,
    pub plan_id: Option<String>,
    pub terms: Terms,
    pub metadata: Map<String, Value>,
    pub tag_ids: Vec<String>,
    pub auto_activate: bool,
    pub first_version: VersionSpec,
}

/// A date field: `YYYY-MM-DD`, or an RFC 3339 timestamp read as the date it names (responses
/// echo dates as `2026-07-01T00:00:00Z`).
pub fn parse_date(s: &str) -> Result<Date, String> {
    let t = s.trim();
    if t.len() > 10
        && parse_rfc3339(t).is_ok()
        && let Ok(d) = t[..10].parse::<Date>()
    {
        return Ok(d);
    }
    t.parse::<Date>()
        .map_err(|_| format!("'{s}' is not a date (YYYY-MM-DD)"))
}

fn date_field(f: &mut Fields, field: String, value: Option<&str>) -> Option<Date> {
    match value.map(parse_date) {
        Some(Ok(d)) => Some(d),
        Some(Err(e)) => {
            f.push(field, e);
            None
        }
        None => None,
    }
}

/// Keys are kept as sent; `null` values are dropped (they delete the key in an update).
fn check_metadata(f: &mut Fields, m: &Map<String, Value>) -> Map<String, Value> {
    let field = f.at("", "metadata");
    let out: Map<String, Value> = m
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if out.len() > MAX_METADATA_KEYS {
        f.push(
            field.clone(),
            format!("at most {MAX_METADATA_KEYS} keys are allowed"),
        );
    }
    for k in out.keys() {
        if k.trim().is_empty() || k.chars().count() > MAX_NAME_LEN {
            f.push(
                field.clone(),
                format!("keys must be 1 to {MAX_NAME_LEN} characters"),
            );
            break;
        }
    }
    out
}

/// Subscription-level discounts are percentages (the SDK's `update` says so).
fn check_discount_kind(f: &mut Fields, d: Option<&DiscountInput>) {
    if let Some(d) = d
        && d.kind != "percentage"
    {
        f.push(
            f.at(&f.at("", "discount"), "type"),
            format!(
                "'{}' is not allowed: a subscription-level discount is a percentage",
                d.kind
            ),
        );
    }
}

/// Every rule on a complete set of terms, reported at the request's field paths.
fn check_terms(f: &mut Fields, t: &Terms) {
    check_period(
        f,
        "contract.period_type",
        "contract.duration_months",
        Some(&t.contract.period_type),
        t.contract.duration_months,
    );
    check_period(
        f,
        "renewal.period_type",
        "renewal.duration_months",
        t.renewal.period_type.as_deref(),
        t.renewal.duration_months,
    );
    if let Some(days) = t.trial_period_days
        && !(0..=MAX_TRIAL_DAYS).contains(&days)
    {
        f.push(
            f.at("", "trial_period_days"),
            format!("must be from 0 to {MAX_TRIAL_DAYS}"),
        );
    }
    let billing = f.at("", "billing");
    if !valid_payment_terms(&t.billing.payment_terms) {
        f.push(
            f.at(&billing, "payment_terms"),
            format!(
                "'{}' is not 'due_on_receipt' or net_N with N from 0 to 365 days (e.g. net_30)",
                t.billing.payment_terms
            ),
        );
    }
    if !COLLECTION_METHODS.contains(&t.billing.payment_collection_method.as_str()) {
        f.push(
            f.at(&billing, "payment_collection_method"),
            format!(
                "'{}' is not one of: {}",
                t.billing.payment_collection_method,
                COLLECTION_METHODS.join(", ")
            ),
        );
    }
    if let Some(id) = &t.billing.payment_method_id {
        f.required_text(f.at(&billing, "payment_method_id"), id, MAX_NAME_LEN);
    }
    if let (Some(first), Some(start)) = (t.billing.first_billing_date, t.contract.start_date)
        && first < start
    {
        f.push(
            f.at(&billing, "first_billing_date"),
            format!("{first} is before the contract start ({start})"),
        );
    }
    if let Err(errors) = validate_adjustments(
        t.discount.as_ref(),
        t.minimum_spend.as_ref(),
        t.maximum_spend.as_ref(),
        f.naming,
    ) {
        for e in errors {
            f.push(e.field, e.message);
        }
    }
    if let Some(e) = &t.price_escalation {
        check_escalation(f, e);
    }
}

/// `items` of a request (spelled `items[i]`): the plan rules (products exist, prices valid and
/// fitting their products, one item per product or bundle, bundles in the currency), and every
/// recurring price's interval understood by the calendar.
pub(crate) fn check_item_inputs(
    f: &mut Fields,
    items: &[PlanItemInput],
    currency: &str,
    refs: &Refs,
) -> Vec<Item> {
    let out = check_items(f, items, Some(currency), refs, "subscription");
    let list = f.at("", "items");
    for (i, item) in items.iter().enumerate() {
        let base = format!("{list}[{i}]");
        let mut prices: Vec<(String, &crate::pricing::PriceInput)> = Vec::new();
        if let Some(p) = &item.price {
            prices.push((f.at(&base, "price"), p));
        }
        for (j, c) in item.items.iter().flatten().enumerate() {
            let cbase = format!("{}[{j}]", f.at(&base, "items"));
            prices.push((f.at(&cbase, "price"), &c.price));
        }
        for (path, p) in prices {
            if p.validate(f.naming).is_ok()
                && let Err(e) = price_interval(p)
            {
                f.push(f.at(&path, "billing_interval"), e.to_string());
            }
        }
    }
    out
}

fn key_of(item: &Item) -> (bool, &str) {
    match item {
        Item::Product(p) => (false, p.product_id.as_str()),
        Item::Bundle { bundle_id, .. } => (true, bundle_id.as_str()),
    }
}

/// The plan's items with `overrides` replacing the plan item of the same product or bundle, and
/// the others appended.
pub fn merge_items(plan_items: &[Item], overrides: Vec<Item>) -> Vec<Item> {
    let mut out = plan_items.to_vec();
    for o in overrides {
        match out.iter().position(|i| key_of(i) == key_of(&o)) {
            Some(k) => out[k] = o,
            None => out.push(o),
        }
    }
    out
}

impl SubscriptionInput {
    /// The ids the request names, for the caller to look up: `(product ids, bundle ids)`.
    pub fn referenced(&self) -> (Vec<String>, Vec<String>) {
        let mut products = Vec::new();
        let mut bundles = Vec::new();
        for item in self.items.iter().flatten() {
            products.extend(item.product_id.clone());
            products.extend(item.items.iter().flatten().map(|c| c.product_id.clone()));
            bundles.extend(item.bundle_id.as_deref().map(normalize_bundle_id));
        }
        (products, bundles)
    }

    /// Checks every rule at once. Values left out come from the plan, then the defaults
    /// (`monthly_rolling`, no renewal, no trial, invoices neither issued nor paid automatically,
    /// manual collection, the organization's payment terms).
    pub fn validate(
        &self,
        naming: Naming,
        cx: &NewContext,
    ) -> Result<NewSubscription, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let customer_field = f.at("", "customer_id");
        if self.customer_id.trim().is_empty() {
            f.push(customer_field, "is required");
        } else if cx.customer.is_none() {
            f.push(
                customer_field,
                format!("unknown customer '{}'", self.customer_id),
            );
        }
        let plan_field = f.at("", "plan_id");
        let plan = match &self.plan_id {
            None => None,
            Some(id) => match cx.plan {
                None => {
                    f.push(plan_field.clone(), format!("unknown plan '{id}'"));
                    None
                }
                Some(p) if p.archived_at.is_some() => {
                    f.push(
                        plan_field.clone(),
                        format!("plan '{id}' is archived and cannot start new subscriptions"),
                    );
                    None
                }
                Some(p) => Some(p),
            },
        };
        let currency_field = f.at("", "currency");
        let currency = match (&self.currency, cx.customer) {
            (Some(c), customer) => match Currency::parse(c) {
                Err(e) => {
                    f.push(currency_field.clone(), e);
                    None
                }
                Ok(c) => {
                    let code = c.code().to_string();
                    if let Some(cu) = customer
                        && cu.currency != code
                    {
                        f.push(
                            currency_field.clone(),
                            format!(
                                "must be the customer's currency ({}): invoices are in it",
                                cu.currency
                            ),
                        );
                    }
                    Some(code)
                }
            },
            (None, Some(cu)) => Some(cu.currency.clone()),
            (None, None) => None,
        };
        if let (Some(p), Some(c)) = (plan, &currency)
            && p.spec.currency != *c
        {
            f.push(
                plan_field.clone(),
                format!(
                    "the plan's prices are in {}, the subscription's (the customer's) in {c}",
                    p.spec.currency
                ),
            );
        }
        let overrides = match (&self.items, &currency) {
            (Some(items), Some(c)) => check_item_inputs(&mut f, items, c, cx.refs),
            _ => Vec::new(),
        };
        let items = match plan {
            Some(p) => merge_items(&p.spec.items, overrides),
            None => overrides,
        };

        let pt = plan.map(|p| &p.spec.terms);
        let contract_in = self.contract.clone().unwrap_or_default();
        let (period_type, duration_months) = match &contract_in.period_type {
            Some(t) => (t.clone(), contract_in.duration_months),
            None => match pt.and_then(|t| t.contract_period_type.clone()) {
                Some(t) => (
                    t,
                    contract_in
                        .duration_months
                        .or(pt.and_then(|t| t.contract_duration)),
                ),
                None => ("monthly_rolling".to_string(), contract_in.duration_months),
            },
        };
        let contract_base = f.at("", "contract");
        let start_field = f.at(&contract_base, "start_date");
        let start_date = date_field(&mut f, start_field, contract_in.start_date.as_deref());
        let renewal_in = self.renewal.clone().unwrap_or_default();
        let (renewal_type, renewal_months) = match &renewal_in.period_type {
            Some(t) => (Some(t.clone()), renewal_in.duration_months),
            None if renewal_in.duration_months.is_some() => (None, renewal_in.duration_months),
            None => (
                pt.and_then(|t| t.renewal_period_type.clone()),
                pt.and_then(|t| t.renewal_duration),
            ),
        };
        let billing_in = self.billing.clone().unwrap_or_default();
        let invoice = pt.and_then(|t| t.invoice_settings.as_ref());
        let billing_base = f.at("", "billing");
        let first_field = f.at(&billing_base, "first_billing_date");
        let first_billing_date = date_field(
            &mut f,
            first_field,
            billing_in.first_billing_date.as_deref(),
        );
        check_discount_kind(&mut f, self.discount.as_ref());
        let terms = Terms {
            contract: ContractTerms {
                period_type,
                duration_months,
                start_date,
            },
            renewal: RenewalTerms {
                auto_renew: renewal_in
                    .auto_renew
                    .or(pt.and_then(|t| t.auto_renew))
                    .unwrap_or(false),
                duration_months: renewal_months,
                period_type: renewal_type,
            },
            billing: BillingTerms {
                auto_issue_invoices: billing_in
                    .auto_issue_invoices
                    .or(invoice.and_then(|i| i.auto_issue_invoices))
                    .unwrap_or(false),
                auto_pay_invoices: billing_in
                    .auto_pay_invoices
                    .or(invoice.and_then(|i| i.auto_pay_invoices))
                    .unwrap_or(false),
                first_billing_date,
                payment_collection_method: billing_in
                    .payment_collection_method
                    .clone()
                    .unwrap_or_else(|| "manual".into()),
                payment_method_id: billing_in.payment_method_id.clone(),
                payment_terms: billing_in
                    .payment_terms
                    .clone()
                    .or(pt.and_then(|t| t.payment_terms.clone()))
                    .unwrap_or_else(|| cx.default_payment_terms.to_string()),
            },
            trial_period_days: self
                .trial_period_days
                .or(pt.and_then(|t| t.trial_period_days)),
            discount: self
                .discount
                .clone()
                .or(pt.and_then(|t| t.discount.clone())),
            minimum_spend: self
                .minimum_spend
                .clone()
                .or(pt.and_then(|t| t.minimum_spend.clone())),
            maximum_spend: self
                .maximum_spend
                .clone()
                .or(pt.and_then(|t| t.maximum_spend.clone())),
            price_escalation: self
                .price_escalation
                .clone()
                .or(pt.and_then(|t| t.price_escalation.clone())),
            additional_terms: pt.and_then(|t| t.additional_terms.clone()),
        };
        check_terms(&mut f, &terms);

        let metadata = self
            .metadata
            .as_ref()
            .map(|m| check_metadata(&mut f, m))
            .unwrap_or_default();
        let tags = self.tags.clone().unwrap_or_default();
        let tags_field = f.at("", "tags");
        f.tag_ids(&tags_field, &tags, cx.refs, "subscription");
        let name = match &self.name {
            Some(n) => f.required_text(f.at("", "name"), n, MAX_NAME_LEN),
            None => plan
                .map(|p| p.spec.name.clone())
                .or(cx.customer.map(|c| c.name.clone()))
                .unwrap_or_default(),
        };
        let description = f.optional_text(
            f.at("", "description"),
            self.description.as_deref(),
            MAX_DESCRIPTION_LEN,
        );
        f.into_result()?;
        Ok(NewSubscription {
            customer_id: cx.customer.map(|c| c.id.clone()).unwrap_or_default(),
            name,
            description,
            currency: currency.unwrap_or_default(),
            plan_id: plan.map(|p| p.id.clone()),
            terms,
            metadata,
            tag_ids: tags,
            auto_activate: self
                .auto_activate
                .or(pt.and_then(|t| t.auto_activate))
                .unwrap_or(false),
            first_version: VersionSpec {
                status: VersionStatus::Draft,
                plan_id: plan.map(|p| p.id.clone()),
                description: None,
                effective_at: None,
                items,
                entitlements: pt.map(|t| t.entitlements.clone()).unwrap_or_default(),
            },
        })
    }
}

/// `subscriptions.update`: metadata and terms, never items. Left-out fields keep their value;
/// `null` clears an optional one; `billing` and `renewal` change the fields they carry;
/// `metadata` merges (a `null` value deletes the key); `tags` replaces the list. `contract` is an
/// extension for drafts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubscriptionPatch {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub billing: Option<BillingInput>,
    pub renewal: Option<RenewalInput>,
    pub contract: Option<ContractInput>,
    pub trial_period_days: Patch<i64>,
    pub discount: Patch<DiscountInput>,
    pub minimum_spend: Patch<SpendingThresholdInput>,
    pub maximum_spend: Patch<SpendingThresholdInput>,
    pub price_escalation: Patch<PriceEscalationInput>,
    pub metadata: Option<Map<String, Value>>,
    pub tags: Option<Vec<String>>,
}

fn patched<T: Clone>(p: &Patch<T>, current: &Option<T>) -> Option<T> {
    match p {
        Patch::Absent => current.clone(),
        Patch::Null => None,
        Patch::Value(v) => Some(v.clone()),
    }
}

impl SubscriptionPatch {
    /// Whether the patch changes what the subscription bills (anything besides name,
    /// description, metadata and tags): refused once it is canceled.
    pub fn changes_terms(&self) -> bool {
        self.billing.is_some()
            || self.renewal.is_some()
            || self.contract.is_some()
            || self.trial_period_days != Patch::Absent
            || self.discount != Patch::Absent
            || self.minimum_spend != Patch::Absent
            || self.maximum_spend != Patch::Absent
            || self.price_escalation != Patch::Absent
    }

    /// The subscription with the patch applied, every rule checked. `time_zone` and `now` tell
    /// which periods have started: once active, a trial can only change while it (old and new)
    /// has not ended, auto-renewal can only be switched off while the initial term runs, and the
    /// contract and first billing date are fixed.
    pub fn apply_to(
        &self,
        current: &Subscription,
        naming: Naming,
        refs: &Refs,
        time_zone: &TimeZone,
        now: Micros,
    ) -> Result<Subscription, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let mut s = current.clone();
        let draft = current.status == Status::Draft;
        if let Some(n) = &self.name {
            s.name = f.required_text(f.at("", "name"), n, MAX_NAME_LEN);
        }
        s.description = match &self.description {
            Patch::Value(d) => {
                f.optional_text(f.at("", "description"), Some(d), MAX_DESCRIPTION_LEN)
            }
            p => patched(p, &current.description),
        };
        let t = &mut s.terms;
        if let Some(c) = &self.contract {
            let base = f.at("", "contract");
            if !draft {
                f.push(base.clone(), "is fixed once the subscription is activated");
            }
            if let Some(p) = &c.period_type {
                t.contract.period_type = p.clone();
                t.contract.duration_months = c.duration_months;
            } else if c.duration_months.is_some() {
                t.contract.duration_months = c.duration_months;
            }
            if let Some(d) = &c.start_date {
                let field = f.at(&base, "start_date");
                t.contract.start_date = date_field(&mut f, field, Some(d));
            }
        }
        if let Some(b) = &self.billing {
            let base = f.at("", "billing");
            if let Some(v) = b.auto_issue_invoices {
                t.billing.auto_issue_invoices = v;
            }
            if let Some(v) = b.auto_pay_invoices {
                t.billing.auto_pay_invoices = v;
            }
            if let Some(v) = &b.payment_collection_method {
                t.billing.payment_collection_method = v.clone();
            }
            if let Some(v) = &b.payment_method_id {
                t.billing.payment_method_id = Some(v.clone());
            }
            if let Some(v) = &b.payment_terms {
                t.billing.payment_terms = v.clone();
            }
            if let Some(d) = &b.first_billing_date {
                let field = f.at(&base, "first_billing_date");
                if !draft {
                    f.push(
                        field.clone(),
                        "is fixed once the subscription is activated (billing periods are anchored on it)",
                    );
                }
                t.billing.first_billing_date = date_field(&mut f, field, Some(d));
            }
        }
        if let Some(r) = &self.renewal {
            if let Some(v) = r.auto_renew {
                t.renewal.auto_renew = v;
            }
            if r.period_type.is_some() {
                t.renewal.period_type = r.period_type.clone();
                t.renewal.duration_months = r.duration_months;
            } else if r.duration_months.is_some() {
                t.renewal.duration_months = r.duration_months;
            }
        }
        t.trial_period_days = patched(&self.trial_period_days, &current.terms.trial_period_days);
        if let Patch::Value(d) = &self.discount {
            check_discount_kind(&mut f, Some(d));
        }
        t.discount = patched(&self.discount, &current.terms.discount);
        t.minimum_spend = patched(&self.minimum_spend, &current.terms.minimum_spend);
        t.maximum_spend = patched(&self.maximum_spend, &current.terms.maximum_spend);
        t.price_escalation = patched(&self.price_escalation, &current.terms.price_escalation);
        check_terms(&mut f, &s.terms);

        if !draft && let Ok(today) = local_date(now, time_zone) {
            let start = s.terms.contract.start_date.unwrap_or(today);
            let trial_end = |days: Option<i64>| {
                start
                    .checked_add(jiff::Span::new().days(days.unwrap_or(0)))
                    .unwrap_or(start)
            };
            if self.trial_period_days != Patch::Absent
                && s.terms.trial_period_days.unwrap_or(0)
                    != current.terms.trial_period_days.unwrap_or(0)
            {
                let old_end = trial_end(current.terms.trial_period_days);
                let new_end = trial_end(s.terms.trial_period_days);
                if old_end <= today || new_end <= today {
                    f.push(
                        f.at("", "trial_period_days"),
                        format!(
                            "cannot change: billing periods have started or would start in the past (today is {today}, the trial would end on {new_end})"
                        ),
                    );
                }
            }
            if self.renewal.is_some()
                && let (Ok(contract), Ok(old)) = (
                    s.terms.contract_from(start),
                    current.terms.contract_from(start),
                )
                && let Ok(Some(end)) = contract.end()
                && old.end().ok().flatten() != Some(end)
                && end <= today
            {
                f.push(
                    f.at(&f.at("", "renewal"), "auto_renew"),
                    format!(
                        "the initial term ended on {end}; cancel with effective end_of_term to end the subscription"
                    ),
                );
            }
        }
        if let Some(m) = &self.metadata {
            let mut merged = current.metadata.clone();
            for (k, v) in m {
                if v.is_null() {
                    merged.remove(k);
                } else {
                    merged.insert(k.clone(), v.clone());
                }
            }
            s.metadata = check_metadata(&mut f, &merged);
        }
        if let Some(tags) = &self.tags {
            let field = f.at("", "tags");
            f.tag_ids(&field, tags, refs, "subscription");
            s.tag_ids = tags.clone();
        }
        f.into_result()?;
        Ok(s)
    }
}

/// A version's checked items, and its entitlements when the request gave any.
pub type VersionContent = (Vec<Item>, Option<Vec<EntitlementInput>>);

/// `VersionItemInput`s and entitlements of `subscription_versions.create` and `replace`.
pub fn check_version_content(
    items: &[PlanItemInput],
    entitlements: Option<&[EntitlementInput]>,
    currency: &str,
    naming: Naming,
    refs: &Refs,
) -> Result<VersionContent, Vec<FieldError>> {
    let mut f = Fields::new(naming);
    let items = check_item_inputs(&mut f, items, currency, refs);
    if let Some(e) = entitlements {
        check_entitlements(&mut f, e);
    }
    f.into_result()?;
    Ok((items, entitlements.map(<[EntitlementInput]>::to_vec)))
}

/// A cancellation request: `reason` is required and one of [`CANCEL_REASONS`].
pub fn check_cancel(
    reason: Option<&str>,
    reason_description: Option<&str>,
    naming: Naming,
) -> Result<(String, Option<String>), Vec<FieldError>> {
    let mut f = Fields::new(naming);
    let field = f.at("", "reason");
    let reason = match reason {
        None => {
            f.push(
                field,
                format!("is required: one of {}", CANCEL_REASONS.join(", ")),
            );
            String::new()
        }
        Some(r) if !CANCEL_REASONS.contains(&r) => {
            f.push(
                field,
                format!("'{r}' is not one of: {}", CANCEL_REASONS.join(", ")),
            );
            String::new()
        }
        Some(r) => r.to_string(),
    };
    let description = f.optional_text(
        f.at("", "reason_description"),
        reason_description,
        MAX_DESCRIPTION_LEN,
    );
    f.into_result()?;
    Ok((reason, description))
}
