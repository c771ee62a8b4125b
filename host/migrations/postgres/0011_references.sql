-- Records that point at a record (a contact's activities, deals and consent records; an account's
-- contacts and deals): the record page lists them, so each built-in reference key is indexed
-- by the very expression the list's filter compares (`((r.plain)::jsonb ->> '<key>')`).
-- The id last: the list orders by it, so one index range answers the page. Partial: only records
-- that have the reference take space.
CREATE INDEX records_ref_contact ON records (object, ((plain)::jsonb ->> 'contact'), id) WHERE ((plain)::jsonb ->> 'contact') IS NOT NULL;
CREATE INDEX records_ref_account ON records (object, ((plain)::jsonb ->> 'account'), id) WHERE ((plain)::jsonb ->> 'account') IS NOT NULL;
CREATE INDEX records_ref_lead ON records (object, ((plain)::jsonb ->> 'lead'), id) WHERE ((plain)::jsonb ->> 'lead') IS NOT NULL;
CREATE INDEX records_ref_deal ON records (object, ((plain)::jsonb ->> 'deal'), id) WHERE ((plain)::jsonb ->> 'deal') IS NOT NULL;
CREATE INDEX records_ref_parent ON records (object, ((plain)::jsonb ->> 'parent'), id) WHERE ((plain)::jsonb ->> 'parent') IS NOT NULL;
