//! Subscriptions and their versions as stored and read back.

use jiff::civil::Date;
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::calendar::{
    CalendarError, CalendarTerms, Contract, Interval, Renewal, SubscriptionCalendar, Term,
    start_of_day,
};
use crate::catalog::PlanItem;
use crate::catalog::plan::{EntitlementInput, PriceEscalationInput};
use crate::pricing::{DiscountInput, PriceInput, SpendingThresholdInput};
use crate::time::Micros;

/// A priced item of a version: a product with its price, or a bundle of priced products (the
/// same shape as a plan's items, which subscriptions copy).
pub type Item = PlanItem;

/// The stored lifecycle state. A reader sees [`Subscription::status_at`], which also turns an
/// active subscription whose service has ended (a cancellation that took effect, a fixed contract
/// that did not renew) into `canceled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Draft,
    Active,
    Canceled,
}

impl Status {
    pub const NAMES: &'static str = "draft, active, canceled";

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "active" => Some(Self::Active),
            "canceled" => Some(Self::Canceled),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Active => "active",
            Self::Canceled => "canceled",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VersionStatus {
    /// Editable; not billed.
    Draft,
    /// Immutable; in effect from its `effective_at` until the next published version starts.
    Published,
}

impl VersionStatus {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "draft" => Some(Self::Draft),
            "published" => Some(Self::Published),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Published => "published",
        }
    }
}

/// `Option<Date>` as `"YYYY-MM-DD"` (or absent) in stored JSON.
pub(crate) mod opt_date {
    use jiff::civil::Date;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&d.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| s.parse::<Date>().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// `contract`: the term and, once known, its start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContractTerms {
    /// `fixed` or `monthly_rolling`.
    pub period_type: String,
    /// Months of a `fixed` term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    /// The first day of service. Absent on a draft created without one: activation sets it to the
    /// day of activation.
    #[serde(default, with = "opt_date", skip_serializing_if = "Option::is_none")]
    pub start_date: Option<Date>,
}

/// `renewal`: what follows a fixed term.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewalTerms {
    pub auto_renew: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_months: Option<i64>,
    /// `fixed` or `monthly_rolling`; absent renews for the initial term.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_type: Option<String>,
}

/// `billing`: invoicing flags and the billing anchor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingTerms {
    pub auto_issue_invoices: bool,
    pub auto_pay_invoices: bool,
    /// The schedule's anchor when given (see `docs/billing.md` §3).
    #[serde(default, with = "opt_date", skip_serializing_if = "Option::is_none")]
    pub first_billing_date: Option<Date>,
    /// `manual`, `autopay` or `external`.
    pub payment_collection_method: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method_id: Option<String>,
    /// `net_N` or `due_on_receipt`.
    pub payment_terms: String,
}

/// Everything a subscription bills by, besides its items: stored as one JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    pub contract: ContractTerms,
    pub renewal: RenewalTerms,
    pub billing: BillingTerms,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial_period_days: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount: Option<DiscountInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_spend: Option<SpendingThresholdInput>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_escalation: Option<PriceEscalationInput>,
    /// Copied from the plan (Markdown appended to the contract).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_terms: Option<String>,
}

impl Terms {
    /// The contract term (`contract.period_type`, `duration_months`).
    pub fn term(&self) -> Result<Term, CalendarError> {
        Term::from_fields(&self.contract.period_type, self.contract.duration_months)
    }

    /// What follows a fixed term.
    pub fn renewal(&self) -> Result<Renewal, CalendarError> {
        let term = match &self.renewal.period_type {
            None => match self.renewal.duration_months {
                Some(m) => Some(Term::fixed(m)?),
                None => None,
            },
            Some(t) => Some(Term::from_fields(t, self.renewal.duration_months)?),
        };
        Ok(Renewal {
            auto_renew: self.renewal.auto_renew,
            term,
        })
    }

    /// The contract from `start` (the stored start date, or the day a draft would start).
    pub fn contract_from(&self, start: Date) -> Result<Contract, CalendarError> {
        Ok(Contract::new(start, self.term()?, self.renewal()?))
    }

    /// What the calendar needs, with `start` as the contract start and `interval` as the cycle.
    pub fn calendar_terms(
        &self,
        start: Date,
        time_zone: TimeZone,
        interval: Interval,
    ) -> Result<CalendarTerms, CalendarError> {
        Ok(CalendarTerms {
            contract: self.contract_from(start)?,
            interval,
            time_zone,
            trial_days: self.trial_period_days.unwrap_or(0),
            first_billing_date: self.billing.first_billing_date,
        })
    }
}

