-- Subscription webhooks (docs/webhooks.md §2): the two events that time, not a request, can cause.
-- starts_at is when the service starts (the local midnight of the contract start, set at
-- activation). started_event_at and canceled_event_at record when subscription.started and
-- subscription.canceled were enqueued: each is set once, by a conditional UPDATE (... IS NULL) in
-- the transaction that enqueues the event, so each event fires once however many sweeps race.

ALTER TABLE subscriptions ADD COLUMN starts_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN started_event_at BIGINT;
ALTER TABLE subscriptions ADD COLUMN canceled_event_at BIGINT;

-- Subscriptions activated before this migration are not announced retroactively: they count as
-- started, and those whose service has already ended as canceled. A scheduled end still ahead
-- sends subscription.canceled when it passes.
UPDATE subscriptions SET started_event_at = COALESCE(activated_at, created_at) WHERE status <> 'draft';
UPDATE subscriptions SET canceled_event_at = ends_at
 WHERE status <> 'draft' AND ends_at IS NOT NULL
   AND ends_at <= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT;

-- What the sweep looks for: starts and ends that have not been announced.
CREATE INDEX subscriptions_start_pending ON subscriptions (starts_at)
    WHERE started_event_at IS NULL AND starts_at IS NOT NULL;
CREATE INDEX subscriptions_end_pending ON subscriptions (ends_at)
    WHERE canceled_event_at IS NULL AND ends_at IS NOT NULL;
