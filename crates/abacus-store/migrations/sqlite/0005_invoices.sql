-- Invoices: per-organization document numbers, invoices with their lines and frozen PDFs, credit
-- notes with their lines, payments, refunds, and the customers' credit ledger.
-- Money is canonical decimal TEXT on both databases (exact; arithmetic is done in Rust, never in
-- SQL). Instants are INTEGER microseconds. Version 0004 belongs to subscriptions.

-- One counter per (organization, kind of document): incremented in the transaction that issues
-- the document, so a number is used exactly once and a rolled-back issue gives it back.
CREATE TABLE document_numbers (
    org_id       TEXT NOT NULL REFERENCES organizations (id),
    kind         TEXT NOT NULL,
    last_number  INTEGER NOT NULL,
    PRIMARY KEY (org_id, kind)
) STRICT;

-- subscription_id and boundary are the billing key of a subscription's period invoice (unique:
-- a period is never invoiced twice); both are NULL on ad-hoc invoices. subscription_id has no
-- foreign key (the scheduler links it). number and external_reference are set at issue.
-- amount_paid is what payments (manual, credit notes, credit balance) settled; credits_applied
-- what monetary credit grants drew (credit_applied lines).
CREATE TABLE invoices (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES organizations (id),
    customer_id            TEXT NOT NULL REFERENCES customers (id),
    subscription_id        TEXT,
    boundary               INTEGER,
    currency               TEXT NOT NULL,
    status                 TEXT NOT NULL CHECK (status IN ('draft', 'issued', 'paid', 'overdue', 'void')),
    number                 INTEGER,
    external_reference     TEXT,
    description            TEXT NOT NULL,
    purchase_order_number  TEXT,
    payment_terms          TEXT NOT NULL,
    invoicing_date         INTEGER,
    issue_date             INTEGER,
    due_date               INTEGER,
    paid_date              INTEGER,
    void_date              INTEGER,
    billing_period_start   INTEGER,
    billing_period_end     INTEGER,
    subtotal               TEXT NOT NULL,
    tax                    TEXT NOT NULL,
    total                  TEXT NOT NULL,
    credits_applied        TEXT NOT NULL,
    amount_paid            TEXT NOT NULL,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX invoices_number ON invoices (org_id, number);
CREATE UNIQUE INDEX invoices_period ON invoices (subscription_id, boundary);
CREATE INDEX invoices_org_created ON invoices (org_id, created_at, id);
CREATE INDEX invoices_customer ON invoices (org_id, customer_id);
CREATE INDEX invoices_open_due ON invoices (due_date) WHERE status = 'issued';

-- kind: 'manual' for lines written by hand, else the billing function's kind (fixed_advance,
-- usage, credit_applied...).
CREATE TABLE invoice_line_items (
    id                     TEXT PRIMARY KEY,
    org_id                 TEXT NOT NULL REFERENCES organizations (id),
    invoice_id             TEXT NOT NULL REFERENCES invoices (id),
    position               INTEGER NOT NULL,
    kind                   TEXT NOT NULL,
    description            TEXT NOT NULL,
    product_id             TEXT,
    item_key               TEXT,
    version_id             TEXT,
    credit_grant_id        TEXT,
    quantity               TEXT NOT NULL,
    unit_price             TEXT NOT NULL,
    amount                 TEXT NOT NULL,
    tax_rate               TEXT,
    tax                    TEXT NOT NULL,
    proration_days         INTEGER,
    proration_period_days  INTEGER,
    period_start           INTEGER,
    period_end             INTEGER,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
) STRICT;
CREATE INDEX invoice_line_items_invoice ON invoice_line_items (invoice_id, position);

