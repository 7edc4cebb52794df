//! Usage of one metric for one customer over `[from, to)`, optionally as a series of windows.
//!
//! The cost must not grow with the number of events: whole hours come from the hourly rollups
//! ([`Bucket`]s), and only the parts of the range that do not cover a whole hour (the edges, and
//! hours cut by a window boundary) are read from the raw events. [`plan`] decides which is which;
//! [`compute`] combines them; [`recompute`] is the same answer straight from raw events, for
//! checks and for `group_by`.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::metering::bucket::{Bucket, Overflow};
use crate::metering::metric::{AggregationMethod, Contribution, Metric};
use crate::metering::properties::Properties;
use crate::metering::window::{hour_ceil, hour_floor};
use crate::time::Micros;

/// An event as read back for aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub seq: i64,
    pub ts: Micros,
    pub event_name: String,
    pub properties: Properties,
}

/// Which parts of the range to read from where.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ranges of whole hours, answered by rollups.
    pub hours: Vec<(Micros, Micros)>,
    /// Ranges answered by raw events.
    pub raw: Vec<(Micros, Micros)>,
}

impl Plan {
    /// The span of all rollup hours, to fetch them with one range query.
    pub fn hour_span(&self) -> Option<(Micros, Micros)> {
        Some((self.hours.first()?.0, self.hours.last()?.1))
    }

    fn in_hours(&self, bucket: Micros) -> bool {
        self.hours.iter().any(|(a, b)| *a <= bucket && bucket < *b)
    }
}

/// Plans contiguous `windows` (as made by [`crate::metering::window::windows`]).
pub fn plan(windows: &[(Micros, Micros)]) -> Plan {
    let mut p = Plan::default();
    for &(a, b) in windows {
        let (h0, h1) = (hour_ceil(a), hour_floor(b));
        if h0 < h1 {
            push_range(&mut p.hours, (h0, h1));
            if a < h0 {
                push_range(&mut p.raw, (a, h0));
            }
            if h1 < b {
                push_range(&mut p.raw, (h1, b));
            }
        } else {
            push_range(&mut p.raw, (a, b));
        }
    }
    p
}

fn push_range(ranges: &mut Vec<(Micros, Micros)>, r: (Micros, Micros)) {
    match ranges.last_mut() {
        Some(last) if last.1 == r.0 => last.1 = r.1,
        _ => ranges.push(r),
    }
}

fn window_of(windows: &[(Micros, Micros)], ts: Micros) -> Option<usize> {
    let i = windows.partition_point(|(a, _)| *a <= ts).checked_sub(1)?;
    (ts < windows[i].1).then_some(i)
}

/// The metric's value per window. `buckets` are hourly rollups (start, bucket) and `distinct`
/// hourly distinct values (start, value); anything outside the plan's hours is ignored, as are raw
/// events outside its raw ranges.
pub fn compute(
    metric: &Metric,
    windows: &[(Micros, Micros)],
    plan: &Plan,
    buckets: &[(Micros, Bucket)],
    distinct: &[(Micros, String)],
    raw: &[RawEvent],
) -> Result<Vec<Decimal>, Overflow> {
    let mut acc = vec![Bucket::default(); windows.len()];
    let mut sets: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); windows.len()];
    for (start, bucket) in buckets {
        if plan.in_hours(*start)
            && let Some(w) = window_of(windows, *start)
        {
            acc[w].merge(bucket)?;
        }
    }
    for (start, value) in distinct {
        if plan.in_hours(*start)
            && let Some(w) = window_of(windows, *start)
        {
            sets[w].insert(value);
        }
    }
    let contributions: Vec<(usize, &RawEvent, Contribution)> = raw
        .iter()
        .filter(|e| plan.raw.iter().any(|(a, b)| *a <= e.ts && e.ts < *b))
        .filter_map(|e| {
            window_of(windows, e.ts)
                .map(|w| (w, e, metric.contribution(&e.event_name, &e.properties)))
        })
        .collect();
    for (w, e, c) in &contributions {
        acc[*w].add(c, e.ts, e.seq)?;
        if let Contribution::Distinct(v) = c {
            sets[*w].insert(v.as_str());
        }
    }
    Ok(acc
        .iter()
        .zip(&sets)
        .map(|(b, s)| b.value(metric.aggregation.method, s.len()))
        .collect())
}

