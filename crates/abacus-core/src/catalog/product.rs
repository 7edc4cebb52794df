//! Products: the billable things on plan and subscription items.

use super::{Fields, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, Refs};
use crate::customer::Patch;
use crate::time::Micros;
use crate::validation::{FieldError, Naming};

/// Metrics one metered product may read.
pub const MAX_METRICS: usize = 50;

macro_rules! closed_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const NAMES: &'static str = concat!($($text, ", "),+);

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The accepted values, for messages.
            pub fn names() -> &'static str {
                Self::NAMES.trim_end_matches(", ")
            }
        }
    };
}

closed_enum!(
    /// Whether a product is billed a fixed amount or from usage.
    FeeType { Fixed = "fixed", Metered = "metered" }
);
closed_enum!(
    /// When a product is billed relative to its period: at the start or at the end.
    PaymentTerms { Advance = "advance", Arrears = "arrears" }
);
closed_enum!(
    /// Every period, or once.
    BillingFrequency { Recurring = "recurring", OneOff = "one-off" }
);
closed_enum!(
    /// How revenue is spread over the periods of a billing cycle.
    RevenueAllocation {
        StraightLine = "straight_line",
        UsageBased = "usage_based",
        ContractLevelStraightLine = "contract_level_straight_line",
    }
);

/// A product as a caller describes it (`products.create`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductInput {
    pub name: String,
    pub description: Option<String>,
    pub fee_type: String,
    pub payment_terms: String,
    pub billing_frequency: Option<String>,
    pub revenue_allocation_method: Option<String>,
    pub sku: Option<String>,
    pub tax_code: Option<String>,
    pub unit_label_singular: Option<String>,
    pub unit_label_plural: Option<String>,
    pub metric_ids: Vec<String>,
    pub tag_ids: Vec<String>,
}

/// A valid product definition: what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSpec {
    pub name: String,
    /// Empty when none was given (the SDK's `ProductResponse.description` is a required string).
    pub description: String,
    pub fee_type: FeeType,
    pub payment_terms: PaymentTerms,
    pub billing_frequency: BillingFrequency,
    pub revenue_allocation_method: RevenueAllocation,
    pub sku: Option<String>,
    pub tax_code: Option<String>,
    pub unit_label_singular: Option<String>,
    pub unit_label_plural: Option<String>,
    pub metric_ids: Vec<String>,
    pub tag_ids: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: String,
    pub spec: ProductSpec,
    pub created_at: Micros,
    pub updated_at: Micros,
}

impl ProductInput {
    /// Checks every rule; metrics and tags must be in `refs`.
    pub fn validate(&self, naming: Naming, refs: &Refs) -> Result<ProductSpec, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let name = f.required_text(f.at("", "name"), &self.name, MAX_NAME_LEN);
        let description = f
            .optional_text(
                f.at("", "description"),
                self.description.as_deref().filter(|d| !d.trim().is_empty()),
                MAX_DESCRIPTION_LEN,
            )
            .unwrap_or_default();
        let fee_type = f.one_of(
            f.at("", "fee_type"),
            &self.fee_type,
            FeeType::parse,
            FeeType::names(),
        );
        let payment_terms = f.one_of(
            f.at("", "payment_terms"),
            &self.payment_terms,
            PaymentTerms::parse,
            PaymentTerms::names(),
        );
        if fee_type == Some(FeeType::Metered) && payment_terms == Some(PaymentTerms::Advance) {
            f.push(
                f.at("", "payment_terms"),
                "must be 'arrears' for a metered product: usage is billed after it happens",
            );
        }
        let billing_frequency = match (&self.billing_frequency, fee_type) {
            (Some(b), _) => {
                let parsed = f.one_of(
                    f.at("", "billing_frequency"),
                    b,
                    BillingFrequency::parse,
                    BillingFrequency::names(),
                );
                if fee_type == Some(FeeType::Metered) && parsed == Some(BillingFrequency::OneOff) {
                    f.push(
                        f.at("", "billing_frequency"),
                        "must be 'recurring' for a metered product",
                    );
                }
                parsed
            }
            (None, Some(FeeType::Fixed)) => {
                f.push(
                    f.at("", "billing_frequency"),
                    "is required for a fixed product (recurring or one-off)",
                );
                None
            }
            (None, _) => Some(BillingFrequency::Recurring),
        };
        let revenue_allocation_method = match &self.revenue_allocation_method {
            Some(r) => f.one_of(
                f.at("", "revenue_allocation_method"),
                r,
                RevenueAllocation::parse,
                RevenueAllocation::names(),
            ),
            None => Some(match fee_type {
                Some(FeeType::Metered) => RevenueAllocation::UsageBased,
                _ => RevenueAllocation::StraightLine,
            }),
        };
        let mut optional = |snake: &str, v: &Option<String>| {
            let field = f.at("", snake);
            f.optional_text(field, v.as_deref(), MAX_NAME_LEN)
        };
        let sku = optional("sku", &self.sku);
        let tax_code = optional("tax_code", &self.tax_code);
        let unit_label_singular = optional("unit_label_singular", &self.unit_label_singular);
        let unit_label_plural = optional("unit_label_plural", &self.unit_label_plural);

