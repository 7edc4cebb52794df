//! Billing calendars and proration: when billing periods start and end, and what share of a
//! fixed fee a partial period carries. Pure and exact; the rules are written out in
//! `docs/billing.md`.
//!
//! - [`BillingSchedule`]: the endless grid of cycles `anchor + k × interval` in a time zone.
//! - [`Contract`]: fixed or rolling terms and their renewals.
//! - [`SubscriptionCalendar`]: a subscription's served time cut into [`BillingPeriod`]s (trial,
//!   stub, regular, truncated), changes split by day ([`ChangeSplit`]) and the
//!   [`BillingDates`] the API reports.
//!
//! Rules decided on civil dates in the billing time zone; instants (`Micros`) are derived from
//! local midnights, so DST never changes a day count.

mod billing_dates;
mod contract;
mod dates;
mod error;
mod interval;
mod period;
mod proration;
mod schedule;
mod subscription;
mod zone;

#[cfg(test)]
mod properties;

pub use billing_dates::{BillingDates, DateRange};
pub use contract::{Contract, ContractTerm, Renewal, Term};
pub use dates::add_months;
pub use error::CalendarError;
pub use interval::{Interval, IntervalUnit};
pub use period::{Cycle, Period};
pub use proration::{ChangeSplit, Proration};
pub use schedule::{BillingSchedule, Cycles};
pub use subscription::{
    BillingPeriod, BillingPeriods, CalendarTerms, PeriodKind, SubscriptionCalendar,
};
pub use zone::{local_date, parse_time_zone, start_of_day};