/// The metric's value over `[from, to)` straight from raw events, split by the text of the
/// `group_by` property when given (events without it form the `None` group).
pub fn recompute(
    metric: &Metric,
    from: Micros,
    to: Micros,
    group_by: Option<&str>,
    raw: &[RawEvent],
) -> Result<BTreeMap<Option<String>, Decimal>, Overflow> {
    let mut groups: BTreeMap<Option<String>, (Bucket, BTreeSet<String>)> = BTreeMap::new();
    if group_by.is_none() {
        groups.insert(None, Default::default());
    }
    for e in raw.iter().filter(|e| from <= e.ts && e.ts < to) {
        let c = metric.contribution(&e.event_name, &e.properties);
        if c == Contribution::Excluded {
            continue;
        }
        let key = group_by
            .and_then(|g| e.properties.get(g))
            .map(|v| v.text().into_owned());
        let (bucket, set) = groups.entry(key).or_default();
        bucket.add(&c, e.ts, e.seq)?;
        if let Contribution::Distinct(v) = c {
            set.insert(v);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, (b, s))| (k, b.value(metric.aggregation.method, s.len())))
        .collect())
}

/// The metric's value over `[from, to)` per combination of the values of several properties (a
/// matrix price's dimensions). An event lacking a property leaves that key out of its
/// combination.
pub fn recompute_by(
    metric: &Metric,
    from: Micros,
    to: Micros,
    dimensions: &[String],
    raw: &[RawEvent],
) -> Result<Vec<(Combination, Decimal)>, Overflow> {
    let mut groups: BTreeMap<Combination, (Bucket, BTreeSet<String>)> = BTreeMap::new();
    for e in raw.iter().filter(|e| from <= e.ts && e.ts < to) {
        let c = metric.contribution(&e.event_name, &e.properties);
        if c == Contribution::Excluded {
            continue;
        }
        let key = dimensions
            .iter()
            .filter_map(|d| {
                e.properties
                    .get(d)
                    .map(|v| (d.clone(), v.text().into_owned()))
            })
            .collect();
        let (bucket, set) = groups.entry(key).or_default();
        bucket.add(&c, e.ts, e.seq)?;
        if let Contribution::Distinct(v) = c {
            set.insert(v);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(k, (b, s))| (k, b.value(metric.aggregation.method, s.len())))
        .collect())
}

/// Values of several properties, by property name.
pub type Combination = BTreeMap<String, String>;

