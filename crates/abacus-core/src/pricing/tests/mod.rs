//! Worked examples, properties and validation of the pricing engine, with builders for SDK-shaped
//! prices.

mod examples;
mod properties;
mod validation;

use std::collections::BTreeMap;
use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;
use crate::currency::Currency;
use crate::money;
use crate::validation::Naming;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_else(|_| panic!("bad decimal {s}"))
}

fn cur(code: &str) -> Currency {
    Currency::parse(code).unwrap()
}

fn metered(kind: &str) -> PriceInput {
    PriceInput {
        kind: kind.into(),
        fee_type: "metered".into(),
        billing_direction: "arrears".into(),
        billing_interval: Some("monthly".into()),
        metric_ids: Some(vec!["m_api".into(), "m_storage".into()]),
        ..Default::default()
    }
}

fn fixed_fee(kind: &str) -> PriceInput {
    PriceInput {
        kind: kind.into(),
        fee_type: "fixed".into(),
        billing_direction: "advance".into(),
        billing_frequency: Some("recurring".into()),
        billing_interval: Some("monthly".into()),
        ..Default::default()
    }
}

fn tier(min: i64, max: Option<i64>, price: &str, fee: Option<&str>) -> PricingTierInput {
    PricingTierInput {
        min_units: min,
        max_units: max,
        price_per_unit: Some(d(price)),
        unit_price: None,
        fixed_fee: fee.map(d),
    }
}

fn pct_tier(min: i64, max: Option<i64>, pct: &str, fee: Option<&str>) -> PercentageTierInput {
    PercentageTierInput {
        min_units: min,
        max_units: max,
        percentage: Some(d(pct)),
        fixed_fee: fee.map(d),
    }
}

fn unit(price: &str) -> PriceInput {
    PriceInput {
        unit_pricing_model: Some(UnitPricingModelInput {
            price_per_unit: d(price),
        }),
        ..metered("unit")
    }
}

fn fixed(price: &str, units: i64) -> PriceInput {
    PriceInput {
        fixed_pricing_model: Some(FixedPricingModelInput {
            price_per_unit: d(price),
            units,
        }),
        ..fixed_fee("fixed")
    }
}

fn tiered(tiers: Vec<PricingTierInput>) -> PriceInput {
    PriceInput {
        tiered_pricing_model: Some(TieredPricingModelInput { tiers, units: None }),
        ..metered("tiered")
    }
}

fn graduated(tiers: Vec<PricingTierInput>) -> PriceInput {
    PriceInput {
        graduated_tiered_pricing_model: Some(TieredPricingModelInput { tiers, units: None }),
        ..metered("graduated_tiered")
    }
}

fn tiered_pct(tiers: Vec<PercentageTierInput>) -> PriceInput {
    PriceInput {
        tiered_percentage_pricing_model: Some(PercentagePricingModelInput { tiers }),
        ..metered("tiered_percentage")
    }
}

fn graduated_pct(tiers: Vec<PercentageTierInput>) -> PriceInput {
    PriceInput {
        graduated_percentage_pricing_model: Some(PercentagePricingModelInput { tiers }),
        ..metered("graduated_percentage")
    }
}

fn volume_pct(pct: &str, per_transaction: &str, fee: Option<&str>) -> PriceInput {
    PriceInput {
        volume_percentage_pricing_model: Some(VolumePercentagePricingModelInput {
            percentage: d(pct),
            price_per_unit: d(per_transaction),
            fixed_fee: fee.map(d),
        }),
        ..metered("volume_percentage")
    }
}

fn prepaid(prepaid_units: i64, tiers: Vec<PricingTierInput>) -> PriceInput {
    PriceInput {
        prepaid_tiered_pricing_model: Some(PrepaidTieredPricingModelInput {
            prepaid_units,
            tiers,
        }),
        ..metered("prepaid_tiered")
    }
}

fn prepaid_fixed(prepaid_units: i64, tiers: Vec<PricingTierInput>) -> PriceInput {
    PriceInput {
        prepaid_fixed_tiered_pricing_model: Some(PrepaidFixedTieredPricingModelInput {
            prepaid_units,
            overages_charge_interval: "quarterly".into(),
            tiers,
        }),
        ..metered("prepaid_fixed_tiered")
    }
}

fn package(size: i64, price: &str) -> PriceInput {
    PriceInput {
        package_pricing_model: Some(PackagePricingModelInput {
            package_size: size,
            price_per_package: d(price),
        }),
        ..metered("package")
    }
}

/// Charges as (description, quantity expression, unit price expression); metrics `m_api` and
/// `m_storage` are bound as `usage.api_calls` and `usage.storage_gb`.
fn expression(charges: &[(&str, &str, &str)]) -> PriceInput {
    PriceInput {
        expression_pricing_model: Some(ExpressionPricingModelInput {
            charges: charges
                .iter()
                .map(|(description, q, p)| ExpressionChargeInput {
                    billing_direction: "arrears".into(),
                    description: (*description).into(),
                    quantity_expression: (*q).into(),
                    unit_price_expression: (*p).into(),
                })
                .collect(),
            metric_bindings: Some(vec![
                MetricBinding {
                    alias: "api_calls".into(),
                    metric_id: "m_api".into(),
                },
                MetricBinding {
                    alias: "storage_gb".into(),
                    metric_id: "m_storage".into(),
                },
            ]),
        }),
        ..metered("expression")
    }
}

