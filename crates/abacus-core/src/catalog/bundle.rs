//! Bundles: several priced products referenced by one id in plans and subscriptions.

use serde::{Deserialize, Serialize};

use super::{Fields, MAX_DESCRIPTION_LEN, MAX_ITEMS, MAX_NAME_LEN, Refs};
use crate::currency::Currency;
use crate::pricing::PriceInput;
use crate::time::Micros;
use crate::validation::{FieldError, Naming};

/// A product with its price, as a caller sends it (`CreatePlanBundleChildItemInput`; a bundle's
/// `PriceCreateRequest` carries the same in one flat object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPriceInput {
    pub product_id: String,
    pub price: PriceInput,
}

/// A product with a price that is valid and fits it. The price is kept as the caller's
/// [`PriceInput`] (validated), so it reads back as it was written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductPrice {
    pub product_id: String,
    pub price: PriceInput,
}

impl From<ProductPrice> for ProductPriceInput {
    fn from(p: ProductPrice) -> Self {
        ProductPriceInput {
            product_id: p.product_id,
            price: p.price,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleInput {
    pub name: String,
    pub description: Option<String>,
    /// Extension: the currency the prices are written in. A plan may only use a bundle of its
    /// own currency; a bundle without one fits any plan.
    pub currency: Option<String>,
    pub prices: Vec<ProductPriceInput>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleSpec {
    pub name: String,
    pub description: Option<String>,
    pub currency: Option<String>,
    pub prices: Vec<ProductPrice>,
}

/// A stored bundle; each price has its own id (`pri_…`), renewed when `prices` is replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub currency: Option<String>,
    pub prices: Vec<BundlePrice>,
    pub created_at: Micros,
    pub updated_at: Micros,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundlePrice {
    pub id: String,
    pub product_id: String,
    pub price: PriceInput,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl Bundle {
    pub fn spec(&self) -> BundleSpec {
        BundleSpec {
            name: self.name.clone(),
            description: self.description.clone(),
            currency: self.currency.clone(),
            prices: self
                .prices
                .iter()
                .map(|p| ProductPrice {
                    product_id: p.product_id.clone(),
                    price: p.price.clone(),
                })
                .collect(),
        }
    }
}

impl BundleInput {
    /// Checks every rule; products must be in `refs`. A bundle price is one flat object, so its
    /// price's fields are reported at `prices[i].<field>`.
    pub fn validate(&self, naming: Naming, refs: &Refs) -> Result<BundleSpec, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let name = f.required_text(f.at("", "name"), &self.name, MAX_NAME_LEN);
        let description = f.optional_text(
            f.at("", "description"),
            self.description.as_deref(),
            MAX_DESCRIPTION_LEN,
        );
        let currency = self
            .currency
            .as_deref()
            .and_then(|c| match Currency::parse(c) {
                Ok(c) => Some(c.code().to_string()),
                Err(e) => {
                    f.push(f.at("", "currency"), e);
                    None
                }
            });
        let list = f.at("", "prices");
        if self.prices.is_empty() {
            f.push(list.clone(), "at least one price is required");
        } else if self.prices.len() > MAX_ITEMS {
            f.push(
                list.clone(),
                format!("at most {MAX_ITEMS} prices are allowed"),
            );
        }
        let mut prices = Vec::with_capacity(self.prices.len());
        for (i, p) in self.prices.iter().enumerate() {
            let base = format!("{list}[{i}]");
            if let Some(k) = self.prices[..i]
                .iter()
                .position(|q| q.product_id == p.product_id && !p.product_id.is_empty())
            {
                f.push(
                    f.at(&base, "product_id"),
                    format!(
                        "product '{}' is already priced in {list}[{k}]",
                        p.product_id
                    ),
                );
                continue;
            }
            if let Some(pp) = f.product_price(&base, &p.product_id, &p.price, &base, refs) {
                prices.push(pp);
            }
        }
        f.into_result()?;
        Ok(BundleSpec {
            name,
            description,
            currency,
            prices,
        })
    }
}
