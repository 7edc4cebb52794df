"""Subscriptions through the official SDK: the documented creation patterns (raw pricing, from a
plan, a plan with overrides, bundles), the lifecycle, versions, changes and their previews,
billing dates, entitlements; typed errors, and another organization's subscriptions."""

import datetime

import pytest
from alguna import (
    AggregationRequest,
    ChangeAddItem,
    ChangeAddItemChild,
    ChangeRemoveItem,
    ChangeUpdateItem,
    ConflictError,
    ContractInput,
    BillingInput,
    CreatePlanItemInput,
    CreateSubscriptionBundleChildItemInput,
    CreateSubscriptionItemInput,
    EntitlementInput,
    FixedPricingModel,
    FixedPricingModelAdjust,
    FixedPricingModelInput,
    NotFoundError,
    PriceAdjustInput,
    PriceCreateRequest,
    PriceInput,
    RenewalInput,
    UnitPricingModelInput,
    UnprocessableEntityError,
    VersionItemInput,
)


def monthly(amount: str) -> PriceInput:
    return PriceInput(
        type="fixed",
        fee_type="fixed",
        billing_direction="advance",
        billing_frequency="recurring",
        billing_interval="monthly",
        fixed_pricing_model=FixedPricingModelInput(price_per_unit=amount, units=1),
    )


def per_call(metric: str, rate: str) -> PriceInput:
    return PriceInput(
        type="unit",
        fee_type="metered",
        billing_direction="arrears",
        metric_ids=[metric],
        unit_pricing_model=UnitPricingModelInput(price_per_unit=rate),
    )


def days_from_today(n: int) -> datetime.date:
    return datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=n)


@pytest.fixture()
def catalog(client, unique):
    customer = client.customers.create(name=f"Globex {unique}", currency="USD", aliases=[f"globex-{unique}"])
    metric = client.metrics.create(
        name=f"Calls {unique}", event_name=f"api-{unique}", aggregation=AggregationRequest(method="count")
    ).id
    api = client.products.create(
        name=f"API {unique}", fee_type="metered", payment_terms="arrears", metric_ids=[metric]
    ).id
    fixed = lambda name: client.products.create(  # noqa: E731
        name=f"{name} {unique}", fee_type="fixed", payment_terms="advance", billing_frequency="recurring"
    ).id
    seats, support, sso = fixed("Seats"), fixed("Support"), fixed("SSO")
    bundle = client.bundles.create(
        name=f"Add-ons {unique}",
        prices=[
            PriceCreateRequest(
                product_id=p,
                type="fixed",
                fee_type="fixed",
                billing_direction="advance",
                billing_frequency="recurring",
                billing_interval="monthly",
                charge_on_contract_start=False,
                fixed_pricing_model=FixedPricingModel(price_per_unit=amount, units=1, total=amount),
            )
            for p, amount in [(support, "50.00"), (sso, "20.00")]
        ],
    ).id
    plan = client.plans.create(
        name=f"Growth {unique}",
        currency="USD",
        contract_period_type="fixed",
        contract_duration=12,
        auto_renew=True,
        payment_terms="net_15",
        entitlements=[EntitlementInput(entitlement_key="sso", mode="static", type="boolean", value="true")],
        items=[
            CreatePlanItemInput(product_id=seats, price=monthly("99.00")),
            CreatePlanItemInput(product_id=api, price=per_call(metric, "0.01")),
        ],
    ).id
    scale = client.plans.create(
        name=f"Scale {unique}",
        currency="USD",
        entitlements=[EntitlementInput(entitlement_key="seats", mode="static", type="number", value="50")],
        items=[CreatePlanItemInput(product_id=seats, price=monthly("499.00"))],
    ).id
    return dict(
        customer=customer.id,
        alias=f"globex-{unique}",
        metric=metric,
        api=api,
        seats=seats,
        support=support,
        sso=sso,
        bundle=bundle,
        plan=plan,
        scale=scale,
    )


def keys(version) -> list:
    return [i.product_id or i.bundle_id for i in version.items]


