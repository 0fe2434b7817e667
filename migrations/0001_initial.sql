-- groupsync's own schema: what to reconcile, what was learned, and what was done.
-- Every table is keyed by account so that one database can serve many Square sellers.

CREATE SCHEMA IF NOT EXISTS groupsync;

-- One row per Square customer group that groupsync owns. Groups not listed here are never touched.
CREATE TABLE groupsync.managed_groups (
    account          text        NOT NULL DEFAULT 'default',
    name             text        NOT NULL,
    mode             text        NOT NULL DEFAULT 'mirror'
                                 CHECK (mode IN ('mirror', 'add_only')),
    -- Optional table or view (`name` or `schema.name`) to read the group's members from
    -- instead of desired_memberships. It must have the person columns of desired_memberships.
    source           text,
    -- Square's id for the group, remembered after adoption or creation.
    square_group_id  text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, name),
    CHECK (name <> ''),
    CHECK (source IS NULL OR source ~ '^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$')
);

-- One row per (group, person) that should exist in Square.
CREATE TABLE groupsync.desired_memberships (
    id                  bigserial   PRIMARY KEY,
    account             text        NOT NULL DEFAULT 'default',
    group_name          text        NOT NULL,
    square_customer_id  text,
    email_address       text,
    phone_number        text,
    reference_id        text,
    given_name          text,
    family_name         text,
    company_name        text,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX desired_memberships_group_idx
    ON groupsync.desired_memberships (account, group_name);

-- A link: the Square customer a person resolved to. person_key is the normalised identity
-- that matched (for example 'email:ada@example.com'), so a changed email makes a new link.
CREATE TABLE groupsync.links (
    account             text        NOT NULL,
    person_key          text        NOT NULL,
    square_customer_id  text        NOT NULL,
    linked_by           text        NOT NULL
                        CHECK (linked_by IN ('given_id', 'email', 'phone', 'reference_id', 'created')),
    linked_at           timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, person_key)
);
CREATE INDEX links_customer_idx ON groupsync.links (account, square_customer_id);

-- One row per run.
CREATE TABLE groupsync.sync_runs (
    id                   bigserial   PRIMARY KEY,
    account              text        NOT NULL,
    trigger              text        NOT NULL
                         CHECK (trigger IN ('schedule', 'manual', 'notify', 'change', 'startup')),
    status               text        NOT NULL DEFAULT 'running'
                         CHECK (status IN ('running', 'succeeded', 'held', 'failed', 'interrupted')),
    dry_run              boolean     NOT NULL DEFAULT false,
    group_filter         text[],
    started_at           timestamptz NOT NULL DEFAULT now(),
    finished_at          timestamptz,
    hostname             text,
    pid                  integer,
    groups               integer     NOT NULL DEFAULT 0,
    reads                integer     NOT NULL DEFAULT 0,
    adds                 integer     NOT NULL DEFAULT 0,
    removes              integer     NOT NULL DEFAULT 0,
    creates              integer     NOT NULL DEFAULT 0,
    rejected             integer     NOT NULL DEFAULT 0,
    failed               integer     NOT NULL DEFAULT 0,
    held_groups          integer     NOT NULL DEFAULT 0,
    api_calls            integer     NOT NULL DEFAULT 0,
    retries              integer     NOT NULL DEFAULT 0,
    rate_limited         integer     NOT NULL DEFAULT 0,
    error                text
);
CREATE INDEX sync_runs_account_idx ON groupsync.sync_runs (account, started_at DESC);

-- Desired rows that a run could not act on, with the reason.
CREATE TABLE groupsync.rejections (
    id          bigserial   PRIMARY KEY,
    run_id      bigint      NOT NULL REFERENCES groupsync.sync_runs (id) ON DELETE CASCADE,
    account     text        NOT NULL,
    group_name  text        NOT NULL,
    -- Where the row came from: 'desired_memberships' or the group's source relation.
    source      text        NOT NULL,
    -- desired_memberships.id, or the row number within the source relation.
    row_ref     text,
    reason      text        NOT NULL,
    detail      text        NOT NULL,
    identity    jsonb       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX rejections_run_idx ON groupsync.rejections (run_id);

-- The journal: each change is written here before it is sent, then updated with its outcome.
CREATE TABLE groupsync.changes (
    id                  bigserial   PRIMARY KEY,
    run_id              bigint      NOT NULL REFERENCES groupsync.sync_runs (id) ON DELETE CASCADE,
    account             text        NOT NULL,
    kind                text        NOT NULL
                        CHECK (kind IN ('add', 'remove', 'create_customer', 'create_group',
                                        'rename_group')),
    group_name          text,
    square_group_id     text,
    square_customer_id  text,
    person_key          text,
    idempotency_key     text,
    status              text        NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending', 'applied', 'failed', 'interrupted')),
    attempts            integer     NOT NULL DEFAULT 0,
    error               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    finished_at         timestamptz
);
CREATE INDEX changes_run_idx ON groupsync.changes (run_id);
CREATE INDEX changes_recent_idx
    ON groupsync.changes (account, square_group_id, square_customer_id, finished_at DESC)
    WHERE status = 'applied' AND kind IN ('add', 'remove');

-- A hold: a group whose removals the guards stopped, until a person allows them.
CREATE TABLE groupsync.holds (
    id                bigserial   PRIMARY KEY,
    run_id            bigint      NOT NULL REFERENCES groupsync.sync_runs (id) ON DELETE CASCADE,
    account           text        NOT NULL,
    group_name        text        NOT NULL,
    members           integer     NOT NULL,
    planned_removes   integer     NOT NULL,
    reason            text        NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_group_idx ON groupsync.holds (account, group_name, created_at DESC);

-- Working sets of a run, kept in Postgres so that memory does not grow with the number of
-- memberships. UNLOGGED because they are rebuilt by every run; rows are deleted when the run ends.
CREATE UNLOGGED TABLE groupsync.run_desired (
    run_id              bigint  NOT NULL,
    group_name          text    NOT NULL,
    person_key          text    NOT NULL,
    square_customer_id  text,
    email_address       text,
    phone_number        text,
    reference_id        text,
    given_name          text,
    family_name         text,
    company_name        text
);
CREATE INDEX run_desired_run_idx ON groupsync.run_desired (run_id, person_key);

CREATE UNLOGGED TABLE groupsync.run_snapshot (
    run_id              bigint  NOT NULL,
    square_group_id     text    NOT NULL,
    square_customer_id  text    NOT NULL
);
CREATE INDEX run_snapshot_run_idx ON groupsync.run_snapshot (run_id, square_group_id);

CREATE UNLOGGED TABLE groupsync.run_plan (
    run_id              bigint  NOT NULL,
    kind                text    NOT NULL,
    group_name          text    NOT NULL,
    square_group_id     text    NOT NULL,
    square_customer_id  text    NOT NULL
);
CREATE INDEX run_plan_run_idx ON groupsync.run_plan (run_id, square_group_id);

-- Identities still readable in rejected rows (a valid email beside an invalid phone, say).
-- Customers linked to them are never removed because of the rejection.
CREATE UNLOGGED TABLE groupsync.run_protected (
    run_id      bigint  NOT NULL,
    group_name  text    NOT NULL,
    person_key  text    NOT NULL
);
CREATE INDEX run_protected_run_idx ON groupsync.run_protected (run_id);
