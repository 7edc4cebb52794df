//! The usage billing asks for, and how the answers become a price's [`PricingInput`].
//!
//! Usage is never prorated: a metered item is priced on what happened while each of its
//! definitions was in effect. So the caller first asks which usage an invoice needs
//! ([`super::Biller::usage_requests`]): a list of `(metric, [from, to), group_by)`. It answers
//! each from metering (the exact aggregate of the metric over that range) and passes the answers
//! ([`Usage`]) to [`super::Biller::bill`].

use std::collections::BTreeMap;
use std::fmt;

use rust_decimal::Decimal;

use super::error::BillingError;
use super::input::Item;
use crate::pricing::{Combination, MatrixUsage, PriceModel, PricingInput};
use crate::time::{Micros, format_micros};

/// One metric's usage over `[from, to)`, as a total or grouped by event properties.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UsageRequest {
    pub metric_id: String,
    pub from: Micros,
    pub to: Micros,
    /// Dimension keys to group by (a matrix price's dimensions); empty for a total.
    pub group_by: Vec<String>,
}

impl fmt::Display for UsageRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metric {} over [{}, {})",
            self.metric_id,
            format_micros(self.from),
            format_micros(self.to)
        )?;
        if !self.group_by.is_empty() {
            write!(f, " grouped by {}", self.group_by.join(", "))?;
        }
        Ok(())
    }
}

/// The answer to a [`UsageRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UsageValue {
    /// The metric's value over the range.
    Total(Decimal),
    /// The metric's value per combination of the requested dimensions' values. Events lacking a
    /// dimension form rows without that key.
    Grouped(Vec<(Combination, Decimal)>),
}

/// Answers to usage requests.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    answers: BTreeMap<UsageRequest, UsageValue>,
}

impl Usage {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn insert(&mut self, request: UsageRequest, value: UsageValue) {
        self.answers.insert(request, value);
    }

    pub fn get(&self, request: &UsageRequest) -> Option<&UsageValue> {
        self.answers.get(request)
    }

    /// Answers every request with `answer`.
    pub fn answer<E>(
        requests: &[UsageRequest],
        mut answer: impl FnMut(&UsageRequest) -> Result<UsageValue, E>,
    ) -> Result<Usage, E> {
        let mut usage = Usage::new();
        for r in requests {
            usage.insert(r.clone(), answer(r)?);
        }
        Ok(usage)
    }

    fn total(&self, request: &UsageRequest) -> Result<Decimal, BillingError> {
        match self.get(request) {
            Some(UsageValue::Total(v)) => Ok(*v),
            Some(UsageValue::Grouped(_)) => Err(BillingError::UsageShape(request.clone())),
            None => Err(BillingError::MissingUsage(request.clone())),
        }
    }

    fn grouped(&self, request: &UsageRequest) -> Result<&[(Combination, Decimal)], BillingError> {
        match self.get(request) {
            Some(UsageValue::Grouped(rows)) => Ok(rows),
            Some(UsageValue::Total(_)) => Err(BillingError::UsageShape(request.clone())),
            None => Err(BillingError::MissingUsage(request.clone())),
        }
    }
}

/// Which metrics a metered item's price reads, and in what shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Binding {
    /// A price that reads no usage (a fixed model on a metered item).
    None,
    Quantity(String),
    Volume {
        amount: String,
        transactions: String,
    },
    /// `(name, metric_id)`: expression names such as `usage.api_calls`.
    Metrics(Vec<(String, String)>),
    Matrix {
        quantity: String,
        transactions: Option<String>,
        dimensions: Vec<String>,
    },
}

