-- "Tasks due" on the home page: a person's open activities by due date. The index holds the
-- list's own expressions for `done` (equality) and `due_date` (order, compared byte by byte as the
-- list sorts), so the page reads the first few entries of one range instead of every activity the
-- person owns.
CREATE INDEX records_open_by_due ON records (
    object, owner_id,
    ((plain)::jsonb ->> 'done'),
    (((plain)::jsonb ->> 'due_date') COLLATE "C"), id
) WHERE ((plain)::jsonb ->> 'due_date') IS NOT NULL;
