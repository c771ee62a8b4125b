-- The lead board: one column per stage (and one for leads without a stage), each the first page
-- of a person's leads at that stage by score, highest first. The indexes hold the list's own
-- expressions for the stage (equality, or none) and the score (its order, nulls last as SQLite's
-- descending order puts them), so a column reads the first entries of one range instead of every
-- lead the person owns. By owner for the people who see their own (or their team's) leads; by
-- stage alone for those who see all. Partial: leads only (the list names its object literally).
CREATE INDEX records_lead_board ON records (
    owner_id, json_extract(plain, '$.stage'), CAST(json_extract(plain, '$.score') AS REAL) DESC, id
) WHERE object = 'lead';
CREATE INDEX records_lead_stage ON records (
    json_extract(plain, '$.stage'), CAST(json_extract(plain, '$.score') AS REAL) DESC, id
) WHERE object = 'lead';
