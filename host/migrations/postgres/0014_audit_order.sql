-- The audit explorer lists entries newest first (by sequence number). Filtered by actor, it read
-- every entry of the actor through `audit_actor` (actor, at) and sorted them: half a second for an
-- actor with 3.7 million entries. By actor and sequence, a page is the first entries of one range.
CREATE INDEX audit_actor_seq ON audit_log (actor, seq);
