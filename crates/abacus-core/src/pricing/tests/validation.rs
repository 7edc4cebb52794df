//! Validation of price definitions: every problem, at its path, in the caller's naming.

use super::*;

fn errors(p: &PriceInput, naming: Naming) -> Vec<(String, String)> {
    p.validate(naming)
        .unwrap_err()
        .into_iter()
        .map(|e| (e.field, e.message))
        .collect()
}

fn fields(p: &PriceInput, naming: Naming) -> Vec<String> {
    errors(p, naming).into_iter().map(|(f, _)| f).collect()
}

#[test]
fn every_model_type_validates() {
    let fine = [
        unit("1"),
        fixed("1", 1),
        tiered(vec![tier(0, None, "1", None)]),
        graduated(vec![tier(0, None, "1", None)]),
        tiered_pct(vec![pct_tier(0, None, "1", None)]),
        graduated_pct(vec![pct_tier(0, None, "1", None)]),
        volume_pct("1", "0.30", None),
        prepaid(10, vec![tier(0, None, "1", None)]),
        prepaid_fixed(10, vec![tier(0, None, "1", None)]),
        expression(&[("x", "usage.api_calls", "1")]),
        regions_matrix(),
        package(10, "1"),
    ];
    for p in fine {
        let price = valid(p.clone());
        assert_eq!(price.model.type_name(), p.kind);
    }
}

#[test]
fn tier_problems_in_both_namings() {
    let p = tiered(vec![
        tier(0, Some(100), "0.15", None),
        tier(102, Some(500), "-0.10", None),
        tier(501, Some(900), "0.05", Some("-1")),
    ]);
    assert_eq!(
        fields(&p, Naming::Snake),
        [
            "tiered_pricing_model.tiers[1].price_per_unit",
            "tiered_pricing_model.tiers[2].fixed_fee",
            "tiered_pricing_model.tiers[1].min_units",
            "tiered_pricing_model.tiers[2].max_units",
        ]
    );
    assert_eq!(
        fields(&p, Naming::Camel),
        [
            "tieredPricingModel.tiers[1].pricePerUnit",
            "tieredPricingModel.tiers[2].fixedFee",
            "tieredPricingModel.tiers[1].minUnits",
            "tieredPricingModel.tiers[2].maxUnits",
        ]
    );
    let messages = errors(&p, Naming::Snake);
    assert_eq!(
        messages[2].1,
        "must be 100 or 101 (the previous tier ends at 100): tiers must follow each other \
         without gaps or overlaps"
    );
    assert!(messages[3].1.contains("must be unbounded"));
}

#[test]
fn tier_order_bounds_and_open_top() {
    let unsorted = graduated(vec![
        tier(0, Some(500), "1", None),
        tier(101, Some(100), "1", None),
        tier(501, None, "1", None),
    ]);
    assert_eq!(
        fields(&unsorted, Naming::Snake),
        [
            "graduated_tiered_pricing_model.tiers[1].min_units",
            "graduated_tiered_pricing_model.tiers[1].max_units",
        ]
    );
    let open_middle = tiered(vec![tier(0, None, "1", None), tier(100, None, "1", None)]);
    assert_eq!(
        errors(&open_middle, Naming::Snake),
        [(
            "tiered_pricing_model.tiers[0].max_units".into(),
            "only the last tier may be unbounded (max_units null)".into()
        )]
    );
    let not_from_zero = tiered(vec![tier(1, None, "1", None)]);
    assert_eq!(
        fields(&not_from_zero, Naming::Snake),
        ["tiered_pricing_model.tiers[0].min_units"]
    );
    let empty = tiered(vec![]);
    assert_eq!(
        errors(&empty, Naming::Camel),
        [(
            "tieredPricingModel.tiers".into(),
            "at least one tier is required".into()
        )]
    );
    let negative = tiered(vec![tier(-5, None, "1", None)]);
    assert_eq!(
        errors(&negative, Naming::Snake)[0],
        (
            "tiered_pricing_model.tiers[0].min_units".into(),
            "must not be negative".into()
        )
    );
}

