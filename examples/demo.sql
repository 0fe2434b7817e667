-- The demo's managed groups, over the Chinook sample database (tables in schema `chinook`).
--
-- Four groups read their members from views over Chinook's customers, invoices and genres.
-- The fifth, "Summer Conference 2022", has no source, so it reads groupsync.desired_memberships,
-- which `groupsync import examples/summer-conference-2022.csv` fills.
--
-- Run this after `groupsync migrate`, because it writes to groupsync.managed_groups.

CREATE SCHEMA demo;

-- Chinook's customers with the seven person columns that a group's source must have.
-- Chinook writes phone numbers in international formats such as '+55 (12) 3923-5555'.
-- Three of them are invalid ('+453 3331 9991', '+56 (0)2 635 4444', '+91 0124 39883988'),
-- so a run rejects those customers' rows with reason invalid_phone and lists them in
-- groupsync.rejections, as it would with real data.
CREATE VIEW demo.chinook_people AS
SELECT
    c.customer_id,
    NULL::text                     AS square_customer_id,
    c.email::text                  AS email_address,
    c.phone::text                  AS phone_number,
    'chinook-' || c.customer_id    AS reference_id,
    c.first_name::text             AS given_name,
    c.last_name::text              AS family_name,
    c.company::text                AS company_name
FROM chinook.customer AS c;

-- Each customer once per genre they bought at least one track of.
CREATE VIEW demo.genre_buyers AS
SELECT DISTINCT g.name::text AS genre, p.*
FROM demo.chinook_people AS p
JOIN chinook.invoice AS i ON i.customer_id = p.customer_id
JOIN chinook.invoice_line AS l ON l.invoice_id = i.invoice_id
JOIN chinook.track AS t ON t.track_id = l.track_id
JOIN chinook.genre AS g ON g.genre_id = t.genre_id;

CREATE VIEW demo.jazz_buyers AS
SELECT square_customer_id, email_address, phone_number, reference_id,
       given_name, family_name, company_name
FROM demo.genre_buyers
WHERE genre = 'Jazz';

CREATE VIEW demo.classical_buyers AS
SELECT square_customer_id, email_address, phone_number, reference_id,
       given_name, family_name, company_name
FROM demo.genre_buyers
WHERE genre = 'Classical';

CREATE VIEW demo.customers_in_brazil AS
SELECT square_customer_id, email_address, phone_number, reference_id,
       given_name, family_name, company_name
FROM demo.chinook_people AS p
JOIN chinook.customer AS c USING (customer_id)
WHERE c.country = 'Brazil';

-- The ten customers with the highest invoice total. Ties go to the lower customer_id, so
-- the group does not change from run to run.
CREATE VIEW demo.top_spenders AS
SELECT square_customer_id, email_address, phone_number, reference_id,
       given_name, family_name, company_name
FROM demo.chinook_people AS p
JOIN (
    SELECT customer_id, sum(total) AS spent
    FROM chinook.invoice
    GROUP BY customer_id
    ORDER BY spent DESC, customer_id
    LIMIT 10
) AS top USING (customer_id);

-- Square already has groups named "Jazz Buyers" and "Classical Buyers" (see
-- examples/square-seed.json), so the first run adopts them instead of creating new ones.
-- A mirror group loses the members that its source does not list. An add_only group only
-- gains members, so "Classical Buyers" keeps the customer that was added to it by hand.
INSERT INTO groupsync.managed_groups (name, mode, source) VALUES
    ('Jazz Buyers',            'mirror',   'demo.jazz_buyers'),
    ('Classical Buyers',       'add_only', 'demo.classical_buyers'),
    ('Customers in Brazil',    'mirror',   'demo.customers_in_brazil'),
    ('Top 10 Spenders',        'mirror',   'demo.top_spenders'),
    ('Summer Conference 2022', 'mirror',   NULL);
