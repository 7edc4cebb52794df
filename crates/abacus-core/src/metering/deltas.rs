//! What a set of new events adds to the rollups: per (metric, customer, hour) bucket deltas,
//! distinct values, and per-metric counts of skipped events. Built in memory for a batch, then
//! merged into storage in one pass, hourly and (through [`Deltas::by_day`]) daily.

use std::collections::{BTreeMap, BTreeSet};

use crate::metering::bucket::{Bucket, Overflow};
use crate::metering::metric::{Contribution, Metric};
use crate::metering::usage::RawEvent;
use crate::metering::window::{day_floor, hour_floor};
use crate::time::Micros;

/// Identifies a rollup bucket: its metric, customer and start (a UTC hour, or a UTC day for
/// daily rollups).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BucketKey {
    pub metric_id: String,
    pub customer_id: String,
    pub start: Micros,
}

/// Events a metric matched but could not use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skipped {
    pub missing: i64,
    pub non_numeric: i64,
}

#[derive(Debug, Default)]
pub struct Deltas {
    /// Sorted, so writers always touch rows in the same order (no lock-order deadlocks).
    pub buckets: BTreeMap<BucketKey, Bucket>,
    pub distinct: BTreeSet<(BucketKey, String)>,
    pub skipped: BTreeMap<String, Skipped>,
}

impl Deltas {
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty() && self.distinct.is_empty() && self.skipped.is_empty()
    }

    /// Adds one event of `customer_id` to every metric in `metrics` that counts it.
    pub fn add(
        &mut self,
        metrics: &[Metric],
        customer_id: &str,
        event: &RawEvent,
    ) -> Result<(), Overflow> {
        for m in metrics {
            let c = m.contribution(&event.event_name, &event.properties);
            match c {
                Contribution::Excluded => continue,
                Contribution::MissingField => {
                    self.skipped.entry(m.id.clone()).or_default().missing += 1
                }
                Contribution::NonNumeric => {
                    self.skipped.entry(m.id.clone()).or_default().non_numeric += 1
                }
                _ => {}
            }
            let key = BucketKey {
                metric_id: m.id.clone(),
                customer_id: customer_id.to_string(),
                start: hour_floor(event.ts),
            };
            if let Contribution::Distinct(v) = &c {
                self.distinct.insert((key.clone(), v.clone()));
            }
            self.buckets
                .entry(key)
                .or_default()
                .add(&c, event.ts, event.seq)?;
        }
        Ok(())
    }

    /// The same buckets and distinct values gathered into UTC days. Skipped counts belong to a
    /// metric, not to a bucket, so they stay with the hourly deltas.
    pub fn by_day(&self) -> Result<Deltas, Overflow> {
        let day = |k: &BucketKey| BucketKey {
            metric_id: k.metric_id.clone(),
            customer_id: k.customer_id.clone(),
            start: day_floor(k.start),
        };
        let mut days = Deltas::default();
        for (k, b) in &self.buckets {
            days.buckets.entry(day(k)).or_default().merge(b)?;
        }
        days.distinct = self
            .distinct
            .iter()
            .map(|(k, v)| (day(k), v.clone()))
            .collect();
        Ok(days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::metric::{Aggregation, AggregationMethod};
    use crate::metering::properties::{PropValue, Properties};
    use crate::metering::window::HOUR;

    fn metric(id: &str, method: AggregationMethod) -> Metric {
        Metric {
            id: id.into(),
            name: id.into(),
            description: None,
            event_name: "e".into(),
            aggregation: Aggregation {
                method,
                field: Some("v".into()),
            },
            filter_groups: vec![],
            tag_ids: vec![],
            created_at: 0,
            updated_at: 0,
            archived_at: None,
        }
    }

    #[test]
    fn groups_by_metric_customer_and_hour() {
        let metrics = vec![
            metric("sum", AggregationMethod::Sum),
            metric("uniq", AggregationMethod::CountUnique),
        ];
        let ev = |seq, ts, v: Option<&str>| {
            let mut properties = Properties::new();
            if let Some(v) = v {
                properties.insert("v".into(), PropValue::Str(v.into()));
            }
            RawEvent {
                seq,
                ts,
                event_name: "e".into(),
                properties,
            }
        };
        let mut d = Deltas::default();
        d.add(&metrics, "c1", &ev(1, 10, Some("2"))).unwrap();
        d.add(&metrics, "c1", &ev(2, 20, Some("3"))).unwrap();
        d.add(&metrics, "c1", &ev(3, HOUR + 1, Some("x"))).unwrap();
        d.add(&metrics, "c2", &ev(4, 5, None)).unwrap();
        let key = |m: &str, c: &str, h| BucketKey {
            metric_id: m.into(),
            customer_id: c.into(),
            start: h,
        };
        assert_eq!(d.buckets[&key("sum", "c1", 0)].sum, 5.into());
        assert_eq!(d.buckets[&key("sum", "c1", HOUR)].events, 1);
        assert_eq!(d.buckets[&key("sum", "c1", HOUR)].values, 0);
        assert_eq!(d.distinct.len(), 3);
        assert_eq!(
            d.skipped["sum"],
            Skipped {
                missing: 1,
                non_numeric: 1
            }
        );
        assert_eq!(
            d.skipped["uniq"],
            Skipped {
                missing: 1,
                non_numeric: 0
            }
        );
    }

    #[test]
    fn by_day_merges_the_hours_of_each_utc_day() {
        let m = vec![metric("sum", AggregationMethod::Sum)];
        let ev = |seq, ts, v: &str| RawEvent {
            seq,
            ts,
            event_name: "e".into(),
            properties: Properties::from([("v".to_string(), PropValue::Str(v.into()))]),
        };
        let mut d = Deltas::default();
        d.add(&m, "c1", &ev(1, HOUR, "1.5")).unwrap();
        d.add(&m, "c1", &ev(2, 23 * HOUR, "2")).unwrap();
        d.add(&m, "c1", &ev(3, 24 * HOUR, "4")).unwrap();
        d.add(&m, "c1", &ev(4, -1, "8")).unwrap();
        d.add(&m, "c1", &ev(5, HOUR + 2, "x")).unwrap();
        let days = d.by_day().unwrap();
        let key = |start| BucketKey {
            metric_id: "sum".into(),
            customer_id: "c1".into(),
            start,
        };
        assert_eq!(days.buckets.len(), 3);
        let first = &days.buckets[&key(0)];
        assert_eq!((first.events, first.values), (3, 2));
        assert_eq!(first.sum, "3.5".parse().unwrap());
        assert_eq!(first.latest.unwrap().seq, 2);
        assert_eq!(days.buckets[&key(24 * HOUR)].sum, 4.into());
        assert_eq!(days.buckets[&key(-24 * HOUR)].sum, 8.into());
        assert!(days.skipped.is_empty(), "skipped counts stay hourly");
    }
}
