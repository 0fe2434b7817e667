-- Named queries of groupsync. Each starts with a "-- name:" line; see queries.py.

-- name: insert_run
INSERT INTO groupsync.sync_runs (account, trigger, dry_run, group_filter, hostname, pid)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING id, started_at;

-- name: interrupt_running_runs
-- Runs still marked running when their account's lock is free belong to a process that died.
UPDATE groupsync.sync_runs
SET status = 'interrupted',
    finished_at = now(),
    error = 'the process running it stopped before the run finished'
WHERE account = $1 AND status = 'running'
RETURNING id;

-- name: interrupt_pending_changes
UPDATE groupsync.changes
SET status = 'interrupted', finished_at = now(),
    error = 'the run stopped before the outcome was known'
WHERE run_id = ANY($1::bigint[]) AND status = 'pending';

-- name: finish_run
UPDATE groupsync.sync_runs
SET status = $2, finished_at = now(),
    groups = $3, reads = $4, adds = $5, removes = $6, creates = $7, rejected = $8,
    failed = $9, held_groups = $10, api_calls = $11, retries = $12, rate_limited = $13,
    error = $14
WHERE id = $1;

-- name: running_run
SELECT id, hostname, pid, started_at, trigger
FROM groupsync.sync_runs
WHERE account = $1 AND status = 'running'
ORDER BY id DESC
LIMIT 1;

-- name: managed_groups
SELECT name, mode, source, square_group_id
FROM groupsync.managed_groups
WHERE account = $1
ORDER BY name;

-- name: remember_group_id
UPDATE groupsync.managed_groups
SET square_group_id = $3, updated_at = now()
WHERE account = $1 AND name = $2;

-- name: count_desired_rows
-- desired_memberships rows per group, for the groups in $2.
SELECT group_name, count(*)::int AS rows
FROM groupsync.desired_memberships
WHERE account = $1 AND group_name = ANY($2::text[])
GROUP BY group_name
ORDER BY group_name;

-- name: desired_rows_of_unknown_groups
-- desired_memberships rows whose group is not managed ($2), among the groups in $3 (all
-- groups when $3 is NULL).
SELECT id::text AS row_ref, group_name, square_customer_id, email_address, phone_number,
       reference_id, given_name, family_name, company_name
FROM groupsync.desired_memberships
WHERE account = $1 AND group_name <> ALL($2::text[])
  AND ($3::text[] IS NULL OR group_name = ANY($3::text[]))
ORDER BY id;

-- name: insert_normalised_rows
-- Keep newly normalised people; a row seen twice in one run is kept once.
INSERT INTO groupsync.normalised_rows (account, rules, person_key, raw_hash,
                                       square_customer_id, email_address, phone_number,
                                       reference_id, given_name, family_name, company_name)
SELECT $1, $2, n.*
FROM unnest($3::text[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::text[],
            $9::text[], $10::text[], $11::text[]) AS n
ON CONFLICT DO NOTHING;

-- name: count_normalised_rows
SELECT count(*) FROM groupsync.normalised_rows WHERE account = $1;

-- name: prune_normalised_rows
-- Drop the account's normalised people made under other rules ($2) or used by no row
-- staged by run $3.
DELETE FROM groupsync.normalised_rows n
WHERE n.account = $1
  AND (n.rules <> $2
       OR NOT EXISTS (SELECT 1 FROM groupsync.run_desired d
                      WHERE d.run_id = $3 AND d.raw_hash = n.raw_hash));

-- name: relation_columns
-- Columns of a table or view, found by its regclass so that the name is never pasted into SQL.
SELECT attname
FROM pg_attribute
WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped;

-- name: resolve_relation
SELECT to_regclass($1)::oid AS oid, format('%s', to_regclass($1)) AS quoted_name;

-- name: insert_rejection
INSERT INTO groupsync.rejections (run_id, account, group_name, source, row_ref, reason, detail,
                                  identity)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb);

-- name: unlinked_people
-- One row per person of the run without a link; the first row seen supplies the names.
SELECT DISTINCT ON (d.person_key)
       d.person_key, d.square_customer_id, d.email_address, d.phone_number, d.reference_id,
       d.given_name, d.family_name, d.company_name
FROM groupsync.run_desired d
LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
WHERE d.run_id = $1 AND l.person_key IS NULL AND d.person_key > $3
ORDER BY d.person_key
LIMIT $4;

