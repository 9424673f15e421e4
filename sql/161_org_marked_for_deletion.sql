-- 161_org_marked_for_deletion.sql: the job worker leaves a marked org's jobs alone (brief "harden" item 3).
--
-- atlas_meta.org_deletions (133) is the operator's table; the application role may
-- only ask this one yes/no question of it, about one org, in the shared database
-- (app/jobs/worker.py asks before it claims a job; scripts/audit_policies.sql sanctions exactly
-- this SECURITY DEFINER function for the app role). `atlas org delete ORG --cancel`
-- removes the mark, and the org's queued and scheduled jobs are due again as they were.
SET LOCAL ROLE :"owner_role";

CREATE FUNCTION app.org_marked_for_deletion(org uuid) RETURNS boolean
    LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$ SELECT EXISTS (SELECT 1 FROM atlas_meta.org_deletions d WHERE d.organization_id = org) $$;
REVOKE ALL ON FUNCTION app.org_marked_for_deletion(uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.org_marked_for_deletion(uuid) TO :"app_role";
