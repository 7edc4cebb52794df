"""Invoice, payment and refund webhooks as an SDK user receives them.

The Rust test `sdk_invoices` drives an invoice through its life (a line deleted, issued, paid in
two parts, one payment partly refunded) and another past its due date, captures the deliveries,
and names the file of their bodies in ABACUS_INVOICE_WEBHOOKS. Each body must parse with the
SDK's `alguna.webhooks` model of its type, and each event happen once.
"""

import collections
import json
import os

import alguna.webhooks as models
import pytest

MODELS = {
    getattr(models, name).model_fields["type"].default: getattr(models, name)
    for name in models.__all__
}


def bodies():
    path = os.environ.get("ABACUS_INVOICE_WEBHOOKS")
    if not path:
        pytest.skip("run by the Rust test sdk_invoices")
    with open(path) as f:
        return [json.loads(b) for b in json.load(f)]


def test_each_body_parses_with_its_sdk_model():
    for body in bodies():
        event = MODELS[body["type"]].model_validate(body)
        assert event.type == body["type"]
        assert event.data.id == body["data"]["id"]


def test_each_event_happens_once():
    counts = collections.Counter((b["type"], b["data"]["id"]) for b in bodies())
    assert all(n == 1 for n in counts.values()), counts
    kinds = collections.Counter(t for t, _ in counts)
    assert kinds == {
        "lineitem.deleted": 1,
        "invoice.issued": 2,
        "payment.created": 2,
        "invoice.paid": 1,
        "refund.updated": 1,
        "payment.updated": 1,
        "invoice.overdue": 1,
    }


def test_payloads_carry_what_happened():
    by_type = collections.defaultdict(list)
    for b in bodies():
        by_type[b["type"]].append(MODELS[b["type"]].model_validate(b).data)
    (paid,) = by_type["invoice.paid"]
    assert paid.status == "paid"
    assert paid.total == "120.00"
    (overdue,) = by_type["invoice.overdue"]
    assert overdue.status == "overdue"
    (refund,) = by_type["refund.updated"]
    assert refund.status == "succeeded"
    (line,) = by_type["lineitem.deleted"]
    assert line.invoice_id == paid.id
    assert {p.invoice_id for p in by_type["payment.created"]} == {paid.id}
