//! Properties of the engine, checked against independent reference computations.

use proptest::prelude::*;
use rust_decimal::prelude::ToPrimitive;

use super::*;

/// A generated tier table: widths of the bounded tiers, rates and fees (one more of each for the
/// open top), and whether bounds are written inclusive (`0–100, 101–200`) or half-open.
#[derive(Debug, Clone)]
struct Table {
    widths: Vec<u32>,
    rates: Vec<Decimal>,
    fees: Vec<Decimal>,
    inclusive: bool,
}

impl Table {
    /// Upper bounds of the bounded tiers.
    fn bounds(&self) -> Vec<u64> {
        let mut at = 0u64;
        self.widths
            .iter()
            .map(|w| {
                at += u64::from(*w);
                at
            })
            .collect()
    }

    fn uppers(&self) -> Vec<Decimal> {
        self.bounds().into_iter().map(Decimal::from).collect()
    }

    fn tiers(&self) -> Vec<PricingTierInput> {
        let bounds: Vec<i64> = self.bounds().into_iter().map(|b| b as i64).collect();
        (0..self.rates.len())
            .map(|i| {
                let min = match i.checked_sub(1).map(|p| bounds[p]) {
                    None => 0,
                    Some(prev) if self.inclusive => prev + 1,
                    Some(prev) => prev,
                };
                PricingTierInput {
                    min_units: min,
                    max_units: bounds.get(i).copied(),
                    price_per_unit: Some(self.rates[i]),
                    unit_price: None,
                    fixed_fee: Some(self.fees[i]),
                }
            })
            .collect()
    }

    /// The same table with the open top tier closed at `bound` and a new open tier above it.
    fn split_top(&self, bound: u64, rate: Decimal, fee: Decimal) -> Table {
        let last: u64 = self.widths.iter().map(|w| u64::from(*w)).sum();
        let width = u32::try_from(bound - last).unwrap();
        let mut t = self.clone();
        t.widths.push(width);
        t.rates.push(rate);
        t.fees.push(fee);
        t
    }

    /// Reference volume pricing: the first tier whose upper bound is at least q.
    fn volume_total(&self, qty: Decimal, c: Currency) -> Decimal {
        let uppers = self.uppers();
        let i = uppers
            .iter()
            .position(|u| qty <= *u)
            .unwrap_or(self.rates.len() - 1);
        money::round(qty * self.rates[i], c) + money::round(self.fees[i], c)
    }

    /// Reference graduated pricing: each tier's units clamped to its width; a tier's fee once
    /// q is above its lower bound (the first tier's always).
    fn graduated_total(&self, qty: Decimal, c: Currency) -> Decimal {
        let uppers = self.uppers();
        let mut total = Decimal::ZERO;
        let mut lower = Decimal::ZERO;
        for i in 0..self.rates.len() {
            let upper = uppers.get(i).copied();
            let reached = i == 0 || qty > lower;
            if reached {
                let top = upper.map_or(qty, |u| qty.min(u));
                let units = (top - lower).max(Decimal::ZERO);
                total += money::round(units * self.rates[i], c);
                total += money::round(self.fees[i], c);
            }
            lower = upper.unwrap_or(lower);
        }
        total
    }
}

fn rate() -> impl Strategy<Value = Decimal> {
    (0u32..100_000, 0u32..=5).prop_map(|(m, s)| Decimal::new(i64::from(m), s))
}

fn fee() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        Just(Decimal::ZERO),
        (0u32..10_000).prop_map(|m| Decimal::new(i64::from(m), 2))
    ]
}

fn table() -> impl Strategy<Value = Table> {
    (1usize..6).prop_flat_map(|n| {
        (
            prop::collection::vec(1u32..5_000, n - 1),
            prop::collection::vec(rate(), n),
            prop::collection::vec(fee(), n),
            any::<bool>(),
        )
            .prop_map(|(widths, rates, fees, inclusive)| Table {
                widths,
                rates,
                fees,
                inclusive,
            })
    })
}

/// Quantities from zero to a few tiers' worth, with up to 4 decimal places.
fn quantity() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (0u32..30_000).prop_map(Decimal::from),
        (0u64..300_000_000, 0u32..=4).prop_map(|(m, s)| Decimal::new(m as i64, s)),
    ]
}

