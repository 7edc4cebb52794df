//! Plans: reusable pricing templates (items with prices, contract and renewal terms, discount,
//! spend thresholds, escalation, entitlements, invoice settings) that subscriptions start from.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    Fields, MAX_DESCRIPTION_LEN, MAX_ITEMS, MAX_NAME_LEN, ProductPrice, ProductPriceInput, Refs,
    join, normalize_bundle_id,
};
use crate::currency::Currency;
use crate::pricing::{DiscountInput, Interval, PriceInput, SpendingThresholdInput};
use crate::time::Micros;
use crate::validation::{FieldError, Naming};

pub const MAX_ENTITLEMENTS: usize = 100;
/// Longest `additional_terms` (Markdown).
pub const MAX_TERMS_LEN: usize = 20_000;
/// Longest contract, renewal or escalation interval, in months (20 years).
pub const MAX_MONTHS: i64 = 240;
pub const MAX_TRIAL_DAYS: i64 = 3650;
/// Longest `net_N` payment term, in days.
pub const MAX_NET_DAYS: u32 = 365;

/// `PriceEscalationInput`: raise the prices by `percentage` every `interval_months`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PriceEscalationInput {
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalate_metered_unit_rates: Option<bool>,
    pub interval_months: i64,
    /// A percent number (`"5.00"` is 5 %).
    #[serde(
        default,
        with = "rust_decimal::serde::str_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub percentage: Option<Decimal>,
    /// `percentage`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `EntitlementInput`: a feature or allowance the plan provisions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementInput {
    pub entitlement_key: String,
    /// `static` or `grant_based`.
    pub mode: String,
    /// `boolean`, `number`, `string` or `credit_allocation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always a string (`"true"`, `"1000"`, `"premium"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allocation: Option<EntitlementAllocationInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<EntitlementTimingInput>,
}

/// `EntitlementAllocationInput`: credits granted per period.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementAllocationInput {
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// `monetary` or `units`.
    pub credit_type: String,
    pub rollover_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollover_max_periods: Option<i64>,
}

/// `EntitlementTimingInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntitlementTimingInput {
    /// `monthly`, `quarterly`, `semi_annual` or `yearly`; required for `recurring`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// `recurring` or `one_off`.
    pub recurrence: String,
}

/// `CreatePlanInvoiceSettingsInput`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceSettingsInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_issue_invoices: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_pay_invoices: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_footer_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_memo_template: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_activation_email: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_invoices_to_customer: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_receipts_to_customer: Option<bool>,
}

/// The plan's terms besides its identity and items, stored and echoed as given (once valid).
/// Fields left out stay out: the subscription that starts from the plan applies its defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanTerms {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_period_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_renew: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_period_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renewal_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_activate: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_period_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_terms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_escalation: Option<PriceEscalationInput>,
    #[serde(default)]
    pub entitlements: Vec<EntitlementInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_settings: Option<InvoiceSettingsInput>,
}

/// `CreatePlanItemInput`: a product with its price (`product_id`, `price`) or a bundle
/// (`bundle_id`, optionally `name`, `bundle_description` and the children in `items`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItemInput {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<PriceInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle_description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub items: Option<Vec<ProductPriceInput>>,
}

/// A plan as a caller describes it (`plans.create`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanInput {
    pub name: String,
    pub description: Option<String>,
    pub currency: String,
    pub terms: PlanTerms,
    /// Tag ids (the SDK calls the field `tags`).
    pub tags: Vec<String>,
    pub items: Vec<PlanItemInput>,
}

/// A valid plan item.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // a plan holds at most 100 items; boxing buys nothing
pub enum PlanItem {
    Product(ProductPrice),
    /// A bundle's products, copied into the plan when it was written (from `items`, or from the
    /// bundle's prices when `items` was left out), so later bundle changes do not change the plan.
    Bundle {
        bundle_id: String,
        name: String,
        description: Option<String>,
        items: Vec<ProductPrice>,
    },
}

