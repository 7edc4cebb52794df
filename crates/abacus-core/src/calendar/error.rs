use thiserror::Error;

/// Everything that can go wrong in the calendar: bad input from a caller, or a date that falls
/// outside what the calendar can represent (years -9999 to 9999). Nothing in the calendar panics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CalendarError {
    #[error("unknown time zone {0:?}")]
    UnknownTimeZone(String),
    #[error("unknown billing interval {0:?} (expected monthly, quarterly, semi_annual or yearly)")]
    UnknownInterval(String),
    #[error("unknown billing interval unit {0:?} (expected day, week, month or year)")]
    UnknownIntervalUnit(String),
    #[error("a billing interval needs billing_interval or billing_interval_unit")]
    MissingInterval,
    #[error("billing_interval {named:?} disagrees with billing_interval_count and _unit")]
    ConflictingInterval { named: String },
    #[error("billing interval count must be between 1 and {max} for unit {unit}, got {count}")]
    IntervalCount {
        count: i64,
        unit: &'static str,
        max: u32,
    },
    #[error("unknown contract period type {0:?} (expected fixed or monthly_rolling)")]
    UnknownPeriodType(String),
    #[error("contract duration must be between 1 and {max} months, got {months}")]
    ContractMonths { months: i64, max: u32 },
    #[error("a fixed contract needs duration_months")]
    MissingContractMonths,
    #[error("trial period must be between 0 and {max} days, got {days}")]
    TrialDays { days: i64, max: u32 },
    #[error("date or instant outside the supported calendar range")]
    OutOfRange,
    #[error("amount too large to prorate")]
    Overflow,
}

/// Time zones are resolved up front ([`super::parse_time_zone`]), so the only jiff errors left
/// inside the calendar are dates or instants beyond the representable range.
pub(crate) fn out_of_range(_: jiff::Error) -> CalendarError {
    CalendarError::OutOfRange
}