/// A table and a quantity, half the time on or next to one of the table's boundaries.
fn table_and_quantity() -> impl Strategy<Value = (Table, Decimal)> {
    table().prop_flat_map(|t| {
        let mut near = vec![Decimal::ZERO];
        for bound in t.uppers() {
            for offset in ["-1", "-0.5", "0", "0.01", "0.5", "1"] {
                near.push(bound + d(offset));
            }
        }
        let qty = prop_oneof![quantity(), prop::sample::select(near)];
        (Just(t), qty)
    })
}

fn currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(vec!["USD", "JPY", "BHD", "EUR"]).prop_map(cur)
}

/// Any decimal at all: every mantissa, sign and scale, plus the awkward ones.
fn any_decimal() -> impl Strategy<Value = Decimal> {
    prop_oneof![
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<bool>(),
            0u32..=28
        )
            .prop_map(|(lo, mid, hi, neg, scale)| Decimal::from_parts(lo, mid, hi, neg, scale)),
        prop::sample::select(vec![
            Decimal::ZERO,
            Decimal::ONE,
            Decimal::from_i128_with_scale(10i128.pow(20), 0),
            Decimal::from_i128_with_scale(1, 28),
            Decimal::from_i128_with_scale(123_456_789_012_345_678_901_234_567, 28),
            Decimal::MAX,
            Decimal::MIN,
        ]),
        quantity(),
    ]
}

fn price_of(p: PriceInput) -> Price {
    valid(p)
}

fn total(p: &Price, c: Currency, qty: Decimal) -> Decimal {
    let charge = super::price(p, c, &PricingInput::Quantity(qty)).unwrap();
    assert_invariants(&charge, c);
    charge.total
}

