"""Customers through the official SDK: create, get by id and alias, list with paging and
filters, update, lookup, and the typed errors."""

import pytest
from alguna import (
    Alguna,
    AddressRequest,
    ConflictError,
    ContactRequest,
    NotFoundError,
    UnauthorizedError,
    UnprocessableEntityError,
)


def make(client: Alguna, unique: str, name: str = "Acme", **kwargs):
    return client.customers.create(
        name=f"{name} {unique}",
        currency=kwargs.pop("currency", "USD"),
        aliases=kwargs.pop("aliases", [f"{name.lower()}-{unique}"]),
        **kwargs,
    )


def test_create_and_get_by_id_and_alias(client, unique):
    created = make(
        client,
        unique,
        billing_address=AddressRequest(line1="1 Main St", city="Austin", state="TX", postal_code="73301", country="US"),
        contacts=[
            ContactRequest(email=f"billing-{unique}@acme.io", first_name="Bea", is_primary=True, email_preferences=["billing"]),
            ContactRequest(email=f"ops-{unique}@acme.io", is_primary=False, email_preferences=["updates"]),
        ],
    )
    assert len(created.id) == 8
    assert created.currency == "USD"
    assert created.billing_address.postal_code == "73301"
    assert [c.is_primary for c in created.contacts] == [True, False]
    assert all(len(c.id) == 8 for c in created.contacts)
    assert created.created_at.tzinfo is not None

    by_id = client.customers.get(created.id)
    assert by_id.id == created.id and by_id.name == created.name
    by_alias = client.customers.get(f"acme-{unique}")
    assert by_alias.id == created.id
    assert by_alias.contacts[0].email == f"billing-{unique}@acme.io"


def test_lookup(client, unique):
    created = make(client, unique, aliases=[f"stripe:cus_{unique}"])
    assert client.customers.lookup(alias=f"stripe:cus_{unique}").customer_id == created.id
    assert client.customers.lookup(alias=created.id).customer_id == created.id
    with pytest.raises(NotFoundError):
        client.customers.lookup(alias=f"nobody-{unique}")


def test_update_keeps_left_out_fields(client, unique):
    created = make(
        client,
        unique,
        contacts=[ContactRequest(email=f"a-{unique}@x.io", is_primary=True, email_preferences=["billing"])],
    )
    updated = client.customers.update(created.id, name=f"Renamed {unique}", aliases=[f"renamed-{unique}"])
    assert updated.name == f"Renamed {unique}"
    assert updated.aliases == [f"renamed-{unique}"]
    assert updated.currency == created.currency
    assert [c.id for c in updated.contacts] == [c.id for c in created.contacts]
    with pytest.raises(NotFoundError):
        client.customers.get(f"acme-{unique}")
    # Contacts replace the list; a contact sent with its id keeps it.
    kept = created.contacts[0].id
    updated = client.customers.update(
        created.id,
        contacts=[
            ContactRequest(id=kept, email=f"a2-{unique}@x.io", is_primary=True),
            ContactRequest(email=f"b-{unique}@x.io", is_primary=False),
        ],
    )
    assert updated.contacts[0].id == kept
    assert updated.contacts[0].email == f"a2-{unique}@x.io"
    assert len(updated.contacts) == 2


def test_list_paging_and_filters(client, unique):
    ids = [make(client, unique, name=f"Pager{i}", aliases=[f"pager{i}-{unique}"]).id for i in range(5)]
    found = client.customers.list(alias=f"pager3-{unique}")
    assert [c.id for c in found.data] == [ids[3]]

    with_contact = make(
        client, unique, name="Mail", contacts=[ContactRequest(email=f"find-{unique}@mail.io", is_primary=True)]
    )
    by_email = client.customers.list(email=f"FIND-{unique}@mail.io")
    assert [c.id for c in by_email.data] == [with_contact.id]

    first = client.customers.list(limit=2, offset=0, sort="created_at:desc")
    assert first.pagination.per_page == 2
    assert first.pagination.total_pages >= 3
    assert len(first.data) == 2
    second = client.customers.list(limit=2, offset=2, sort="created_at:desc")
    assert not {c.id for c in first.data} & {c.id for c in second.data}

    everyone = []
    offset = 0
    while True:
        page = client.customers.list(limit=100, offset=offset)
        everyone += page.data
        if len(page.data) < 100:
            break
        offset += 100
    assert set(ids) <= {c.id for c in everyone}
    assert client.customers.list(has_active_subscriptions=True).data == []


def test_typed_errors(client, other_client, base_url, unique):
    created = make(client, unique)
    with pytest.raises(NotFoundError) as e:
        client.customers.get(f"missing-{unique}")
    assert e.value.body.status == 404 and e.value.body.detail

    with pytest.raises(UnprocessableEntityError) as e:
        client.customers.create(name="Bad currency", currency="XYZ")
    assert "currency" in e.value.body.detail

    with pytest.raises(UnprocessableEntityError):
        client.customers.create(
            name="Bad contact", currency="USD", contacts=[ContactRequest(email="not-an-email", is_primary=True)]
        )

    with pytest.raises(ConflictError) as e:
        client.customers.create(name="Clash", currency="USD", aliases=[f"acme-{unique}"])
    assert f"acme-{unique}" in e.value.body.detail

    with pytest.raises(UnauthorizedError):
        Alguna(api_key="ak_nobody.0123456789abcdefghij", base_url=base_url).customers.list()

    # Another organization cannot see this one's customer.
    with pytest.raises(NotFoundError):
        other_client.customers.get(created.id)
    with pytest.raises(NotFoundError):
        other_client.customers.update(created.id, name="stolen")
    assert client.customers.get(created.id).name == created.name


def test_idempotent_create(client, unique):
    first = client.customers.create(name=f"Idem {unique}", currency="EUR", idempotency_key=f"idem-{unique}")
    again = client.customers.create(name=f"Idem {unique}", currency="EUR", idempotency_key=f"idem-{unique}")
    assert again.id == first.id
    with pytest.raises(UnprocessableEntityError):
        client.customers.create(name=f"Other {unique}", currency="EUR", idempotency_key=f"idem-{unique}")
