-- "Tasks due" on the home page: a person's open activities by due date. The index holds the
-- list's own expressions for `done` (equality) and `due_date` (range and order), so the page reads
-- the first few entries of one range instead of every activity the person owns.
CREATE INDEX records_open_by_due ON records (
    object, owner_id,
    (CASE json_type(plain, '$.done') WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END),
    json_extract(plain, '$.due_date'), id
) WHERE json_extract(plain, '$.due_date') IS NOT NULL;
