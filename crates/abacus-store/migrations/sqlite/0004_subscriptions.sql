-- Subscriptions: the subscription (terms as JSON), its versions, and each version's priced items;
-- the organization's default payment terms. Dates are 'YYYY-MM-DD' TEXT, instants INTEGER
-- microseconds, JSON TEXT here (JSONB on PostgreSQL).

ALTER TABLE organizations ADD COLUMN default_payment_terms TEXT NOT NULL DEFAULT 'net_30';

-- status is the stored state; a reader sees 'canceled' once ends_at has passed. ends_at is the
-- end of service: the earlier of cancel_at and the end of a fixed contract that does not renew.
-- time_zone is fixed at activation (NULL for a draft, which follows the organization's).
CREATE TABLE subscriptions (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL REFERENCES organizations (id),
    customer_id                TEXT NOT NULL REFERENCES customers (id),
    name                       TEXT NOT NULL,
    description                TEXT,
    currency                   TEXT NOT NULL,
    status                     TEXT NOT NULL CHECK (status IN ('draft', 'active', 'canceled')),
    plan_id                    TEXT,
    terms                      TEXT NOT NULL,
    metadata                   TEXT NOT NULL,
    tag_ids                    TEXT NOT NULL,
    contract_start_date        TEXT,
    contract_end_date          TEXT,
    time_zone                  TEXT,
    cancel_requested_at        INTEGER,
    cancel_at                  INTEGER,
    cancel_reason              TEXT,
    cancel_reason_description  TEXT,
    ends_at                    INTEGER,
    activated_at               INTEGER,
    created_at                 INTEGER NOT NULL,
    updated_at                 INTEGER NOT NULL
) STRICT;
CREATE INDEX subscriptions_org_created ON subscriptions (org_id, created_at, id);
CREATE INDEX subscriptions_customer ON subscriptions (org_id, customer_id);

-- effective_at is NULL for a draft without a date yet; published versions always have one.
CREATE TABLE subscription_versions (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    subscription_id  TEXT NOT NULL REFERENCES subscriptions (id),
    number           INTEGER NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('draft', 'published')),
    plan_id          TEXT,
    description      TEXT,
    effective_at     INTEGER,
    entitlements     TEXT NOT NULL,
    published_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX subscription_versions_number ON subscription_versions (subscription_id, number);

-- As plan_items: one row per priced product, standalone or a child of a bundle item.
CREATE TABLE subscription_items (
    org_id              TEXT NOT NULL REFERENCES organizations (id),
    subscription_id     TEXT NOT NULL REFERENCES subscriptions (id),
    version_id          TEXT NOT NULL REFERENCES subscription_versions (id),
    position            INTEGER NOT NULL,
    child_position      INTEGER NOT NULL,
    product_id          TEXT NOT NULL REFERENCES products (id),
    bundle_id           TEXT,
    bundle_name         TEXT,
    bundle_description  TEXT,
    price               TEXT NOT NULL,
    PRIMARY KEY (version_id, position, child_position)
) STRICT;
CREATE INDEX subscription_items_product ON subscription_items (org_id, product_id);
