//! The catalog: tags, products, bundles of priced products, and plans (pricing templates).
//!
//! Rules only, no I/O. Inputs mirror the `alguna` SDK's request models; `validate` checks every
//! rule at once and reports each problem at its field path in the caller's naming. Ids that must
//! exist (metrics, tags, products, bundles) are checked against [`Refs`], which the caller fills
//! from storage with the objects the input names. The decisions are written down in
//! `docs/pricing.md` ("Catalog API").

pub mod bundle;
pub mod plan;
pub mod product;
pub mod tag;

use std::collections::{HashMap, HashSet};

use crate::pricing::{BillingDirection, PriceInput};
use crate::validation::{FieldError, Naming, Validation};

pub use bundle::{Bundle, BundleInput, BundlePrice, BundleSpec, ProductPrice, ProductPriceInput};
pub use plan::{Plan, PlanInput, PlanItem, PlanItemInput, PlanSpec, PlanTerms};
pub use product::{
    BillingFrequency, FeeType, PaymentTerms, Product, ProductInput, ProductPatch, ProductSpec,
    RevenueAllocation,
};
pub use tag::{Tag, TagInput, TagSpec};

pub const MAX_NAME_LEN: usize = 255;
pub const MAX_DESCRIPTION_LEN: usize = 2000;
/// Tags on one object.
pub const MAX_TAGS: usize = 50;
/// Priced products in one bundle, items in one plan, children of one plan bundle item.
pub const MAX_ITEMS: usize = 100;

/// What the ids an input names resolve to in its organization. Absent ids are unknown.
#[derive(Debug, Clone, Default)]
pub struct Refs {
    /// Metrics that exist and may be priced (archived metrics may not).
    pub metrics: HashSet<String>,
    /// Tags, with the kinds of object each may label (`entity_types`).
    pub tags: HashMap<String, Vec<String>>,
    /// Products that exist (deleted ones do not).
    pub products: HashMap<String, ProductSpec>,
    /// Bundles that exist.
    pub bundles: HashMap<String, BundleSpec>,
}

/// Bundle ids are generated as `bnd_…`; Alguna's request examples write `bun_…`, which names the
/// same bundle.
pub fn normalize_bundle_id(id: &str) -> String {
    match id.strip_prefix("bun_") {
        Some(rest) => format!("bnd_{rest}"),
        None => id.to_string(),
    }
}

/// Field paths and the shared text rules.
pub(crate) struct Fields {
    pub v: Validation,
    pub naming: Naming,
}

impl Fields {
    pub fn new(naming: Naming) -> Self {
        Self {
            v: Validation::new(),
            naming,
        }
    }

    /// `base.field` in the caller's naming (`base` is already spelled).
    pub fn at(&self, base: &str, snake: &str) -> String {
        let f = self.naming.field(snake);
        if base.is_empty() {
            f
        } else {
            format!("{base}.{f}")
        }
    }

    pub fn push(&mut self, field: String, message: impl Into<String>) {
        self.v.push(field, message);
    }

    /// A required text: trimmed, not empty, at most `max` characters.
    pub fn required_text(&mut self, field: String, value: &str, max: usize) -> String {
        let t = value.trim();
        if t.is_empty() {
            self.push(field, "must not be empty");
        } else if t.chars().count() > max {
            self.push(field, format!("must be at most {max} characters"));
        }
        t.to_string()
    }

    /// An optional text: when given, trimmed, not empty, at most `max` characters.
    pub fn optional_text(
        &mut self,
        field: String,
        value: Option<&str>,
        max: usize,
    ) -> Option<String> {
        value.map(|v| self.required_text(field, v, max))
    }

    /// A value from a closed list; `None` (and an error) when it is not one of them.
    pub fn one_of<T>(
        &mut self,
        field: String,
        value: &str,
        parse: impl Fn(&str) -> Option<T>,
        names: &str,
    ) -> Option<T> {
        let parsed = parse(value);
        if parsed.is_none() {
            self.push(field, format!("'{value}' is not one of: {names}"));
        }
        parsed
    }

    /// Checks `tag_ids` (spelled `field`): unique, known, and allowed on `entity` objects.
    pub fn tag_ids(&mut self, field: &str, ids: &[String], refs: &Refs, entity: &str) {
        if ids.len() > MAX_TAGS {
            self.push(
                field.to_string(),
                format!("at most {MAX_TAGS} tags are allowed"),
            );
        }
        for (i, id) in ids.iter().enumerate() {
            let f = format!("{field}[{i}]");
            if id.trim().is_empty() {
                self.push(f, "must not be empty");
            } else if ids[..i].contains(id) {
                self.push(f, format!("duplicate tag '{id}'"));
            } else {
                match refs.tags.get(id) {
                    None => self.push(f, format!("unknown tag '{id}'")),
                    Some(types) if !types.iter().any(|t| t == entity) => self.push(
                        f,
                        format!(
                            "tag '{id}' does not apply to {entity}s (its entity_types are {})",
                            types.join(", ")
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }

    /// Checks a price and its product: the product exists, the price is valid (errors under
    /// `price_path`), and the price fits the product (same fee type; a metered price reads only
    /// the product's metrics and is billed in arrears). Returns the price when all holds.
    pub fn product_price(
        &mut self,
        base: &str,
        product_id: &str,
        price: &PriceInput,
        price_path: &str,
        refs: &Refs,
    ) -> Option<ProductPrice> {
        let product_field = self.at(base, "product_id");
        let product = if product_id.trim().is_empty() {
            self.push(product_field, "is required");
            None
        } else {
            let p = refs.products.get(product_id);
            if p.is_none() {
                self.push(product_field, format!("unknown product '{product_id}'"));
            }
            p
        };
        let valid = match price.validate(self.naming) {
            Ok(_) => true,
            Err(errors) => {
                for e in errors {
                    self.push(join(price_path, &e.field), e.message);
                }
                false
            }
        };
        let product = product?;
        if !valid {
            return None;
        }
        let mut ok = true;
        let fee_type = FeeType::parse(&price.fee_type)?;
        if fee_type != product.fee_type {
            ok = false;
            let f = self.at(price_path, "fee_type");
            self.push(
                f,
                format!(
                    "must be '{}' to match product '{product_id}'",
                    product.fee_type.as_str()
                ),
            );
        }
        if fee_type == FeeType::Metered && product.fee_type == FeeType::Metered {
            let list = self.at(price_path, "metric_ids");
            let product_metrics = self.naming.field("metric_ids");
            for (j, m) in price.metric_ids.iter().flatten().enumerate() {
                if !product.metric_ids.contains(m) {
                    ok = false;
                    self.push(
                        format!("{list}[{j}]"),
                        format!(
                            "metric '{m}' is not one of product '{product_id}''s {product_metrics}"
                        ),
                    );
                }
            }
            if BillingDirection::parse(&price.billing_direction) != Some(BillingDirection::Arrears)
            {
                ok = false;
                let f = self.at(price_path, "billing_direction");
                self.push(f, "must be 'arrears': metered prices are billed in arrears");
            }
        }
        ok.then(|| ProductPrice {
            product_id: product_id.to_string(),
            price: price.clone(),
        })
    }

    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        self.v.into_result()
    }
}

/// `prefix.field`, or `field` alone when `prefix` is empty.
pub(crate) fn join(prefix: &str, field: &str) -> String {
    if prefix.is_empty() {
        field.to_string()
    } else {
        format!("{prefix}.{field}")
    }
}

#[cfg(test)]
mod tests;
