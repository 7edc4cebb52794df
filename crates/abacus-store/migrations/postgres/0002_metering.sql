-- Metering: billable metrics, events (deduplicated by unique_id, forever), and hourly rollups.

CREATE TABLE metrics (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    name                 TEXT NOT NULL,
    description          TEXT,
    event_name           TEXT NOT NULL,
    aggregation_method   TEXT NOT NULL,
    aggregation_field    TEXT,
    filter_groups        JSONB NOT NULL,
    tag_ids              JSONB NOT NULL,
    skipped_missing      BIGINT NOT NULL DEFAULT 0,
    skipped_non_numeric  BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    archived_at          BIGINT
);
CREATE INDEX metrics_org_event ON metrics (org_id, event_name);
CREATE INDEX metrics_org_created ON metrics (org_id, created_at, id);

-- seq is the arrival order. No primary key index: (org_id, unique_id) is the identity, and one
-- index less is one B-tree less to write per event. Properties are TEXT: they are read in Rust,
-- never in SQL, and TEXT keeps numbers exactly as sent.
CREATE TABLE events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY,
    org_id       TEXT NOT NULL,
    unique_id    TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    account      TEXT NOT NULL,
    customer_id  TEXT,
    ts           BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    properties   TEXT NOT NULL,
    duplicates   INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX events_dedup ON events (org_id, unique_id);
CREATE INDEX events_by_customer ON events (customer_id, event_name, ts);
CREATE INDEX events_unmatched ON events (org_id, account) WHERE customer_id IS NULL;

-- One row per (metric, customer, UTC hour) holding that hour's aggregate; NUMERIC arithmetic in
-- the upsert is exact, so concurrent writers need no read-modify-write.
CREATE TABLE usage_buckets (
    org_id        TEXT NOT NULL,
    metric_id     TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    bucket        BIGINT NOT NULL,
    event_count   BIGINT NOT NULL,
    value_count   BIGINT NOT NULL,
    value_sum     NUMERIC NOT NULL,
    value_min     NUMERIC,
    value_max     NUMERIC,
    latest_ts     BIGINT,
    latest_seq    BIGINT,
    latest_value  NUMERIC,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket)
);

CREATE TABLE usage_distinct (
    org_id       TEXT NOT NULL,
    metric_id    TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket, value)
);
