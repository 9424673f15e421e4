-- Org moves by logical replication (app/placement/logical.py, docs/placement.md).
--
-- How a move was started decides how it resumes: 'logical' (a publication with
-- row filters in the source, a subscription in the target) or 'copy' (the
-- snapshot copy and row-by-row catch-up, `atlas org move --copy`, for a source
-- whose wal_level is not logical). Moves recorded before this migration copied.
ALTER TABLE atlas_meta.org_moves
    ADD COLUMN method text NOT NULL DEFAULT 'copy' CHECK (method IN ('logical', 'copy'));

-- The hold's mark: with the org's writes held, the mover writes the source's
-- current LSN here in the source; the row travels through the same publication
-- as the org's rows, and changes are applied in commit order, so once the
-- target shows that LSN every write of the org committed before the hold is in
-- the target. Kept in every database (the migrations are the same); the mover
-- (the admin) alone writes it; no application role may read it.
CREATE TABLE atlas_meta.move_marks (
    organization_id uuid PRIMARY KEY,
    lsn             pg_lsn NOT NULL,
    marked_at       timestamptz NOT NULL DEFAULT now()
);
