-- Foundation: organizations, API keys, idempotency records, customers.
-- Timestamps are INTEGER microseconds since the Unix epoch; decimals are canonical TEXT.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL DEFAULT 'UTC',
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    name          TEXT NOT NULL,
    secret_hash   BLOB NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
) STRICT;
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE idempotency_keys (
    org_id                 TEXT NOT NULL REFERENCES organizations (id),
    idem_key               TEXT NOT NULL,
    request_hash           BLOB NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('running', 'done')),
    response_status        INTEGER,
    response_content_type  TEXT,
    response_body          BLOB,
    created_at             INTEGER NOT NULL,
    owner                  TEXT NOT NULL,
    locked_until           INTEGER NOT NULL,
    PRIMARY KEY (org_id, idem_key)
) STRICT;
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE customers (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    name             TEXT NOT NULL,
    currency         TEXT NOT NULL,
    billing_address  TEXT,
    tax_country      TEXT,
    tax_id           TEXT,
    tax_rate         TEXT,
    tax_reason       TEXT,
    tax_status       TEXT,
    tax_type         TEXT,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    deleted_at       INTEGER
) STRICT;
CREATE INDEX customers_org_created ON customers (org_id, created_at, id);
CREATE INDEX customers_org_name ON customers (org_id, name, id);

CREATE TABLE customer_aliases (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    alias        TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (org_id, alias)
) STRICT;
CREATE INDEX customer_aliases_customer ON customer_aliases (customer_id, position);

CREATE TABLE customer_contacts (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    position           INTEGER NOT NULL,
    email              TEXT NOT NULL,
    first_name         TEXT,
    last_name          TEXT,
    is_primary         INTEGER NOT NULL,
    email_preferences  TEXT NOT NULL
) STRICT;
CREATE INDEX customer_contacts_customer ON customer_contacts (customer_id, position);
CREATE INDEX customer_contacts_email ON customer_contacts (org_id, lower(email));
