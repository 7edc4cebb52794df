-- The per-customer index of raw events, maintained in batches instead of on every insert.
--
-- On SQLite every ingest commit dirtied about one page of events_by_customer per customer in the
-- commit, so each commit wrote pages in proportion to its customers, not its events (half of the
-- writer's time). Events now land in arrival order only; the indexer copies (customer, event name,
-- time, seq) of every attributed event with seq > indexed_through into event_index, thousands at a
-- time, in key order. Readers take event_index for seq <= indexed_through and scan the short
-- unindexed tail by seq. SQLite assigns seq under its single write lock, so seq order is commit
-- order and the watermark is exact. PostgreSQL keeps the ordinary index (its concurrent writers
-- commit out of seq order); this migration is empty there.

DROP INDEX events_by_customer;

CREATE TABLE event_index (
    customer_id  TEXT NOT NULL,
    event_name   TEXT NOT NULL,
    ts           INTEGER NOT NULL,
    seq          INTEGER NOT NULL,
    PRIMARY KEY (customer_id, event_name, ts, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE event_index_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    indexed_through  INTEGER NOT NULL
) STRICT;

INSERT INTO event_index (customer_id, event_name, ts, seq)
SELECT customer_id, event_name, ts, seq FROM events WHERE customer_id IS NOT NULL;

INSERT INTO event_index_state (id, indexed_through) SELECT 1, COALESCE(MAX(seq), 0) FROM events;
