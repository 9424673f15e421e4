-- 147_job_teams.sql: a job (a saved, scheduled query above all) shared with one team.
--
-- The same rule as conversations (sql/145_teams.sql, app/teams/sharing.py): a job
-- without a team is the whole org's, as before; one with a team is listed, read,
-- canceled, retried, and its results read, by that team's members, its creator and
-- the org's owners and admins only. No foreign key on purpose, like conversations:
-- removing a team must not widen its jobs to the whole org (SET NULL would), so they
-- keep the removed team's id and narrow to their creators and the owners and admins.
-- The application checks the team is the org's when sharing. jobs is already a placed
-- table with its hold (sql/095_placement.sql) and forced RLS: both unchanged.
SET LOCAL ROLE :"owner_role";

ALTER TABLE jobs ADD COLUMN team_id uuid;
CREATE INDEX jobs_org_team_idx ON jobs (org_id, team_id) WHERE team_id IS NOT NULL;