def test_creation_patterns(client, catalog):
    c = catalog
    # 1. Raw pricing.
    raw = client.subscriptions.create(
        customer_id=c["customer"],
        currency="USD",
        name="Acme Corp API Usage",
        contract=ContractInput(period_type="fixed", duration_months=12, start_date=datetime.date(2026, 7, 1)),
        billing=BillingInput(first_billing_date=datetime.date(2026, 7, 1), payment_terms="net_30"),
        renewal=RenewalInput(auto_renew=True, duration_months=12, period_type="fixed"),
        metadata={"crm": "0061"},
        items=[CreateSubscriptionItemInput(product_id=c["api"], price=per_call(c["metric"], "0.02"))],
    )
    assert len(raw.id) == 8 and raw.status == "draft"
    assert raw.contract.period_type == "fixed" and raw.contract.duration_months == 12
    assert raw.contract.start_date.date() == datetime.date(2026, 7, 1)
    assert raw.contract.end_date.date() == datetime.date(2027, 7, 1)
    assert raw.billing.first_billing_date.date() == datetime.date(2026, 7, 1)
    assert raw.renewal.auto_renew is True and raw.metadata == {"crm": "0061"}
    assert raw.current_version_id is None
    assert [p.status for p in raw.pending_changes] == ["draft"]
    draft = client.subscription_versions.get(raw.id, raw.pending_changes[0].version_id)
    assert draft.status == "draft" and keys(draft) == [c["api"]]
    assert draft.items[0].price.currency == "USD"
    assert draft.items[0].price.unit_pricing_model.price_per_unit == "0.02"

    # 2. From a plan (the currency defaults to the customer's).
    planned = client.subscriptions.create(customer_id=c["customer"], plan_id=c["plan"], auto_activate=True)
    assert planned.status == "active" and planned.plan_id == c["plan"] and planned.currency == "USD"
    assert planned.billing.payment_terms == "net_15"
    current = client.subscription_versions.get_current(planned.id)
    assert keys(current) == [c["seats"], c["api"]]
    assert current.items[0].price.fixed_pricing_model.total == "99.00"
    assert [e.key for e in current.entitlements] == ["sso"]

    # 3. A plan with per-customer overrides (matched by product id), a product appended.
    overridden = client.subscriptions.create(
        customer_id=c["alias"],
        plan_id=c["plan"],
        items=[
            CreateSubscriptionItemInput(product_id=c["seats"], price=monthly("79.00")),
            CreateSubscriptionItemInput(product_id=c["sso"], price=monthly("10.00")),
        ],
    )
    assert overridden.customer_id == c["customer"]
    v = client.subscription_versions.get(overridden.id, overridden.pending_changes[0].version_id)
    assert keys(v) == [c["seats"], c["api"], c["sso"]]
    assert v.items[0].price.fixed_pricing_model.price_per_unit == "79.00"

    # 4. Bundles: the bundle's own prices, or children in the request.
    bundled = client.subscriptions.create(
        customer_id=c["customer"],
        plan_id=c["plan"],
        items=[
            CreateSubscriptionItemInput(
                bundle_id=c["bundle"].replace("bnd_", "bun_"),
                items=[CreateSubscriptionBundleChildItemInput(product_id=c["support"], price=monthly("45.00"))],
            )
        ],
    )
    v = client.subscription_versions.get(bundled.id, bundled.pending_changes[0].version_id)
    assert keys(v) == [c["seats"], c["api"], c["bundle"]]
    item = client.subscription_versions.get_item(bundled.id, v.id, c["bundle"])
    assert item.bundle_id == c["bundle"]
    assert [(i.product_id, i.price.fixed_pricing_model.price_per_unit) for i in item.items] == [(c["support"], "45.00")]
    whole = client.subscriptions.create(
        customer_id=c["customer"], items=[CreateSubscriptionItemInput(bundle_id=c["bundle"])], auto_activate=True
    )
    item = client.subscription_versions.get_item(whole.id, whole.current_version_id, c["bundle"])
    assert [i.product_id for i in item.items] == [c["support"], c["sso"]]


