-- Webhooks: endpoints, the outbox of events, one message per (event, endpoint), and the log of
-- delivery attempts. See docs/webhooks.md.

-- event_types NULL means every type. The lease (lease_until, lease_token) is held by the worker
-- delivering one of the endpoint's messages: one delivery per endpoint at a time, in creation
-- order. failing_since is the first failure of the current streak of failures.
CREATE TABLE webhook_endpoints (
    id                          TEXT PRIMARY KEY,
    org_id                      TEXT NOT NULL REFERENCES organizations (id),
    url                         TEXT NOT NULL,
    description                 TEXT,
    event_types                 TEXT,
    enabled                     INTEGER NOT NULL,
    secret                      TEXT NOT NULL,
    previous_secret             TEXT,
    previous_secret_expires_at  INTEGER,
    failing_since               INTEGER,
    disabled_reason             TEXT,
    lease_until                 INTEGER,
    lease_token                 TEXT,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_endpoints_org ON webhook_endpoints (org_id, created_at, id);

-- payload is the exact body sent (the signed bytes, never re-serialised).
CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    event_type  TEXT NOT NULL,
    payload     TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
CREATE INDEX webhook_events_org ON webhook_events (org_id, created_at);

-- seq is the creation order. status: pending (next_attempt_at set), succeeded, failed. step is
-- the position in the retry schedule (reset by a resend); attempts counts every attempt.
CREATE TABLE webhook_messages (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL,
    org_id           TEXT NOT NULL,
    endpoint_id      TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         TEXT NOT NULL REFERENCES webhook_events (id),
    event_type       TEXT NOT NULL,
    status           TEXT NOT NULL,
    step             INTEGER NOT NULL DEFAULT 0,
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_at  INTEGER,
    last_attempt_at  INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX webhook_messages_id ON webhook_messages (id);
CREATE INDEX webhook_messages_endpoint ON webhook_messages (endpoint_id, seq);
CREATE INDEX webhook_messages_pending ON webhook_messages (endpoint_id, next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_due ON webhook_messages (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_messages_event ON webhook_messages (event_id);

CREATE TABLE webhook_attempts (
    id             TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL,
    message_id     TEXT NOT NULL REFERENCES webhook_messages (id) ON DELETE CASCADE,
    endpoint_id    TEXT NOT NULL,
    attempt        INTEGER NOT NULL,
    started_at     INTEGER NOT NULL,
    success        INTEGER NOT NULL,
    status_code    INTEGER,
    latency_ms     INTEGER NOT NULL,
    response_body  TEXT,
    error          TEXT
) STRICT;
CREATE INDEX webhook_attempts_message ON webhook_attempts (message_id, attempt);
