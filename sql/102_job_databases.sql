-- 102_job_databases.sql: the job worker finds due jobs in every database an org is placed in.
--
-- `atlas worker` asked app.due_jobs() in the shared database only, so the jobs of an
-- org in a dedicated database (095) never ran. The worker role now also learns where
-- the dedicated databases are, and asks app.due_jobs() in each (app/jobs/discovery.py),
-- logging in there with the same credentials, like every Atlas role.
--
-- app.job_databases() answers the distinct locations only (host, port, database and
-- connection options: no credential, no org id). Like app.due_jobs() it is owned by the
-- NOLOGIN queue role and executable by the worker role alone; the queue role reads the
-- location column of org_placements and nothing else there. scripts/audit_policies.sql
-- sanctions exactly this function and this policy and reports anything wider.
SET LOCAL ROLE :"owner_role";

GRANT SELECT (location) ON org_placements TO :"queue_role";
CREATE POLICY "Placements are located by the job queue" ON org_placements
    FOR SELECT TO :"queue_role" USING (true);

CREATE FUNCTION app.job_databases()
    RETURNS SETOF text
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$ SELECT DISTINCT p.location FROM public.org_placements p ORDER BY 1 $$;
COMMENT ON FUNCTION app.job_databases() IS
    'The dedicated databases orgs are placed in (locations only); for the job worker''s role only.';
RESET ROLE;
ALTER FUNCTION app.job_databases() OWNER TO :"queue_role";
REVOKE ALL ON FUNCTION app.job_databases() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.job_databases() TO :"worker_role";