impl Binding {
    pub(crate) fn of(item: &Item) -> Result<Binding, BillingError> {
        let missing = |reason: &str| BillingError::UsageBinding {
            item: item.key.clone(),
            reason: reason.to_string(),
        };
        let first = || {
            item.metric_ids
                .first()
                .cloned()
                .ok_or_else(|| missing("a metered price needs a metric in metric_ids"))
        };
        Ok(match &item.price.model {
            PriceModel::Fixed { .. } => Binding::None,
            PriceModel::Unit { .. }
            | PriceModel::Tiered { .. }
            | PriceModel::GraduatedTiered { .. }
            | PriceModel::TieredPercentage { .. }
            | PriceModel::GraduatedPercentage { .. }
            | PriceModel::PrepaidTiered { .. }
            | PriceModel::PrepaidFixedTiered { .. }
            | PriceModel::Package { .. } => Binding::Quantity(first()?),
            PriceModel::VolumePercentage { price_per_unit, .. } => match item.metric_ids.get(1) {
                Some(transactions) => Binding::Volume {
                    amount: first()?,
                    transactions: transactions.clone(),
                },
                None if price_per_unit.is_zero() => Binding::Quantity(first()?),
                None => {
                    return Err(missing(
                        "a volume_percentage price with a per-transaction price needs the \
                         transaction count metric as its second metric_id",
                    ));
                }
            },
            PriceModel::Expression { .. } => {
                let mut names: Vec<(String, String)> = item
                    .metric_aliases
                    .iter()
                    .map(|(alias, metric)| (format!("usage.{alias}"), metric.clone()))
                    .collect();
                for m in &item.metric_ids {
                    let name = format!("usage.{m}");
                    if !names.iter().any(|(n, _)| *n == name) {
                        names.push((name, m.clone()));
                    }
                }
                Binding::Metrics(names)
            }
            PriceModel::Matrix(m) => Binding::Matrix {
                quantity: first()?,
                transactions: item.metric_ids.get(1).cloned(),
                dimensions: m.dimensions.iter().map(|d| d.key.clone()).collect(),
            },
        })
    }

    /// The requests for the range `[from, to)`, without duplicates, in a stable order.
    pub(crate) fn requests(&self, from: Micros, to: Micros) -> Vec<UsageRequest> {
        let total = |metric: &String| UsageRequest {
            metric_id: metric.clone(),
            from,
            to,
            group_by: Vec::new(),
        };
        let mut out: Vec<UsageRequest> = match self {
            Binding::None => Vec::new(),
            Binding::Quantity(m) => vec![total(m)],
            Binding::Volume {
                amount,
                transactions,
            } => vec![total(amount), total(transactions)],
            Binding::Metrics(names) => names.iter().map(|(_, m)| total(m)).collect(),
            Binding::Matrix {
                quantity,
                transactions,
                dimensions,
            } => std::iter::once(quantity)
                .chain(transactions)
                .map(|m| UsageRequest {
                    group_by: dimensions.clone(),
                    ..total(m)
                })
                .collect(),
        };
        out.sort();
        out.dedup();
        out
    }

    /// The pricing input for `[from, to)` from the answers.
    pub(crate) fn input(
        &self,
        from: Micros,
        to: Micros,
        usage: &Usage,
    ) -> Result<PricingInput, BillingError> {
        let request = |metric: &String, group_by: &[String]| UsageRequest {
            metric_id: metric.clone(),
            from,
            to,
            group_by: group_by.to_vec(),
        };
        Ok(match self {
            Binding::None => PricingInput::NoUsage,
            Binding::Quantity(m) => PricingInput::Quantity(usage.total(&request(m, &[]))?),
            Binding::Volume {
                amount,
                transactions,
            } => PricingInput::Volume {
                amount: usage.total(&request(amount, &[]))?,
                transactions: usage.total(&request(transactions, &[]))?,
            },
            Binding::Metrics(names) => {
                let mut values = BTreeMap::new();
                for (name, m) in names {
                    values.insert(name.clone(), usage.total(&request(m, &[]))?);
                }
                PricingInput::Metrics(values)
            }
            Binding::Matrix {
                quantity,
                transactions,
                dimensions,
            } => {
                let rows = usage.grouped(&request(quantity, dimensions))?;
                let counts = match transactions {
                    Some(t) => Some(usage.grouped(&request(t, dimensions))?),
                    None => None,
                };
                let mut out = Vec::with_capacity(rows.len());
                for (combination, q) in rows {
                    let transactions = counts.map(|c| {
                        c.iter()
                            .find(|(k, _)| k == combination)
                            .map_or(Decimal::ZERO, |(_, v)| *v)
                    });
                    out.push(MatrixUsage {
                        dimensions: combination.clone(),
                        quantity: *q,
                        transactions,
                    });
                }
                PricingInput::Matrix(out)
            }
        })
    }
}
