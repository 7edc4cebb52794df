-- Daily rollups: the hourly rollups gathered into UTC days, so a month of usage reads about 31
-- daily rows and the hours at its edges instead of up to 744 hourly rows (abacus_core's
-- metering::usage::plan). Written beside the hourly rows by every rollup write. The rows of
-- hours that predate this migration are gathered by the store once, at start-up
-- (usage::build_daily, which sets built = 1), the same code as on SQLite.

CREATE TABLE usage_days (
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

CREATE TABLE usage_distinct_days (
    org_id       TEXT NOT NULL,
    metric_id    TEXT NOT NULL,
    customer_id  TEXT NOT NULL,
    bucket       BIGINT NOT NULL,
    value        TEXT NOT NULL,
    PRIMARY KEY (org_id, metric_id, customer_id, bucket, value)
);

CREATE TABLE usage_days_state (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    built  BIGINT NOT NULL
);

INSERT INTO usage_days_state (id, built) VALUES (1, 0);
