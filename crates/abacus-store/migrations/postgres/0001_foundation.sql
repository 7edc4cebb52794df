-- Foundation: organizations, API keys, idempotency records, customers.
-- Timestamps are BIGINT microseconds since the Unix epoch, as on SQLite.

CREATE TABLE organizations (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    time_zone   TEXT NOT NULL DEFAULT 'UTC',
    created_at  BIGINT NOT NULL
);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    name          TEXT NOT NULL,
    secret_hash   BYTEA NOT NULL,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_org ON api_keys (org_id);

CREATE TABLE idempotency_keys (
    org_id                 TEXT NOT NULL REFERENCES organizations (id),
    idem_key               TEXT NOT NULL,
    request_hash           BYTEA NOT NULL,
    state                  TEXT NOT NULL CHECK (state IN ('running', 'done')),
    response_status        INTEGER,
    response_content_type  TEXT,
    response_body          BYTEA,
    created_at             BIGINT NOT NULL,
    owner                  TEXT NOT NULL,
    locked_until           BIGINT NOT NULL,
    PRIMARY KEY (org_id, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE customers (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    name             TEXT NOT NULL,
    currency         TEXT NOT NULL,
    billing_address  JSONB,
    tax_country      TEXT,
    tax_id           TEXT,
    tax_rate         TEXT,
    tax_reason       TEXT,
    tax_status       TEXT,
    tax_type         TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    deleted_at       BIGINT
);
CREATE INDEX customers_org_created ON customers (org_id, created_at, id);
CREATE INDEX customers_org_name ON customers (org_id, name, id);

CREATE TABLE customer_aliases (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    alias        TEXT NOT NULL,
    customer_id  TEXT NOT NULL REFERENCES customers (id),
    position     INTEGER NOT NULL,
    PRIMARY KEY (org_id, alias)
);
CREATE INDEX customer_aliases_customer ON customer_aliases (customer_id, position);

CREATE TABLE customer_contacts (
    id                 TEXT PRIMARY KEY,
    org_id             TEXT NOT NULL REFERENCES organizations (id),
    customer_id        TEXT NOT NULL REFERENCES customers (id),
    position           INTEGER NOT NULL,
    email              TEXT NOT NULL,
    first_name         TEXT,
    last_name          TEXT,
    is_primary         BOOLEAN NOT NULL,
    email_preferences  JSONB NOT NULL
);
CREATE INDEX customer_contacts_customer ON customer_contacts (customer_id, position);
CREATE INDEX customer_contacts_email ON customer_contacts (org_id, lower(email));