#[test]
fn unit_price_is_an_alias_of_price_per_unit() {
    let mut t = tier(0, None, "1", None);
    t.price_per_unit = None;
    t.unit_price = Some(d("0.25"));
    let price = valid(tiered(vec![t.clone()]));
    let PriceModel::Tiered { tiers, .. } = price.model else {
        panic!("not tiered")
    };
    assert_eq!(tiers.as_slice()[0].rate, d("0.25"));
    t.price_per_unit = Some(d("0.30"));
    assert_eq!(
        errors(&tiered(vec![t]), Naming::Camel),
        [(
            "tieredPricingModel.tiers[0].unitPrice".into(),
            "must equal pricePerUnit when both are given".into()
        )]
    );
}

#[test]
fn percentages_are_between_0_and_100() {
    let p = tiered_pct(vec![
        pct_tier(0, Some(10), "101", None),
        pct_tier(11, None, "-1", None),
    ]);
    assert_eq!(
        fields(&p, Naming::Snake),
        [
            "tiered_percentage_pricing_model.tiers[0].percentage",
            "tiered_percentage_pricing_model.tiers[1].percentage",
        ]
    );
    let v = volume_pct("100.5", "-1", Some("-2"));
    assert_eq!(
        fields(&v, Naming::Camel),
        [
            "volumePercentagePricingModel.percentage",
            "volumePercentagePricingModel.pricePerUnit",
            "volumePercentagePricingModel.fixedFee",
        ]
    );
    assert!(volume_pct("100", "0", None).validate(Naming::Snake).is_ok());
}

#[test]
fn the_model_object_must_match_the_type() {
    let mut p = unit("1");
    p.kind = "tiered".into();
    assert_eq!(
        errors(&p, Naming::Snake),
        [
            (
                "unit_pricing_model".into(),
                "must be omitted when type is 'tiered'".into()
            ),
            (
                "tiered_pricing_model".into(),
                "is required when type is 'tiered'".into()
            ),
        ]
    );
    p.kind = "volume".into();
    assert_eq!(errors(&p, Naming::Snake)[0].0, "type",);
    let mut both = package(10, "1");
    both.unit_pricing_model = Some(UnitPricingModelInput {
        price_per_unit: d("1"),
    });
    assert_eq!(fields(&both, Naming::Camel), ["unitPricingModel"]);
}

#[test]
fn fee_type_and_metric_ids() {
    let mut p = unit("1");
    p.fee_type = "fixed".into();
    p.billing_frequency = Some("recurring".into());
    assert_eq!(fields(&p, Naming::Snake), ["fee_type", "metric_ids"]);
    let mut p = unit("1");
    p.metric_ids = None;
    assert_eq!(
        errors(&p, Naming::Snake),
        [("metric_ids".into(), "is required for metered prices".into())]
    );
    p.metric_ids = Some(vec!["a".into(), "a".into(), " ".into()]);
    assert_eq!(
        fields(&p, Naming::Snake),
        ["metric_ids[1]", "metric_ids[2]"]
    );
    let mut f = fixed("1", 1);
    f.metric_ids = Some(vec!["m".into()]);
    f.billing_frequency = None;
    f.fee_type = "usage".into();
    assert_eq!(fields(&f, Naming::Camel), ["feeType"]);
    f.fee_type = "fixed".into();
    assert_eq!(fields(&f, Naming::Camel), ["billingFrequency", "metricIds"]);
    // Tiered prices may be fixed fees, which then need their units.
    let mut fee = fixed_fee("tiered");
    fee.tiered_pricing_model = Some(TieredPricingModelInput {
        tiers: vec![tier(0, None, "1", None)],
        units: None,
    });
    assert_eq!(fields(&fee, Naming::Snake), ["tiered_pricing_model.units"]);
}

