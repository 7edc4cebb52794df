"""Invoices, credit notes, payments and refunds through the official SDK: the calls a billing
integration makes, the typed errors of forbidden transitions, the PDF, and another
organization's objects."""

import datetime as dt

import pytest
from alguna import (
    Alguna,
    ConflictError,
    CreateCreditNoteLineItemInput,
    CreateInvoiceLineItemRequest,
    CreditInvoiceLineItemInput,
    CreditNoteRefundRequest,
    NotFoundError,
    UnprocessableEntityError,
)


@pytest.fixture()
def customer(client: Alguna, unique):
    # The SDK's customers.create has no tax fields; Abacus reads tax_rate from the body.
    return client.customers.create(
        name=f"Gojo {unique}",
        currency="USD",
        billing_address={"line1": "123 Main St", "city": "New York", "state": "NY", "postal_code": "10001", "country": "US"},
        request_options={"additional_body_parameters": {"tax_rate": "0.20"}},
    ).id


def lines(*items):
    return [CreateInvoiceLineItemRequest(description=d, quantity=q, unit_price=p) for d, q, p in items]


def test_a_draft_is_edited_then_issued_and_never_changes(client: Alguna, customer):
    inv = client.invoices.create(
        customer_id=customer,
        description="March",
        purchase_order_number="PO-9",
        billing_period_start=dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc),
        billing_period_end=dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc),
        line_items=lines(("Consulting", "3", "33.333"), ("Setup", "1", "10.03")),
    )
    assert inv.status == "draft"
    assert (inv.subtotal, inv.tax, inv.total) == ("110.03", "22.01", "132.04")
    assert inv.billing_period == "Mar 1, 2024 - Mar 31, 2024"
    assert inv.billing_period_end == dt.datetime(2024, 4, 1, tzinfo=dt.timezone.utc)
    assert inv.line_items[0].total_price == "100.00"
    assert inv.line_items[0].is_editable

    inv = client.invoices.update(inv.id, description="March consulting")
    assert inv.description == "March consulting"
    inv = client.invoices.add_line_item(inv.id, description="Travel", quantity="1", unit_price="250")
    assert inv.total == "432.04"
    travel = inv.line_items[-1].id
    line = client.invoices.update_line_item(inv.id, travel, description="Travel (Berlin)")
    assert line.description == "Travel (Berlin)"
    client.invoices.delete_line_item(inv.id, inv.line_items[1].id)
    inv = client.invoices.get(inv.id)
    assert inv.total == "420.00"
    assert [l.description for l in inv.line_items] == ["Consulting", "Travel (Berlin)"]

    with pytest.raises(ConflictError) as e:
        client.invoices.mark_as_paid(inv.id, external_payment_source="cash")
    assert "draft" in e.value.body.detail


def test_issue_pay_in_parts_and_what_paid_forbids(client: Alguna, customer, base_url):
    inv = client.invoices.create(customer_id=customer, status="issued", line_items=lines(("Plan", "1", "100")))
    assert inv.status == "issued"
    assert inv.external_reference.startswith("INV-")
    assert inv.due_date - inv.issue_date == dt.timedelta(days=30)
    with pytest.raises(ConflictError):
        client.invoices.update(inv.id, description="changed")
    with pytest.raises(ConflictError):
        client.invoices.add_line_item(inv.id, description="More", quantity="1", unit_price="1")
    with pytest.raises(ConflictError):
        client.invoices.delete_line_item(inv.id, inv.line_items[0].id)

    inv = client.invoices.mark_as_paid(
        inv.id, external_payment_source="bank_transfer", amount_paid="50.00", external_payment_note="half"
    )
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("issued", "50.00", "70.00")
    inv = client.invoices.mark_as_paid(inv.id, external_payment_source="cheque")
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("paid", "120.00", "0.00")
    assert inv.paid_date is not None
    with pytest.raises(ConflictError) as e:
        client.invoices.void(inv.id)
    assert "paid invoice cannot be voided" in e.value.body.detail
    with pytest.raises(ConflictError):
        client.invoices.mark_as_paid(inv.id, external_payment_source="cash")

    payments = client.payments.list(invoice_id=inv.id)
    assert [p.amount for p in payments.data] == ["70.00", "50.00"]
    assert all(p.status == "completed" and p.customer_id == customer for p in payments.data)
    got = client.payments.get(payments.data[1].id)
    assert got.allocations[0].invoice_id == inv.id
    assert client.payments.list(customer_id=customer).pagination.total_pages == 1

    listed = client.invoices.list(customer_id=customer, status="paid")
    assert [i.id for i in listed.data] == [inv.id]
    assert client.invoices.list(reference=inv.external_reference).data[0].id == inv.id


def test_void_and_the_pdf(client: Alguna, customer):
    inv = client.invoices.create(
        customer_id=customer, status="issued", description="Thanks", line_items=lines(("Platform", "1", "1234.50"))
    )
    pdf = b"".join(client.invoices.generate_pdf(inv.id))
    assert pdf.startswith(b"%PDF-")
    # The content stream is not compressed: the number and the amount due are in it as text.
    assert f"({inv.external_reference})".encode() in pdf
    assert b"(USD 1,481.40)" in pdf
    voided = client.invoices.void(inv.id)
    assert voided.status == "void"
    with pytest.raises(ConflictError):
        client.invoices.void(inv.id)
    assert b"".join(client.invoices.generate_pdf(inv.id)) == pdf, "the PDF issued never changes"
    draft = client.invoices.create(customer_id=customer, line_items=lines(("Plan", "1", "1")))
    with pytest.raises(ConflictError):
        client.invoices.void(draft.id)


