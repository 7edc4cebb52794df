-- Catalog: tags, products, bundles with their prices, plans with their items.
-- Prices are the caller's validated PriceInput as JSON (JSONB here, TEXT on SQLite).

CREATE TABLE tags (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations (id),
    name          TEXT NOT NULL,
    color         TEXT NOT NULL,
    entity_types  JSONB NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX tags_org_name ON tags (org_id, lower(name));

-- metric_ids and tag_ids are JSON arrays of ids (filtered with a quoted LIKE, as metrics' tags).
CREATE TABLE products (
    id                         TEXT PRIMARY KEY,
    org_id                     TEXT NOT NULL REFERENCES organizations (id),
    name                       TEXT NOT NULL,
    description                TEXT NOT NULL,
    fee_type                   TEXT NOT NULL,
    payment_terms              TEXT NOT NULL,
    billing_frequency          TEXT NOT NULL,
    revenue_allocation_method  TEXT NOT NULL,
    sku                        TEXT,
    tax_code                   TEXT,
    unit_label_singular        TEXT,
    unit_label_plural          TEXT,
    metric_ids                 JSONB NOT NULL,
    tag_ids                    JSONB NOT NULL,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL,
    deleted_at                 BIGINT
);
CREATE INDEX products_org_created ON products (org_id, created_at, id);

CREATE TABLE bundles (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    name         TEXT NOT NULL,
    description  TEXT,
    currency     TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX bundles_org_created ON bundles (org_id, created_at, id);

CREATE TABLE bundle_prices (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    bundle_id   TEXT NOT NULL REFERENCES bundles (id),
    position    INTEGER NOT NULL,
    product_id  TEXT NOT NULL REFERENCES products (id),
    price       JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX bundle_prices_bundle ON bundle_prices (bundle_id, position);
CREATE INDEX bundle_prices_product ON bundle_prices (org_id, product_id);

-- terms: the plan's contract, renewal, trial, payment, discount, spend, escalation, entitlement
-- and invoice settings (JSON, as validated).
CREATE TABLE plans (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    name         TEXT NOT NULL,
    description  TEXT,
    currency     TEXT NOT NULL,
    terms        JSONB NOT NULL,
    tag_ids      JSONB NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    archived_at  BIGINT
);
CREATE INDEX plans_org_created ON plans (org_id, created_at, id);

-- One row per priced product: a standalone item (child_position 0, no bundle) or a child of a
-- bundle item (bundle_id and bundle_name set, children numbered by child_position).
CREATE TABLE plan_items (
    org_id              TEXT NOT NULL REFERENCES organizations (id),
    plan_id             TEXT NOT NULL REFERENCES plans (id),
    position            INTEGER NOT NULL,
    child_position      INTEGER NOT NULL,
    product_id          TEXT NOT NULL REFERENCES products (id),
    bundle_id           TEXT,
    bundle_name         TEXT,
    bundle_description  TEXT,
    price               JSONB NOT NULL,
    PRIMARY KEY (plan_id, position, child_position)
);
CREATE INDEX plan_items_product ON plan_items (org_id, product_id);
