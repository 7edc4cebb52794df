-- Daily rollups: the hourly rollups gathered into UTC days, so a month of usage reads about 31
-- daily rows and the hours at its edges instead of up to 744 hourly rows (abacus_core's
-- metering::usage::plan). Written beside the hourly rows by every rollup write. The rows of
-- hours that predate this migration are gathered by the store once, at start-up
-- (usage::build_daily, which sets built = 1), because SQLite has no exact decimal SUM.

CREATE TABLE usage_days (
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

CREATE TABLE usage_distinct_days (
    org_id       TEXT NOT NULL,
    metric_id    TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       INTEGER NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket, value)
) STRICT, WITHOUT ROWID;

CREATE TABLE usage_days_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    built  INTEGER NOT NULL
) STRICT;

INSERT INTO usage_days_state (id, built) VALUES (1, 0);
