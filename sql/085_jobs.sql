-- 085_jobs.sql: background jobs (app/jobs): leases, retries, dead letter, progress,
-- schedules, kept results, and the one narrow cross-org step that finds due work.
--
-- Two new roles, both NOSUPERUSER and NOBYPASSRLS:
--   :"worker_role"  `atlas worker`'s second login. It may do exactly one thing:
--                   call app.due_jobs(), which answers (org id, job id) pairs. It
--                   owns nothing and has no table privilege; every job then runs
--                   through the org-scoped door as the application role.
--   :"queue_role"   NOLOGIN; owns app.due_jobs() (SECURITY DEFINER) and is the only
--                   role one cross-org policy is written TO: it sees queued and
--                   running jobs of every org, and only through that function.
-- scripts/audit_policies.sql knows both and reports them if they are widened.

-- ===== Roles (superuser part) =====
DO $role$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'worker_role') THEN
        CREATE ROLE :"worker_role" LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'queue_role') THEN
        CREATE ROLE :"queue_role" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT;
    END IF;
END
$role$;
ALTER ROLE :"worker_role" NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
ALTER ROLE :"queue_role" NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;

ALTER TABLE atlas_meta.roles DROP CONSTRAINT roles_purpose_check;
ALTER TABLE atlas_meta.roles ADD CONSTRAINT roles_purpose_check
    CHECK (purpose IN ('owner', 'app', 'agent', 'platform', 'worker', 'queue'));
INSERT INTO atlas_meta.roles (purpose, role_name) VALUES ('worker', :'worker_role'), ('queue', :'queue_role');
SELECT atlas_meta.apply_database_privileges();
GRANT USAGE ON SCHEMA public, app TO :"queue_role";
GRANT USAGE ON SCHEMA app TO :"worker_role";

-- The per-org cap on running jobs is checked under a transaction-level advisory
-- lock on the org (app/jobs/queue.py); the app role already holds the session-level pair.
GRANT EXECUTE ON FUNCTION pg_catalog.pg_advisory_xact_lock(integer, integer) TO :"app_role";

SET LOCAL ROLE :"owner_role";

-- ===== jobs: leases, attempts, dead letter, progress, schedule =====
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'running', 'succeeded', 'dead', 'canceled'));
ALTER TABLE jobs
    ADD COLUMN max_attempts     integer NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    ADD COLUMN lease_owner      text CHECK (length(lease_owner) <= 200),
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN progress_done    integer NOT NULL DEFAULT 0 CHECK (progress_done >= 0),
    ADD COLUMN progress_total   integer CHECK (progress_total >= 0),
    ADD COLUMN progress_message text CHECK (length(progress_message) <= 500),
    ADD COLUMN schedule         text CHECK (length(schedule) <= 200),
    ADD COLUMN result           jsonb,
    -- The API key that enqueued the job, when one did (its creator is created_by).
    -- No foreign key yet: the api_keys table arrives with the API-key work.
    ADD COLUMN api_key_id       uuid,
    ADD COLUMN updated_at       timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT jobs_last_error_length CHECK (length(last_error) <= 4000),
    ADD CONSTRAINT jobs_running_has_lease CHECK (status <> 'running' OR lease_expires_at IS NOT NULL);

-- What app.due_jobs() walks: orgs with active jobs (a skip scan), each org's
-- next due job, its expired leases, and its running count.
CREATE INDEX jobs_active_org_idx ON jobs (org_id) WHERE status IN ('queued', 'running');
CREATE INDEX jobs_org_lease_idx ON jobs (org_id, lease_expires_at) WHERE status = 'running';
CREATE INDEX jobs_org_created_idx ON jobs (org_id, created_at DESC, id);

-- ===== Results of scheduled agent queries, kept for a set time =====
CREATE TABLE job_results (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    job_id     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    result     jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, job_id) REFERENCES jobs (org_id, id) ON DELETE CASCADE
);
CREATE INDEX job_results_org_job_idx ON job_results (org_id, job_id, created_at DESC);
CREATE INDEX job_results_org_expiry_idx ON job_results (org_id, expires_at);

