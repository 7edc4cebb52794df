//! Billable metrics: which events count (event name and filter groups) and how their values
//! aggregate.
//!
//! Filter groups: each group joins its filters with its operator (`and` / `or`); groups are OR-ed,
//! and a metric without groups takes every event of its name. Comparison rules:
//! `equal`, `not_equal` and `in` compare numerically when both sides are numbers (so `1.0`
//! equals `1`) and as text otherwise; `contains` / `not_contains` match substrings of the text;
//! `gt`, `gte`, `lt`, `lte` need both sides numeric and are false otherwise. A missing property
//! fails every operator except `not_equal` and `not_contains`.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::metering::properties::{PropValue, Properties, parse_decimal};
use crate::time::Micros;
use crate::validation::{FieldError, Naming, Validation};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AggregationMethod {
    Count,
    CountUnique,
    Sum,
    Min,
    Max,
    Average,
    /// Extension: the value of the latest event (by timestamp, then by arrival).
    Latest,
}

impl AggregationMethod {
    pub const ALL: [AggregationMethod; 7] = [
        Self::Count,
        Self::CountUnique,
        Self::Sum,
        Self::Min,
        Self::Max,
        Self::Average,
        Self::Latest,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Count => "count",
            Self::CountUnique => "count_unique",
            Self::Sum => "sum",
            Self::Min => "min",
            Self::Max => "max",
            Self::Average => "average",
            Self::Latest => "latest",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the method reads a numeric property.
    pub fn is_numeric(self) -> bool {
        !matches!(self, Self::Count | Self::CountUnique)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Aggregation {
    pub method: AggregationMethod,
    /// The property aggregated; `None` for `count`.
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FilterOp {
    Equal,
    NotEqual,
    Contains,
    NotContains,
    In,
    Gt,
    Gte,
    Lt,
    Lte,
}

impl FilterOp {
    pub const ALL: [FilterOp; 9] = [
        Self::Equal,
        Self::NotEqual,
        Self::Contains,
        Self::NotContains,
        Self::In,
        Self::Gt,
        Self::Gte,
        Self::Lt,
        Self::Lte,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "equal",
            Self::NotEqual => "not_equal",
            Self::Contains => "contains",
            Self::NotContains => "not_contains",
            Self::In => "in",
            Self::Gt => "gt",
            Self::Gte => "gte",
            Self::Lt => "lt",
            Self::Lte => "lte",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    fn is_ordering(self) -> bool {
        matches!(self, Self::Gt | Self::Gte | Self::Lt | Self::Lte)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupOp {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Filter {
    pub field: String,
    pub operator: FilterOp,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilterGroup {
    pub operator: GroupOp,
    pub filters: Vec<Filter>,
}

/// A stored metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub event_name: String,
    pub aggregation: Aggregation,
    pub filter_groups: Vec<FilterGroup>,
    pub tag_ids: Vec<String>,
    pub created_at: Micros,
    pub updated_at: Micros,
    pub archived_at: Option<Micros>,
}

/// A metric as a caller sends it, before validation. Strings stay strings so every bad value can
/// be reported with its field.
#[derive(Debug, Clone, Default)]
pub struct MetricDraft {
    pub name: String,
    pub description: Option<String>,
    pub event_name: String,
    pub method: String,
    pub field: Option<String>,
    pub filter_groups: Vec<FilterGroupDraft>,
    pub tag_ids: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct FilterGroupDraft {
    pub operator: String,
    pub filters: Vec<FilterDraft>,
}

#[derive(Debug, Clone, Default)]
pub struct FilterDraft {
    pub field: String,
    pub operator: String,
    pub value: String,
}

/// The validated parts of a new metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricSpec {
    pub name: String,
    pub description: Option<String>,
    pub event_name: String,
    pub aggregation: Aggregation,
    pub filter_groups: Vec<FilterGroup>,
    pub tag_ids: Vec<String>,
}

const MAX_GROUPS: usize = 20;
const MAX_FILTERS: usize = 50;

impl MetricDraft {
    pub fn validate(self, naming: Naming) -> Result<MetricSpec, Vec<FieldError>> {
        let mut v = Validation::new();
        let f = |s: &str| naming.field(s);
        let name = self.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 255 {
            v.push("name", "must be 1 to 255 characters");
        }
        if self.event_name.trim().is_empty() || self.event_name.chars().count() > 255 {
            v.push(f("event_name"), "must be 1 to 255 characters");
        }
        if self
            .description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 2000)
        {
            v.push("description", "must be at most 2000 characters");
        }
        let method = AggregationMethod::parse(&self.method);
        if method.is_none() {
            let all: Vec<&str> = AggregationMethod::ALL.iter().map(|m| m.as_str()).collect();
            v.push(
                "aggregation.method",
                format!("'{}' is not one of: {}", self.method, all.join(", ")),
            );
        }
        let field = self.field.filter(|s| !s.trim().is_empty());
        let field = match method {
            Some(AggregationMethod::Count) => None,
            Some(m) if field.is_none() => {
                v.push(
                    "aggregation.field",
                    format!("is required for '{}'", m.as_str()),
                );
                None
            }
            _ => field,
        };
        if field.as_ref().is_some_and(|s| s.len() > 128) {
            v.push("aggregation.field", "must be at most 128 characters");
        }
        if self.filter_groups.len() > MAX_GROUPS {
            v.push(
                f("filter_groups"),
                format!("at most {MAX_GROUPS} groups are allowed"),
            );
        }
        let mut groups = Vec::new();
        for (i, g) in self.filter_groups.into_iter().enumerate() {
            let base = format!("{}[{i}]", f("filter_groups"));
            let operator = match g.operator.as_str() {
                "and" => Some(GroupOp::And),
                "or" => Some(GroupOp::Or),
                other => {
                    v.push(
                        format!("{base}.operator"),
                        format!("'{other}' is not one of: and, or"),
                    );
                    None
                }
            };
            if g.filters.is_empty() || g.filters.len() > MAX_FILTERS {
                v.push(
                    format!("{base}.filters"),
                    format!("must hold 1 to {MAX_FILTERS} filters"),
                );
            }
            let mut filters = Vec::new();
            for (j, flt) in g.filters.into_iter().enumerate() {
                let fb = format!("{base}.filters[{j}]");
                if flt.field.trim().is_empty() || flt.field.len() > 128 {
                    v.push(format!("{fb}.field"), "must be 1 to 128 characters");
                }
                let Some(op) = FilterOp::parse(&flt.operator) else {
                    let all: Vec<&str> = FilterOp::ALL.iter().map(|o| o.as_str()).collect();
                    v.push(
                        format!("{fb}.operator"),
                        format!("'{}' is not one of: {}", flt.operator, all.join(", ")),
                    );
                    continue;
                };
                if op.is_ordering() && parse_decimal(flt.value.trim()).is_none() {
                    v.push(
                        format!("{fb}.value"),
                        format!("'{}' must be a number for '{}'", flt.value, op.as_str()),
                    );
                }
                if op == FilterOp::In && list_items(&flt.value).next().is_none() {
                    v.push(
                        format!("{fb}.value"),
                        "must list at least one comma-separated value for 'in'",
                    );
                }
                if flt.value.chars().count() > 1024 {
                    v.push(format!("{fb}.value"), "must be at most 1024 characters");
                }
                filters.push(Filter {
                    field: flt.field,
                    operator: op,
                    value: flt.value,
                });
            }
            if let Some(operator) = operator {
                groups.push(FilterGroup { operator, filters });
            }
        }
        for (i, t) in self.tag_ids.iter().enumerate() {
            if t.is_empty()
                || t.len() > 64
                || !t
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                v.push(
                    format!("{}[{i}]", f("tag_ids")),
                    format!("'{t}' is not a tag id"),
                );
            }
        }
        v.into_result()?;
        Ok(MetricSpec {
            name,
            description: self.description,
            event_name: self.event_name,
            aggregation: Aggregation {
                method: method.expect("validated"),
                field,
            },
            filter_groups: groups,
            tag_ids: self.tag_ids,
        })
    }
}

fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn same(prop: &PropValue, wanted: &str) -> bool {
    match (prop.decimal(), parse_decimal(wanted.trim())) {
        (Some(a), Some(b)) => a == b,
        _ => prop.text() == wanted,
    }
}

impl Filter {
    pub fn matches(&self, props: &Properties) -> bool {
        let Some(prop) = props.get(&self.field) else {
            return matches!(self.operator, FilterOp::NotEqual | FilterOp::NotContains);
        };
        match self.operator {
            FilterOp::Equal => same(prop, &self.value),
            FilterOp::NotEqual => !same(prop, &self.value),
            FilterOp::In => list_items(&self.value).any(|item| same(prop, item)),
            FilterOp::Contains => prop.text().contains(self.value.as_str()),
            FilterOp::NotContains => !prop.text().contains(self.value.as_str()),
            FilterOp::Gt | FilterOp::Gte | FilterOp::Lt | FilterOp::Lte => {
                let (Some(a), Some(b)) = (prop.decimal(), parse_decimal(self.value.trim())) else {
                    return false;
                };
                match self.operator {
                    FilterOp::Gt => a > b,
                    FilterOp::Gte => a >= b,
                    FilterOp::Lt => a < b,
                    _ => a <= b,
                }
            }
        }
    }
}

impl FilterGroup {
    pub fn matches(&self, props: &Properties) -> bool {
        match self.operator {
            GroupOp::And => self.filters.iter().all(|f| f.matches(props)),
            GroupOp::Or => self.filters.iter().any(|f| f.matches(props)),
        }
    }
}

/// What one event adds to a metric.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contribution {
    /// The event does not count for this metric (other name, or filtered out).
    Excluded,
    /// The event counts but has no usable value for a numeric or unique aggregation.
    MissingField,
    /// The event counts but its value is not a number (numeric aggregations).
    NonNumeric,
    /// `count`: the event counts once.
    Counted,
    /// Numeric aggregations.
    Value(Decimal),
    /// `count_unique`: the value's text.
    Distinct(String),
}

/// Numbers beyond this are refused as values so that sums can never overflow in practice.
fn in_range(d: Decimal) -> bool {
    d.abs() < Decimal::from_str("1000000000000000000").expect("constant")
}

impl Metric {
    pub fn matches(&self, event_name: &str, props: &Properties) -> bool {
        event_name == self.event_name
            && (self.filter_groups.is_empty()
                || self.filter_groups.iter().any(|g| g.matches(props)))
    }

    /// Whether an event's properties can change what it contributes (a field to read or filters
    /// to apply); a plain count needs only the event's name.
    pub fn reads_properties(&self) -> bool {
        self.aggregation.method != AggregationMethod::Count || !self.filter_groups.is_empty()
    }

    pub fn contribution(&self, event_name: &str, props: &Properties) -> Contribution {
        if !self.matches(event_name, props) {
            return Contribution::Excluded;
        }
        let method = self.aggregation.method;
        if method == AggregationMethod::Count {
            return Contribution::Counted;
        }
        let Some(value) = self.aggregation.field.as_ref().and_then(|f| props.get(f)) else {
            return Contribution::MissingField;
        };
        if method == AggregationMethod::CountUnique {
            return Contribution::Distinct(value.text().into_owned());
        }
        match value.decimal() {
            Some(d) if in_range(d) => Contribution::Value(d),
            _ => Contribution::NonNumeric,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metering::properties::from_json_text;

    fn metric(method: AggregationMethod, field: Option<&str>, groups: Vec<FilterGroup>) -> Metric {
        Metric {
            id: "mtr_x".into(),
            name: "m".into(),
            description: None,
            event_name: "api".into(),
            aggregation: Aggregation {
                method,
                field: field.map(String::from),
            },
            filter_groups: groups,
            tag_ids: vec![],
            created_at: 0,
            updated_at: 0,
            archived_at: None,
        }
    }

    fn filter(field: &str, op: FilterOp, value: &str) -> Filter {
        Filter {
            field: field.into(),
            operator: op,
            value: value.into(),
        }
    }

    #[test]
    fn filter_operators() {
        let p =
            from_json_text(r#"{"region": "eu-west-1", "tokens": 1.50, "tier": "2", "flag": true}"#)
                .unwrap();
        let cases = [
            (filter("region", FilterOp::Equal, "eu-west-1"), true),
            (filter("region", FilterOp::Equal, "eu"), false),
            (filter("tokens", FilterOp::Equal, "1.5"), true),
            (filter("tier", FilterOp::Equal, "2.0"), true),
            (filter("flag", FilterOp::Equal, "true"), true),
            (filter("region", FilterOp::NotEqual, "us"), true),
            (filter("missing", FilterOp::NotEqual, "us"), true),
            (filter("missing", FilterOp::Equal, "us"), false),
            (filter("region", FilterOp::Contains, "west"), true),
            (filter("region", FilterOp::NotContains, "west"), false),
            (filter("missing", FilterOp::NotContains, "west"), true),
            (filter("region", FilterOp::In, "us-east-1, eu-west-1"), true),
            (filter("tier", FilterOp::In, "1,3"), false),
            (filter("tokens", FilterOp::Gt, "1.49"), true),
            (filter("tokens", FilterOp::Gte, "1.5"), true),
            (filter("tokens", FilterOp::Lt, "1.5"), false),
            (filter("tokens", FilterOp::Lte, "1.5"), true),
            (filter("region", FilterOp::Gt, "1"), false),
            (filter("missing", FilterOp::Lt, "1"), false),
        ];
        for (f, expected) in cases {
            assert_eq!(f.matches(&p), expected, "{f:?}");
        }
    }

    #[test]
    fn a_plain_count_reads_no_properties() {
        let p = from_json_text(r#"{"region": "eu", "tokens": "x"}"#).unwrap();
        let empty = Properties::new();
        let plain = metric(AggregationMethod::Count, Some("tokens"), vec![]);
        assert!(!plain.reads_properties());
        assert_eq!(
            plain.contribution("api", &p),
            plain.contribution("api", &empty)
        );
        let eu = FilterGroup {
            operator: GroupOp::And,
            filters: vec![filter("region", FilterOp::Equal, "eu")],
        };
        let filtered = metric(AggregationMethod::Count, None, vec![eu]);
        assert!(filtered.reads_properties());
        assert_ne!(
            filtered.contribution("api", &p),
            filtered.contribution("api", &empty)
        );
        for method in [
            AggregationMethod::Sum,
            AggregationMethod::CountUnique,
            AggregationMethod::Latest,
        ] {
            assert!(metric(method, Some("tokens"), vec![]).reads_properties());
        }
    }

    #[test]
    fn groups_and_contributions() {
        let and = FilterGroup {
            operator: GroupOp::And,
            filters: vec![
                filter("region", FilterOp::Equal, "eu"),
                filter("tokens", FilterOp::Gt, "10"),
            ],
        };
        let or = FilterGroup {
            operator: GroupOp::Or,
            filters: vec![filter("region", FilterOp::Equal, "us")],
        };
        let m = metric(AggregationMethod::Sum, Some("tokens"), vec![and, or]);
        let p = |s: &str| from_json_text(s).unwrap();
        assert_eq!(
            m.contribution("api", &p(r#"{"region":"eu","tokens":11}"#)),
            Contribution::Value(11.into())
        );
        assert_eq!(
            m.contribution("api", &p(r#"{"region":"eu","tokens":9}"#)),
            Contribution::Excluded
        );
        assert_eq!(
            m.contribution("api", &p(r#"{"region":"us"}"#)),
            Contribution::MissingField
        );
        assert_eq!(
            m.contribution("api", &p(r#"{"region":"us","tokens":"many"}"#)),
            Contribution::NonNumeric
        );
        assert_eq!(
            m.contribution("other", &p(r#"{"region":"us","tokens":1}"#)),
            Contribution::Excluded
        );
        assert_eq!(
            m.contribution("api", &p(r#"{"region":"us","tokens":1e30}"#)),
            Contribution::NonNumeric
        );
        let count = metric(AggregationMethod::Count, None, vec![]);
        assert_eq!(count.contribution("api", &p("{}")), Contribution::Counted);
        let uniq = metric(AggregationMethod::CountUnique, Some("user"), vec![]);
        assert_eq!(
            uniq.contribution("api", &p(r#"{"user": 42}"#)),
            Contribution::Distinct("42".into())
        );
    }

    #[test]
    fn drafts_are_validated() {
        let good = MetricDraft {
            name: "Tokens".into(),
            event_name: "llm".into(),
            method: "sum".into(),
            field: Some("tokens".into()),
            ..Default::default()
        };
        assert!(good.clone().validate(Naming::Snake).is_ok());
        let bad = MetricDraft {
            name: "".into(),
            event_name: "".into(),
            method: "median".into(),
            filter_groups: vec![FilterGroupDraft {
                operator: "xor".into(),
                filters: vec![
                    FilterDraft {
                        field: "a".into(),
                        operator: "gt".into(),
                        value: "big".into(),
                    },
                    FilterDraft {
                        field: "a".into(),
                        operator: "like".into(),
                        value: "x".into(),
                    },
                    FilterDraft {
                        field: "a".into(),
                        operator: "in".into(),
                        value: " , ".into(),
                    },
                ],
            }],
            ..Default::default()
        };
        let fields: Vec<String> = bad
            .validate(Naming::Camel)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect();
        assert_eq!(
            fields,
            vec![
                "name",
                "eventName",
                "aggregation.method",
                "filterGroups[0].operator",
                "filterGroups[0].filters[0].value",
                "filterGroups[0].filters[1].operator",
                "filterGroups[0].filters[2].value",
            ]
        );
        let no_field = MetricDraft {
            field: None,
            ..good.clone()
        };
        let errs = no_field.validate(Naming::Snake).unwrap_err();
        assert_eq!(errs[0].field, "aggregation.field");
        let count = MetricDraft {
            method: "count".into(),
            field: Some("ignored".into()),
            ..good
        };
        assert_eq!(
            count.validate(Naming::Snake).unwrap().aggregation.field,
            None
        );
    }
}
