//! Usage of one metric for one customer over `[from, to)`, optionally as a series of windows.
//!
//! The cost must not grow with the number of events: whole UTC days come from the daily rollups,
//! the whole hours around them from the hourly rollups ([`Bucket`]s), and only the parts of the
//! range that do not cover a whole hour (the edges, and hours cut by a window boundary) are read
//! from the raw events. A calendar month is then about 31 daily rows and at most 46 hourly ones
//! whether the customer sent ten events or ten million. [`plan`] decides which part is read from
//! where; [`compute`] combines them; [`recompute`] is the same answer straight from raw events,
//! for checks and for `group_by`.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;

use crate::metering::bucket::{Bucket, Overflow};
use crate::metering::metric::{AggregationMethod, Contribution, Metric};
use crate::metering::properties::Properties;
use crate::metering::window::{day_ceil, day_floor, hour_ceil, hour_floor};
use crate::time::Micros;

/// An event as read back for aggregation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEvent {
    pub seq: i64,
    pub ts: Micros,
    pub event_name: String,
    pub properties: Properties,
}

/// Which parts of the range to read from where. Every day and hour range lies inside one
/// window, so each rollup row read belongs to exactly one window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Ranges of whole UTC days, answered by daily rollups.
    pub days: Vec<(Micros, Micros)>,
    /// Ranges of whole hours outside those days, answered by hourly rollups.
    pub hours: Vec<(Micros, Micros)>,
    /// Ranges answered by raw events.
    pub raw: Vec<(Micros, Micros)>,
}

/// Stored rollups of one metric and customer, keyed by their start: hourly and daily buckets,
/// and for `count_unique` the distinct values of each hour and day.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rollups {
    pub hours: Vec<(Micros, Bucket)>,
    pub days: Vec<(Micros, Bucket)>,
    pub distinct_hours: Vec<(Micros, String)>,
    pub distinct_days: Vec<(Micros, String)>,
}

fn covers(ranges: &[(Micros, Micros)], start: Micros) -> bool {
    ranges.iter().any(|(a, b)| *a <= start && start < *b)
}

