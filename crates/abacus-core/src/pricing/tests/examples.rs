//! Worked examples. Every expected amount was computed by hand (the arithmetic is in the
//! comments or in docs/pricing.md) and is written as the exact string the line must carry,
//! including the currency's scale.

use super::*;

struct Case {
    name: &'static str,
    price: PriceInput,
    currency: &'static str,
    input: PricingInput,
    lines: &'static [&'static str],
    total: &'static str,
}

fn c(
    name: &'static str,
    price: PriceInput,
    currency: &'static str,
    input: PricingInput,
    lines: &'static [&'static str],
    total: &'static str,
) -> Case {
    Case {
        name,
        price,
        currency,
        input,
        lines,
        total,
    }
}

/// The guide's volume example: 0–100 at 0.15, 101–500 at 0.10, 501+ at 0.05 (inclusive style).
fn guide() -> Vec<PricingTierInput> {
    vec![
        tier(0, Some(100), "0.15", None),
        tier(101, Some(500), "0.10", None),
        tier(501, None, "0.05", None),
    ]
}

/// Half-open style: 0–100 at 1.00, 100–200 at 0.50, 200+ at 0.25.
fn half_open() -> Vec<PricingTierInput> {
    vec![
        tier(0, Some(100), "1.00", None),
        tier(100, Some(200), "0.50", None),
        tier(200, None, "0.25", None),
    ]
}

/// The v1 reference's bounds, with a fixed fee on every tier.
fn with_fees() -> Vec<PricingTierInput> {
    vec![
        tier(0, Some(1000), "0.10", Some("10.00")),
        tier(1001, Some(10000), "0.08", Some("20.00")),
        tier(10001, None, "0.05", Some("50.00")),
    ]
}

fn pct_volume() -> Vec<PercentageTierInput> {
    vec![
        pct_tier(0, Some(10000), "3.0", None),
        pct_tier(10001, Some(50000), "2.5", Some("5.00")),
        pct_tier(50001, None, "2.0", Some("10.00")),
    ]
}

/// Stripe-like brackets: first 1M at 0.5 %, up to 5M at 0.4 %, above at 0.3 %.
fn brackets() -> Vec<PercentageTierInput> {
    vec![
        pct_tier(0, Some(1_000_000), "0.5", None),
        pct_tier(1_000_000, Some(5_000_000), "0.4", None),
        pct_tier(5_000_000, None, "0.3", None),
    ]
}

fn prepaid_tiers() -> Vec<PricingTierInput> {
    vec![
        tier(0, Some(10000), "0.01", None),
        tier(10001, Some(50000), "0.008", None),
        tier(50001, None, "0.005", None),
    ]
}

fn api_and_storage() -> PriceInput {
    expression(&[
        ("API calls", "usage.api_calls", "0.01"),
        (
            "Storage over 100 GB",
            "max(0, usage.storage_gb - 100)",
            "0.25",
        ),
    ])
}

