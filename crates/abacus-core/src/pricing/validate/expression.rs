//! Expression prices: charges whose expressions parse and read only bound metrics.

use std::collections::BTreeSet;

use super::Cx;
use crate::pricing::expression::Expression;
use crate::pricing::input::ExpressionPricingModelInput;
use crate::pricing::model::{BillingDirection, ExpressionCharge, PriceModel};

pub const MAX_CHARGES: usize = 20;

impl Cx {
    pub(super) fn expression(
        &mut self,
        path: &str,
        m: &ExpressionPricingModelInput,
        metric_ids: &[String],
    ) -> Option<PriceModel> {
        let mut known: BTreeSet<String> = metric_ids
            .iter()
            .filter(|id| is_word(id))
            .map(|id| format!("usage.{id}"))
            .collect();
        let bindings_field = self.at(path, "metric_bindings");
        let bindings = m.metric_bindings.as_deref().unwrap_or_default();
        let mut aliases = BTreeSet::new();
        for (i, b) in bindings.iter().enumerate() {
            let base = format!("{bindings_field}[{i}]");
            if !is_word(&b.alias) {
                let f = self.at(&base, "alias");
                self.push(
                    f,
                    format!(
                        "'{}' must be letters, digits and '_', not starting with a digit",
                        b.alias
                    ),
                );
            } else if !aliases.insert(b.alias.clone()) {
                let f = self.at(&base, "alias");
                self.push(f, format!("duplicate alias '{}'", b.alias));
            }
            if b.metric_id.trim().is_empty() {
                let f = self.at(&base, "metric_id");
                self.push(f, "must not be empty");
            } else if !metric_ids.contains(&b.metric_id) {
                let f = self.at(&base, "metric_id");
                let ids = self.naming.field("metric_ids");
                self.push(
                    f,
                    format!("'{}' is not one of the price's {ids}", b.metric_id),
                );
            }
            known.insert(format!("usage.{}", b.alias));
        }

        let charges_field = self.at(path, "charges");
        if m.charges.is_empty() {
            self.push(charges_field.clone(), "at least one charge is required");
        } else if m.charges.len() > MAX_CHARGES {
            self.push(
                charges_field.clone(),
                format!("at most {MAX_CHARGES} charges are allowed"),
            );
        }
        let mut charges = Vec::with_capacity(m.charges.len());
        for (i, c) in m.charges.iter().enumerate() {
            let base = format!("{charges_field}[{i}]");
            self.text(self.at(&base, "description"), &c.description);
            let direction = BillingDirection::parse(&c.billing_direction);
            if direction.is_none() {
                let f = self.at(&base, "billing_direction");
                self.push(
                    f,
                    format!("'{}' is not one of: advance, arrears", c.billing_direction),
                );
            }
            let quantity =
                self.parse_expression(&base, "quantity_expression", &c.quantity_expression, &known);
            let unit_price = self.parse_expression(
                &base,
                "unit_price_expression",
                &c.unit_price_expression,
                &known,
            );
            if let (Some(billing_direction), Some(quantity), Some(unit_price)) =
                (direction, quantity, unit_price)
            {
                charges.push(ExpressionCharge {
                    description: c.description.trim().to_string(),
                    billing_direction,
                    quantity,
                    unit_price,
                });
            }
        }
        (charges.len() == m.charges.len() && !charges.is_empty())
            .then_some(PriceModel::Expression { charges })
    }

    fn parse_expression(
        &mut self,
        base: &str,
        field: &str,
        source: &str,
        known: &BTreeSet<String>,
    ) -> Option<Expression> {
        let f = self.at(base, field);
        let e = match Expression::parse(source) {
            Ok(e) => e,
            Err(err) => {
                self.push(f, err.to_string());
                return None;
            }
        };
        let unknown: Vec<_> = e
            .names()
            .into_iter()
            .filter(|(name, _)| !known.contains(*name))
            .collect();
        if let Some((name, position)) = unknown.first() {
            let names = if known.is_empty() {
                "none: bind metrics with metric_bindings".to_string()
            } else {
                known.iter().cloned().collect::<Vec<_>>().join(", ")
            };
            self.push(
                f,
                format!("unknown name '{name}' at position {position} (known: {names})"),
            );
            return None;
        }
        Some(e)
    }
}

/// A name segment: letters, digits and `_`, not starting with a digit.
fn is_word(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
