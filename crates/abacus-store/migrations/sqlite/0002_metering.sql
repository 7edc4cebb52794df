-- Metering: billable metrics, events (deduplicated by unique_id, forever), and hourly rollups.

CREATE TABLE metrics (
    id                   TEXT PRIMARY KEY,
    org_id               TEXT NOT NULL REFERENCES organizations (id),
    name                 TEXT NOT NULL,
    description          TEXT,
    event_name           TEXT NOT NULL,
    aggregation_method   TEXT NOT NULL,
    aggregation_field    TEXT,
    filter_groups        TEXT NOT NULL,
    tag_ids              TEXT NOT NULL,
    skipped_missing      INTEGER NOT NULL DEFAULT 0,
    skipped_non_numeric  INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    archived_at          INTEGER
) STRICT;
CREATE INDEX metrics_org_event ON metrics (org_id, event_name);
CREATE INDEX metrics_org_created ON metrics (org_id, created_at, id);

-- seq is the arrival order (SQLite's rowid). customer_id is NULL while the account is unknown.
CREATE TABLE events (
    seq          INTEGER PRIMARY KEY,
    org_id       TEXT NOT NULL,
    unique_id    TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    account      TEXT NOT NULL,
    customer_id  TEXT,
    ts           INTEGER NOT NULL,
    received_at  INTEGER NOT NULL,
    properties   TEXT NOT NULL,
    duplicates   INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE UNIQUE INDEX events_dedup ON events (org_id, unique_id);
CREATE INDEX events_by_customer ON events (customer_id, event_name, ts);
CREATE INDEX events_unmatched ON events (org_id, account) WHERE customer_id IS NULL;

-- One row per (metric, customer, UTC hour) holding that hour's aggregate. Decimals are canonical
-- decimal text, combined in Rust.
CREATE TABLE usage_buckets (
    org_id        TEXT NOT NULL,
    metric_id     TEXT NOT NULL,
    customer_id   TEXT NOT NULL,
    bucket        INTEGER NOT NULL,
    event_count   INTEGER NOT NULL,
    value_count   INTEGER NOT NULL,
    value_sum     TEXT NOT NULL,
    value_min     TEXT,
    value_max     TEXT,
    latest_ts     INTEGER,
    latest_seq    INTEGER,
    latest_value  TEXT,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket)
) STRICT, WITHOUT ROWID;

-- Distinct values per hour, for count_unique.
CREATE TABLE usage_distinct (
    org_id       TEXT NOT NULL,
    metric_id    TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket, value)
) STRICT, WITHOUT ROWID;