#[test]
fn billing_fields() {
    let mut p = unit("1");
    p.billing_direction = "later".into();
    p.billing_interval = Some("weekly".into());
    p.billing_interval_count = Some(0);
    p.billing_interval_unit = Some("fortnight".into());
    p.trial_period_days = Some(-1);
    p.billing_frequency = Some("sometimes".into());
    assert_eq!(
        fields(&p, Naming::Camel),
        [
            "billingDirection",
            "billingFrequency",
            "billingInterval",
            "billingIntervalCount",
            "billingIntervalUnit",
            "trialPeriodDays",
        ]
    );
}

#[test]
fn counts_and_package_size() {
    let mut p = package(0, "-1");
    assert_eq!(
        fields(&p, Naming::Snake),
        [
            "package_pricing_model.price_per_package",
            "package_pricing_model.package_size"
        ]
    );
    p = prepaid(0, vec![tier(0, None, "1", None)]);
    assert_eq!(
        fields(&p, Naming::Snake),
        ["prepaid_tiered_pricing_model.prepaid_units"]
    );
    let mut pf = prepaid_fixed(10, vec![tier(0, None, "1", None)]);
    pf.prepaid_fixed_tiered_pricing_model
        .as_mut()
        .unwrap()
        .overages_charge_interval = "hourly".into();
    assert_eq!(
        fields(&pf, Naming::Camel),
        ["prepaidFixedTieredPricingModel.overagesChargeInterval"]
    );
    assert_eq!(
        fields(&fixed("1", -2), Naming::Snake),
        ["fixed_pricing_model.units"]
    );
}

#[test]
fn expressions_are_parsed_and_their_names_bound() {
    let p = expression(&[
        ("API", "usage.api_calls *", "0.01"),
        ("Storage", "usage.nope + 1", "0.5"),
        ("", "1", "2 $ 3"),
    ]);
    assert_eq!(
        errors(&p, Naming::Snake),
        [
            (
                "expression_pricing_model.charges[0].quantity_expression".into(),
                "unexpected end of expression, expected a number, a name or '(' at position 18"
                    .into()
            ),
            (
                "expression_pricing_model.charges[1].quantity_expression".into(),
                "unknown name 'usage.nope' at position 1 (known: usage.api_calls, usage.m_api, \
                 usage.m_storage, usage.storage_gb)"
                    .into()
            ),
            (
                "expression_pricing_model.charges[2].description".into(),
                "must not be empty".into()
            ),
            (
                "expression_pricing_model.charges[2].unit_price_expression".into(),
                "unexpected character '$' at position 3".into()
            ),
        ]
    );
    let mut b = expression(&[("x", "usage.api_calls", "1")]);
    let model = b.expression_pricing_model.as_mut().unwrap();
    model.charges[0].billing_direction = "sideways".into();
    model.metric_bindings = Some(vec![
        MetricBinding {
            alias: "1bad".into(),
            metric_id: "m_api".into(),
        },
        MetricBinding {
            alias: "ok".into(),
            metric_id: "elsewhere".into(),
        },
    ]);
    assert_eq!(
        fields(&b, Naming::Camel),
        [
            "expressionPricingModel.metricBindings[0].alias",
            "expressionPricingModel.metricBindings[1].metricId",
            "expressionPricingModel.charges[0].billingDirection",
            "expressionPricingModel.charges[0].quantityExpression",
        ]
    );
    let mut none = expression(&[]);
    none.expression_pricing_model
        .as_mut()
        .unwrap()
        .metric_bindings = None;
    assert_eq!(
        fields(&none, Naming::Snake),
        ["expression_pricing_model.charges"]
    );
    // Metric ids are names too.
    assert!(
        expression(&[("x", "usage.m_api", "1")])
            .validate(Naming::Snake)
            .is_ok()
    );
}