/// A cancellation: requested at `requested_at`, ending the service at `effective_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancellation {
    pub requested_at: Micros,
    pub effective_at: Micros,
    /// One of [`CANCEL_REASONS`](super::CANCEL_REASONS).
    pub reason: String,
    pub reason_description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// 8 base62 characters.
    pub id: String,
    pub customer_id: String,
    pub name: String,
    pub description: Option<String>,
    /// ISO 4217, the customer's currency.
    pub currency: String,
    pub status: Status,
    /// The plan the subscription was created from.
    pub plan_id: Option<String>,
    pub terms: Terms,
    pub metadata: Map<String, Value>,
    pub tag_ids: Vec<String>,
    /// The billing time zone, fixed at activation (the organization's at that moment). A draft
    /// follows the organization's.
    pub time_zone: Option<String>,
    pub cancellation: Option<Cancellation>,
    /// The end of service: the earlier of a cancellation and the end of a fixed contract that
    /// does not renew. `None` runs on.
    pub ends_at: Option<Micros>,
    pub activated_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Subscription {
    /// The status a reader sees at `now`: an active subscription whose service has ended is
    /// canceled.
    pub fn status_at(&self, now: Micros) -> Status {
        match self.status {
            Status::Active if self.ends_at.is_some_and(|end| end <= now) => Status::Canceled,
            s => s,
        }
    }

    /// A cancellation that has not taken effect yet at `now`.
    pub fn scheduled_cancellation(&self, now: Micros) -> Option<&Cancellation> {
        self.cancellation
            .as_ref()
            .filter(|c| self.status == Status::Active && c.effective_at > now)
    }

    /// When the service ended, if it has by `now`.
    pub fn ended_at(&self, now: Micros) -> Option<Micros> {
        self.ends_at.filter(|&end| end <= now)
    }

    /// The calendar at `interval`: the contract from its start (or `draft_start` for a draft
    /// without one), in `time_zone`, cut at the cancellation when there is one.
    pub fn calendar(
        &self,
        time_zone: TimeZone,
        interval: Interval,
        draft_start: Date,
    ) -> Result<SubscriptionCalendar, CalendarError> {
        let start = self.terms.contract.start_date.unwrap_or(draft_start);
        let cal =
            SubscriptionCalendar::new(self.terms.calendar_terms(start, time_zone, interval)?)?;
        match &self.cancellation {
            Some(c) => cal.canceled_at(c.effective_at),
            None => Ok(cal),
        }
    }
}

/// The end of service for these terms: the end of a fixed contract that does not renew, or the
/// cancellation, whichever comes first.
pub fn service_end(
    terms: &Terms,
    start: Date,
    time_zone: &TimeZone,
    cancel_at: Option<Micros>,
) -> Result<Option<Micros>, CalendarError> {
    let contract_end = match terms.contract_from(start)?.end()? {
        Some(d) => Some(start_of_day(d, time_zone)?),
        None => None,
    };
    Ok(match (contract_end, cancel_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    })
}

/// One version of a subscription's priced items.
#[derive(Debug, Clone, PartialEq)]
pub struct Version {
    /// `subv_` and 22 base62 characters.
    pub id: String,
    pub subscription_id: String,
    /// 1, 2, … in creation order within the subscription.
    pub number: i64,
    pub status: VersionStatus,
    /// The plan its items came from (the creation plan, or the plan a change switched to).
    pub plan_id: Option<String>,
    pub description: Option<String>,
    /// When it takes over. A draft may not have one yet (it is then fixed when published, or at
    /// activation for the first version).
    pub effective_at: Option<Micros>,
    pub items: Vec<Item>,
    pub entitlements: Vec<EntitlementInput>,
    pub published_at: Option<Micros>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Version {
    /// The item addressed by a product id (a standalone product) or a bundle id (`bnd_…`, or
    /// the same bundle written `bun_…`).
    pub fn item(&self, reference: &str) -> Option<&Item> {
        let bundle = crate::catalog::normalize_bundle_id(reference);
        self.items
            .iter()
            .find(|i| matches!(i, Item::Product(p) if p.product_id == reference))
            .or_else(|| {
                self.items
                    .iter()
                    .find(|i| matches!(i, Item::Bundle { bundle_id, .. } if *bundle_id == bundle))
            })
    }

    /// Every priced product of the version, bundle children included.
    pub fn prices(&self) -> impl Iterator<Item = &PriceInput> {
        self.items.iter().flat_map(|i| match i {
            Item::Product(p) => vec![&p.price],
            Item::Bundle { items, .. } => items.iter().map(|p| &p.price).collect(),
        })
    }
}

/// What a new version, or a draft's replacement, holds.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionSpec {
    pub status: VersionStatus,
    pub plan_id: Option<String>,
    pub description: Option<String>,
    pub effective_at: Option<Micros>,
    pub items: Vec<Item>,
    pub entitlements: Vec<EntitlementInput>,
}
