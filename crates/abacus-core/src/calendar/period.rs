use jiff::civil::Date;

use super::dates::days_between;
use crate::time::Micros;

/// A half-open stretch of billing time, `[start, end)`, known both as instants and as local
/// dates.
///
/// The instants decide which usage belongs to the period (an event at `t` is in it when
/// `start <= t < end`). The dates decide which days its fixed fees are charged for
/// (`start_date` up to, not including, `end_date`). Normally `start`/`end` are the first instants
/// of `start_date`/`end_date` in the billing time zone; a period cut short by an immediate
/// cancellation at 15:00 ends its usage at 15:00 while its fee days stop at the start of that day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    pub start: Micros,
    pub end: Micros,
    pub start_date: Date,
    pub end_date: Date,
}

impl Period {
    pub fn contains(&self, instant: Micros) -> bool {
        self.start <= instant && instant < self.end
    }

    pub fn contains_date(&self, date: Date) -> bool {
        self.start_date <= date && date < self.end_date
    }

    /// Local calendar days the period covers; its length in hours may differ from `24 × days`
    /// across a DST change.
    pub fn days(&self) -> i64 {
        days_between(self.start_date, self.end_date)
    }

    pub fn duration_micros(&self) -> i64 {
        self.end - self.start
    }
}

/// The `index`-th full period of a schedule: index 0 starts on the anchor, negative indexes are
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cycle {
    pub index: i64,
    pub period: Period,
}