#[test]
fn matrix_cells_reference_defined_dimensions() {
    let bad_tiers = MatrixNodeInput {
        leaf: Some(MatrixPriceCellInput {
            kind: "graduated_tiered".into(),
            graduated_tiered_pricing_model: Some(TieredPricingModelInput {
                tiers: vec![tier(5, None, "1", None)],
                units: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    let p = matrix(splits(vec![
        split("colour", vec![("red", unit_cell("a", "1"))], None),
        split(
            "tier",
            vec![
                ("gold", unit_cell("b", "1")),
                ("standard", unit_cell("a", "1")),
                ("premium", bad_tiers),
            ],
            Some(MatrixNodeInput::default()),
        ),
        split("region", vec![], None),
    ]));
    assert_eq!(
        fields(&p, Naming::Snake),
        [
            "matrix_pricing_model.root.splits[0].dimension_key",
            "matrix_pricing_model.root.splits[1].branches[0].value",
            "matrix_pricing_model.root.splits[1].branches[1].child.leaf.cell_key",
            "matrix_pricing_model.root.splits[1].branches[2].child.leaf.graduated_tiered_pricing_model.tiers[0].min_units",
            "matrix_pricing_model.root.splits[1].wildcard",
            "matrix_pricing_model.root.splits[2].branches",
        ]
    );
    assert_eq!(
        fields(&p, Naming::Camel)[3],
        "matrixPricingModel.root.splits[1].branches[2].child.leaf.graduatedTieredPricingModel.tiers[0].minUnits"
    );
}

#[test]
fn matrix_nodes_and_cells() {
    let mut cell = unit_cell("x", "1");
    cell.leaf.as_mut().unwrap().kind = "expression".into();
    let mut both = unit_cell("y", "1");
    both.splits = Some(vec![split(
        "region",
        vec![("us", unit_cell("z", "1"))],
        None,
    )]);
    both.fallback = Some(Box::new(unit_cell("w", "1")));
    let mut p = matrix(splits(vec![split(
        "region",
        vec![("a", cell), ("b", both)],
        None,
    )]));
    let m = p.matrix_pricing_model.as_mut().unwrap();
    m.line_item_template = Some("{colour}".into());
    m.dimensions.push(MatrixDimensionDefinitionInput {
        key: "region".into(),
        label: "".into(),
        values: Some(vec!["x".into(), "x".into()]),
    });
    assert_eq!(
        fields(&p, Naming::Snake),
        [
            "matrix_pricing_model.dimensions[2].key",
            "matrix_pricing_model.dimensions[2].label",
            "matrix_pricing_model.dimensions[2].values[1]",
            "matrix_pricing_model.line_item_template",
            "matrix_pricing_model.root.splits[0].branches[0].child.leaf.type",
            "matrix_pricing_model.root.splits[0].branches[1].child",
            "matrix_pricing_model.root.splits[0].branches[1].child.fallback",
        ]
    );
    // A cell without a cell_key is known by its place in the tree.
    let mut keyless = unit_cell("k", "1");
    keyless.leaf.as_mut().unwrap().cell_key = None;
    let price = valid(matrix(keyless));
    let PriceModel::Matrix(m) = price.model else {
        panic!("not a matrix")
    };
    assert_eq!(m.cells()[0].key, "root.leaf");
}

#[test]
fn discounts_and_spend_thresholds() {
    let mut p = unit("1");
    p.discount = Some(DiscountInput {
        amount: d("150"),
        kind: "percentage".into(),
        duration_type: "fixed".into(),
        duration_unit: None,
        duration_value: None,
    });
    p.minimum_spend = Some(SpendingThresholdInput {
        amount: d("500"),
        period: "yearly".into(),
        billing_direction: Some("later".into()),
    });
    p.maximum_spend = Some(SpendingThresholdInput {
        amount: d("100"),
        period: "monthly".into(),
        billing_direction: None,
    });
    assert_eq!(
        errors(&p, Naming::Camel),
        [
            (
                "discount.amount".into(),
                "must be a percentage from 0 to 100 (\"2.5\" is 2.5%)".into()
            ),
            (
                "discount.durationValue".into(),
                "is required when durationType is 'fixed'".into()
            ),
            (
                "minimumSpend.period".into(),
                "must equal billingInterval ('monthly'): spend thresholds apply per billing \
                 period"
                    .into()
            ),
            (
                "minimumSpend.billingDirection".into(),
                "'later' is not one of: advance, arrears".into()
            ),
            (
                "maximumSpend.amount".into(),
                "must not be less than minimumSpend.amount".into()
            ),
        ]
    );
    let mut f = unit("1");
    f.discount = Some(DiscountInput {
        amount: d("-5"),
        kind: "coupon".into(),
        duration_type: "forever".into(),
        duration_unit: Some("months".into()),
        duration_value: Some(0),
    });
    assert_eq!(
        fields(&f, Naming::Snake),
        [
            "discount.type",
            "discount.duration_type",
            "discount.duration_value"
        ]
    );
}

#[test]
fn sdk_json_deserializes_straight_into_the_input() {
    let json = r#"{
        "type": "graduated_tiered",
        "fee_type": "metered",
        "billing_direction": "arrears",
        "billing_interval": "monthly",
        "metric_ids": ["met_1"],
        "graduated_tiered_pricing_model": {
            "tiers": [
                {"min_units": 0, "max_units": 1000, "price_per_unit": "0.10", "fixed_fee": "10.00"},
                {"min_units": 1001, "max_units": null, "unit_price": "0.05"}
            ]
        },
        "discount": {"amount": "10", "type": "percentage", "duration_type": "fixed",
                     "duration_unit": "months", "duration_value": 6},
        "minimum_spend": {"amount": "500.00", "period": "monthly"}
    }"#;
    let input: PriceInput = serde_json::from_str(json).unwrap();
    let price = input.validate(Naming::Snake).unwrap();
    let charge = super::price(&price, cur("USD"), &q("1500")).unwrap();
    // 1,000 × 0.10 + 10.00 + 500 × 0.05 = 135.00; 10 % off: 121.50; true-up to 500.00
    let amounts: Vec<String> = charge.lines.iter().map(|l| l.amount.to_string()).collect();
    assert_eq!(amounts, ["100.00", "10.00", "25.00", "-13.50", "378.50"]);
    assert_eq!(charge.total.to_string(), "500.00");

    // Serializing gives the SDK's shape back (decimals as strings, nothing invented).
    let back = serde_json::to_value(&input).unwrap();
    assert_eq!(
        back["graduated_tiered_pricing_model"]["tiers"][0]["price_per_unit"],
        "0.10"
    );
    assert!(back.get("unit_pricing_model").is_none());
    let again: PriceInput = serde_json::from_value(back).unwrap();
    assert_eq!(again, input);

    // Decimals are strings: a JSON number is a type error, never a float.
    let float = json.replace("\"0.10\"", "0.1");
    assert!(serde_json::from_str::<PriceInput>(&float).is_err());

    let expr = r#"{
        "type": "expression", "fee_type": "metered", "billing_direction": "arrears",
        "metric_ids": ["met_api"],
        "expression_pricing_model": {
            "charges": [{"billing_direction": "arrears", "description": "API usage charge",
                         "quantity_expression": "usage.api_calls", "unit_price_expression": "0.01"}],
            "metric_bindings": [{"alias": "api_calls", "metric_id": "met_api"}]
        }
    }"#;
    let price = serde_json::from_str::<PriceInput>(expr)
        .unwrap()
        .validate(Naming::Snake)
        .unwrap();
    let charge =
        super::price(&price, cur("EUR"), &metrics(&[("usage.api_calls", "1234")])).unwrap();
    assert_eq!(charge.total.to_string(), "12.34");
    assert_eq!(
        serde_json::to_value(&charge.lines[0]).unwrap()["description"],
        "API usage charge: 1,234 × 0.01"
    );
}