fn cases() -> Vec<Case> {
    let none = PricingInput::NoUsage;
    vec![
        // unit: quantity × price, one rounding.
        c(
            "unit, zero usage",
            unit("0.10"),
            "USD",
            q("0"),
            &["0.00"],
            "0.00",
        ),
        c(
            "unit, 1000 × 0.10",
            unit("0.10"),
            "USD",
            q("1000"),
            &["100.00"],
            "100.00",
        ),
        c(
            "unit, fractional 1234.5 × 0.10",
            unit("0.10"),
            "USD",
            q("1234.5"),
            &["123.45"],
            "123.45",
        ),
        // 12,345 × 0.00025 = 3.08625
        c(
            "unit, sub-cent price",
            unit("0.00025"),
            "USD",
            q("12345"),
            &["3.09"],
            "3.09",
        ),
        c(
            "unit, half a cent rounds away from zero",
            unit("0.125"),
            "USD",
            q("1"),
            &["0.13"],
            "0.13",
        ),
        // 0.5 × 9.99 = 4.995
        c(
            "unit, half a unit",
            unit("9.99"),
            "USD",
            q("0.5"),
            &["5.00"],
            "5.00",
        ),
        // 3 × 1.5 = 4.5
        c(
            "unit, JPY rounds to whole yen",
            unit("1.5"),
            "JPY",
            q("3"),
            &["5"],
            "5",
        ),
        c(
            "unit, JPY below half a yen",
            unit("0.4"),
            "JPY",
            q("1"),
            &["0"],
            "0",
        ),
        c(
            "unit, BHD three places",
            unit("0.0125"),
            "BHD",
            q("100"),
            &["1.250"],
            "1.250",
        ),
        c(
            "unit, BHD half a fils",
            unit("0.0005"),
            "BHD",
            q("1"),
            &["0.001"],
            "0.001",
        ),
        c(
            "unit, BHD 1.2345",
            unit("1.2345"),
            "BHD",
            q("1"),
            &["1.235"],
            "1.235",
        ),
        // fixed: units × price, no usage.
        c(
            "fixed, flat fee",
            fixed("500.00", 1),
            "USD",
            none.clone(),
            &["500.00"],
            "500.00",
        ),
        c(
            "fixed, 12 seats × 8.75",
            fixed("8.75", 12),
            "USD",
            none.clone(),
            &["105.00"],
            "105.00",
        ),
        c(
            "fixed, JPY",
            fixed("1000", 3),
            "JPY",
            none.clone(),
            &["3000"],
            "3000",
        ),
        c(
            "fixed, BHD",
            fixed("12.5", 1),
            "BHD",
            none.clone(),
            &["12.500"],
            "12.500",
        ),
        // tiered (volume), inclusive bounds.
        c(
            "volume, zero usage",
            tiered(guide()),
            "USD",
            q("0"),
            &["0.00"],
            "0.00",
        ),
        c(
            "volume, top of tier 1 (100)",
            tiered(guide()),
            "USD",
            q("100"),
            &["15.00"],
            "15.00",
        ),
        // 100.5 > 100, so tier 2: 100.5 × 0.10 = 10.05
        c(
            "volume, 100.5 falls in tier 2",
            tiered(guide()),
            "USD",
            q("100.5"),
            &["10.05"],
            "10.05",
        ),
        c(
            "volume, bottom of tier 2 (101)",
            tiered(guide()),
            "USD",
            q("101"),
            &["10.10"],
            "10.10",
        ),
        c(
            "volume, the guide's 250 units",
            tiered(guide()),
            "USD",
            q("250"),
            &["25.00"],
            "25.00",
        ),
        c(
            "volume, top of tier 2 (500)",
            tiered(guide()),
            "USD",
            q("500"),
            &["50.00"],
            "50.00",
        ),
        // 501 × 0.05 = 25.05: cheaper than 500 units, as volume pricing is.
        c(
            "volume, bottom of the open tier (501)",
            tiered(guide()),
            "USD",
            q("501"),
            &["25.05"],
            "25.05",
        ),
        c(
            "volume, deep in the open tier",
            tiered(guide()),
            "USD",
            q("1000000"),
            &["50000.00"],
            "50000.00",
        ),
        // tiered (volume) with tier fees.
        c(
            "volume fees, zero usage pays tier 1's fee",
            tiered(with_fees()),
            "USD",
            q("0"),
            &["0.00", "10.00"],
            "10.00",
        ),
        c(
            "volume fees, 1000",
            tiered(with_fees()),
            "USD",
            q("1000"),
            &["100.00", "10.00"],
            "110.00",
        ),
        // 1000.5 × 0.08 = 80.04
        c(
            "volume fees, 1000.5 (between 1000 and 1001)",
            tiered(with_fees()),
            "USD",
            q("1000.5"),
            &["80.04", "20.00"],
            "100.04",
        ),
        c(
            "volume fees, 1001",
            tiered(with_fees()),
            "USD",
            q("1001"),
            &["80.08", "20.00"],
            "100.08",
        ),
        c(
            "volume fees, 10000",
            tiered(with_fees()),
            "USD",
            q("10000"),
            &["800.00", "20.00"],
            "820.00",
        ),
        c(
            "volume fees, 10001",
            tiered(with_fees()),
            "USD",
            q("10001"),
            &["500.05", "50.00"],
            "550.05",
        ),
        c(
            "volume fees, open tier",
            tiered(with_fees()),
            "USD",
            q("2500000"),
            &["125000.00", "50.00"],
            "125050.00",
        ),
        // tiered (volume), half-open bounds: the shared bound belongs to the lower tier.
        c(
            "volume half-open, 100 in tier 1",
            tiered(half_open()),
            "USD",
            q("100"),
            &["100.00"],
            "100.00",
        ),
        // 100.25 × 0.50 = 50.125
        c(
            "volume half-open, 100.25 in tier 2",
            tiered(half_open()),
            "USD",
            q("100.25"),
            &["50.13"],
            "50.13",
        ),
        c(
            "volume half-open, 200 in tier 2",
            tiered(half_open()),
            "USD",
            q("200"),
            &["100.00"],
            "100.00",
        ),
        c(
            "volume half-open, 201 in tier 3",
            tiered(half_open()),
            "USD",
            q("201"),
            &["50.25"],
            "50.25",
        ),
        c(
            "volume as a fixed fee with its own units",
            PriceInput {
                tiered_pricing_model: Some(TieredPricingModelInput {
                    tiers: guide(),
                    units: Some(250),
                }),
                ..fixed_fee("tiered")
            },
            "USD",
            none.clone(),
            &["25.00"],
            "25.00",
        ),
        c(
            "volume, JPY",
            tiered(vec![
                tier(0, Some(10), "100", None),
                tier(11, None, "80", None),
            ]),
            "JPY",
            q("11"),
            &["880"],
            "880",
        ),
        // graduated_tiered, inclusive bounds.
        c(
            "graduated, zero usage",
            graduated(guide()),
            "USD",
            q("0"),
            &["0.00"],
            "0.00",
        ),
        c(
            "graduated, 100",
            graduated(guide()),
            "USD",
            q("100"),
            &["15.00"],
            "15.00",
        ),
        // 100 × 0.15 + 0.5 × 0.10
        c(
            "graduated, 100.5",
            graduated(guide()),
            "USD",
            q("100.5"),
            &["15.00", "0.05"],
            "15.05",
        ),
        c(
            "graduated, 101",
            graduated(guide()),
            "USD",
            q("101"),
            &["15.00", "0.10"],
            "15.10",
        ),
        c(
            "graduated, 250",
            graduated(guide()),
            "USD",
            q("250"),
            &["15.00", "15.00"],
            "30.00",
        ),
        c(
            "graduated, 500",
            graduated(guide()),
            "USD",
            q("500"),
            &["15.00", "40.00"],
            "55.00",
        ),
        c(
            "graduated, 501",
            graduated(guide()),
            "USD",
            q("501"),
            &["15.00", "40.00", "0.05"],
            "55.05",
        ),
        // 15 + 400 × 0.10 + 9,500 × 0.05
        c(
            "graduated, 10000",
            graduated(guide()),
            "USD",
            q("10000"),
            &["15.00", "40.00", "475.00"],
            "530.00",
        ),
        // graduated_tiered with fees: every reached tier's fee, tier 1's even at zero.
        c(
            "graduated fees, zero usage",
            graduated(with_fees()),
            "USD",
            q("0"),
            &["0.00", "10.00"],
            "10.00",
        ),
        c(
            "graduated fees, 1000",
            graduated(with_fees()),
            "USD",
            q("1000"),
            &["100.00", "10.00"],
            "110.00",
        ),
        c(
            "graduated fees, 1000.5",
            graduated(with_fees()),
            "USD",
            q("1000.5"),
            &["100.00", "10.00", "0.04", "20.00"],
            "130.04",
        ),
        c(
            "graduated fees, 1001",
            graduated(with_fees()),
            "USD",
            q("1001"),
            &["100.00", "10.00", "0.08", "20.00"],
            "130.08",
        ),
        // 1,000 × 0.10 + 10 + 9,000 × 0.08 + 20 + 1 × 0.05 + 50
        c(
            "graduated fees, 10001",
            graduated(with_fees()),
            "USD",
            q("10001"),
            &["100.00", "10.00", "720.00", "20.00", "0.05", "50.00"],
            "900.05",
        ),
        c(
            "graduated half-open, 150",
            graduated(half_open()),
            "USD",
            q("150"),
            &["100.00", "25.00"],
            "125.00",
        ),
        c(
            "graduated half-open, 250",
            graduated(half_open()),
            "USD",
            q("250"),
            &["100.00", "50.00", "12.50"],
            "162.50",
        ),
        // 10 × 100 = 1000; 3 × 55.5 = 166.5
        c(
            "graduated, JPY",
            graduated(vec![
                tier(0, Some(10), "100", None),
                tier(10, None, "55.5", None),
            ]),
            "JPY",
            q("13"),
            &["1000", "167"],
            "1167",
        ),
        // 1,000 × 0.0015 = 1.5; 500.5 × 0.0010 = 0.5005
        c(
            "graduated, BHD",
            graduated(vec![
                tier(0, Some(1000), "0.0015", None),
                tier(1000, None, "0.0010", None),
            ]),
            "BHD",
            q("1500.5"),
            &["1.500", "0.501"],
            "2.001",
        ),
        // tiered_percentage: the amount's tier gives the percentage for all of it.
        c(
            "tiered %, zero",
            tiered_pct(pct_volume()),
            "USD",
            q("0"),
            &["0.00"],
            "0.00",
        ),
        c(
            "tiered %, 10000 at 3%",
            tiered_pct(pct_volume()),
            "USD",
            q("10000"),
            &["300.00"],
            "300.00",
        ),
        // 10,000.50 × 2.5 % = 250.0125
        c(
            "tiered %, 10000.50 in tier 2",
            tiered_pct(pct_volume()),
            "USD",
            q("10000.50"),
            &["250.01", "5.00"],
            "255.01",
        ),
        c(
            "tiered %, 12000",
            tiered_pct(pct_volume()),
            "USD",
            q("12000"),
            &["300.00", "5.00"],
            "305.00",
        ),
        // 50,001 × 2 % = 1,000.02
        c(
            "tiered %, open tier",
            tiered_pct(pct_volume()),
            "USD",
            q("50001"),
            &["1000.02", "10.00"],
            "1010.02",
        ),
        // graduated_percentage: each bracket's percentage of the part inside it.
        c(
            "graduated %, 6M through three brackets",
            graduated_pct(brackets()),
            "USD",
            q("6000000"),
            &["5000.00", "16000.00", "3000.00"],
            "24000.00",
        ),
        c(
            "graduated %, exactly the first bracket",
            graduated_pct(brackets()),
            "USD",
            q("1000000"),
            &["5000.00"],
            "5000.00",
        ),
        // 1,234.56 × 0.5 % = 6.1728
        c(
            "graduated %, small amount",
            graduated_pct(brackets()),
            "USD",
            q("1234.56"),
            &["6.17"],
            "6.17",
        ),
        c(
            "graduated %, tier fee",
            graduated_pct(vec![
                pct_tier(0, Some(100), "1", None),
                pct_tier(101, None, "2", Some("1.00")),
            ]),
            "USD",
            q("150"),
            &["1.00", "1.00", "1.00"],
            "3.00",
        ),
        // 10,000 × 3.6 % = 360; 2,345 × 3 % = 70.35
        c(
            "graduated %, JPY",
            graduated_pct(vec![
                pct_tier(0, Some(10000), "3.6", None),
                pct_tier(10000, None, "3.0", None),
            ]),
            "JPY",
            q("12345"),
            &["360", "70"],
            "430",
        ),
        // volume_percentage: percentage of the volume + per transaction + fixed fee.
        c(
            "volume %, 2.9% + 0.30 + 10.00",
            volume_pct("2.9", "0.30", Some("10.00")),
            "USD",
            vol("10000", "100"),
            &["290.00", "30.00", "10.00"],
            "330.00",
        ),
        c(
            "volume %, nothing processed still pays the fixed fee",
            volume_pct("2.9", "0.30", Some("10.00")),
            "USD",
            vol("0", "0"),
            &["0.00", "0.00", "10.00"],
            "10.00",
        ),
        // 1,234.56 × 2.9 % = 35.80224; 7 × 0.30 = 2.10
        c(
            "volume %, odd amount",
            volume_pct("2.9", "0.30", Some("10.00")),
            "USD",
            vol("1234.56", "7"),
            &["35.80", "2.10", "10.00"],
            "47.90",
        ),
        // 999.99 × 1.5 % = 14.99985
        c(
            "volume %, percentage only",
            volume_pct("1.5", "0", None),
            "USD",
            q("999.99"),
            &["15.00"],
            "15.00",
        ),
        // 12,345 × 3.6 % = 444.42; 3 × 30 = 90
        c(
            "volume %, JPY",
            volume_pct("3.6", "30", None),
            "JPY",
            vol("12345", "3"),
            &["444", "90"],
            "534",
        ),
        // prepaid_tiered: the block is charged whatever the usage; overage continues up the tiers.
        c(
            "prepaid, no usage still pays the block",
            prepaid(10000, prepaid_tiers()),
            "USD",
            q("0"),
            &["100.00"],
            "100.00",
        ),
        c(
            "prepaid, usage equals the block",
            prepaid(10000, prepaid_tiers()),
            "USD",
            q("10000"),
            &["100.00"],
            "100.00",
        ),
        // 2,000 × 0.008 = 16
        c(
            "prepaid, overage in tier 2",
            prepaid(10000, prepaid_tiers()),
            "USD",
            q("12000"),
            &["100.00", "16.00"],
            "116.00",
        ),
        // 40,000 × 0.008 + 10,000 × 0.005
        c(
            "prepaid, overage across tiers",
            prepaid(10000, prepaid_tiers()),
            "USD",
            q("60000"),
            &["100.00", "320.00", "50.00"],
            "470.00",
        ),
        // block: 10,000 × 0.01 + 5,000 × 0.008; overage: 5,000 × 0.008
        c(
            "prepaid, block ends inside tier 2",
            prepaid(15000, prepaid_tiers()),
            "USD",
            q("20000"),
            &["100.00", "40.00", "40.00"],
            "180.00",
        ),
        // overage 0.5 × 0.005 = 0.0025, and tier 2's fee is first reached by the overage.
        c(
            "prepaid, tier fees split between block and overage",
            prepaid(
                10000,
                vec![
                    tier(0, Some(10000), "0.01", Some("5.00")),
                    tier(10001, None, "0.005", Some("25.00")),
                ],
            ),
            "USD",
            q("10000.5"),
            &["100.00", "5.00", "0.00", "25.00"],
            "130.00",
        ),
        c(
            "prepaid fixed, same arithmetic",
            prepaid_fixed(10000, prepaid_tiers()),
            "USD",
            q("12000"),
            &["100.00", "16.00"],
            "116.00",
        ),
        c(
            "prepaid, JPY",
            prepaid(
                100,
                vec![tier(0, Some(100), "10", None), tier(100, None, "8", None)],
            ),
            "JPY",
            q("150"),
            &["1000", "400"],
            "1400",
        ),
        // package: every started package of 1,000 costs 10.00.
        c(
            "package, zero",
            package(1000, "10.00"),
            "USD",
            q("0"),
            &["0.00"],
            "0.00",
        ),
        c(
            "package, one call starts a package",
            package(1000, "10.00"),
            "USD",
            q("1"),
            &["10.00"],
            "10.00",
        ),
        c(
            "package, exactly one package",
            package(1000, "10.00"),
            "USD",
            q("1000"),
            &["10.00"],
            "10.00",
        ),
        c(
            "package, 1001 starts a second",
            package(1000, "10.00"),
            "USD",
            q("1001"),
            &["20.00"],
            "20.00",
        ),
        c(
            "package, 2500 is three",
            package(1000, "10.00"),
            "USD",
            q("2500"),
            &["30.00"],
            "30.00",
        ),
        c(
            "package, fractional",
            package(1000, "10.00"),
            "USD",
            q("999.5"),
            &["10.00"],
            "10.00",
        ),
        c(
            "package, JPY",
            package(100, "500"),
            "JPY",
            q("250"),
            &["1500"],
            "1500",
        ),
        // expression: one line per charge.
        c(
            "expression, storage under the allowance",
            api_and_storage(),
            "USD",
            metrics(&[("usage.api_calls", "1500"), ("usage.storage_gb", "80")]),
            &["15.00", "0.00"],
            "15.00",
        ),
        // 1,234 × 0.01; (250.5 − 100) × 0.25 = 37.625
        c(
            "expression, storage over the allowance",
            api_and_storage(),
            "USD",
            metrics(&[("usage.api_calls", "1234"), ("usage.storage_gb", "250.5")]),
            &["12.34", "37.63"],
            "49.97",
        ),
        c(
            "expression, blocks of 1000 rounded up",
            expression(&[("Blocks", "ceil(usage.api_calls / 1000)", "2.50")]),
            "USD",
            metrics(&[("usage.api_calls", "2500")]),
            &["7.50"],
            "7.50",
        ),
        c(
            "expression, computed unit price",
            expression(&[("Seats", "usage.api_calls", "10 + 2 * 2.5")]),
            "USD",
            metrics(&[("usage.api_calls", "3")]),
            &["45.00"],
            "45.00",
        ),
        c(
            "expression, JPY",
            expression(&[("Calls", "usage.api_calls", "0.3")]),
            "JPY",
            metrics(&[("usage.api_calls", "5")]),
            &["2"],
            "2",
        ),
        // matrix: rows reaching one cell are summed, cells listed in tree order.
        c(
            "matrix, four combinations, three cells",
            regions_matrix(),
            "USD",
            rows(&[
                (&[("region", "us"), ("tier", "standard")], "100"),
                (&[("region", "us"), ("tier", "premium")], "50"),
                (&[("region", "eu"), ("tier", "premium")], "10"),
                (&[("region", "eu"), ("tier", "standard")], "20"),
            ]),
            &["10.00", "10.00", "4.50"],
            "24.50",
        ),
        c(
            "matrix, wildcard region",
            regions_matrix(),
            "USD",
            rows(&[(&[("region", "apac"), ("tier", "standard")], "10")]),
            &["3.00"],
            "3.00",
        ),
        c(
            "matrix, no usage",
            regions_matrix(),
            "USD",
            rows(&[]),
            &[],
            "0.00",
        ),
        // 60 + 60 = 120 in one cell: tier 2, 120 × 0.10 (priced apart it would be 18.00)
        c(
            "matrix, a tiered cell sees its total",
            matrix(splits(vec![split(
                "region",
                vec![(
                    "eu",
                    MatrixNodeInput {
                        leaf: Some(MatrixPriceCellInput {
                            kind: "tiered".into(),
                            tiered_pricing_model: Some(TieredPricingModelInput {
                                tiers: guide(),
                                units: None,
                            }),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )],
                Some(unit_cell("rest", "1.00")),
            )])),
            "USD",
            rows(&[
                (&[("region", "eu"), ("tier", "standard")], "60"),
                (&[("region", "eu"), ("tier", "premium")], "60"),
            ]),
            &["12.00"],
            "12.00",
        ),
        c(
            "matrix, fallback",
            matrix(MatrixNodeInput {
                fallback: Some(Box::new(unit_cell("elsewhere", "1.00"))),
                ..splits(vec![split(
                    "region",
                    vec![("us", unit_cell("us", "0.50"))],
                    None,
                )])
            }),
            "USD",
            rows(&[(&[("region", "us")], "4"), (&[("region", "jp")], "2")]),
            &["2.00", "2.00"],
            "4.00",
        ),
        // minimum spend, maximum spend, discounts.
        c(
            "minimum spend true-up",
            with_min(unit("0.10"), "50.00"),
            "USD",
            q("100"),
            &["10.00", "40.00"],
            "50.00",
        ),
        c(
            "minimum spend already met",
            with_min(unit("0.10"), "50.00"),
            "USD",
            q("1000"),
            &["100.00"],
            "100.00",
        ),
        c(
            "maximum spend cap",
            with_max(unit("0.10"), "75.00"),
            "USD",
            q("1000"),
            &["100.00", "-25.00"],
            "75.00",
        ),
        c(
            "percentage discount",
            with_discount(unit("0.10"), "percentage", "10"),
            "USD",
            q("1000"),
            &["100.00", "-10.00"],
            "90.00",
        ),
        // 10.05 × 10 % = 1.005, rounded away from zero
        c(
            "percentage discount rounds like the line",
            with_discount(unit("0.10"), "percentage", "10"),
            "USD",
            q("100.5"),
            &["10.05", "-1.01"],
            "9.04",
        ),
        c(
            "fixed discount capped at the subtotal",
            with_discount(unit("0.10"), "fixed", "25.00"),
            "USD",
            q("100"),
            &["10.00", "-10.00"],
            "0.00",
        ),
        c(
            "discount, then minimum",
            with_min(with_discount(unit("0.10"), "percentage", "10"), "95.00"),
            "USD",
            q("1000"),
            &["100.00", "-10.00", "5.00"],
            "95.00",
        ),
        c(
            "discount, then maximum",
            with_max(with_discount(unit("0.10"), "percentage", "10"), "150.00"),
            "USD",
            q("2000"),
            &["200.00", "-20.00", "-30.00"],
            "150.00",
        ),
        // 77 × 15 % = 11.55
        c(
            "discount, JPY",
            with_discount(unit("7"), "percentage", "15"),
            "JPY",
            q("11"),
            &["77", "-12"],
            "65",
        ),
        c(
            "minimum, BHD",
            with_min(unit("0.125"), "1.5"),
            "BHD",
            q("3"),
            &["0.375", "1.125"],
            "1.500",
        ),
        c(
            "minimum over a zero-usage graduated fee",
            with_min(graduated(with_fees()), "25.00"),
            "USD",
            q("0"),
            &["0.00", "10.00", "15.00"],
            "25.00",
        ),
    ]
}

#[test]
fn worked_examples() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for case in cases {
        let currency = cur(case.currency);
        let price = valid(case.price);
        let charge = match super::price(&price, currency, &case.input) {
            Ok(c) => c,
            Err(e) => {
                failures.push(format!("{}: {e}", case.name));
                continue;
            }
        };
        assert_invariants(&charge, currency);
        let lines: Vec<String> = charge.lines.iter().map(|l| l.amount.to_string()).collect();
        if lines != case.lines || charge.total.to_string() != case.total {
            failures.push(format!(
                "{}: expected {:?} = {}, got {:?} = {}\n  {:#?}",
                case.name,
                case.lines,
                case.total,
                lines,
                charge.total,
                charge
                    .lines
                    .iter()
                    .map(|l| &l.description)
                    .collect::<Vec<_>>()
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

fn descriptions(p: PriceInput, currency: &str, input: PricingInput) -> Vec<String> {
    let charge = super::price(&valid(p), cur(currency), &input).unwrap();
    charge.lines.into_iter().map(|l| l.description).collect()
}

#[test]
fn descriptions_say_how_each_line_was_reached() {
    assert_eq!(
        descriptions(unit("0.10"), "USD", q("1000")),
        ["1,000 units × 0.10"]
    );
    assert_eq!(
        descriptions(fixed("500.00", 1), "USD", PricingInput::NoUsage),
        ["1 unit × 500.00 (fixed)"]
    );
    assert_eq!(
        descriptions(tiered(with_fees()), "USD", q("1000.5")),
        [
            "1,000.5 units × 0.08 (tier 2: 1,001–10,000)",
            "fixed fee (tier 2: 1,001–10,000)"
        ]
    );
    assert_eq!(
        descriptions(graduated(guide()), "USD", q("250")),
        [
            "100 units × 0.15 (tier 1: 0–100)",
            "150 units × 0.10 (tier 2: 101–500)"
        ]
    );
    assert_eq!(
        descriptions(graduated(half_open()), "USD", q("250")),
        [
            "100 units × 1.00 (tier 1: 0–100)",
            "100 units × 0.50 (tier 2: 100–200)",
            "50 units × 0.25 (tier 3: 200+)"
        ]
    );
    assert_eq!(
        descriptions(tiered_pct(pct_volume()), "USD", q("12000")),
        [
            "2.5% of 12,000 (tier 2: 10,001–50,000)",
            "fixed fee (tier 2: 10,001–50,000)"
        ]
    );
    assert_eq!(
        descriptions(
            volume_pct("2.9", "0.30", Some("10.00")),
            "USD",
            vol("10000", "100")
        ),
        ["2.9% of 10,000", "100 transactions × 0.30", "fixed fee"]
    );
    assert_eq!(
        descriptions(prepaid(10000, prepaid_tiers()), "USD", q("12000")),
        [
            "prepaid: 10,000 units × 0.01 (tier 1: 0–10,000)",
            "overage: 2,000 units × 0.008 (tier 2: 10,001–50,000)"
        ]
    );
    assert_eq!(
        descriptions(package(1000, "10.00"), "USD", q("2500")),
        ["3 packages × 10.00 (2,500 units in packages of 1,000, the partial package rounded up)"]
    );
    assert_eq!(
        descriptions(package(1000, "10.00"), "USD", q("1000")),
        ["1 package × 10.00 (1,000 units in packages of 1,000)"]
    );
    assert_eq!(
        descriptions(
            api_and_storage(),
            "USD",
            metrics(&[("usage.api_calls", "1500"), ("usage.storage_gb", "80")])
        ),
        ["API calls: 1,500 × 0.01", "Storage over 100 GB: 0 × 0.25"]
    );
    assert_eq!(
        descriptions(
            with_max(with_discount(unit("0.10"), "percentage", "10"), "75"),
            "USD",
            q("1000")
        ),
        [
            "1,000 units × 0.10",
            "discount 10% of 100.00",
            "maximum spend 75.00 (capped from 90.00)"
        ]
    );
    assert_eq!(
        descriptions(with_min(unit("0.10"), "50"), "USD", q("100"))[1],
        "minimum spend 50.00 (true-up from 10.00)"
    );
    assert_eq!(
        descriptions(with_discount(unit("0.10"), "fixed", "25"), "USD", q("100"))[1],
        "discount 25.00 (capped at the subtotal)"
    );
}

#[test]
fn matrix_lines_name_their_cells() {
    let mut p = regions_matrix();
    let usage = rows(&[
        (&[("region", "us"), ("tier", "standard")], "100"),
        (&[("region", "eu"), ("tier", "premium")], "10"),
        (&[("region", "eu"), ("tier", "standard")], "20"),
    ]);
    assert_eq!(
        descriptions(p.clone(), "USD", usage.clone()),
        ["us_standard: 100 units × 0.10", "eu: 30 units × 0.15"]
    );
    p.matrix_pricing_model.as_mut().unwrap().line_item_template =
        Some("{region} {tier} ({label})".into());
    assert_eq!(
        descriptions(p.clone(), "USD", usage.clone()),
        [
            "us standard (us_standard): 100 units × 0.10",
            "eu * (eu): 30 units × 0.15"
        ]
    );
    let charge = super::price(&valid(p), cur("USD"), &usage).unwrap();
    let cells: Vec<_> = charge.lines.iter().map(|l| l.cell.as_deref()).collect();
    assert_eq!(cells, [Some("us_standard"), Some("eu")]);
}

#[test]
fn line_kinds_and_references() {
    let charge = super::price(
        &valid(prepaid_fixed(10000, prepaid_tiers())),
        cur("USD"),
        &q("60000"),
    )
    .unwrap();
    let kinds: Vec<_> = charge.lines.iter().map(|l| (l.kind, l.tier)).collect();
    assert_eq!(
        kinds,
        [
            (LineKind::Prepaid, Some(0)),
            (LineKind::Overage, Some(1)),
            (LineKind::Overage, Some(2))
        ]
    );
    let charge = super::price(
        &valid(with_min(graduated(with_fees()), "1000")),
        cur("USD"),
        &q("1001"),
    )
    .unwrap();
    let kinds: Vec<_> = charge.lines.iter().map(|l| l.kind).collect();
    assert_eq!(
        kinds,
        [
            LineKind::Usage,
            LineKind::Fee,
            LineKind::Usage,
            LineKind::Fee,
            LineKind::MinimumSpend
        ]
    );
    let charge = super::price(
        &valid(api_and_storage()),
        cur("USD"),
        &metrics(&[("usage.api_calls", "1"), ("usage.storage_gb", "1")]),
    )
    .unwrap();
    let refs: Vec<_> = charge.lines.iter().map(|l| l.charge).collect();
    assert_eq!(refs, [Some(0), Some(1)]);
}

#[test]
fn wrong_or_bad_input_is_an_error() {
    let usd = cur("USD");
    let err =
        |p: PriceInput, input: PricingInput| super::price(&valid(p), usd, &input).unwrap_err();
    assert!(matches!(
        err(unit("1"), q("-1")),
        PricingError::Negative { .. }
    ));
    assert!(matches!(
        err(unit("1"), PricingInput::NoUsage),
        PricingError::WrongInput { model: "unit", .. }
    ));
    assert!(matches!(
        err(fixed("1", 1), q("1")),
        PricingError::WrongInput { model: "fixed", .. }
    ));
    assert!(matches!(
        err(tiered(guide()), PricingInput::NoUsage),
        PricingError::WrongInput { .. }
    ));
    assert!(matches!(
        err(volume_pct("1", "0.30", None), q("100")),
        PricingError::WrongInput { .. }
    ));
    assert!(matches!(
        err(volume_pct("1", "0", None), vol("100", "-1")),
        PricingError::Negative { .. }
    ));
    assert!(matches!(
        err(unit("1"), metrics(&[])),
        PricingError::WrongInput { .. }
    ));
    assert_eq!(
        err(api_and_storage(), metrics(&[("usage.api_calls", "1")])),
        PricingError::Expression {
            charge: 1,
            field: "quantity_expression",
            error: EvalError::UnknownName {
                name: "usage.storage_gb".into(),
                position: 8
            }
        }
    );
    assert!(matches!(
        err(
            expression(&[("x", "usage.api_calls - 10", "1")]),
            metrics(&[("usage.api_calls", "3")])
        ),
        PricingError::NegativeExpression { charge: 0, .. }
    ));
    assert!(matches!(
        err(
            expression(&[("x", "1", "1 / usage.api_calls")]),
            metrics(&[("usage.api_calls", "0")])
        ),
        PricingError::Expression {
            error: EvalError::DivisionByZero { .. },
            ..
        }
    ));
    assert!(matches!(
        err(
            regions_matrix(),
            rows(&[(&[("region", "us"), ("colour", "red")], "1")])
        ),
        PricingError::UnknownDimension(k) if k == "colour"
    ));
    // us has no wildcard under it and the root split has none for a missing tier.
    assert_eq!(
        err(regions_matrix(), rows(&[(&[("region", "us")], "1")])),
        PricingError::NoMatrixCell("{region=us}".into())
    );
    assert_eq!(
        err(unit("10"), PricingInput::Quantity(Decimal::MAX)),
        PricingError::Overflow
    );
}
