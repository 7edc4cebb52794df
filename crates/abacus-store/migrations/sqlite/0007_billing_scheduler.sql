-- The billing scheduler (docs/invoicing.md §27).
-- bill_at: the next instant at which the subscription has a boundary to invoice; NULL means "not
-- known": every write that can move a boundary (the subscription's update, a version inserted or
-- published, the start recorded at activation) sets it to NULL, and the scheduler works it out.
-- 9223372036854775807 (the largest BIGINT) means nothing is left to invoice.
-- billed_through: the last boundary the scheduler invoiced (or found empty).
-- billing_error: why the last attempt failed (a subscription billing cannot read), else NULL.
ALTER TABLE subscriptions ADD COLUMN bill_at INTEGER;
ALTER TABLE subscriptions ADD COLUMN billed_through INTEGER;
ALTER TABLE subscriptions ADD COLUMN billing_error TEXT;
CREATE INDEX subscriptions_bill_at ON subscriptions (bill_at);

-- finalize_at: the end of the grace period of a period's draft made by the scheduler. Until then
-- the scheduler recomputes the draft (late usage is added); at it the draft is recomputed a last
-- time and, with auto_issue_invoices, issued. NULL once finalized and on every other invoice.
-- refreshed_at: when the scheduler last recomputed the draft.
ALTER TABLE invoices ADD COLUMN finalize_at INTEGER;
ALTER TABLE invoices ADD COLUMN refreshed_at INTEGER;
CREATE INDEX invoices_finalize ON invoices (finalize_at);