        let metrics_field = f.at("", "metric_ids");
        match fee_type {
            Some(FeeType::Metered) if self.metric_ids.is_empty() => f.push(
                metrics_field.clone(),
                "is required for a metered product (the metrics its usage comes from)",
            ),
            Some(FeeType::Fixed) if !self.metric_ids.is_empty() => f.push(
                metrics_field.clone(),
                "must be omitted for a fixed product (it has no usage)",
            ),
            _ => {}
        }
        if self.metric_ids.len() > MAX_METRICS {
            f.push(
                metrics_field.clone(),
                format!("at most {MAX_METRICS} metrics are allowed"),
            );
        }
        if fee_type != Some(FeeType::Fixed) {
            for (i, id) in self.metric_ids.iter().enumerate() {
                let field = format!("{metrics_field}[{i}]");
                if id.trim().is_empty() {
                    f.push(field, "must not be empty");
                } else if self.metric_ids[..i].contains(id) {
                    f.push(field, format!("duplicate metric '{id}'"));
                } else if !refs.metrics.contains(id) {
                    f.push(field, format!("unknown metric '{id}' (or archived)"));
                }
            }
        }
        let tags_field = f.at("", "tag_ids");
        f.tag_ids(&tags_field, &self.tag_ids, refs, "product");

        f.into_result()?;
        let missing = || {
            vec![FieldError {
                field: "fee_type".into(),
                message: "is not valid".into(),
            }]
        };
        Ok(ProductSpec {
            name,
            description,
            fee_type: fee_type.ok_or_else(missing)?,
            payment_terms: payment_terms.ok_or_else(missing)?,
            billing_frequency: billing_frequency.ok_or_else(missing)?,
            revenue_allocation_method: revenue_allocation_method.ok_or_else(missing)?,
            sku,
            tax_code,
            unit_label_singular,
            unit_label_plural,
            metric_ids: self.metric_ids.clone(),
            tag_ids: self.tag_ids.clone(),
        })
    }
}

impl From<&ProductSpec> for ProductInput {
    fn from(s: &ProductSpec) -> Self {
        ProductInput {
            name: s.name.clone(),
            description: Some(s.description.clone()),
            fee_type: s.fee_type.as_str().into(),
            payment_terms: s.payment_terms.as_str().into(),
            billing_frequency: Some(s.billing_frequency.as_str().into()),
            revenue_allocation_method: Some(s.revenue_allocation_method.as_str().into()),
            sku: s.sku.clone(),
            tax_code: s.tax_code.clone(),
            unit_label_singular: s.unit_label_singular.clone(),
            unit_label_plural: s.unit_label_plural.clone(),
            metric_ids: s.metric_ids.clone(),
            tag_ids: s.tag_ids.clone(),
        }
    }
}

/// A partial update (`products.update`): fields left out keep their value, `null` clears an
/// optional one, `tag_ids` replaces the list. What the product bills (fee type, payment terms,
/// billing frequency, metrics) is fixed at creation: prices in plans and bundles were checked
/// against it. Sending the current value is accepted; another is refused.
#[derive(Debug, Clone, Default)]
pub struct ProductPatch {
    pub name: Option<String>,
    pub description: Patch<String>,
    pub revenue_allocation_method: Patch<String>,
    pub sku: Patch<String>,
    pub tax_code: Patch<String>,
    pub unit_label_singular: Patch<String>,
    pub unit_label_plural: Patch<String>,
    pub tag_ids: Option<Vec<String>>,
    pub fee_type: Option<String>,
    pub payment_terms: Option<String>,
    pub billing_frequency: Option<String>,
    pub metric_ids: Option<Vec<String>>,
}

fn patched<T>(p: Patch<T>, current: Option<T>) -> Option<T> {
    match p {
        Patch::Absent => current,
        Patch::Null => None,
        Patch::Value(v) => Some(v),
    }
}

impl ProductPatch {
    /// The product this patch would leave; validate it before storing.
    pub fn apply_to(
        self,
        current: &ProductSpec,
        naming: Naming,
    ) -> Result<ProductInput, Vec<FieldError>> {
        let mut f = Fields::new(naming);
        let fixed = [
            (
                "fee_type",
                self.fee_type.as_deref() != Some(current.fee_type.as_str()),
                self.fee_type.is_some(),
            ),
            (
                "payment_terms",
                self.payment_terms.as_deref() != Some(current.payment_terms.as_str()),
                self.payment_terms.is_some(),
            ),
            (
                "billing_frequency",
                self.billing_frequency.as_deref() != Some(current.billing_frequency.as_str()),
                self.billing_frequency.is_some(),
            ),
            (
                "metric_ids",
                self.metric_ids.as_ref() != Some(&current.metric_ids),
                self.metric_ids.is_some(),
            ),
        ];
        for (snake, differs, given) in fixed {
            if given && differs {
                f.push(
                    f.at("", snake),
                    "cannot be changed after creation: plans and bundles price the product as it is; create a new product",
                );
            }
        }
        f.into_result()?;
        let mut input = ProductInput::from(current);
        if let Some(n) = self.name {
            input.name = n;
        }
        input.description = patched(self.description, input.description);
        input.revenue_allocation_method = patched(
            self.revenue_allocation_method,
            input.revenue_allocation_method,
        );
        input.sku = patched(self.sku, input.sku);
        input.tax_code = patched(self.tax_code, input.tax_code);
        input.unit_label_singular = patched(self.unit_label_singular, input.unit_label_singular);
        input.unit_label_plural = patched(self.unit_label_plural, input.unit_label_plural);
        if let Some(t) = self.tag_ids {
            input.tag_ids = t;
        }
        Ok(input)
    }
}
