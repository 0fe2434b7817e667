-- Many accounts served by several replicas, change notifications and Square webhooks.
--
-- accounts: one row per Square seller. While the table is empty, groupsync serves the single
-- account named in its configuration, with the configured token, as before this migration.
-- replicas and account_leases: how several `groupsync run` processes share the accounts.
-- Triggers on desired_memberships and managed_groups NOTIFY channel groupsync_changes, so the
-- daemon reconciles just the changed groups within seconds.
-- webhook_events: Square webhook event ids already handled, because Square may deliver an
-- event more than once.

CREATE TABLE groupsync.accounts (
    name                  text        PRIMARY KEY CHECK (name <> ''),
    -- Name of the environment variable, or path of the file, that holds the seller's access
    -- token. The token itself is never stored in the database.
    token_env             text        CHECK (token_env ~ '^[A-Za-z_][A-Za-z0-9_]*$'),
    token_file            text        CHECK (token_file <> ''),
    -- NULL means the value of the configuration file (square.* and limits.* keys).
    base_url              text        CHECK (base_url <> ''),
    square_version        text        CHECK (square_version ~ '^\d{4}-\d{2}-\d{2}$'),
    rate_limit_per_s      double precision CHECK (rate_limit_per_s > 0),
    max_in_flight         integer     CHECK (max_in_flight > 0),
    full_sync_interval_s  integer     CHECK (full_sync_interval_s > 0),
    -- Square's merchant id, which webhook notifications carry, to route them to this account.
    merchant_id           text        UNIQUE CHECK (merchant_id <> ''),
    enabled               boolean     NOT NULL DEFAULT true,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(token_env, token_file) = 1)
);

-- One row per running `groupsync run` process. A replica whose expires_at has passed is dead:
-- it stopped renewing, and its leases expire at the same time.
CREATE TABLE groupsync.replicas (
    id            text        PRIMARY KEY,
    hostname      text        NOT NULL,
    pid           integer     NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);

-- One row per account that some replica has served. owner is NULL, or expires_at is in the
-- past, when the account is free to take.
CREATE TABLE groupsync.account_leases (
    account       text        PRIMARY KEY,
    owner         text,
    acquired_at   timestamptz,
    heartbeat_at  timestamptz,
    expires_at    timestamptz NOT NULL DEFAULT '-infinity'
);
CREATE INDEX account_leases_owner_idx ON groupsync.account_leases (owner);

CREATE TABLE groupsync.webhook_events (
    event_id     text        PRIMARY KEY,
    account      text        NOT NULL,
    type         text        NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

-- Sends one notification per account on channel groupsync_changes with payload
-- {"account": ..., "groups": [...]}. NOTIFY payloads must stay under 8000 bytes, so a longer
-- list is replaced by "groups": null, which means every group of the account.
CREATE FUNCTION groupsync.notify_changed_groups(accounts text[], group_names text[])
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    changed record;
    payload text;
BEGIN
    FOR changed IN
        SELECT account, jsonb_agg(DISTINCT group_name ORDER BY group_name) AS groups
        FROM unnest(accounts, group_names) AS c(account, group_name)
        GROUP BY account
    LOOP
        payload := jsonb_build_object('account', changed.account, 'groups', changed.groups)::text;
        IF octet_length(payload) >= 7900 THEN
            payload := jsonb_build_object('account', changed.account, 'groups', NULL)::text;
        END IF;
        PERFORM pg_notify('groupsync_changes', payload);
    END LOOP;
END;
$$;

-- Statement-level triggers with transition tables: one notification per statement, however
-- many rows it touched, so bulk loads stay cheap. PostgreSQL allows transition tables only on
-- single-event triggers, hence three triggers per table.
CREATE FUNCTION groupsync.desired_memberships_changed()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    accounts text[];
    group_names text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(account), array_agg(group_name) INTO accounts, group_names
        FROM (SELECT DISTINCT account, group_name FROM new_rows) AS changed;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(account), array_agg(group_name) INTO accounts, group_names
        FROM (SELECT DISTINCT account, group_name FROM old_rows) AS changed;
    ELSE
        SELECT array_agg(account), array_agg(group_name) INTO accounts, group_names
        FROM (SELECT account, group_name FROM new_rows
              UNION
              SELECT account, group_name FROM old_rows) AS changed;
    END IF;
    PERFORM groupsync.notify_changed_groups(accounts, group_names);
    RETURN NULL;
END;
$$;

CREATE TRIGGER desired_memberships_inserted
    AFTER INSERT ON groupsync.desired_memberships
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.desired_memberships_changed();
CREATE TRIGGER desired_memberships_updated
    AFTER UPDATE ON groupsync.desired_memberships
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.desired_memberships_changed();
CREATE TRIGGER desired_memberships_deleted
    AFTER DELETE ON groupsync.desired_memberships
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.desired_memberships_changed();

-- A managed group counts as changed when its name, mode or source changes. The engine's own
-- updates of square_group_id and updated_at send nothing, or every group creation would
-- cause a second run.
CREATE FUNCTION groupsync.managed_groups_changed()
RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    accounts text[];
    group_names text[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(account), array_agg(name) INTO accounts, group_names FROM new_rows;
    ELSIF TG_OP = 'DELETE' THEN
        SELECT array_agg(account), array_agg(name) INTO accounts, group_names FROM old_rows;
    ELSE
        SELECT array_agg(account), array_agg(name) INTO accounts, group_names
        FROM ((SELECT account, name, mode, source FROM new_rows
               EXCEPT
               SELECT account, name, mode, source FROM old_rows)
              UNION
              (SELECT account, name, mode, source FROM old_rows
               EXCEPT
               SELECT account, name, mode, source FROM new_rows)) AS changed;
    END IF;
    PERFORM groupsync.notify_changed_groups(accounts, group_names);
    RETURN NULL;
END;
$$;

CREATE TRIGGER managed_groups_inserted
    AFTER INSERT ON groupsync.managed_groups
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.managed_groups_changed();
CREATE TRIGGER managed_groups_updated
    AFTER UPDATE ON groupsync.managed_groups
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.managed_groups_changed();
CREATE TRIGGER managed_groups_deleted
    AFTER DELETE ON groupsync.managed_groups
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION groupsync.managed_groups_changed();