-- name: count_unlinked_people
SELECT count(DISTINCT d.person_key)
FROM groupsync.run_desired d
LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
WHERE d.run_id = $1 AND l.person_key IS NULL;

-- name: person_groups
SELECT DISTINCT group_name
FROM groupsync.run_desired
WHERE run_id = $1 AND person_key = $2;

-- name: upsert_link
INSERT INTO groupsync.links (account, person_key, square_customer_id, linked_by)
VALUES ($1, $2, $3, $4)
ON CONFLICT (account, person_key)
DO UPDATE SET square_customer_id = EXCLUDED.square_customer_id,
              linked_by = EXCLUDED.linked_by,
              linked_at = now();

-- name: delete_links_to_customer
DELETE FROM groupsync.links
WHERE account = $1 AND square_customer_id = $2
RETURNING person_key;

-- name: reject_unresolved_people
-- Desired rows whose person could not be resolved are recorded with the reason.
INSERT INTO groupsync.rejections (run_id, account, group_name, source, row_ref, reason, detail,
                                  identity)
SELECT $1, $2, d.group_name, 'resolution', NULL, $4, $5,
       jsonb_strip_nulls(jsonb_build_object(
           'square_customer_id', d.square_customer_id, 'email_address', d.email_address,
           'phone_number', d.phone_number, 'reference_id', d.reference_id))
FROM groupsync.run_desired d
WHERE d.run_id = $1 AND d.person_key = $3;

-- name: drop_person_from_run
DELETE FROM groupsync.run_desired WHERE run_id = $1 AND person_key = $2;

-- name: clear_plan
DELETE FROM groupsync.run_plan WHERE run_id = $1;

