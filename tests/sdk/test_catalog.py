"""The catalog through the official SDK: products, tags, bundles and plans; typed errors and
another organization's objects."""

import os

import httpx
import pytest
from alguna import (
    Alguna,
    AggregationRequest,
    ConflictError,
    CreatePlanBundleChildItemInput,
    CreatePlanItemInput,
    DiscountInput,
    EntitlementInput,
    FixedPricingModel,
    FixedPricingModelInput,
    GraduatedTieredPricingModelInput,
    NotFoundError,
    PriceCreateRequest,
    PriceInput,
    PricingTierInput,
    SpendingThresholdInput,
    UnitPricingModel,
    UnitPricingModelInput,
    UnprocessableEntityError,
)


@pytest.fixture()
def metric(client, unique):
    return client.metrics.create(
        name=f"Calls {unique}", event_name=f"api-{unique}", aggregation=AggregationRequest(method="count")
    ).id


@pytest.fixture()
def tag(base_url, unique):
    """Tags are created through the extension POST /tags (Alguna manages them in its dashboard)."""
    r = httpx.post(
        f"{base_url}/tags",
        json={"name": f"Tag {unique}", "entity_types": ["product", "plan"]},
        headers={"Authorization": f"Bearer {os.environ['ABACUS_API_KEY']}", "Alguna-Version": "2026-04-01"},
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def metered_product(client: Alguna, unique: str, metric: str, **kwargs):
    return client.products.create(
        name=f"API {unique}", fee_type="metered", payment_terms="arrears", metric_ids=[metric], **kwargs
    )


def fixed_product(client: Alguna, unique: str):
    return client.products.create(
        name=f"Seats {unique}", fee_type="fixed", payment_terms="advance", billing_frequency="recurring"
    )


def unit_price(metric: str, rate: str = "0.01") -> PriceInput:
    return PriceInput(
        type="unit",
        fee_type="metered",
        billing_direction="arrears",
        metric_ids=[metric],
        unit_pricing_model=UnitPricingModelInput(price_per_unit=rate),
    )


def test_products(client, metric, tag, unique):
    created = metered_product(
        client, unique, metric, tag_ids=[tag], sku=f"SKU-{unique}", unit_label_singular="call", unit_label_plural="calls"
    )
    assert created.id.startswith("prod_") and len(created.id) == 27
    assert created.fee_type == "metered" and created.payment_terms == "arrears"
    assert created.billing_frequency == "recurring"
    assert created.metric_ids == [metric] and created.tag_ids == [tag]
    assert created.description == ""
    assert created.created_at.tzinfo is not None

    got = client.products.get(created.id)
    assert got.name == created.name and got.sku == f"SKU-{unique}"

    seats = fixed_product(client, unique)
    by_metric = client.products.list(metric_ids=[metric])
    assert [p.id for p in by_metric.data] == [created.id]
    fixed = client.products.list(fee_type=["fixed"], payment_terms=["advance"], limit=100)
    assert seats.id in {p.id for p in fixed.data} and created.id not in {p.id for p in fixed.data}
    assert fixed.pagination.per_page == 100

    updated = client.products.update(created.id, name=f"API calls {unique}", tag_ids=[])
    assert updated.name == f"API calls {unique}" and updated.tag_ids == []
    assert updated.metric_ids == [metric]

    assert client.products.delete(seats.id) is None
    with pytest.raises(NotFoundError):
        client.products.get(seats.id)


def test_product_rules(client, metric, unique):
    with pytest.raises(UnprocessableEntityError) as e:
        client.products.create(name="Bad", fee_type="metered", payment_terms="advance", metric_ids=[metric])
    assert "payment_terms" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError) as e:
        client.products.create(name="Bad", fee_type="metered", payment_terms="arrears", metric_ids=["mtr_nope"])
    assert "metric_ids[0]" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError) as e:
        client.products.create(name="Bad", fee_type="fixed", payment_terms="advance")
    assert "billing_frequency" in e.value.body.detail


def test_tags(client, tag, unique):
    got = client.tags.get(tag)
    assert got.name == f"Tag {unique}"
    assert got.entity_types == ["product", "plan"]
    assert got.color.startswith("#")
    listed = client.tags.list(limit=100)
    assert tag in {t.id for t in listed.data}
    names = [t.name.lower() for t in listed.data]
    assert names == sorted(names)
    with pytest.raises(NotFoundError):
        client.tags.get("tag_missing")


