-- Monetary credit grants on subscriptions (docs/invoicing.md §26) and what invoices drew from
-- them. Money is canonical decimal TEXT, as everywhere else (exact; arithmetic is done in Rust
-- with rust_decimal, never in SQL). Instants are INTEGER microseconds. Version 0007 is reserved.

-- A grant's currency is its subscription's. What remains of it is amount − Σ its draws.
-- expires_at NULL: the grant never expires; at expires_at it is no longer usable.
CREATE TABLE credit_grants (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    customer_id      TEXT NOT NULL REFERENCES customers (id),
    subscription_id  TEXT NOT NULL REFERENCES subscriptions (id),
    currency         TEXT NOT NULL,
    amount           TEXT NOT NULL,
    credit_type      TEXT NOT NULL CHECK (credit_type IN ('monetary')),
    grant_type       TEXT NOT NULL CHECK (grant_type IN ('api')),
    reason           TEXT,
    expires_at       INTEGER,
    created_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX credit_grants_subscription ON credit_grants (org_id, subscription_id, created_at, id);

-- One draw per (invoice, grant): the credit an invoice took from a grant. Releasing an invoice's
-- credit (a voided invoice) deletes its draws, so the credit is usable again.
CREATE TABLE credit_draws (
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    grant_id    TEXT NOT NULL REFERENCES credit_grants (id),
    invoice_id  TEXT NOT NULL REFERENCES invoices (id),
    amount      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (invoice_id, grant_id)
) STRICT;
CREATE INDEX credit_draws_grant ON credit_draws (grant_id);