proptest! {
    #[test]
    fn volume_is_quantity_times_its_tiers_rate_plus_fee((t, qty) in table_and_quantity(), c in currency()) {
        let p = price_of(tiered(t.tiers()));
        prop_assert_eq!(total(&p, c, qty), t.volume_total(qty, c));
    }

    #[test]
    fn graduated_is_the_sum_of_its_tiers_parts((t, qty) in table_and_quantity(), c in currency()) {
        let p = price_of(graduated(t.tiers()));
        prop_assert_eq!(total(&p, c, qty), t.graduated_total(qty, c));
    }

    #[test]
    fn graduated_is_monotonic((t, a) in table_and_quantity(), b in quantity(), c in currency()) {
        let p = price_of(graduated(t.tiers()));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(total(&p, c, lo) <= total(&p, c, hi));
    }

    #[test]
    fn graduated_percentage_is_monotonic((t, a) in table_and_quantity(), b in quantity(), c in currency()) {
        let tiers = t.tiers().into_iter().map(|x| PercentageTierInput {
            min_units: x.min_units,
            max_units: x.max_units,
            percentage: x.price_per_unit.map(|r| r.min(Decimal::ONE_HUNDRED)),
            fixed_fee: x.fixed_fee,
        }).collect();
        let p = price_of(graduated_pct(tiers));
        let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
        prop_assert!(total(&p, c, lo) <= total(&p, c, hi));
    }

    #[test]
    fn a_tier_above_the_quantity_changes_nothing(
        (t, qty) in table_and_quantity(),
        extra in 0u32..1000,
        new_rate in rate(),
        new_fee in fee(),
        c in currency(),
    ) {
        let last: u64 = t.widths.iter().map(|w| u64::from(*w)).sum();
        let bound = last.max(qty.ceil().to_u64().unwrap()) + u64::from(extra) + 1;
        let split = t.split_top(bound, new_rate, new_fee);
        for make in [tiered, graduated] {
            let before = price_of(make(t.tiers()));
            let after = price_of(make(split.tiers()));
            prop_assert_eq!(total(&before, c, qty), total(&after, c, qty));
        }
    }

    #[test]
    fn prepaid_never_charges_less_than_its_block(
        (t, qty) in table_and_quantity(),
        block in 1i64..20_000,
        c in currency(),
    ) {
        let p = price_of(prepaid(block, t.tiers()));
        let block_only = total(&p, c, Decimal::ZERO);
        let charged = total(&p, c, qty);
        prop_assert!(charged >= block_only);
        // The block is priced exactly like graduated usage of the block.
        prop_assert_eq!(block_only, t.graduated_total(Decimal::from(block), c));
    }

    #[test]
    fn package_is_started_packages_times_price(size in 1i64..5_000, qty in quantity(), price in rate(), c in currency()) {
        let p = price_of(package(size, &price.to_string()));
        let packages = (qty / Decimal::from(size)).ceil();
        prop_assert_eq!(total(&p, c, qty), money::round(packages * price, c));
    }

    #[test]
    fn adjusted_totals_respect_the_thresholds(
        qty in quantity(),
        price in rate(),
        pct in 0u32..=100,
        min in 0u32..100_000,
        span in 0u32..100_000,
        c in currency(),
    ) {
        let minimum = Decimal::from(min);
        let maximum = Decimal::from(min + span);
        let mut input = unit(&price.to_string());
        input.discount = Some(DiscountInput {
            amount: Decimal::from(pct),
            kind: "percentage".into(),
            duration_type: "monthly_rolling".into(),
            duration_unit: None,
            duration_value: None,
        });
        input.minimum_spend = Some(SpendingThresholdInput { amount: minimum, period: "monthly".into(), billing_direction: None });
        input.maximum_spend = Some(SpendingThresholdInput { amount: maximum, period: "monthly".into(), billing_direction: None });
        let t = total(&price_of(input), c, qty);
        prop_assert!(t >= minimum && t <= maximum, "{} not in [{}, {}]", t, minimum, maximum);
    }

    /// No model panics on any quantity: it returns lines that keep the invariants, or an error.
    #[test]
    fn no_model_panics_on_any_input(
        a in any_decimal(),
        b in any_decimal(),
        price in any_decimal(),
        c in currency(),
    ) {
        let nonneg = price.abs().to_string();
        let np = nonneg.as_str();
        let prices = vec![
            unit(np),
            fixed(np, 3),
            tiered(vec![tier(0, Some(100), np, Some("1.00")), tier(101, None, "0.05", Some(np))]),
            graduated(vec![tier(0, Some(100), "0.15", Some(np)), tier(100, None, np, None)]),
            tiered_pct(vec![pct_tier(0, Some(1000), "2.5", Some(np)), pct_tier(1001, None, "1", None)]),
            graduated_pct(vec![pct_tier(0, Some(1000), "100", None), pct_tier(1000, None, "0.0001", Some(np))]),
            volume_pct("2.9", np, Some("0.30")),
            prepaid(1000, vec![tier(0, Some(1000), np, None), tier(1001, None, "0.5", None)]),
            prepaid_fixed(5, vec![tier(0, None, np, Some("3"))]),
            package(7, np),
            expression(&[
                ("a", "usage.api_calls * usage.storage_gb", np),
                ("b", "round(usage.api_calls / 3, 2) + ceil(usage.storage_gb)", "0.01"),
            ]),
            regions_matrix(),
            with_max(with_min(with_discount(unit(np), "percentage", "12.5"), "10"), "1000000"),
            with_discount(graduated(vec![tier(0, None, np, None)]), "fixed", "5"),
        ];
        let inputs = vec![
            PricingInput::NoUsage,
            PricingInput::Quantity(a),
            PricingInput::Volume { amount: a, transactions: b },
            metrics(&[]),
            PricingInput::Metrics(BTreeMap::from([
                ("usage.api_calls".to_string(), a),
                ("usage.storage_gb".to_string(), b),
            ])),
            PricingInput::Matrix(vec![
                MatrixUsage {
                    dimensions: BTreeMap::from([("region".to_string(), "us".to_string()), ("tier".to_string(), "premium".to_string())]),
                    quantity: a,
                    transactions: None,
                },
                MatrixUsage {
                    dimensions: BTreeMap::from([("region".to_string(), "xx".to_string())]),
                    quantity: b,
                    transactions: Some(a),
                },
            ]),
        ];
        for p in prices {
            let p = price_of(p);
            for input in &inputs {
                if let Ok(charge) = super::price(&p, c, input) {
                    assert_invariants(&charge, c);
                }
            }
        }
    }
}

#[test]
fn huge_and_tiny_quantities_either_price_or_fail_cleanly() {
    let usd = cur("USD");
    let p = valid(graduated(vec![
        tier(0, Some(100), "0.15", Some("1")),
        tier(101, None, "0.05", None),
    ]));
    let huge = Decimal::from_i128_with_scale(10i128.pow(20), 0);
    let charge = super::price(&p, usd, &PricingInput::Quantity(huge)).unwrap();
    // 100 × 0.15 + 1 + (10^20 − 100) × 0.05
    assert_eq!(charge.total.to_string(), "5000000000000000011.00");
    let tiny = Decimal::from_i128_with_scale(1, 28);
    let charge = super::price(&p, usd, &PricingInput::Quantity(tiny)).unwrap();
    assert_eq!(charge.total.to_string(), "1.00");
    assert_eq!(
        super::price(&p, usd, &PricingInput::Quantity(Decimal::MAX)),
        Err(PricingError::Overflow)
    );
}