-- name: build_plan
-- $1 run, $2 account, $3 ids of the groups in this run, $4 ids of the groups whose snapshot
-- read completed (only those may lose members), $5 the window in seconds during which an
-- applied change wins over a snapshot that contradicts it (Square's search lags its writes).
WITH managed AS (
    SELECT name, mode, square_group_id
    FROM groupsync.managed_groups
    WHERE account = $2 AND square_group_id = ANY($3::text[])
),
desired AS (
    SELECT DISTINCT m.square_group_id, l.square_customer_id
    FROM groupsync.run_desired d
    JOIN managed m ON m.name = d.group_name
    JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
    WHERE d.run_id = $1
),
recent AS (
    SELECT DISTINCT ON (c.square_group_id, c.square_customer_id)
           c.square_group_id, c.square_customer_id, c.kind
    FROM groupsync.changes c
    WHERE c.account = $2
      AND c.status = 'applied'
      AND c.kind IN ('add', 'remove')
      AND c.square_group_id = ANY($3::text[])
      AND (c.run_id = $1 OR c.finished_at > now() - make_interval(secs => $5))
    ORDER BY c.square_group_id, c.square_customer_id, c.finished_at DESC, c.id DESC
),
actual AS (
    (SELECT square_group_id, square_customer_id FROM groupsync.run_snapshot WHERE run_id = $1
     UNION
     SELECT square_group_id, square_customer_id FROM recent WHERE kind = 'add')
    EXCEPT
    SELECT square_group_id, square_customer_id FROM recent WHERE kind = 'remove'
),
adds AS (
    SELECT * FROM desired
    EXCEPT
    SELECT * FROM actual
),
protected AS (
    -- Customers matched by an identity that a rejected row still carries.
    SELECT m.square_group_id, l.square_customer_id
    FROM groupsync.run_protected p
    JOIN managed m ON m.name = p.group_name
    JOIN groupsync.links l ON l.account = $2 AND l.person_key = p.person_key
    WHERE p.run_id = $1
),
removes AS (
    SELECT * FROM actual
    EXCEPT
    SELECT * FROM desired
    EXCEPT
    SELECT * FROM protected
)
INSERT INTO groupsync.run_plan (run_id, kind, group_name, square_group_id, square_customer_id)
SELECT $1, 'add', m.name, a.square_group_id, a.square_customer_id
FROM adds a
JOIN managed m USING (square_group_id)
UNION ALL
SELECT $1, 'remove', m.name, r.square_group_id, r.square_customer_id
FROM removes r
JOIN managed m USING (square_group_id)
WHERE m.mode = 'mirror' AND r.square_group_id = ANY($4::text[]);

-- name: plan_summary
-- Per group of the run: members in the snapshot and planned adds and removes.
SELECT g.square_group_id,
       (SELECT count(*) FROM groupsync.run_snapshot s
        WHERE s.run_id = $1 AND s.square_group_id = g.square_group_id) AS members,
       (SELECT count(*) FROM groupsync.run_plan p
        WHERE p.run_id = $1 AND p.square_group_id = g.square_group_id AND p.kind = 'add') AS adds,
       (SELECT count(*) FROM groupsync.run_plan p
        WHERE p.run_id = $1 AND p.square_group_id = g.square_group_id AND p.kind = 'remove')
           AS removes
FROM unnest($2::text[]) AS g(square_group_id);

-- name: drop_planned_removes
DELETE FROM groupsync.run_plan
WHERE run_id = $1 AND square_group_id = $2 AND kind = 'remove';

-- name: planned_changes
SELECT p.kind, p.group_name, p.square_group_id, p.square_customer_id,
       (SELECT min(l.person_key) FROM groupsync.links l
        WHERE l.account = $3 AND l.square_customer_id = p.square_customer_id) AS person_key
FROM groupsync.run_plan p
WHERE p.run_id = $1
ORDER BY p.group_name, p.kind, p.square_customer_id
LIMIT $2;

-- name: dry_run_pending_adds
-- Per group of a dry run: desired people, and those without a link (to be created first).
SELECT d.group_name,
       count(DISTINCT d.person_key) AS people,
       count(DISTINCT d.person_key) FILTER (WHERE l.person_key IS NULL) AS unlinked_people
FROM groupsync.run_desired d
LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
WHERE d.run_id = $1
GROUP BY d.group_name;

-- name: journal_plan
-- Write the planned changes of one kind to the journal before any of them is sent.
INSERT INTO groupsync.changes (run_id, account, kind, group_name, square_group_id,
                               square_customer_id)
SELECT run_id, $2, kind, group_name, square_group_id, square_customer_id
FROM groupsync.run_plan
WHERE run_id = $1 AND kind = $3
ORDER BY square_group_id, square_customer_id;

-- name: pending_membership_changes_page
SELECT id, kind, group_name, square_group_id, square_customer_id
FROM groupsync.changes
WHERE run_id = $1 AND status = 'pending' AND kind IN ('add', 'remove') AND id > $2
ORDER BY id
LIMIT $3;

-- name: journal_change
INSERT INTO groupsync.changes (run_id, account, kind, group_name, square_group_id,
                               square_customer_id, person_key, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id;

-- name: record_change_outcome
UPDATE groupsync.changes
SET status = $2, attempts = $3, error = $4, finished_at = now(),
    square_group_id = coalesce($5, square_group_id),
    square_customer_id = coalesce($6, square_customer_id)
WHERE id = $1;

-- name: insert_hold
INSERT INTO groupsync.holds (run_id, account, group_name, members, planned_removes, reason)
VALUES ($1, $2, $3, $4, $5, $6);

-- name: clear_run_desired
DELETE FROM groupsync.run_desired WHERE run_id = $1;

-- name: clear_run_protected
DELETE FROM groupsync.run_protected WHERE run_id = $1;

-- name: insert_protected_keys
INSERT INTO groupsync.run_protected (run_id, group_name, person_key)
SELECT $1, $2, unnest($3::text[]);

-- name: clear_run_snapshot
DELETE FROM groupsync.run_snapshot WHERE run_id = $1;

-- name: managed_group
SELECT name, mode, source, square_group_id
FROM groupsync.managed_groups
WHERE account = $1 AND name = $2;

-- name: recent_runs
SELECT id, trigger, status, dry_run, started_at, finished_at,
       extract(epoch FROM (coalesce(finished_at, now()) - started_at))::float8 AS duration_s,
       groups, reads, adds, removes, creates, rejected, failed, held_groups, api_calls, retries,
       rate_limited, error
FROM groupsync.sync_runs
WHERE account = $1
ORDER BY id DESC
LIMIT $2;

-- name: group_status
-- Per managed group: its Square id, desired rows, and the latest hold and failures.
SELECT g.name, g.mode, g.source, g.square_group_id,
       (SELECT count(*) FROM groupsync.desired_memberships d
        WHERE d.account = g.account AND d.group_name = g.name) AS desired_rows,
       h.planned_removes AS held_removes, h.members AS held_members, h.reason AS hold_reason,
       h.created_at AS held_at,
       (SELECT count(*) FROM groupsync.changes c
        WHERE c.account = g.account AND c.group_name = g.name AND c.status = 'failed'
          AND c.run_id = (SELECT max(id) FROM groupsync.sync_runs r
                          WHERE r.account = g.account AND NOT r.dry_run)) AS failed_last_run
FROM groupsync.managed_groups g
LEFT JOIN LATERAL (
    SELECT * FROM groupsync.holds h
    WHERE h.account = g.account AND h.group_name = g.name
      AND h.run_id = (SELECT max(id) FROM groupsync.sync_runs r
                      WHERE r.account = g.account AND NOT r.dry_run
                        AND r.status <> 'running')
) h ON true
WHERE g.account = $1
ORDER BY g.name;

-- name: last_run_rejections
SELECT group_name, source, row_ref, reason, detail, identity::text AS identity
FROM groupsync.rejections
WHERE run_id = $1
ORDER BY id
LIMIT $2;

-- name: failing_since
-- $1 accounts. For each account whose latest finished run failed: when the first failed run
-- since its last succeeded or held run finished. Dry and interrupted runs do not count.
SELECT r.account, min(r.finished_at) AS failing_since
FROM groupsync.sync_runs r
WHERE r.account = ANY($1::text[])
  AND NOT r.dry_run
  AND r.status = 'failed'
  AND r.id > coalesce((SELECT max(o.id) FROM groupsync.sync_runs o
                       WHERE o.account = r.account AND NOT o.dry_run
                         AND o.status IN ('succeeded', 'held')), 0)
GROUP BY r.account;

-- name: last_success
SELECT max(finished_at) AS finished_at
FROM groupsync.sync_runs
WHERE account = $1 AND NOT dry_run AND status = 'succeeded';

-- name: runs_by_status_since
-- Runs of the account per status that started in the last $2 seconds, dry runs excluded.
SELECT status, count(*) AS runs
FROM groupsync.sync_runs
WHERE account = $1 AND NOT dry_run AND started_at > now() - make_interval(secs => $2)
GROUP BY status
ORDER BY status;

-- name: last_run_failed_changes
-- The failed changes of the account's latest finished run that was not a dry run.
SELECT id, kind, group_name, square_group_id, square_customer_id, person_key, attempts, error
FROM groupsync.changes
WHERE run_id = (SELECT max(id) FROM groupsync.sync_runs
                WHERE account = $1 AND NOT dry_run AND status <> 'running')
  AND status = 'failed'
ORDER BY id
LIMIT $2;

-- name: count_last_run_failed_changes
SELECT count(*)
FROM groupsync.changes
WHERE run_id = (SELECT max(id) FROM groupsync.sync_runs
                WHERE account = $1 AND NOT dry_run AND status <> 'running')
  AND status = 'failed';

-- name: plan_desired_rows
-- The desired state of a run, for plan fingerprints: each staged person and the customer
-- they resolved to, per group, in a stable order.
SELECT DISTINCT d.group_name, d.person_key, l.square_customer_id
FROM groupsync.run_desired d
LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
WHERE d.run_id = $1
ORDER BY d.group_name, d.person_key, l.square_customer_id;

-- name: plan_snapshot_rows
SELECT DISTINCT square_group_id, square_customer_id
FROM groupsync.run_snapshot
WHERE run_id = $1
ORDER BY square_group_id, square_customer_id;

-- name: plan_changes
-- Every planned change of a run, in the order plan files list them.
SELECT kind, group_name, square_group_id, square_customer_id
FROM groupsync.run_plan
WHERE run_id = $1
ORDER BY group_name, kind, square_customer_id;

-- name: accounts
SELECT name, token_env, token_file, base_url, square_version, rate_limit_per_s, max_in_flight,
       full_sync_interval_s, merchant_id, enabled
FROM groupsync.accounts
ORDER BY name;

-- name: account_by_merchant
SELECT name FROM groupsync.accounts WHERE merchant_id = $1;

-- name: renew_replica
-- $1 replica id, $2 hostname, $3 pid, $4 lease in seconds.
INSERT INTO groupsync.replicas (id, hostname, pid, expires_at)
VALUES ($1, $2, $3, now() + make_interval(secs => $4))
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), expires_at = EXCLUDED.expires_at;

-- name: live_replicas
SELECT count(*) FROM groupsync.replicas WHERE expires_at > now();

-- name: delete_replica
DELETE FROM groupsync.replicas WHERE id = $1;

-- name: forget_dead_replicas
DELETE FROM groupsync.replicas WHERE expires_at < now() - interval '1 day';

-- name: ensure_leases
INSERT INTO groupsync.account_leases (account)
SELECT unnest($1::text[])
ON CONFLICT (account) DO NOTHING;

-- name: take_leases
-- $1 replica id, $2 accounts to serve, $3 lease in seconds, $4 maximum leases to take.
-- SKIP LOCKED lets replicas that take leases at the same moment each get different accounts.
UPDATE groupsync.account_leases
SET owner = $1, acquired_at = now(), heartbeat_at = now(),
    expires_at = now() + make_interval(secs => $3)
WHERE account IN (
    SELECT account
    FROM groupsync.account_leases
    WHERE account = ANY($2::text[]) AND (owner IS NULL OR expires_at < now())
    ORDER BY random()
    LIMIT $4
    FOR UPDATE SKIP LOCKED
)
RETURNING account;

-- name: renew_leases
-- Returns the accounts whose lease the replica still owns; any other lease was taken over.
UPDATE groupsync.account_leases
SET heartbeat_at = now(), expires_at = now() + make_interval(secs => $3)
WHERE owner = $1 AND account = ANY($2::text[])
RETURNING account;

-- name: release_leases
UPDATE groupsync.account_leases
SET owner = NULL, expires_at = '-infinity'
WHERE owner = $1 AND account = ANY($2::text[]);

-- name: managed_group_names
SELECT name FROM groupsync.managed_groups WHERE account = $1 AND name = ANY($2::text[]);

-- name: insert_webhook_event
-- Returns a row only for an event id not seen before.
INSERT INTO groupsync.webhook_events (event_id, account, type)
VALUES ($1, $2, $3)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: customer_groups
-- $1 account, $2 customer id, $3 ids of the Square groups the customer is in. The managed
-- groups in which the customer is desired (by id, or by a linked email or reference id),
-- into which groupsync added it, or which it is in.
SELECT DISTINCT m.name
FROM groupsync.managed_groups m
WHERE m.account = $1
  AND (m.square_group_id = ANY($3::text[])
       OR m.name IN (SELECT d.group_name
                     FROM groupsync.desired_memberships d
                     WHERE d.account = $1 AND d.square_customer_id = $2)
       OR m.name IN (SELECT d.group_name
                     FROM groupsync.links l
                     JOIN groupsync.desired_memberships d
                       ON d.account = l.account
                      AND (l.person_key = 'email:' || lower(btrim(d.email_address))
                           OR l.person_key = 'ref:' || lower(btrim(d.reference_id)))
                     WHERE l.account = $1 AND l.square_customer_id = $2)
       OR m.name IN (SELECT c.group_name
                     FROM groupsync.changes c
                     WHERE c.account = $1 AND c.square_customer_id = $2 AND c.kind = 'add'
                       AND c.status = 'applied'))
ORDER BY m.name;

-- name: notify
SELECT pg_notify($1, $2);

-- name: unlinked_people_cost
-- What resolving the run's unlinked people would cost with searches: the exact searches of
-- people without a customer id (up to one per identity field) and the people whose given
-- id needs BulkRetrieveCustomers.
SELECT count(*) AS people,
       coalesce(sum(CASE WHEN square_customer_id IS NULL
                         THEN (email_address IS NOT NULL)::int + (phone_number IS NOT NULL)::int
                              + (reference_id IS NOT NULL)::int
                         ELSE 0 END), 0)::bigint AS searches,
       count(square_customer_id) AS given_ids
FROM (
    SELECT DISTINCT ON (d.person_key) d.square_customer_id, d.email_address, d.phone_number,
           d.reference_id
    FROM groupsync.run_desired d
    LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
    WHERE d.run_id = $1 AND l.person_key IS NULL
    ORDER BY d.person_key
) AS unlinked;

-- name: link_people_from_listing
-- Link the run's unlinked people to customers seen by the ListCustomers walk, with the
-- resolver's rules: a given id must exist; otherwise email, then phone, then reference id,
-- the first that matches anyone decides; among several matches the customer created first
-- wins, ties broken by id. Returns the number linked and up to $3 ambiguous matches.
WITH people AS (
    SELECT DISTINCT ON (d.person_key) d.person_key, d.square_customer_id, d.email_address,
           d.phone_number, lower(d.reference_id) AS reference_id
    FROM groupsync.run_desired d
    LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
    WHERE d.run_id = $1 AND l.person_key IS NULL
    ORDER BY d.person_key
),
seen AS (
    SELECT * FROM groupsync.run_customers WHERE run_id = $1
),
candidates AS (
    SELECT p.person_key, 0 AS rank, 'given_id' AS linked_by, c.square_customer_id, c.created_at
    FROM people p JOIN seen c ON c.square_customer_id = p.square_customer_id
    UNION ALL
    SELECT p.person_key, 1, 'email', c.square_customer_id, c.created_at
    FROM people p JOIN seen c ON c.email_address = p.email_address
    WHERE p.square_customer_id IS NULL
    UNION ALL
    SELECT p.person_key, 2, 'phone', c.square_customer_id, c.created_at
    FROM people p JOIN seen c ON c.phone_number = p.phone_number
    WHERE p.square_customer_id IS NULL
    UNION ALL
    SELECT p.person_key, 3, 'reference_id', c.square_customer_id, c.created_at
    FROM people p JOIN seen c ON c.reference_id = p.reference_id
    WHERE p.square_customer_id IS NULL
),
decisive AS (
    SELECT c.*, count(*) OVER (PARTITION BY c.person_key) AS matches,
           array_agg(c.square_customer_id) OVER (PARTITION BY c.person_key) AS customer_ids
    FROM candidates c
    JOIN (SELECT person_key, min(rank) AS rank FROM candidates GROUP BY person_key) b
      USING (person_key, rank)
),
chosen AS (
    SELECT DISTINCT ON (person_key) person_key, linked_by, square_customer_id, matches,
           customer_ids
    FROM decisive
    ORDER BY person_key, created_at, square_customer_id
),
linked AS (
    INSERT INTO groupsync.links (account, person_key, square_customer_id, linked_by)
    SELECT $2, person_key, square_customer_id, linked_by FROM chosen
    ON CONFLICT (account, person_key)
    DO UPDATE SET square_customer_id = EXCLUDED.square_customer_id,
                  linked_by = EXCLUDED.linked_by,
                  linked_at = now()
    RETURNING person_key
)
SELECT (SELECT count(*) FROM linked) AS linked,
       (SELECT count(*) FROM chosen WHERE matches > 1) AS ambiguous,
       coalesce((SELECT jsonb_agg(jsonb_build_object(
                    'person_key', person_key, 'matched_by', linked_by,
                    'customer_id', square_customer_id, 'customer_ids', customer_ids))
                 FROM (SELECT * FROM chosen WHERE matches > 1 ORDER BY person_key LIMIT $3) a),
                '[]'::jsonb)::text AS ambiguous_sample;

-- name: journal_customer_creations
-- Journal a batch of customer creations as pending before the bulk request is sent.
INSERT INTO groupsync.changes (run_id, account, kind, person_key, idempotency_key)
SELECT $1, $2, 'create_customer', person_key, idempotency_key
FROM unnest($3::text[], $4::text[]) AS batch(person_key, idempotency_key)
RETURNING id, idempotency_key;

-- name: unlinked_people_with_phone
-- Whether the run has an unlinked person whom a phone number could match.
SELECT EXISTS (
    SELECT 1
    FROM groupsync.run_desired d
    LEFT JOIN groupsync.links l ON l.account = $2 AND l.person_key = d.person_key
    WHERE d.run_id = $1 AND l.person_key IS NULL AND d.square_customer_id IS NULL
      AND d.phone_number IS NOT NULL
);

-- name: stored_phones
SELECT DISTINCT phone_as_stored
FROM groupsync.run_customers
WHERE run_id = $1 AND phone_as_stored IS NOT NULL;

-- name: create_phone_forms
-- Stored phone numbers with their E.164 form, for set_customer_phones; dropped at commit.
CREATE TEMPORARY TABLE phone_forms (stored text PRIMARY KEY, e164 text NOT NULL)
ON COMMIT DROP;

-- name: set_customer_phones
UPDATE groupsync.run_customers c
SET phone_number = f.e164
FROM phone_forms f
WHERE c.run_id = $1 AND c.phone_as_stored = f.stored;

-- name: clear_run_customers
DELETE FROM groupsync.run_customers WHERE run_id = $1;

-- name: desired_people_per_group
-- The run's desired people per group, which estimates each group's members in Square.
SELECT group_name, count(DISTINCT person_key) AS people
FROM groupsync.run_desired
WHERE run_id = $1
GROUP BY group_name;