/// Plans contiguous `windows` (as made by [`crate::metering::window::windows`]).
pub fn plan(windows: &[(Micros, Micros)]) -> Plan {
    let mut p = Plan::default();
    for &(a, b) in windows {
        let (h0, h1) = (hour_ceil(a), hour_floor(b));
        if h0 >= h1 {
            push_range(&mut p.raw, (a, b));
            continue;
        }
        if a < h0 {
            push_range(&mut p.raw, (a, h0));
        }
        let (d0, d1) = (day_ceil(h0), day_floor(h1));
        if d0 < d1 {
            if h0 < d0 {
                push_range(&mut p.hours, (h0, d0));
            }
            push_range(&mut p.days, (d0, d1));
            if d1 < h1 {
                push_range(&mut p.hours, (d1, h1));
            }
        } else {
            push_range(&mut p.hours, (h0, h1));
        }
        if h1 < b {
            push_range(&mut p.raw, (h1, b));
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

/// The metric's value per window. Rollup rows outside the plan's days and hours are ignored, as
/// are raw events outside its raw ranges, so `rollups` and `raw` may hold more than this plan
/// reads.
pub fn compute(
    metric: &Metric,
    windows: &[(Micros, Micros)],
    plan: &Plan,
    rollups: &Rollups,
    raw: &[RawEvent],
) -> Result<Vec<Decimal>, Overflow> {
    let mut acc = vec![Bucket::default(); windows.len()];
    let mut sets: Vec<BTreeSet<&str>> = vec![BTreeSet::new(); windows.len()];
    let levels = [
        (&plan.days, &rollups.days, &rollups.distinct_days),
        (&plan.hours, &rollups.hours, &rollups.distinct_hours),
    ];
    for (ranges, buckets, distinct) in levels {
        for (start, bucket) in buckets {
            if covers(ranges, *start)
                && let Some(w) = window_of(windows, *start)
            {
                acc[w].merge(bucket)?;
            }
        }
        for (start, value) in distinct {
            if covers(ranges, *start)
                && let Some(w) = window_of(windows, *start)
            {
                sets[w].insert(value);
            }
        }
    }
    let contributions: Vec<(usize, &RawEvent, Contribution)> = raw
        .iter()
        .filter(|e| covers(&plan.raw, e.ts))
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
    use crate::metering::window::{DAY, HOUR, WindowKind, windows};

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

    /// Builds the rollups the store would hold for these events, hourly and daily.
    fn rollups(m: &Metric, events: &[RawEvent]) -> Rollups {
        type Level = (BTreeMap<Micros, Bucket>, BTreeSet<(Micros, String)>);
        let mut levels: [Level; 2] = Default::default();
        for e in events {
            let c = m.contribution(&e.event_name, &e.properties);
            if c == Contribution::Excluded {
                continue;
            }
            for (level, start) in levels.iter_mut().zip([hour_floor(e.ts), day_floor(e.ts)]) {
                level
                    .0
                    .entry(start)
                    .or_default()
                    .add(&c, e.ts, e.seq)
                    .unwrap();
                if let Contribution::Distinct(v) = &c {
                    level.1.insert((start, v.clone()));
                }
            }
        }
        let [(hours, distinct_hours), (days, distinct_days)] = levels;
        Rollups {
            hours: hours.into_iter().collect(),
            days: days.into_iter().collect(),
            distinct_hours: distinct_hours.into_iter().collect(),
            distinct_days: distinct_days.into_iter().collect(),
        }
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
        fn event_strategy()(seq in 0i64..1_000_000, ts in 0i64..(5 * DAY), named in prop::bool::weighted(0.9),
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
            from in 0i64..(5 * DAY),
            len in 1i64..(5 * DAY),
            kind in prop::option::of(prop_oneof![Just(WindowKind::Hour), Just(WindowKind::Day), Just(WindowKind::Month)]),
            tz_name in prop::sample::select(vec!["UTC", "Asia/Kolkata", "America/New_York"]),
        ) {
            events.sort_by_key(|e| e.seq);
            events.dedup_by_key(|e| e.seq);
            let m = metric(method, groups);
            let to = from + len;
            let tz = TimeZone::get(tz_name).unwrap();
            let Ok(ws) = windows(from, to, kind, &tz) else { return Ok(()) };
            let p = plan(&ws);
            let got = compute(&m, &ws, &p, &rollups(&m, &events), &events).unwrap();
            prop_assert_eq!(got.len(), ws.len());
            for (w, v) in ws.iter().zip(&got) {
                prop_assert_eq!(*v, brute(&m, w.0, w.1, &events), "window {:?}", w);
            }
            if ws.len() == 1 {
                let whole = recompute(&m, from, to, None, &events).unwrap();
                prop_assert_eq!(whole[&None], got[0]);
            }
        }

        /// The plan covers the range exactly once, with whole UTC days and hours that each lie
        /// inside one window.
        #[test]
        fn plans_partition_the_range(from in -3 * DAY..3 * DAY, len in 1i64..(5 * DAY),
                                     kind in prop::option::of(prop_oneof![Just(WindowKind::Hour), Just(WindowKind::Day)]),
                                     tz_name in prop::sample::select(vec!["UTC", "Asia/Kathmandu", "America/New_York"])) {
            let ws = windows(from, from + len, kind, &TimeZone::get(tz_name).unwrap()).unwrap();
            let p = plan(&ws);
            let mut all: Vec<(Micros, Micros)> = p.days.iter().chain(&p.hours).chain(&p.raw).copied().collect();
            all.sort();
            let mut at = from;
            for (a, b) in all {
                prop_assert_eq!(a, at);
                prop_assert!(a < b);
                at = b;
            }
            prop_assert_eq!(at, from + len);
            for (unit, ranges) in [(DAY, &p.days), (HOUR, &p.hours)] {
                for &(a, b) in ranges {
                    prop_assert_eq!(a % unit, 0);
                    prop_assert_eq!(b % unit, 0);
                    for start in (a..b).step_by(unit as usize) {
                        let w = window_of(&ws, start).unwrap();
                        prop_assert!(start + unit <= ws[w].1, "{:?} crosses the end of window {:?}", (start, unit), ws[w]);
                    }
                }
            }
        }

        /// A month that is not a UTC month still reads daily rows for its whole UTC days.
        #[test]
        fn a_month_reads_at_most_two_days_of_hours(day in 0i64..365, tz_name in prop::sample::select(vec!["UTC", "Asia/Kolkata", "America/New_York"])) {
            let tz = TimeZone::get(tz_name).unwrap();
            let ws = windows(day * DAY, day * DAY + 31 * DAY, Some(WindowKind::Month), &tz).unwrap();
            for w in ws {
                let p = plan(&[w]);
                let hours: i64 = p.hours.iter().map(|(a, b)| (b - a) / HOUR).sum();
                prop_assert!(hours <= 46, "{} hourly rows", hours);
                prop_assert!(p.days.len() <= 1);
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
        let r = rollups(&m, &events);
        assert_eq!(
            compute(&m, &ws, &p, &r, &events).unwrap(),
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