fn unit_cell(key: &str, price: &str) -> MatrixNodeInput {
    MatrixNodeInput {
        leaf: Some(MatrixPriceCellInput {
            kind: "unit".into(),
            cell_key: Some(key.into()),
            unit_pricing_model: Some(UnitPricingModelInput {
                price_per_unit: d(price),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn split(
    dimension: &str,
    branches: Vec<(&str, MatrixNodeInput)>,
    wildcard: Option<MatrixNodeInput>,
) -> MatrixDimensionRuleInput {
    MatrixDimensionRuleInput {
        dimension_key: dimension.into(),
        branches: branches
            .into_iter()
            .map(|(value, child)| MatrixExactMatchInput {
                value: value.into(),
                child,
            })
            .collect(),
        wildcard: wildcard.map(Box::new),
    }
}

fn splits(rules: Vec<MatrixDimensionRuleInput>) -> MatrixNodeInput {
    MatrixNodeInput {
        splits: Some(rules),
        ..Default::default()
    }
}

/// A matrix over `region` (free values) and `tier` (standard, premium).
fn matrix(root: MatrixNodeInput) -> PriceInput {
    PriceInput {
        matrix_pricing_model: Some(MatrixPricingModelInput {
            dimensions: vec![
                MatrixDimensionDefinitionInput {
                    key: "region".into(),
                    label: "Region".into(),
                    values: None,
                },
                MatrixDimensionDefinitionInput {
                    key: "tier".into(),
                    label: "Tier".into(),
                    values: Some(vec!["standard".into(), "premium".into()]),
                },
            ],
            line_item_template: None,
            root,
        }),
        ..metered("matrix")
    }
}

/// us/standard 0.10, us/premium 0.20, eu (any tier) 0.15, any other region 0.30.
fn regions_matrix() -> PriceInput {
    matrix(splits(vec![split(
        "region",
        vec![
            (
                "us",
                splits(vec![split(
                    "tier",
                    vec![
                        ("standard", unit_cell("us_standard", "0.10")),
                        ("premium", unit_cell("us_premium", "0.20")),
                    ],
                    None,
                )]),
            ),
            ("eu", unit_cell("eu", "0.15")),
        ],
        Some(unit_cell("other", "0.30")),
    )]))
}

fn spend(amount: &str) -> Option<SpendingThresholdInput> {
    Some(SpendingThresholdInput {
        amount: d(amount),
        period: "monthly".into(),
        billing_direction: None,
    })
}

fn with_min(p: PriceInput, amount: &str) -> PriceInput {
    PriceInput {
        minimum_spend: spend(amount),
        ..p
    }
}

fn with_max(p: PriceInput, amount: &str) -> PriceInput {
    PriceInput {
        maximum_spend: spend(amount),
        ..p
    }
}

fn with_discount(p: PriceInput, kind: &str, amount: &str) -> PriceInput {
    PriceInput {
        discount: Some(DiscountInput {
            amount: d(amount),
            kind: kind.into(),
            duration_type: "fixed".into(),
            duration_unit: Some("months".into()),
            duration_value: Some(6),
        }),
        ..p
    }
}

fn valid(p: PriceInput) -> Price {
    p.validate(Naming::Snake)
        .unwrap_or_else(|e| panic!("invalid test price: {e:?}"))
}

fn q(s: &str) -> PricingInput {
    PricingInput::Quantity(d(s))
}

fn vol(amount: &str, transactions: &str) -> PricingInput {
    PricingInput::Volume {
        amount: d(amount),
        transactions: d(transactions),
    }
}

fn metrics(values: &[(&str, &str)]) -> PricingInput {
    PricingInput::Metrics(
        values
            .iter()
            .map(|(k, v)| ((*k).to_string(), d(v)))
            .collect(),
    )
}

fn rows(rows: &[(&[(&str, &str)], &str)]) -> PricingInput {
    PricingInput::Matrix(
        rows.iter()
            .map(|(dims, quantity)| MatrixUsage {
                dimensions: dims
                    .iter()
                    .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                    .collect::<BTreeMap<_, _>>(),
                quantity: d(quantity),
                transactions: None,
            })
            .collect(),
    )
}

/// The invariants every successful pricing keeps: each line is its quantity × unit price rounded
/// once to the currency's minor units (and carries exactly that scale), and the total is the sum
/// of the lines.
fn assert_invariants(charge: &Charge, currency: Currency) {
    for l in &charge.lines {
        let exact = l
            .quantity
            .checked_mul(l.unit_price)
            .expect("a returned line never overflowed");
        assert_eq!(l.amount, money::round(exact, currency), "{l:?}");
        assert_eq!(l.amount.scale(), currency.minor_units(), "{l:?}");
    }
    let sum = money::sum(charge.lines.iter().map(|l| l.amount)).unwrap();
    assert_eq!(charge.total, sum);
}