def test_lifecycle(client, catalog):
    c = catalog
    s = client.subscriptions.create(
        customer_id=c["customer"],
        plan_id=c["plan"],
        contract=ContractInput(start_date=days_from_today(-10)),
    )
    active = client.subscriptions.activate(s.id)
    assert active.status == "active" and active.current_version_id == s.pending_changes[0].version_id
    assert client.subscriptions.activate(s.id).status == "active"
    got = client.subscriptions.get(s.id)
    assert got.activated_at is not None and got.pending_changes == []
    listed = client.subscriptions.list(customer_id=c["customer"], status=["active"], limit=100)
    assert s.id in [x.id for x in listed.data]
    assert listed.pagination.per_page == 100

    updated = client.subscriptions.update(
        s.id, name="Renamed", metadata={"k": "v"}, trial_period_days=0, tags=[]
    )
    assert updated.name == "Renamed" and updated.metadata == {"k": "v"}

    dates = client.subscriptions.get_billing_dates(s.id)
    assert dates.current_cycle.start_date <= datetime.date.today() + datetime.timedelta(days=1)
    assert dates.valid_on_cycle_dates and dates.next_billing_date == dates.valid_on_cycle_dates[0]
    assert dates.next_renewal_date == dates.contract_end_date

    with pytest.raises(ConflictError) as e:
        client.subscriptions.delete(s.id)
    assert "draft" in e.value.body.detail
    canceled = client.subscriptions.cancel(s.id, reason="pricing", effective="end_of_term")
    assert canceled.status == "active"
    assert canceled.model_extra["cancellation"]["status"] == "scheduled"
    canceled = client.subscriptions.cancel(s.id, reason="no_longer_required", reason_description="Closed")
    assert canceled.status == "canceled"
    with pytest.raises(ConflictError) as e:
        client.subscriptions.activate(s.id)
    assert "canceled" in e.value.body.detail

    draft = client.subscriptions.create(customer_id=c["customer"], plan_id=c["plan"])
    client.subscriptions.delete(draft.id)
    with pytest.raises(NotFoundError):
        client.subscriptions.get(draft.id)


def test_versions(client, catalog):
    c = catalog
    s = client.subscriptions.create(
        customer_id=c["customer"],
        items=[CreateSubscriptionItemInput(product_id=c["seats"], price=monthly("99.00"))],
        contract=ContractInput(start_date=days_from_today(-20)),
        auto_activate=True,
    )
    first = s.current_version_id
    draft = client.subscription_versions.create(
        s.id,
        items=[VersionItemInput(product_id=c["seats"], price=monthly("129.00"))],
        description="Raise",
        entitlements=[EntitlementInput(entitlement_key="seats", mode="static", type="number", value="10")],
    )
    assert draft.status == "draft" and draft.description == "Raise"
    replaced = client.subscription_versions.replace(
        s.id,
        draft.id,
        items=[
            VersionItemInput(product_id=c["seats"], price=monthly("139.00")),
            VersionItemInput(product_id=c["sso"], price=monthly("9.00")),
        ],
    )
    assert keys(replaced) == [c["seats"], c["sso"]] and replaced.description == "Raise"
    published = client.subscription_versions.publish(s.id, draft.id)
    assert published.status == "published" and published.start_date is not None
    assert client.subscription_versions.get_current(s.id).id == draft.id
    assert client.subscriptions.list_entitlements(s.id).data[0].key == "seats"
    assert client.subscriptions.get_entitlement(s.id, "seats").value == "10"
    with pytest.raises(NotFoundError):
        client.subscriptions.get_entitlement(s.id, "nope")
    with pytest.raises(ConflictError) as e:
        client.subscription_versions.publish(s.id, draft.id)
    assert "already published" in e.value.body.detail
    with pytest.raises(ConflictError) as e:
        client.subscription_versions.replace(s.id, first, items=[VersionItemInput(product_id=c["seats"], price=monthly("1.00"))])
    assert "immutable" in e.value.body.detail
    scratch = client.subscription_versions.create(s.id, items=[VersionItemInput(product_id=c["seats"], price=monthly("1.00"))])
    client.subscription_versions.delete(s.id, scratch.id)
    with pytest.raises(NotFoundError):
        client.subscription_versions.get(s.id, scratch.id)
    summaries = client.subscription_versions.list(s.id).data
    assert [v.id for v in summaries] == [first, draft.id]
    assert summaries[0].end_date == summaries[1].start_date
    future = client.subscription_versions.create(
        s.id,
        items=[VersionItemInput(product_id=c["seats"], price=monthly("149.00"))],
        effective_at=str(days_from_today(30)),
        draft=False,
    )
    assert future.status == "published"
    pending = client.subscriptions.get(s.id).pending_changes
    assert [(p.version_id, p.status) for p in pending] == [(future.id, "published")]