/// A metric method's value from its rollup parts, exposed for callers that aggregate buckets
/// themselves.
pub fn value_of(method: AggregationMethod, bucket: &Bucket, distinct: usize) -> Decimal {
    bucket.value(method, distinct)
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use jiff::tz::TimeZone;
    use proptest::prelude::*;

    use super::*;
    use crate::metering::metric::{Aggregation, Filter, FilterGroup, FilterOp, GroupOp};
    use crate::metering::properties::PropValue;
    use crate::metering::window::{HOUR, WindowKind, windows};

    fn metric(method: AggregationMethod, groups: Vec<FilterGroup>) -> Metric {
        Metric {
            id: "mtr_t".into(),
            name: "t".into(),
            description: None,
            event_name: "e".into(),
            aggregation: Aggregation {
                method,
                field: (method != AggregationMethod::Count).then(|| "v".to_string()),
            },
            filter_groups: groups,
            tag_ids: vec![],
            created_at: 0,
            updated_at: 0,
            archived_at: None,
        }
    }

    /// Builds the rollups the store would hold for these events.
    type Rollups = (Vec<(Micros, Bucket)>, Vec<(Micros, String)>);

    fn rollups(m: &Metric, events: &[RawEvent]) -> Rollups {
        let mut buckets: BTreeMap<Micros, Bucket> = BTreeMap::new();
        let mut distinct: BTreeSet<(Micros, String)> = BTreeSet::new();
        for e in events {
            let c = m.contribution(&e.event_name, &e.properties);
            if c == Contribution::Excluded {
                continue;
            }
            let h = hour_floor(e.ts);
            buckets.entry(h).or_default().add(&c, e.ts, e.seq).unwrap();
            if let Contribution::Distinct(v) = c {
                distinct.insert((h, v));
            }
        }
        (
            buckets.into_iter().collect(),
            distinct.into_iter().collect(),
        )
    }

    /// The reference answer, written independently of `Bucket`: filter, then fold plainly.
    fn brute(m: &Metric, from: Micros, to: Micros, events: &[RawEvent]) -> Decimal {
        let mut values: Vec<(Micros, i64, Decimal)> = Vec::new();
        let mut texts = BTreeSet::new();
        let mut count = 0i64;
        for e in events.iter().filter(|e| {
            from <= e.ts
                && e.ts < to
                && e.event_name == m.event_name
                && brute_matches(&m.filter_groups, &e.properties)
        }) {
            count += 1;
            let Some(p) = m
                .aggregation
                .field
                .as_ref()
                .and_then(|f| e.properties.get(f))
            else {
                continue;
            };
            texts.insert(p.text().into_owned());
            if let Some(d) = p.decimal() {
                values.push((e.ts, e.seq, d));
            }
        }
        let r = match m.aggregation.method {
            AggregationMethod::Count => Decimal::from(count),
            AggregationMethod::CountUnique => Decimal::from(texts.len()),
            AggregationMethod::Sum => values.iter().map(|v| v.2).sum(),
            AggregationMethod::Min => values.iter().map(|v| v.2).min().unwrap_or_default(),
            AggregationMethod::Max => values.iter().map(|v| v.2).max().unwrap_or_default(),
            AggregationMethod::Latest => values
                .iter()
                .max_by_key(|v| (v.0, v.1))
                .map(|v| v.2)
                .unwrap_or_default(),
            AggregationMethod::Average => {
                if values.is_empty() {
                    Decimal::ZERO
                } else {
                    let s: Decimal = values.iter().map(|v| v.2).sum();
                    (s / Decimal::from(values.len())).round_dp_with_strategy(
                        12,
                        rust_decimal::RoundingStrategy::MidpointNearestEven,
                    )
                }
            }
        };
        r.normalize()
    }

    fn value_strategy() -> impl Strategy<Value = Option<PropValue>> {
        prop_oneof![
            1 => Just(None),
            1 => Just(Some(PropValue::Str("n/a".into()))),
            3 => (-100_000i64..100_000, 0u32..9).prop_map(|(m, s)| Some(PropValue::Num(Decimal::new(m, s).to_string()))),
            2 => (0i64..5).prop_map(|v| Some(PropValue::Str(format!("{v}.000000000000000001")))),
            1 => (0i64..4).prop_map(|v| Some(PropValue::Str(v.to_string()))),
        ]
    }

    prop_compose! {
        fn event_strategy()(seq in 0i64..1_000_000, ts in 0i64..(72 * HOUR), named in prop::bool::weighted(0.9),
                            v in value_strategy(), region in 0u8..3) -> RawEvent {
            let mut properties = Properties::new();
            if let Some(v) = v {
                properties.insert("v".into(), v);
            }
            properties.insert("region".into(), PropValue::Str(["eu", "us", "ap"][region as usize].into()));
            RawEvent { seq, ts, event_name: if named { "e".into() } else { "other".into() }, properties }
        }
    }

    /// Random filter groups over every operator, on a text property and a numeric one.
    fn filters() -> impl Strategy<Value = Vec<FilterGroup>> {
        let filter = (
            prop::sample::select(vec!["region", "v"]),
            prop::sample::select(FilterOp::ALL.to_vec()),
            prop::sample::select(vec![
                "eu",
                "us",
                "u",
                "1",
                "0.5",
                "eu,ap",
                "1,3.5",
                "2.000000000000000001",
                "-3",
            ]),
        )
            .prop_map(|(field, operator, value)| Filter {
                field: field.into(),
                operator,
                value: value.into(),
            });
        let group =
            (prop::bool::ANY, prop::collection::vec(filter, 1..4)).prop_map(|(and, filters)| {
                FilterGroup {
                    operator: if and { GroupOp::And } else { GroupOp::Or },
                    filters,
                }
            });
        prop::collection::vec(group, 0..3)
    }

    /// The filter rules of the metric docs, written again independently for the brute force.
    fn brute_matches(groups: &[FilterGroup], props: &Properties) -> bool {
        let number = |s: &str| s.trim().parse::<Decimal>().ok();
        let test = |f: &Filter| -> bool {
            let Some(p) = props.get(&f.field) else {
                return matches!(f.operator, FilterOp::NotEqual | FilterOp::NotContains);
            };
            let text = p.text().into_owned();
            let num = p.decimal();
            let eq = |want: &str| match (num, number(want)) {
                (Some(a), Some(b)) => a == b,
                _ => text == want,
            };
            match f.operator {
                FilterOp::Equal => eq(&f.value),
                FilterOp::NotEqual => !eq(&f.value),
                FilterOp::In => f
                    .value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .any(eq),
                FilterOp::Contains => text.contains(&f.value),
                FilterOp::NotContains => !text.contains(&f.value),
                op => match (num, number(&f.value)) {
                    (Some(a), Some(b)) => match op {
                        FilterOp::Gt => a > b,
                        FilterOp::Gte => a >= b,
                        FilterOp::Lt => a < b,
                        _ => a <= b,
                    },
                    _ => false,
                },
            }
        };
        groups.is_empty()
            || groups.iter().any(|g| match g.operator {
                GroupOp::And => g.filters.iter().all(test),
                GroupOp::Or => g.filters.iter().any(test),
            })
    }

    fn method() -> impl Strategy<Value = AggregationMethod> {
        prop::sample::select(AggregationMethod::ALL.to_vec())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Rollups plus raw edges equal a brute-force recomputation, for every window.
        #[test]
        fn rollups_plus_edges_equal_brute_force(
            mut events in prop::collection::vec(event_strategy(), 0..80),
            method in method(),
            groups in filters(),
            from in 0i64..(72 * HOUR),
            len in 1i64..(72 * HOUR),
            kind in prop::option::of(prop_oneof![Just(WindowKind::Hour), Just(WindowKind::Day)]),
            tz_name in prop::sample::select(vec!["UTC", "Asia/Kolkata", "America/New_York"]),
        ) {
            events.sort_by_key(|e| e.seq);
            events.dedup_by_key(|e| e.seq);
            let m = metric(method, groups);
            let to = from + len;
            let tz = TimeZone::get(tz_name).unwrap();
            let Ok(ws) = windows(from, to, kind, &tz) else { return Ok(()) };
            let p = plan(&ws);
            let (buckets, distinct) = rollups(&m, &events);
            let got = compute(&m, &ws, &p, &buckets, &distinct, &events).unwrap();
            prop_assert_eq!(got.len(), ws.len());
            for (w, v) in ws.iter().zip(&got) {
                prop_assert_eq!(*v, brute(&m, w.0, w.1, &events), "window {:?}", w);
            }
            if ws.len() == 1 {
                let whole = recompute(&m, from, to, None, &events).unwrap();
                prop_assert_eq!(whole[&None], got[0]);
            }
        }

        /// The plan covers the range exactly once.
        #[test]
        fn plans_partition_the_range(from in -10 * HOUR..10 * HOUR, len in 1i64..(50 * HOUR),
                                     kind in prop::option::of(prop_oneof![Just(WindowKind::Hour), Just(WindowKind::Day)])) {
            let ws = windows(from, from + len, kind, &TimeZone::get("Asia/Kathmandu").unwrap()).unwrap();
            let p = plan(&ws);
            let mut all: Vec<(Micros, Micros)> = p.hours.iter().chain(p.raw.iter()).copied().collect();
            all.sort();
            let mut at = from;
            for (a, b) in all {
                prop_assert_eq!(a, at);
                prop_assert!(a < b);
                at = b;
            }
            prop_assert_eq!(at, from + len);
            for (a, b) in &p.hours {
                prop_assert_eq!(a % HOUR, 0);
                prop_assert_eq!(b % HOUR, 0);
            }
        }
    }

    #[test]
    fn an_event_exactly_at_to_is_outside() {
        let m = metric(AggregationMethod::Count, vec![]);
        let e = |ts| RawEvent {
            seq: ts,
            ts,
            event_name: "e".into(),
            properties: Properties::new(),
        };
        let events = vec![e(0), e(HOUR - 1), e(HOUR)];
        let ws = vec![(0, HOUR)];
        let p = plan(&ws);
        let (b, d) = rollups(&m, &events);
        assert_eq!(
            compute(&m, &ws, &p, &b, &d, &events).unwrap(),
            vec![Decimal::from(2)]
        );
    }

    #[test]
    fn grouped_by_several_properties() {
        let m = metric(AggregationMethod::Count, vec![]);
        let mk = |seq, pairs: &[(&str, &str)]| RawEvent {
            seq,
            ts: seq,
            event_name: "e".into(),
            properties: pairs
                .iter()
                .map(|(k, v)| (k.to_string(), PropValue::Str(v.to_string())))
                .collect(),
        };
        let events = vec![
            mk(1, &[("region", "eu"), ("tier", "gold")]),
            mk(2, &[("region", "eu"), ("tier", "gold")]),
            mk(3, &[("region", "us"), ("tier", "gold")]),
            mk(4, &[("region", "eu")]),
        ];
        let dims = vec!["region".to_string(), "tier".to_string()];
        let g = recompute_by(&m, 0, 10, &dims, &events).unwrap();
        let show: Vec<(String, String)> = g
            .iter()
            .map(|(k, v)| {
                (
                    k.iter()
                        .map(|(a, b)| format!("{a}={b}"))
                        .collect::<Vec<_>>()
                        .join(","),
                    v.to_string(),
                )
            })
            .collect();
        assert_eq!(
            show,
            vec![
                ("region=eu".to_string(), "1".to_string()),
                ("region=eu,tier=gold".into(), "2".into()),
                ("region=us,tier=gold".into(), "1".into()),
            ]
        );
    }

    #[test]
    fn grouped_recompute() {
        let m = metric(AggregationMethod::Sum, vec![]);
        let mk = |seq, region: Option<&str>, v: &str| {
            let mut properties = Properties::new();
            properties.insert("v".into(), PropValue::Num(v.into()));
            if let Some(r) = region {
                properties.insert("region".into(), PropValue::Str(r.into()));
            }
            RawEvent {
                seq,
                ts: seq,
                event_name: "e".into(),
                properties,
            }
        };
        let events = vec![
            mk(1, Some("eu"), "1.5"),
            mk(2, Some("us"), "2"),
            mk(3, Some("eu"), "0.25"),
            mk(4, None, "7"),
        ];
        let g = recompute(&m, 0, 10, Some("region"), &events).unwrap();
        assert_eq!(
            g[&Some("eu".to_string())],
            Decimal::from_str("1.75").unwrap()
        );
        assert_eq!(g[&Some("us".to_string())], Decimal::from(2));
        assert_eq!(g[&None], Decimal::from(7));
    }
}
