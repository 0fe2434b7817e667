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

-- name: desired_rows
SELECT id::text AS row_ref, group_name, square_customer_id, email_address, phone_number,
       reference_id, given_name, family_name, company_name
FROM groupsync.desired_memberships
WHERE account = $1
ORDER BY id;

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
SELECT kind, group_name, square_group_id, square_customer_id
FROM groupsync.run_plan
WHERE run_id = $1
ORDER BY group_name, kind, square_customer_id
LIMIT $2;

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