def test_bundles(client, metric, unique):
    api = metered_product(client, unique, metric)
    seats = fixed_product(client, unique)
    bundle = client.bundles.create(
        name=f"Starter {unique}",
        description="The basics",
        prices=[
            PriceCreateRequest(
                product_id=api.id,
                type="unit",
                fee_type="metered",
                billing_direction="arrears",
                charge_on_contract_start=False,
                metric_ids=[metric],
                unit_pricing_model=UnitPricingModel(price_per_unit="0.02"),
            ),
            PriceCreateRequest(
                product_id=seats.id,
                type="fixed",
                fee_type="fixed",
                billing_direction="advance",
                billing_frequency="recurring",
                charge_on_contract_start=True,
                fixed_pricing_model=FixedPricingModel(price_per_unit="49.00", units=2, total="98.00"),
            ),
        ],
    )
    assert bundle.id.startswith("bnd_")
    assert [p.product_id for p in bundle.prices] == [api.id, seats.id]
    assert bundle.prices[0].product.name == api.name
    assert bundle.prices[0].unit_pricing_model.price_per_unit == "0.02"
    assert bundle.prices[1].fixed_pricing_model.total == "98"
    assert bundle.prices[1].charge_on_contract_start is True

    assert client.bundles.get(bundle.id).name == f"Starter {unique}"
    assert client.bundles.get(bundle.id.replace("bnd_", "bun_", 1)).id == bundle.id
    assert bundle.id in {b.id for b in client.bundles.list(limit=100).data}

    updated = client.bundles.update(
        bundle.id,
        name=f"Starter+ {unique}",
        prices=[
            PriceCreateRequest(
                product_id=seats.id,
                type="fixed",
                fee_type="fixed",
                billing_direction="advance",
                billing_frequency="recurring",
                charge_on_contract_start=False,
                fixed_pricing_model=FixedPricingModel(price_per_unit="39.00", units=1, total="39.00"),
            )
        ],
    )
    assert updated.name == f"Starter+ {unique}"
    assert [p.product_id for p in updated.prices] == [seats.id]

    with pytest.raises(UnprocessableEntityError) as e:
        client.bundles.create(
            name="Mismatch",
            prices=[
                PriceCreateRequest(
                    product_id=seats.id,
                    type="unit",
                    fee_type="metered",
                    billing_direction="arrears",
                    charge_on_contract_start=False,
                    metric_ids=[metric],
                    unit_pricing_model=UnitPricingModel(price_per_unit="1"),
                )
            ],
        )
    assert "prices[0].fee_type" in e.value.body.detail


def test_plans(client, metric, tag, unique):
    api = metered_product(client, unique, metric)
    seats = fixed_product(client, unique)
    bundle = client.bundles.create(
        name=f"Base {unique}",
        prices=[
            PriceCreateRequest(
                product_id=seats.id,
                type="fixed",
                fee_type="fixed",
                billing_direction="advance",
                billing_frequency="recurring",
                charge_on_contract_start=False,
                fixed_pricing_model=FixedPricingModel(price_per_unit="10.00", units=1, total="10.00"),
            )
        ],
    )
    graduated = PriceInput(
        type="graduated_tiered",
        fee_type="metered",
        billing_direction="arrears",
        metric_ids=[metric],
        graduated_tiered_pricing_model=GraduatedTieredPricingModelInput(
            tiers=[
                PricingTierInput(min_units=0, max_units=1000, price_per_unit="0.10"),
                PricingTierInput(min_units=1001, price_per_unit="0.05"),
            ]
        ),
    )
    plan = client.plans.create(
        name=f"Pro {unique}",
        currency="EUR",
        description="For teams",
        contract_period_type="fixed",
        contract_duration=12,
        auto_renew=True,
        trial_period_days=14,
        payment_terms="net_30",
        discount=DiscountInput(amount="10", type="percentage", duration_type="fixed", duration_value=3),
        minimum_spend=SpendingThresholdInput(amount="100.00", period="monthly"),
        entitlements=[EntitlementInput(entitlement_key="sso", mode="static", type="boolean", value="true")],
        tags=[tag],
        items=[
            CreatePlanItemInput(product_id=api.id, price=graduated),
            CreatePlanItemInput(
                bundle_id=bundle.id,
                name="Base",
                items=[
                    CreatePlanBundleChildItemInput(
                        product_id=seats.id,
                        price=PriceInput(
                            type="fixed",
                            fee_type="fixed",
                            billing_direction="advance",
                            billing_frequency="recurring",
                            fixed_pricing_model=FixedPricingModelInput(price_per_unit="12.00", units=3),
                        ),
                    )
                ],
            ),
        ],
    )
    assert plan.id.startswith("pln_")
    assert plan.currency == "EUR" and plan.description == "For teams"
    got = client.plans.get(plan.id)
    assert got.name == f"Pro {unique}" and got.created_at == plan.created_at

    other = client.plans.create(name=f"Basic {unique}", currency="EUR", items=[CreatePlanItemInput(bundle_id=bundle.id)])
    tagged = client.plans.list(tag_ids=[tag], limit=100)
    assert [p.id for p in tagged.data] == [plan.id]
    by_name = client.plans.list(sort="name:asc", limit=100)
    ids = [p.id for p in by_name.data]
    assert ids.index(other.id) < ids.index(plan.id)

    with pytest.raises(ConflictError):
        client.products.delete(api.id)

    with pytest.raises(UnprocessableEntityError) as e:
        client.plans.create(
            name="Wrong",
            currency="EUR",
            items=[CreatePlanItemInput(product_id=seats.id, price=unit_price(metric))],
        )
    assert "items[0].price.fee_type" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError) as e:
        client.plans.create(name="Wrong", currency="EURO")
    assert "currency" in e.value.body.detail


def test_other_organization(client, other_client, metric, tag, unique):
    api = metered_product(client, unique, metric)
    plan = client.plans.create(
        name=f"Mine {unique}", currency="USD", items=[CreatePlanItemInput(product_id=api.id, price=unit_price(metric))]
    )
    with pytest.raises(NotFoundError):
        other_client.products.get(api.id)
    with pytest.raises(NotFoundError):
        other_client.products.delete(api.id)
    with pytest.raises(NotFoundError):
        other_client.plans.get(plan.id)
    with pytest.raises(NotFoundError):
        other_client.tags.get(tag)
    assert api.id not in {p.id for p in other_client.products.list(limit=100).data}
    with pytest.raises(UnprocessableEntityError):
        other_client.plans.create(
            name="Stolen", currency="USD", items=[CreatePlanItemInput(product_id=api.id, price=unit_price(metric))]
        )
