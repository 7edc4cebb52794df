"""Events and metrics through the official SDK: `events.ingest`, `metrics.create/list/get`,
then the usage the server counts (read with a plain HTTP call, as usage is an Abacus extension)."""

import datetime as dt

import httpx
import pytest
from alguna import (
    AggregationRequest,
    EventItem,
    FilterGroupRequest,
    FilterRequest,
    NotFoundError,
    UnprocessableEntityError,
)


def usage(base_url, api_key, customer, metric_id):
    r = httpx.get(
        f"{base_url}/customers/{customer}/usage",
        params={"metric_id": metric_id, "from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        headers={"Authorization": f"Bearer {api_key}", "Alguna-Version": "2026-04-01"},
    )
    r.raise_for_status()
    return r.json()["value"]


def test_ingest_and_metrics(client, base_url, unique):
    import os

    key = os.environ["ABACUS_API_KEY"]
    alias = f"meter-{unique}"
    client.customers.create(name=f"Meter {unique}", currency="USD", aliases=[alias])
    event = f"llm_{unique}"
    tokens = client.metrics.create(
        name=f"Tokens {unique}",
        event_name=event,
        aggregation=AggregationRequest(method="sum", field="tokens"),
        description="tokens used",
    )
    assert tokens.id.startswith("mtr_")
    assert tokens.aggregation.method == "sum" and tokens.aggregation.field == "tokens"
    eu_calls = client.metrics.create(
        name=f"EU calls {unique}",
        event_name=event,
        aggregation=AggregationRequest(method="count"),
        filter_groups=[
            FilterGroupRequest(operator="and", filters=[FilterRequest(field="region", operator="equal", value="eu")])
        ],
    )
    assert eu_calls.filter_groups[0].filters[0].value == "eu"

    when = dt.datetime(2026, 11, 2, 10, 0, tzinfo=dt.timezone.utc)
    result = client.events.ingest(
        events=[
            EventItem(unique_id=f"{unique}-1", account=alias, event_name=event, timestamp=when, properties={"tokens": 1.5, "region": "eu"}),
            EventItem(unique_id=f"{unique}-2", account=alias, event_name=event, timestamp=when, properties={"tokens": "0.25", "region": "us"}),
            EventItem(unique_id=f"{unique}-1", account=alias, event_name=event, timestamp=when, properties={"tokens": 1.5}),
            EventItem(unique_id=f"{unique}-3", account=f"ghost-{unique}", event_name=event, timestamp=when),
        ]
    )
    assert result.ingested == [f"{unique}-1", f"{unique}-2", f"{unique}-1"]
    assert result.failed == [f"{unique}-3"]
    # A resend in a later request counts once.
    again = client.events.ingest(events=[EventItem(unique_id=f"{unique}-2", account=alias, event_name=event, timestamp=when)])
    assert again.ingested == [f"{unique}-2"] and again.failed == []

    assert usage(base_url, key, alias, tokens.id) == "1.75"
    assert usage(base_url, key, alias, eu_calls.id) == "1"

    got = client.metrics.get(tokens.id)
    assert got.name == f"Tokens {unique}" and got.event_name == event
    listed = client.metrics.list(event_name=event, sort="name:asc")
    assert [m.id for m in listed.data] == [eu_calls.id, tokens.id]
    assert listed.pagination.per_page == 20
    assert [m.id for m in client.metrics.list(event_name=event, aggregation_method="count").data] == [eu_calls.id]
    assert [m.id for m in client.metrics.list(event_name=event, aggregation_field="tokens").data] == [tokens.id]


def test_metric_errors(client, other_client, unique):
    with pytest.raises(UnprocessableEntityError) as e:
        client.metrics.create(name="x", event_name="e", aggregation=AggregationRequest(method="sum"))
    assert "aggregation.field" in e.value.body.detail
    with pytest.raises(UnprocessableEntityError):
        client.metrics.create(name="x", event_name="e", aggregation=AggregationRequest(method="median", field="v"))
    with pytest.raises(NotFoundError):
        client.metrics.get("mtr_doesnotexist0000000000")
    mine = client.metrics.create(name=f"Mine {unique}", event_name="e", aggregation=AggregationRequest(method="count"))
    with pytest.raises(NotFoundError):
        other_client.metrics.get(mine.id)
