-- Normalised people of desired rows, kept between runs so that a run normalises in Python
-- only the rows it has not seen before. Each entry is found by a hash of the row's raw
-- identity and name values (md5 of the row of texts) and by the rules it was made under:
-- the phone region and the versions of the normalising code and its libraries, because a
-- new phonenumbers release can change which numbers are valid. Rows that fail
-- normalisation are not kept; they are read again, and rejected again, by every run.
-- UNLOGGED: after a crash the table is empty and the next run rebuilds it.
CREATE UNLOGGED TABLE groupsync.normalised_rows (
    account             text    NOT NULL,
    rules               text    NOT NULL,
    raw_hash            uuid    NOT NULL,
    person_key          text    NOT NULL,
    square_customer_id  text,
    email_address       text,
    phone_number        text,
    reference_id        text,
    given_name          text,
    family_name         text,
    company_name        text,
    PRIMARY KEY (account, rules, raw_hash)
);

-- Which normalised entry each staged row came from, so that a full run can drop the
-- entries no desired row uses any more.
ALTER TABLE groupsync.run_desired ADD COLUMN raw_hash uuid;

-- Stored phone numbers of the ListCustomers walk as Square sent them. They are converted
-- to E.164 (the phone_number column) only when a run has unlinked people with a phone.
ALTER TABLE groupsync.run_customers ADD COLUMN phone_as_stored text;
