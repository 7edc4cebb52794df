-- SQLite only (see migrations/sqlite/0010_deferred_customer_index.sql): PostgreSQL keeps
-- events_by_customer as an ordinary index, because its concurrent writers commit out of seq order
-- and a seq watermark would skip events.
SELECT 1;