def test_changes_and_previews(client, catalog):
    c = catalog
    s = client.subscriptions.create(
        customer_id=c["customer"], plan_id=c["plan"], contract=ContractInput(start_date=days_from_today(-30)), auto_activate=True
    )
    source = s.current_version_id
    upgrade = dict(update=[ChangeUpdateItem(product_id=c["seats"], new_price=monthly("199.00"))])
    preview = client.subscription_changes.preview(s.id, **upgrade)
    assert preview.source_version_id == source
    assert [r.product_id for r in preview.changes_applied.updated] == [c["seats"]]
    assert client.subscription_versions.get_current(s.id).id == source, "a preview writes nothing"
    change = client.subscription_changes.create(s.id, **upgrade)
    assert change.is_new_version and change.version_status == "published"
    assert change.changes_applied == preview.changes_applied
    current = client.subscription_versions.get_current(s.id)
    assert current.id == change.version_id
    assert preview.model_extra["version"]["items"] == change.model_extra["version"]["items"]

    # Downgrade by adjustment at the next billing period; add and remove; a plan switch; a draft.
    dates = client.subscriptions.get_billing_dates(s.id)
    down = client.subscription_changes.create(
        s.id,
        update=[ChangeUpdateItem(product_id=c["seats"], adjust=PriceAdjustInput(fixed_pricing_model=FixedPricingModelAdjust(price_per_unit="49.00")))],
        effective="next_billing_period",
    )
    assert down.effective_at.date() == dates.next_billing_date
    mixed = client.subscription_changes.create(
        s.id,
        add=[
            ChangeAddItem(product_id=c["sso"], new_price=monthly("15.00")),
            ChangeAddItem(bundle_id=c["bundle"], items=[ChangeAddItemChild(product_id=c["support"], new_price=monthly("40.00"))]),
        ],
        remove=[ChangeRemoveItem(product_id=c["api"])],
    )
    assert [r.product_id or r.bundle_id for r in mixed.changes_applied.added] == [c["sso"], c["bundle"]]
    assert [r.product_id for r in mixed.changes_applied.removed] == [c["api"]]
    switch = dict(plan_id=c["scale"], effective=str(days_from_today(5)), description="To Scale")
    preview = client.subscription_changes.preview(s.id, **switch)
    switched = client.subscription_changes.create(s.id, **switch)
    assert preview.effective_at == switched.effective_at
    assert preview.model_extra["version"]["items"] == switched.model_extra["version"]["items"]
    v = client.subscription_versions.get(s.id, switched.version_id)
    assert v.plan_id == c["scale"] and [e.key for e in v.entitlements] == ["seats"]
    staged = client.subscription_changes.create(s.id, remove=[ChangeRemoveItem(product_id=c["sso"])], draft=True)
    assert staged.version_status == "draft"

    with pytest.raises(UnprocessableEntityError) as e:
        client.subscription_changes.create(s.id, add=[ChangeAddItem(product_id="prod_nope", new_price=monthly("1.00"))])
    assert "add[0].product_id" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscription_changes.create(s.id, **upgrade, effective="1999-01-01")
    assert "effective" in e.value.body.detail
    client.subscriptions.cancel(s.id, reason="upgraded")
    with pytest.raises(ConflictError) as e:
        client.subscription_changes.create(s.id, **upgrade)
    assert "canceled" in e.value.body.detail


def test_bad_input_and_entitlements(client, catalog):
    c = catalog
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.create(customer_id=c["customer"], plan_id="pln_nope")
    assert "plan_id" in e.value.body.detail
    advance = per_call(c["metric"], "0.01").model_copy(update={"billing_direction": "advance"})
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.create(
            customer_id=c["customer"], items=[CreateSubscriptionItemInput(product_id=c["api"], price=advance)]
        )
    assert "items[0].price.billing_direction" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.create(customer_id=c["customer"], currency="EUR", plan_id=c["plan"])
    assert "currency" in e.value.body.detail
    s = client.subscriptions.create(customer_id=c["customer"], plan_id=c["plan"], auto_activate=True)
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.cancel(s.id, reason="bored")
    assert "reason" in e.value.body.detail
    ents = client.customers.list_entitlements(c["customer"]).data
    assert ("sso", s.id) in [(x.key, x.subscription_id) for x in ents]


def test_other_organization(client, other_client, catalog):
    s = client.subscriptions.create(customer_id=catalog["customer"], plan_id=catalog["plan"])
    with pytest.raises(NotFoundError):
        other_client.subscriptions.get(s.id)
    with pytest.raises(NotFoundError):
        other_client.subscription_versions.list(s.id)
    assert s.id not in [x.id for x in other_client.subscriptions.list(limit=100).data]
    with pytest.raises(UnprocessableEntityError) as e:
        other_client.subscriptions.create(customer_id=catalog["customer"], plan_id=catalog["plan"])
    assert "customer_id" in e.value.body.detail
