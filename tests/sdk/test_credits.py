"""Monetary credit grants on subscriptions through the official SDK: granting (with an expiry,
idempotently), the balance now and as of other instants, typed errors for refused grants, and
another organization's subscriptions."""

import datetime as dt

import pytest
from alguna import (
    Alguna,
    ConflictError,
    CreateSubscriptionItemInput,
    FixedPricingModelInput,
    NotFoundError,
    PriceInput,
    UnprocessableEntityError,
)

UTC = dt.timezone.utc


@pytest.fixture()
def subscription(client: Alguna, unique):
    customer = client.customers.create(name=f"Globex {unique}", currency="USD").id
    seats = client.products.create(
        name=f"Seats {unique}", fee_type="fixed", payment_terms="advance", billing_frequency="recurring"
    ).id
    price = PriceInput(
        type="fixed",
        fee_type="fixed",
        billing_direction="advance",
        billing_frequency="recurring",
        billing_interval="monthly",
        fixed_pricing_model=FixedPricingModelInput(price_per_unit="99.00", units=1),
    )
    return client.subscriptions.create(
        customer_id=customer,
        items=[CreateSubscriptionItemInput(product_id=seats, price=price)],
        auto_activate=True,
    )


def test_grants_and_the_balance(client: Alguna, subscription):
    before = dt.datetime.now(UTC) - dt.timedelta(seconds=1)
    welcome = client.subscriptions.create_credit_grant(subscription.id, amount="100.00", reason="Welcome credit")
    assert welcome.id.startswith("cgr_")
    assert welcome.amount == "100.00"
    assert welcome.grant_type == "api"
    assert welcome.reason == "Welcome credit"
    assert welcome.customer_id == subscription.customer_id
    assert welcome.subscription_id == subscription.id
    assert welcome.expires_at is None
    assert welcome.created_at >= before

    expires = (dt.datetime.now(UTC) + dt.timedelta(days=30)).replace(microsecond=0)
    outage = client.subscriptions.create_credit_grant(
        subscription.id, amount="25.5", reason="Outage", credit_type="monetary", expires_at=expires
    )
    assert outage.amount == "25.50"
    assert outage.expires_at == expires

    now = client.subscriptions.get_credit_balance(subscription.id)
    assert (now.balance, now.currency, now.credit_type) == ("125.50", "USD", "monetary")
    assert now.subscription_id == subscription.id
    assert now.as_of >= outage.created_at

    past = client.subscriptions.get_credit_balance(subscription.id, as_of=before)
    assert past.balance == "0.00"
    assert past.as_of == before
    later = client.subscriptions.get_credit_balance(subscription.id, as_of=expires + dt.timedelta(days=1))
    assert later.balance == "100.00"
    at_expiry = client.subscriptions.get_credit_balance(subscription.id, as_of=expires)
    assert at_expiry.balance == "100.00"
    just_before = client.subscriptions.get_credit_balance(subscription.id, as_of=expires - dt.timedelta(seconds=1))
    assert just_before.balance == "125.50"


def test_an_idempotency_key_grants_once(client: Alguna, subscription, unique):
    a = client.subscriptions.create_credit_grant(
        subscription.id, amount="10.00", reason="Goodwill", idempotency_key=f"grant-{unique}"
    )
    b = client.subscriptions.create_credit_grant(
        subscription.id, amount="10.00", reason="Goodwill", idempotency_key=f"grant-{unique}"
    )
    assert a.id == b.id
    assert client.subscriptions.get_credit_balance(subscription.id).balance == "10.00"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"amount": "-1.00"}, "amount"),
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"amount": "ten"}, "amount"),
        ({"amount": "5", "credit_type": "units"}, "credit_type"),
        ({"amount": "5", "expires_at": dt.datetime(2020, 1, 1, tzinfo=UTC)}, "expires_at"),
        ({"amount": "5", "reason": ""}, "reason"),
    ],
)
def test_refused_grants_are_422_naming_the_field(client: Alguna, subscription, kwargs, field):
    kwargs = {"reason": "x", **kwargs}
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.create_credit_grant(subscription.id, **kwargs)
    assert e.value.status_code == 422
    assert e.value.body.detail.startswith(f"Validation failed: {field}:")
    assert client.subscriptions.get_credit_balance(subscription.id).balance == "0.00"


def test_units_credits_are_not_supported(client: Alguna, subscription):
    with pytest.raises(UnprocessableEntityError) as e:
        client.subscriptions.create_credit_grant(subscription.id, amount="5", reason="x", credit_type="units")
    assert "only monetary credits are supported" in e.value.body.detail


def test_canceled_subscriptions_get_no_credit(client: Alguna, subscription):
    client.subscriptions.cancel(subscription.id, reason="no_longer_required")
    with pytest.raises(ConflictError):
        client.subscriptions.create_credit_grant(subscription.id, amount="5", reason="x")


def test_unknown_and_foreign_subscriptions_are_not_found(client: Alguna, other_client: Alguna, subscription):
    with pytest.raises(NotFoundError):
        client.subscriptions.create_credit_grant("nope1234", amount="5", reason="x")
    with pytest.raises(NotFoundError):
        client.subscriptions.get_credit_balance("nope1234")
    with pytest.raises(NotFoundError):
        other_client.subscriptions.create_credit_grant(subscription.id, amount="5", reason="x")
    with pytest.raises(NotFoundError):
        other_client.subscriptions.get_credit_balance(subscription.id)