impl From<&PlanItem> for PlanItemInput {
    fn from(item: &PlanItem) -> Self {
        match item {
            PlanItem::Product(p) => PlanItemInput {
                product_id: Some(p.product_id.clone()),
                price: Some(p.price.clone()),
                ..Default::default()
            },
            PlanItem::Bundle {
                bundle_id,
                name,
                description,
                items,
            } => PlanItemInput {
                bundle_id: Some(bundle_id.clone()),
                name: Some(name.clone()),
                bundle_description: description.clone(),
                items: Some(items.iter().cloned().map(Into::into).collect()),
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSpec {
    pub name: String,
    pub description: Option<String>,
    /// An ISO 4217 code, upper case.
    pub currency: String,
    pub terms: PlanTerms,
    pub tag_ids: Vec<String>,
    pub items: Vec<PlanItem>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub id: String,
    pub spec: PlanSpec,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub archived_at: Option<Micros>,
}

impl From<&PlanSpec> for PlanInput {
    fn from(s: &PlanSpec) -> Self {
        PlanInput {
            name: s.name.clone(),
            description: s.description.clone(),
            currency: s.currency.clone(),
            terms: s.terms.clone(),
            tags: s.tag_ids.clone(),
            items: s.items.iter().map(PlanItemInput::from).collect(),
        }
    }
}

/// `due_on_receipt`, or `net_N` with N from 0 to 365 days.
pub fn valid_payment_terms(s: &str) -> bool {
    s == "due_on_receipt"
        || s.strip_prefix("net_").is_some_and(|n| {
            !n.is_empty()
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u32>().is_ok_and(|d| d <= MAX_NET_DAYS)
        })
}

impl PlanInput {
    /// Checks every rule; tags, products and bundles must be in `refs`.
    pub fn validate(&self, naming: Naming, refs: &Refs) -> Result<PlanSpec, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let name = f.required_text(f.at("", "name"), &self.name, MAX_NAME_LEN);
        let description = f.optional_text(
            f.at("", "description"),
            self.description.as_deref(),
            MAX_DESCRIPTION_LEN,
        );
        let currency = match Currency::parse(&self.currency) {
            Ok(c) => Some(c.code().to_string()),
            Err(e) => {
                f.push(f.at("", "currency"), e);
                None
            }
        };
        check_terms(&mut f, &self.terms);
        let tags_field = f.at("", "tags");
        f.tag_ids(&tags_field, &self.tags, refs, "plan");
        let items = check_items(&mut f, &self.items, currency.as_deref(), refs, "plan");
        f.into_result()?;
        Ok(PlanSpec {
            name,
            description,
            currency: currency.unwrap_or_default(),
            terms: self.terms.clone(),
            tag_ids: self.tags.clone(),
            items,
        })
    }
}

pub(crate) fn check_period(
    f: &mut Fields,
    type_snake: &str,
    duration_snake: &str,
    kind: Option<&str>,
    duration: Option<i64>,
) {
    let type_field = f.at("", type_snake);
    let duration_field = f.at("", duration_snake);
    match kind {
        None => {}
        Some("fixed") if duration.is_none() => {
            f.push(
                duration_field.clone(),
                format!("is required when {type_field} is 'fixed' (in months)"),
            );
        }
        Some("monthly_rolling") if duration.is_some_and(|d| d != 1) => {
            f.push(
                duration_field.clone(),
                format!("must be omitted (or 1) when {type_field} is 'monthly_rolling': it runs month by month"),
            );
        }
        Some("fixed") | Some("monthly_rolling") => {}
        Some(other) => f.push(
            type_field,
            format!("'{other}' is not one of: fixed, monthly_rolling"),
        ),
    }
    if let Some(d) = duration
        && !(1..=MAX_MONTHS).contains(&d)
    {
        f.push(
            duration_field,
            format!("must be from 1 to {MAX_MONTHS} months"),
        );
    }
}

fn check_terms(f: &mut Fields, t: &PlanTerms) {
    check_period(
        f,
        "contract_period_type",
        "contract_duration",
        t.contract_period_type.as_deref(),
        t.contract_duration,
    );
    check_period(
        f,
        "renewal_period_type",
        "renewal_duration",
        t.renewal_period_type.as_deref(),
        t.renewal_duration,
    );
    if let Some(days) = t.trial_period_days
        && !(0..=MAX_TRIAL_DAYS).contains(&days)
    {
        f.push(
            f.at("", "trial_period_days"),
            format!("must be from 0 to {MAX_TRIAL_DAYS}"),
        );
    }
    if let Some(p) = &t.payment_terms
        && !valid_payment_terms(p)
    {
        f.push(
            f.at("", "payment_terms"),
            format!("'{p}' is not 'due_on_receipt' or net_N with N from 0 to {MAX_NET_DAYS} days (e.g. net_30)"),
        );
    }
    f.optional_text(
        f.at("", "additional_terms"),
        t.additional_terms.as_deref(),
        MAX_TERMS_LEN,
    );
    if let Err(errors) = crate::pricing::validate_adjustments(
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
    check_entitlements(f, &t.entitlements);
    if let Some(s) = &t.invoice_settings {
        let base = f.at("", "invoice_settings");
        for (snake, v) in [
            ("invoice_footer_text", &s.invoice_footer_text),
            ("invoice_memo_template", &s.invoice_memo_template),
        ] {
            if v.as_ref()
                .is_some_and(|v| v.chars().count() > MAX_DESCRIPTION_LEN)
            {
                f.push(
                    f.at(&base, snake),
                    format!("must be at most {MAX_DESCRIPTION_LEN} characters"),
                );
            }
        }
    }
}

/// Checks a `price_escalation` (spelled `price_escalation` at the top level).
pub(crate) fn check_escalation(f: &mut Fields, e: &PriceEscalationInput) {
    let base = f.at("", "price_escalation");
    if e.kind != "percentage" {
        f.push(
            f.at(&base, "type"),
            format!("'{}' is not one of: percentage", e.kind),
        );
    }
    if !(1..=MAX_MONTHS).contains(&e.interval_months) {
        f.push(
            f.at(&base, "interval_months"),
            format!("must be from 1 to {MAX_MONTHS}"),
        );
    }
    match e.percentage {
        None if e.enabled => f.push(
            f.at(&base, "percentage"),
            "is required when the escalation is enabled",
        ),
        Some(p) if p <= Decimal::ZERO || p > Decimal::ONE_HUNDRED => f.push(
            f.at(&base, "percentage"),
            "must be a percentage above 0 and at most 100 (\"5\" is 5%)",
        ),
        _ => {}
    }
}

pub(crate) fn check_entitlements(f: &mut Fields, list: &[EntitlementInput]) {
    let field = f.at("", "entitlements");
    if list.len() > MAX_ENTITLEMENTS {
        f.push(
            field.clone(),
            format!("at most {MAX_ENTITLEMENTS} entitlements are allowed"),
        );
    }
    for (i, e) in list.iter().enumerate() {
        let base = format!("{field}[{i}]");
        let key_field = f.at(&base, "entitlement_key");
        let key = f.required_text(key_field.clone(), &e.entitlement_key, MAX_NAME_LEN);
        if list[..i].iter().any(|o| o.entitlement_key.trim() == key) && !key.is_empty() {
            f.push(key_field, format!("duplicate entitlement_key '{key}'"));
        }
        let mode_ok = match e.mode.as_str() {
            "static" | "grant_based" => true,
            other => {
                f.push(
                    f.at(&base, "mode"),
                    format!("'{other}' is not one of: static, grant_based"),
                );
                false
            }
        };
        let value_field = f.at(&base, "value");
        let allocation_field = f.at(&base, "allocation");
        match e.kind.as_str() {
            "credit_allocation" => {
                if e.allocation.is_none() {
                    f.push(
                        allocation_field.clone(),
                        "is required for a credit_allocation entitlement",
                    );
                }
                if e.value.is_some() {
                    f.push(
                        value_field,
                        "must be omitted for a credit_allocation entitlement (the allocation is its value)",
                    );
                }
            }
            kind @ ("boolean" | "number" | "string") => {
                if e.allocation.is_some() {
                    f.push(
                        allocation_field.clone(),
                        format!("must be omitted for a {kind} entitlement"),
                    );
                }
                match (kind, e.value.as_deref()) {
                    (_, None) => {
                        f.push(value_field, format!("is required for a {kind} entitlement"))
                    }
                    ("boolean", Some(v)) if v != "true" && v != "false" => {
                        f.push(value_field, "must be \"true\" or \"false\"")
                    }
                    ("number", Some(v)) if v.trim().parse::<Decimal>().is_err() => f.push(
                        value_field,
                        format!("'{v}' is not a number (a decimal string such as \"1000\")"),
                    ),
                    ("string", Some(v)) => {
                        f.required_text(value_field, v, MAX_DESCRIPTION_LEN);
                    }
                    _ => {}
                }
            }
            other => f.push(
                f.at(&base, "type"),
                format!("'{other}' is not one of: boolean, number, string, credit_allocation"),
            ),
        }
        if mode_ok && e.mode == "grant_based" {
            if e.kind != "credit_allocation" {
                f.push(
                    f.at(&base, "type"),
                    "must be 'credit_allocation' for a grant_based entitlement",
                );
            }
            if e.timing.is_none() {
                f.push(
                    f.at(&base, "timing"),
                    "is required for a grant_based entitlement (when credits are granted)",
                );
            }
        }
        if let Some(a) = &e.allocation {
            if a.amount < Decimal::ZERO {
                f.push(f.at(&allocation_field, "amount"), "must not be negative");
            }
            if a.credit_type != "monetary" && a.credit_type != "units" {
                f.push(
                    f.at(&allocation_field, "credit_type"),
                    format!("'{}' is not one of: monetary, units", a.credit_type),
                );
            }
            match a.rollover_max_periods {
                Some(_) if !a.rollover_enabled => f.push(
                    f.at(&allocation_field, "rollover_max_periods"),
                    "must be omitted when rollover_enabled is false",
                ),
                Some(n) if n < 1 => f.push(
                    f.at(&allocation_field, "rollover_max_periods"),
                    "must be at least 1",
                ),
                _ => {}
            }
        }
        if let Some(t) = &e.timing {
            let tb = f.at(&base, "timing");
            match (t.recurrence.as_str(), t.interval.as_deref()) {
                ("recurring", None) => f.push(
                    f.at(&tb, "interval"),
                    format!(
                        "is required for a recurring entitlement ({})",
                        Interval::NAMES
                    ),
                ),
                ("recurring", Some(i)) if Interval::parse(i).is_none() => f.push(
                    f.at(&tb, "interval"),
                    format!("'{i}' is not one of: {}", Interval::NAMES),
                ),
                ("one_off", Some(_)) => f.push(
                    f.at(&tb, "interval"),
                    "must be omitted for a one_off entitlement",
                ),
                ("recurring" | "one_off", _) => {}
                (other, _) => f.push(
                    f.at(&tb, "recurrence"),
                    format!("'{other}' is not one of: recurring, one_off"),
                ),
            }
        }
    }
}

/// Checks `items` (spelled `items[i]` in the caller's naming); `owner` names what the items belong
/// to in messages ("plan", "subscription").
pub(crate) fn check_items(
    f: &mut Fields,
    items: &[PlanItemInput],
    currency: Option<&str>,
    refs: &Refs,
    owner: &str,
) -> Vec<PlanItem> {
    let list = f.at("", "items");
    if items.len() > MAX_ITEMS {
        f.push(
            list.clone(),
            format!("at most {MAX_ITEMS} items are allowed"),
        );
    }
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let base = format!("{list}[{i}]");
        let is_bundle = item.bundle_id.is_some()
            || item.items.is_some()
            || item.name.is_some()
            || item.bundle_description.is_some();
        if !is_bundle {
            if item.product_id.is_none() && item.price.is_none() {
                f.push(
                    base,
                    "must be a product (product_id and price) or a bundle (bundle_id, with optional name and items)",
                );
                continue;
            }
            let product_id = item.product_id.as_deref().unwrap_or("");
            if let Some(k) = items[..i]
                .iter()
                .position(|o| o.bundle_id.is_none() && o.product_id.as_deref() == Some(product_id))
                && !product_id.is_empty()
            {
                f.push(
                    f.at(&base, "product_id"),
                    format!("product '{product_id}' is already an item ({list}[{k}])"),
                );
                continue;
            }
            let price_path = f.at(&base, "price");
            match &item.price {
                None => {
                    f.push(price_path, "is required for a product item");
                    if product_id.is_empty() {
                        f.push(f.at(&base, "product_id"), "is required");
                    } else if !refs.products.contains_key(product_id) {
                        f.push(
                            f.at(&base, "product_id"),
                            format!("unknown product '{product_id}'"),
                        );
                    }
                }
                Some(price) => {
                    if let Some(p) = f.product_price(&base, product_id, price, &price_path, refs) {
                        out.push(PlanItem::Product(p));
                    }
                }
            }
            continue;
        }

        for (snake, given) in [
            ("product_id", item.product_id.is_some()),
            ("price", item.price.is_some()),
        ] {
            if given {
                f.push(
                    f.at(&base, snake),
                    "must be omitted for a bundle item (the bundle's products and prices are in items)",
                );
            }
        }
        let bundle_field = f.at(&base, "bundle_id");
        let bundle_id = item.bundle_id.as_deref().map(normalize_bundle_id);
        let bundle = match &bundle_id {
            None => {
                f.push(bundle_field.clone(), "is required for a bundle item");
                None
            }
            Some(id) => {
                let b = refs.bundles.get(id);
                if b.is_none() {
                    f.push(bundle_field.clone(), format!("unknown bundle '{id}'"));
                }
                b
            }
        };
        if let (Some(b), Some(c)) = (bundle, currency)
            && let Some(bc) = &b.currency
            && bc != c
        {
            f.push(
                bundle_field.clone(),
                format!("the bundle's prices are in {bc}, the {owner}'s in {c}"),
            );
        }
        if let Some(id) = &bundle_id
            && let Some(k) = items[..i]
                .iter()
                .position(|o| o.bundle_id.as_deref().map(normalize_bundle_id).as_ref() == Some(id))
        {
            f.push(
                bundle_field,
                format!("bundle '{id}' is already an item ({list}[{k}])"),
            );
        }
        let name = match &item.name {
            Some(n) => Some(f.required_text(f.at(&base, "name"), n, MAX_NAME_LEN)),
            None => bundle.map(|b| b.name.clone()),
        };
        let description = match &item.bundle_description {
            Some(d) => f.optional_text(
                f.at(&base, "bundle_description"),
                Some(d),
                MAX_DESCRIPTION_LEN,
            ),
            None => bundle.and_then(|b| b.description.clone()),
        };
        let children = match &item.items {
            None => bundle.map(|b| b.prices.clone()).unwrap_or_default(),
            Some(children) => {
                let clist = f.at(&base, "items");
                if children.is_empty() {
                    f.push(
                        clist.clone(),
                        "at least one item is required (or leave items out to use the bundle's prices)",
                    );
                } else if children.len() > MAX_ITEMS {
                    f.push(
                        clist.clone(),
                        format!("at most {MAX_ITEMS} items are allowed"),
                    );
                }
                let mut out = Vec::with_capacity(children.len());
                for (j, c) in children.iter().enumerate() {
                    let cbase = format!("{clist}[{j}]");
                    if let Some(k) = children[..j]
                        .iter()
                        .position(|o| o.product_id == c.product_id)
                        && !c.product_id.is_empty()
                    {
                        f.push(
                            f.at(&cbase, "product_id"),
                            format!(
                                "product '{}' is already in this bundle ({clist}[{k}])",
                                c.product_id
                            ),
                        );
                        continue;
                    }
                    let price_path = join(&cbase, &f.naming.field("price"));
                    if let Some(p) =
                        f.product_price(&cbase, &c.product_id, &c.price, &price_path, refs)
                    {
                        out.push(p);
                    }
                }
                out
            }
        };
        if let (Some(bundle_id), Some(name)) = (bundle_id, name) {
            out.push(PlanItem::Bundle {
                bundle_id,
                name,
                description,
                items: children,
            });
        }
    }
    out
}