def test_credit_notes_reduce_what_is_owed_and_apply_once(client: Alguna, customer):
    inv = client.invoices.create(
        customer_id=customer, status="issued", line_items=lines(("Seats", "3", "33.33"), ("Setup", "1", "10"))
    )
    seats = inv.line_items[0].id
    cn = client.credit_notes.create_from_invoice(
        inv.id, line_items=[CreditInvoiceLineItemInput(invoice_line_item_id=seats, quantity="1")]
    )
    assert cn.status == "draft"
    assert (cn.subtotal, cn.tax, cn.total) == ("33.33", "6.67", "40.00")
    assert cn.line_items[0].invoice_line_item_id == seats
    assert cn.line_items[0].tax_rate == "0.20"
    cn = client.credit_notes.apply(cn.id, do_refund=False)
    assert cn.status == "applied"
    assert cn.external_reference.startswith("CN-")
    with pytest.raises(ConflictError) as e:
        client.credit_notes.apply(cn.id, do_refund=False)
    assert "applied already" in e.value.body.detail
    inv = client.invoices.get(inv.id)
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("issued", "40.00", "91.99")

    rest = client.credit_notes.create_from_invoice(inv.id, apply=True)
    assert (rest.status, rest.total) == ("applied", "91.99")
    assert client.invoices.get(inv.id).status == "paid"
    with pytest.raises(ConflictError):
        client.credit_notes.create_from_invoice(inv.id)
    notes = client.credit_notes.list(customer_id=customer)
    assert {n.id for n in notes.data} == {cn.id, rest.id}
    assert client.credit_notes.get(cn.id).invoice_id == inv.id


def test_refunds_follow_what_was_paid(client: Alguna, customer):
    inv = client.invoices.create(customer_id=customer, status="issued", line_items=lines(("Plan", "1", "100")))
    client.invoices.mark_as_paid(inv.id, external_payment_source="bank_transfer")
    payment = client.payments.list(invoice_id=inv.id).data[0]

    # A credit note on a paid invoice refunds the original payment.
    cn = client.credit_notes.create(
        invoice_id=inv.id,
        description="Half the month",
        line_items=[CreateCreditNoteLineItemInput(invoice_line_item_id=inv.line_items[0].id, quantity="0.5")],
        apply=True,
        refund=CreditNoteRefundRequest(destination="original_payment"),
    )
    assert (cn.status, cn.total) == ("applied", "60.00")
    assert cn.last_refund_id.startswith("re_")
    refund = client.refunds.get(cn.last_refund_id)
    assert (refund.amount, refund.status, refund.payment_id) == ("60.00", "succeeded", payment.id)
    assert client.payments.get(payment.id).amount_refunded == "60.00"

    direct = client.refunds.create(payment_id=payment.id, amount="50.00", reason="goodwill")
    assert (direct.amount, direct.customer_id, direct.reason) == ("50.00", customer, "goodwill")
    with pytest.raises(ConflictError) as e:
        client.refunds.create(payment_id=payment.id, amount="10.01")
    assert "10.00 left to refund" in e.value.body.detail
    listed = client.refunds.list(payment_id=payment.id, sort="amount:asc")
    assert [r.amount for r in listed.data] == ["50.00", "60.00"]
    assert client.refunds.list(status="pending", customer_id=customer).data == []
    with pytest.raises(UnprocessableEntityError):
        client.refunds.create(payment_id=payment.id, amount="-1")


def test_customer_credit_pays_the_next_invoice(client: Alguna, customer):
    cn = client.credit_notes.create(
        customer_id=customer,
        description="Goodwill",
        line_items=[CreateCreditNoteLineItemInput(description="Outage credit", quantity="1", unit_price="25")],
    )
    assert cn.total == "30.00"
    client.credit_notes.apply(cn.id, do_refund=False)
    inv = client.invoices.create(customer_id=customer, status="issued", line_items=lines(("Plan", "1", "20")))
    assert (inv.status, inv.amount_paid) == ("paid", "24.00")
    inv = client.invoices.create(customer_id=customer, status="issued", line_items=lines(("Plan", "1", "20")))
    assert (inv.status, inv.amount_paid, inv.amount_remaining) == ("issued", "6.00", "18.00")


def test_bad_input_and_unknown_objects(client: Alguna, customer):
    with pytest.raises(UnprocessableEntityError) as e:
        client.invoices.create(customer_id="nobody", line_items=lines(("Plan", "1", "1")))
    assert e.value.body.detail.startswith("Validation failed: customer_id:")
    with pytest.raises(UnprocessableEntityError) as e:
        client.invoices.create(customer_id=customer, line_items=lines(("Plan", "-1", "1")))
    assert "line_items[0].quantity" in e.value.body.detail
    with pytest.raises(NotFoundError):
        client.invoices.get("nope0000")
    with pytest.raises(NotFoundError):
        client.credit_notes.get("cn_nope")
    with pytest.raises(NotFoundError):
        client.payments.get("pay_nope")
    with pytest.raises(NotFoundError):
        client.refunds.get("re_nope")


def test_another_organization_sees_nothing(client: Alguna, other_client: Alguna, customer):
    inv = client.invoices.create(customer_id=customer, status="issued", line_items=lines(("Plan", "1", "5")))
    with pytest.raises(NotFoundError):
        other_client.invoices.get(inv.id)
    with pytest.raises(NotFoundError):
        other_client.invoices.mark_as_paid(inv.id, external_payment_source="cash")
    assert all(i.id != inv.id for i in other_client.invoices.list().data)
    assert client.invoices.get(inv.id).status == "issued"