-- The PDF rendered once at issue; it never changes.
CREATE TABLE invoice_documents (
    invoice_id  TEXT PRIMARY KEY REFERENCES invoices (id),
    org_id      TEXT NOT NULL REFERENCES organizations (id),
    pdf         BLOB NOT NULL,
    sha256      TEXT NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

-- amount_to_invoice, amount_to_balance and amount_refunded say where an applied credit note's
-- total went.
CREATE TABLE credit_notes (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations (id),
    customer_id           TEXT NOT NULL REFERENCES customers (id),
    invoice_id            TEXT REFERENCES invoices (id),
    currency              TEXT NOT NULL,
    status                TEXT NOT NULL CHECK (status IN ('draft', 'applied', 'void')),
    number                INTEGER,
    external_reference    TEXT,
    description           TEXT NOT NULL,
    billing_period_start  INTEGER,
    billing_period_end    INTEGER,
    subtotal              TEXT NOT NULL,
    tax                   TEXT NOT NULL,
    total                 TEXT NOT NULL,
    amount_to_invoice     TEXT,
    amount_to_balance     TEXT,
    amount_refunded       TEXT,
    apply_date            INTEGER,
    void_date             INTEGER,
    last_refund_id        TEXT,
    last_refund_date      INTEGER,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX credit_notes_number ON credit_notes (org_id, number);
CREATE INDEX credit_notes_customer ON credit_notes (org_id, customer_id, created_at, id);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id);

CREATE TABLE credit_note_line_items (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations (id),
    credit_note_id        TEXT NOT NULL REFERENCES credit_notes (id),
    position              INTEGER NOT NULL,
    invoice_line_item_id  TEXT REFERENCES invoice_line_items (id),
    product_id            TEXT,
    description           TEXT NOT NULL,
    quantity              TEXT NOT NULL,
    unit_price            TEXT NOT NULL,
    amount                TEXT NOT NULL,
    tax_rate              TEXT,
    tax                   TEXT NOT NULL,
    period_start          INTEGER,
    period_end            INTEGER
) STRICT;
CREATE INDEX credit_note_line_items_note ON credit_note_line_items (credit_note_id, position);
CREATE INDEX credit_note_line_items_invoice_line ON credit_note_line_items (invoice_line_item_id);

-- method: manual (mark-as-paid), credit_note (an applied credit note settling an open invoice),
-- credit_balance (customer credit drawn at issue). Only manual payments can be refunded.
CREATE TABLE payments (
    id               TEXT PRIMARY KEY,
    org_id           TEXT NOT NULL REFERENCES organizations (id),
    customer_id      TEXT NOT NULL REFERENCES customers (id),
    invoice_id       TEXT NOT NULL REFERENCES invoices (id),
    credit_note_id   TEXT REFERENCES credit_notes (id),
    method           TEXT NOT NULL CHECK (method IN ('manual', 'credit_note', 'credit_balance')),
    source           TEXT,
    note             TEXT,
    currency         TEXT NOT NULL,
    amount           TEXT NOT NULL,
    amount_refunded  TEXT NOT NULL,
    status           TEXT NOT NULL,
    paid_at          INTEGER NOT NULL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
) STRICT;
CREATE INDEX payments_org_created ON payments (org_id, created_at, id);
CREATE INDEX payments_invoice ON payments (invoice_id);

CREATE TABLE refunds (
    id                    TEXT PRIMARY KEY,
    org_id                TEXT NOT NULL REFERENCES organizations (id),
    customer_id           TEXT NOT NULL REFERENCES customers (id),
    payment_id            TEXT NOT NULL REFERENCES payments (id),
    invoice_id            TEXT REFERENCES invoices (id),
    credit_note_id        TEXT REFERENCES credit_notes (id),
    currency              TEXT NOT NULL,
    amount                TEXT NOT NULL,
    status                TEXT NOT NULL,
    reason                TEXT,
    statement_descriptor  TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
) STRICT;
CREATE INDEX refunds_org_created ON refunds (org_id, created_at, id);
CREATE INDEX refunds_payment ON refunds (payment_id);

-- Signed movements of a customer's credit balance per currency: + an applied credit note (or a
-- net-credit invoice), − credit drawn by an invoice at issue. The balance is their sum.
CREATE TABLE customer_credit_ledger (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id),
    customer_id     TEXT NOT NULL REFERENCES customers (id),
    currency        TEXT NOT NULL,
    amount          TEXT NOT NULL,
    credit_note_id  TEXT REFERENCES credit_notes (id),
    invoice_id      TEXT REFERENCES invoices (id),
    payment_id      TEXT REFERENCES payments (id),
    description     TEXT NOT NULL,
    created_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX customer_credit_ledger_customer ON customer_credit_ledger (org_id, customer_id, currency);