ALTER TABLE job_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE job_results FORCE ROW LEVEL SECURITY;
CREATE POLICY "Job results are visible within the current org" ON job_results
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Job results are created only in the current org" ON job_results
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Job results are updated only within the current org" ON job_results
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Job results are deleted only within the current org" ON job_results
    FOR DELETE USING (org_id = (SELECT app.current_org()));
GRANT SELECT, INSERT, DELETE ON job_results TO :"app_role";

-- ===== Platform admins see queue depth per org =====
GRANT SELECT (org_id, status) ON jobs TO :"platform_role";
CREATE POLICY "Jobs are counted in platform transactions" ON jobs
    FOR SELECT TO :"platform_role" USING ((SELECT app.platform_scope()));

-- ===== The one cross-org step: which jobs are due =====
-- (The org policies on jobs apply to every role and call app.current_org(); for the
-- queue role it is NULL, so they admit nothing and only its own policy below counts.)
GRANT EXECUTE ON FUNCTION app.current_org() TO :"queue_role";
GRANT SELECT (org_id, id, status, run_after, lease_expires_at) ON jobs TO :"queue_role";
CREATE POLICY "Active jobs are found by the job queue" ON jobs
    FOR SELECT TO :"queue_role" USING (status IN ('queued', 'running'));

-- One candidate per org with due work (its oldest due job, or a job whose lease
-- expired), for orgs under their running cap; orgs running fewest jobs first,
-- then round-robin: the orgs after `after_org` (the org the asking worker served
-- last) before those up to it, so an org with 10,000 queued jobs takes one turn
-- like any other. It answers ids only;
-- the worker claims a candidate in the candidate's org transaction, as the app
-- role, with FOR UPDATE SKIP LOCKED (app/jobs/queue.py).
CREATE FUNCTION app.due_jobs(max_running_per_org integer, max_candidates integer, after_org uuid)
    RETURNS TABLE (org_id uuid, job_id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog
    AS $$
        WITH RECURSIVE active (org_id) AS (
            (SELECT j.org_id FROM public.jobs j WHERE j.status IN ('queued', 'running')
             ORDER BY j.org_id LIMIT 1)
            UNION ALL
            SELECT (SELECT j.org_id FROM public.jobs j
                    WHERE j.status IN ('queued', 'running') AND j.org_id > a.org_id
                    ORDER BY j.org_id LIMIT 1)
            FROM active a WHERE a.org_id IS NOT NULL
        )
        SELECT a.org_id, head.id
        FROM active a
        CROSS JOIN LATERAL (
            SELECT due.id, due.since FROM (
                (SELECT q.id, q.run_after AS since FROM public.jobs q
                 WHERE q.org_id = a.org_id AND q.status = 'queued' AND q.run_after <= now()
                 ORDER BY q.run_after LIMIT 1)
                UNION ALL
                (SELECT r.id, r.lease_expires_at AS since FROM public.jobs r
                 WHERE r.org_id = a.org_id AND r.status = 'running' AND r.lease_expires_at < now()
                 ORDER BY r.lease_expires_at LIMIT 1)
            ) due ORDER BY due.since LIMIT 1
        ) head
        CROSS JOIN LATERAL (
            SELECT count(*) AS n FROM public.jobs r
            WHERE r.org_id = a.org_id AND r.status = 'running' AND r.lease_expires_at >= now()
        ) running
        WHERE a.org_id IS NOT NULL AND running.n < max_running_per_org
        ORDER BY running.n, coalesce(a.org_id <= after_org, false), a.org_id
        LIMIT max_candidates
    $$;
COMMENT ON FUNCTION app.due_jobs(integer, integer, uuid) IS
    'Due job ids, one per org under its running cap, fairest first; for the job worker''s role only.';
RESET ROLE;
ALTER FUNCTION app.due_jobs(integer, integer, uuid) OWNER TO :"queue_role";
REVOKE ALL ON FUNCTION app.due_jobs(integer, integer, uuid) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.due_jobs(integer, integer, uuid) TO :"worker_role";
