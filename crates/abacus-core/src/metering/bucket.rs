//! The rollup of one metric for one customer over one hour: enough to answer every aggregation
//! for any union of whole hours without reading events again.

use rust_decimal::Decimal;

use crate::metering::metric::{AggregationMethod, Contribution};
use crate::time::Micros;

/// The value of the latest event, ordered by timestamp and then by arrival (`seq`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Latest {
    pub ts: Micros,
    pub seq: i64,
    pub value: Decimal,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bucket {
    /// Events that matched the metric (whatever their value).
    pub events: i64,
    /// Events that carried a usable numeric value.
    pub values: i64,
    pub sum: Decimal,
    pub min: Option<Decimal>,
    pub max: Option<Decimal>,
    pub latest: Option<Latest>,
}

/// A sum left the range of exact decimals (about 7.9 × 10^28).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a usage total is too large to represent exactly")]
pub struct Overflow;

impl Bucket {
    /// Adds one event's contribution. Excluded events change nothing.
    pub fn add(&mut self, c: &Contribution, ts: Micros, seq: i64) -> Result<(), Overflow> {
        match c {
            Contribution::Excluded => {}
            Contribution::Value(v) => {
                let one = Bucket {
                    events: 1,
                    values: 1,
                    sum: *v,
                    min: Some(*v),
                    max: Some(*v),
                    latest: Some(Latest { ts, seq, value: *v }),
                };
                self.merge(&one)?;
            }
            Contribution::Counted
            | Contribution::Distinct(_)
            | Contribution::MissingField
            | Contribution::NonNumeric => {
                self.events = self.events.checked_add(1).ok_or(Overflow)?;
            }
        }
        Ok(())
    }

    pub fn merge(&mut self, other: &Bucket) -> Result<(), Overflow> {
        self.events = self.events.checked_add(other.events).ok_or(Overflow)?;
        self.values = self.values.checked_add(other.values).ok_or(Overflow)?;
        self.sum = self.sum.checked_add(other.sum).ok_or(Overflow)?;
        self.min = pick(self.min, other.min, |a, b| a <= b);
        self.max = pick(self.max, other.max, |a, b| a >= b);
        self.latest = match (self.latest, other.latest) {
            (Some(a), Some(b)) => Some(if (b.ts, b.seq) > (a.ts, a.seq) { b } else { a }),
            (a, b) => a.or(b),
        };
        Ok(())
    }

    /// The metric's value over the events this bucket holds. `distinct` is the number of distinct
    /// values, which only `count_unique` reads. An empty set of values gives 0 for every method.
    pub fn value(&self, method: AggregationMethod, distinct: usize) -> Decimal {
        let v = match method {
            AggregationMethod::Count => Decimal::from(self.events),
            AggregationMethod::CountUnique => Decimal::from(distinct as u64),
            AggregationMethod::Sum => self.sum,
            AggregationMethod::Min => self.min.unwrap_or_default(),
            AggregationMethod::Max => self.max.unwrap_or_default(),
            AggregationMethod::Latest => self.latest.map(|l| l.value).unwrap_or_default(),
            AggregationMethod::Average => average(self.sum, self.values),
        };
        v.normalize()
    }
}

/// Digits kept after the point of an average (the only aggregation that divides).
pub const AVERAGE_SCALE: u32 = 12;

fn average(sum: Decimal, n: i64) -> Decimal {
    if n == 0 {
        return Decimal::ZERO;
    }
    sum.checked_div(Decimal::from(n))
        .map(|d| {
            d.round_dp_with_strategy(
                AVERAGE_SCALE,
                rust_decimal::RoundingStrategy::MidpointNearestEven,
            )
        })
        .unwrap_or_default()
}

fn pick(
    a: Option<Decimal>,
    b: Option<Decimal>,
    keep_a: impl Fn(Decimal, Decimal) -> bool,
) -> Option<Decimal> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if keep_a(x, y) { x } else { y }),
        (x, y) => x.or(y),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn aggregates() {
        let mut b = Bucket::default();
        b.add(&Contribution::Value(d("2.5")), 10, 1).unwrap();
        b.add(&Contribution::Value(d("-1")), 30, 2).unwrap();
        b.add(&Contribution::Value(d("4")), 20, 3).unwrap();
        b.add(&Contribution::NonNumeric, 40, 4).unwrap();
        b.add(&Contribution::Excluded, 50, 5).unwrap();
        assert_eq!(b.value(AggregationMethod::Count, 0), d("4"));
        assert_eq!(b.value(AggregationMethod::Sum, 0), d("5.5"));
        assert_eq!(b.value(AggregationMethod::Min, 0), d("-1"));
        assert_eq!(b.value(AggregationMethod::Max, 0), d("4"));
        assert_eq!(b.value(AggregationMethod::Latest, 0), d("-1"));
        assert_eq!(
            b.value(AggregationMethod::Average, 0).to_string(),
            "1.833333333333"
        );
        assert_eq!(
            Bucket::default().value(AggregationMethod::Average, 0),
            Decimal::ZERO
        );
    }

    #[test]
    fn latest_ties_break_by_arrival() {
        let mut a = Bucket::default();
        a.add(&Contribution::Value(d("1")), 100, 7).unwrap();
        let mut b = Bucket::default();
        b.add(&Contribution::Value(d("2")), 100, 9).unwrap();
        let mut ab = a.clone();
        ab.merge(&b).unwrap();
        let mut ba = b.clone();
        ba.merge(&a).unwrap();
        assert_eq!(ab, ba);
        assert_eq!(ab.value(AggregationMethod::Latest, 0), d("2"));
    }

    #[test]
    fn overflow_is_an_error() {
        let mut b = Bucket {
            sum: Decimal::MAX,
            ..Default::default()
        };
        assert_eq!(b.add(&Contribution::Value(d("1")), 0, 0), Err(Overflow));
    }
}
