-- Working set of a run that reads Square with one ListCustomers walk: every customer seen,
-- with the identity fields in the form Square's exact search compares them (email and
-- reference id lower-cased, phone number in E.164), so unlinked people are matched in SQL.
-- UNLOGGED and emptied when the run ends, like the other working sets.
CREATE UNLOGGED TABLE groupsync.run_customers (
    run_id              bigint  NOT NULL,
    square_customer_id  text    NOT NULL,
    email_address       text,
    phone_number        text,
    reference_id        text,
    -- As Square sends it (RFC 3339, UTC); compared as text, as the resolver does.
    created_at          text    NOT NULL
);
CREATE INDEX run_customers_run_idx ON groupsync.run_customers (run_id);
