-- Records that point at a record (a contact's activities, deals and consent records; an account's
-- contacts and deals): the record page lists them, so each built-in reference key is indexed
-- by the very expression the list's filter compares (`json_extract(r.plain, '$.<key>')`).
-- The id last: the list orders by it, so one index range answers the page. Partial: only records
-- that have the reference take space.
CREATE INDEX records_ref_contact ON records (object, json_extract(plain, '$.contact'), id) WHERE json_extract(plain, '$.contact') IS NOT NULL;
CREATE INDEX records_ref_account ON records (object, json_extract(plain, '$.account'), id) WHERE json_extract(plain, '$.account') IS NOT NULL;
CREATE INDEX records_ref_lead ON records (object, json_extract(plain, '$.lead'), id) WHERE json_extract(plain, '$.lead') IS NOT NULL;
CREATE INDEX records_ref_deal ON records (object, json_extract(plain, '$.deal'), id) WHERE json_extract(plain, '$.deal') IS NOT NULL;
CREATE INDEX records_ref_parent ON records (object, json_extract(plain, '$.parent'), id) WHERE json_extract(plain, '$.parent') IS NOT NULL;
