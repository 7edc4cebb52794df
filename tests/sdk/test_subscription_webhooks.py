"""Subscription webhooks as an SDK user receives them.

The Rust test `sdk_subscription_webhooks` takes subscriptions through their lives (created,
updated, activated, started, versions created, replaced and published, changes applied,
cancellations scheduled, reverted and made at once) and runs the sweep as of later days (a
contract reaching its start, scheduled cancellations and a fixed term ending), then names a file
in ABACUS_SUBSCRIPTION_WEBHOOKS with the bodies sent and the events expected as
[type, data.id, data.status]. Each body must parse with the SDK's `alguna.webhooks` model of its
type, and the events must be exactly the expected ones, each as often as expected.
"""

import collections
import json
import os

import alguna.webhooks as models
import pytest
from alguna.types.subscription_payload import SubscriptionPayload
from alguna.types.subscription_version_payload import SubscriptionVersionPayload

MODELS = {
    getattr(models, name).model_fields["type"].default: getattr(models, name)
    for name in models.__all__
}


def capture():
    path = os.environ.get("ABACUS_SUBSCRIPTION_WEBHOOKS")
    if not path:
        pytest.skip("run by the Rust test sdk_subscription_webhooks")
    with open(path) as f:
        return json.load(f)


def parsed():
    return [MODELS[json.loads(b)["type"]].model_validate(json.loads(b)) for b in capture()["bodies"]]


def test_each_body_parses_with_its_sdk_model():
    for body in capture()["bodies"]:
        raw = json.loads(body)
        assert list(raw) == ["type", "timestamp", "data"]
        event = MODELS[raw["type"]].model_validate(raw)
        assert event.type == raw["type"]
        assert event.timestamp.tzinfo is not None
        expected = SubscriptionVersionPayload if raw["type"] == "subscription.version.updated" else SubscriptionPayload
        assert isinstance(event.data, expected)
        # Every field is one the model knows, under its JSON name.
        assert not (event.data.model_extra or {}), (raw["type"], event.data.model_extra)


def test_exactly_the_expected_events():
    got = collections.Counter((e.type, e.data.id, e.data.status) for e in parsed())
    want = collections.Counter(tuple(x) for x in capture()["expected"])
    assert got == want


def test_payloads_carry_what_happened():
    account = capture()["account_id"]
    by_type = collections.defaultdict(list)
    for e in parsed():
        by_type[e.type].append(e.data)
        assert e.data.account_id == account
    for kind in ("subscription.activated", "subscription.started", "subscription.cancelation_scheduled",
                 "subscription.cancelation_reverted"):
        assert by_type[kind], kind
        for d in by_type[kind]:
            assert d.status == "active"
            assert d.activated_at is not None
            assert d.contract_start_date is not None
            assert d.ended_at is None
    assert by_type["subscription.canceled"]
    for d in by_type["subscription.canceled"]:
        assert d.status == "canceled"
        assert d.ended_at is not None
    for v in by_type["subscription.version.updated"]:
        assert v.id.startswith("subv_")
        assert v.status in ("draft", "published")
        assert len(v.subscription_id) == 8
    for d in by_type["subscription.updated"]:
        assert d.status in ("draft", "active", "canceled")
