-- audit_policies.sql: the tenant-isolation audit of a migrated Atlas database.
--
--   psql "$DATABASE_URL" -X -q -v ON_ERROR_STOP=1 -f scripts/audit_policies.sql
--
-- Run as a superuser (it reads every catalog and asks about other roles'
-- privileges). Prints one row per finding (check | object | detail) and exits
-- 3 when there is any; prints "policy audit: no findings" and exits 0 when
-- there is none. It only reads: nothing is created, not even a temp object.
--
-- App roles are those of purpose 'app', 'agent', 'platform' and 'worker' in atlas_meta.roles, plus
-- every role they are members of, transitively (with or without INHERIT: a
-- member may always SET ROLE). Privileges granted to PUBLIC count, because
-- has_*_privilege() counts them.
--
-- Checks, one stable code each (tests/test_policy_audit.py creates each defect
-- and expects its code; keep this list in step with the query):
--   [app_role_missing]               atlas_meta.roles names no existing role for 'app' or 'agent'
--   [rls_disabled]                   a table with org_id lacks ENABLE ROW LEVEL SECURITY
--   [rls_not_forced]                 a table with org_id lacks FORCE ROW LEVEL SECURITY
--   [policy_missing]                 no permissive policy covers SELECT, INSERT, UPDATE or DELETE
--   [policy_not_org_scoped]          a permissive policy on a tenant table ignores the org (except
--                                    the platform role's SELECT-only platform_scope() policies)
--   [policy_fail_open]               a permissive policy is `true`, has a `true` disjunct, or an
--                                    `IS NULL` disjunct on the org setting
--   [policy_subquery_in_citus_form]  atlas_meta.policy_form says citus (sql/120_policy_form.sql) but a
--                                    policy on a tenant table holds a subquery, which Citus refuses
--   [child_table_unprotected]        a partition / inheritance child of a tenant table lacks its
--                                    own ENABLE, FORCE or policies (reachable directly)
--   [global_table_not_allowlisted]   a table without org_id that is not a known global table
--   [global_table_rls_missing]       an allowlisted global table an app role can touch lacks
--                                    ENABLE or FORCE ROW LEVEL SECURITY
--   [app_role_superuser]             an app role (or a role it reaches) is SUPERUSER
--   [app_role_bypassrls]             ... is BYPASSRLS
--   [app_role_dangerous_attribute]   ... is CREATEROLE, CREATEDB or REPLICATION
--   [app_role_predefined_role]       ... reaches pg_read_all_data, pg_write_all_data or a
--                                    server file / program role
--   [app_role_owns_object]           ... owns a schema, table, view, sequence or function
--   [security_definer_search_path]   a SECURITY DEFINER function has no fixed search_path
--   [security_definer_executable]    an app role may execute a SECURITY DEFINER function
--   [view_not_security_invoker]      a view reading a tenant or RLS table (directly or through
--                                    other views) runs with its owner's rights
--   [materialized_view_readable]     an app role may SELECT a materialized view (no RLS there)
--   [foreign_table_readable]         an app role may SELECT a foreign table (no RLS there)
--   [truncate_granted]               an app role may TRUNCATE a table (TRUNCATE ignores RLS)
--   [sequence_readable]              an app role may read or advance a sequence
--   [set_config_executable]          an app role may execute pg_catalog.set_config()
--   [pg_settings_updatable]          an app role may UPDATE pg_catalog.pg_settings
--   [temp_privilege]                 an app role has TEMPORARY on this database
--   [database_create_privilege]      an app role has CREATE on this database
--   [schema_writable]                an app role has CREATE on a schema
--   [job_queue_widened]              the job queue's cross-org path (sql/085_jobs.sql) is wider
--                                    than one function: its NOLOGIN owner can log in, bypasses RLS,
--                                    is granted to a role or owns another function, or the worker
--                                    role is granted to a role
--
-- Sanctioned exceptions, each as narrow as it can be written: the platform role's
-- SELECT-only platform_scope() policies; the queue role's one SELECT policy on
-- public.jobs (queued and running rows) and its one on public.org_placements (which
-- dedicated databases exist: the location column only, sql/102_job_databases.sql); the
-- worker role executing app.due_jobs() and app.job_databases(), the SECURITY DEFINER
-- functions the queue role owns.

\set ON_ERROR_STOP on
\set QUIET on
-- Deparsed expressions name functions schema-qualified only when they are
-- not on the search_path: with pg_catalog alone, the org helper always reads
-- `app.current_org()`, which is what the regular expressions below expect.
SET search_path = pg_catalog, pg_temp;
SET default_transaction_read_only = on;

WITH RECURSIVE
system_schema (nspname) AS (
    VALUES ('pg_catalog'::name), ('information_schema'), ('pg_toast')
),
user_schema AS (
    SELECT n.oid, n.nspname
    FROM pg_namespace n
    WHERE n.nspname NOT IN (SELECT nspname FROM system_schema)
      AND n.nspname !~ '^pg_(toast_)?temp_'
),
-- Objects that belong to an extension are the extension's business.
extension_member AS (
    SELECT d.classid, d.objid
    FROM pg_depend d
    WHERE d.deptype = 'e'
),
declared_role AS (
    SELECT m.purpose, m.role_name, r.oid
    FROM atlas_meta.roles m
    LEFT JOIN pg_roles r ON r.rolname = m.role_name
    WHERE m.purpose IN ('app', 'agent', 'platform', 'worker')
),
queue_role AS (
    SELECT r.oid, r.rolname, r.rolcanlogin, r.rolsuper, r.rolbypassrls
    FROM atlas_meta.roles m JOIN pg_roles r ON r.rolname = m.role_name
    WHERE m.purpose = 'queue'
),
worker_role AS (
    SELECT r.oid, r.rolname
    FROM atlas_meta.roles m JOIN pg_roles r ON r.rolname = m.role_name
    WHERE m.purpose = 'worker'
),
app_role_edge (oid, via) AS (
    SELECT d.oid, d.role_name::text FROM declared_role d WHERE d.oid IS NOT NULL
    UNION
    SELECT am.roleid, e.via
    FROM app_role_edge e
    JOIN pg_auth_members am ON am.member = e.oid
),
-- One row per role an app role can act as; `reached` says through whom.
app_role AS (
    SELECT e.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
           r.rolreplication,
           CASE WHEN bool_or(r.rolname = e.via) THEN 'app role ' || r.rolname
                ELSE 'granted to app role ' || string_agg(DISTINCT e.via, ', ')
           END AS reached
    FROM app_role_edge e
    JOIN pg_roles r ON r.oid = e.oid
    GROUP BY e.oid, r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb,
             r.rolreplication
),
user_relation AS (
    SELECT c.oid, c.relkind, c.relname, c.relowner, c.relrowsecurity, c.relforcerowsecurity,
           c.relispartition, c.reloptions, format('%I.%I', s.nspname, c.relname) AS name,
           EXISTS (SELECT 1 FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
               AS has_org_id
    FROM pg_class c
    JOIN user_schema s ON s.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
      AND NOT EXISTS (SELECT 1 FROM extension_member x
                      WHERE x.classid = 'pg_class'::regclass AND x.objid = c.oid)
),
tenant_table AS (
    SELECT * FROM user_relation WHERE relkind IN ('r', 'p') AND has_org_id
),
global_table AS (
    SELECT * FROM user_relation WHERE relkind IN ('r', 'p') AND NOT has_org_id
),
global_allowlist (name) AS (
    VALUES ('public.organizations'), ('public.users'), ('public.sessions'), ('public.platform_audit'),
           ('public.sign_in_throttle'), ('public.password_resets'), ('public.org_placements'), ('atlas_meta.schema_migrations'),
           ('atlas_meta.roles'), ('atlas_meta.org_moves'), ('atlas_meta.org_away'), ('atlas_meta.policy_form'),
           ('atlas_meta.org_deletions'),
           ('atlas_meta.move_marks')  -- a move's LSN mark, written by the mover alone (sql/155)
),
policy AS (
    SELECT p.polrelid, p.polname, p.polcmd, p.polpermissive,
           -- The sanctioned cross-org path (sql/040_platform.sql): SELECT only, TO the
           -- platform role alone, and only inside a declared platform transaction.
           (p.polcmd = 'r'
            AND p.polroles = ARRAY(SELECT r.oid FROM atlas_meta.roles m
                                   JOIN pg_roles r ON r.rolname = m.role_name
                                   WHERE m.purpose = 'platform')
            AND pg_get_expr(p.polqual, p.polrelid)
                ~ '^(\(\s*SELECT app\.platform_scope\(\) AS platform_scope\)|app\.platform_scope\(\))$')
               AS platform_read,
           -- The job queue's finder (sql/085_jobs.sql): SELECT only, TO the queue role
           -- alone, on public.jobs alone, its queued and running rows.
           (p.polcmd = 'r'
            AND p.polroles = ARRAY(SELECT oid FROM queue_role)
            AND p.polrelid = 'public.jobs'::regclass
            AND pg_get_expr(p.polqual, p.polrelid)
                = '(status = ANY (ARRAY[''queued''::text, ''running''::text]))')
               AS queue_read,
           -- Where the dedicated databases are (sql/102_job_databases.sql): SELECT only, TO the
           -- queue role alone, on public.org_placements alone (a global table: no org's rows).
           (p.polcmd = 'r'
            AND p.polroles = ARRAY(SELECT oid FROM queue_role)
            AND p.polrelid = 'public.org_placements'::regclass
            AND pg_get_expr(p.polqual, p.polrelid) = 'true')
               AS queue_locate,
           format('%I.%I', n.nspname, c.relname) AS table_name,
           pg_get_expr(p.polqual, p.polrelid) AS using_expr,
           pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
),
-- Each expression of a permissive policy, on its own row.
policy_expr AS (
    SELECT p.*, e.clause, e.expr
    FROM policy p
    CROSS JOIN LATERAL (VALUES ('USING', p.using_expr), ('WITH CHECK', p.check_expr)) e (clause, expr)
    WHERE p.polpermissive AND e.expr IS NOT NULL
),
command (code, name) AS (
    VALUES ('r'::"char", 'SELECT'), ('a', 'INSERT'), ('w', 'UPDATE'), ('d', 'DELETE')
),
user_function AS (
    SELECT p.oid, p.prosecdef, p.proconfig, p.proowner, p.oid::regprocedure::text AS name
    FROM pg_proc p
    JOIN user_schema s ON s.oid = p.pronamespace
    WHERE NOT EXISTS (SELECT 1 FROM extension_member x
                      WHERE x.classid = 'pg_proc'::regclass AND x.objid = p.oid)
),
-- (view, relation it reads): a view's rewrite rule depends on what it reads.
view_reads AS (
    SELECT DISTINCT rw.ev_class AS view_oid, d.refobjid AS rel_oid
    FROM pg_rewrite rw
    JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
                    AND d.refclassid = 'pg_class'::regclass AND d.refobjid <> rw.ev_class
),
-- Views and materialized views that read a tenant table or a table under RLS,
-- directly or through other views.
view_on_protected (view_oid, source) AS (
    SELECT vr.view_oid, format('%s', vr.rel_oid::regclass)
    FROM view_reads vr
    JOIN pg_class c ON c.oid = vr.rel_oid
    WHERE c.relkind IN ('r', 'p')
      AND (c.relrowsecurity OR vr.rel_oid IN (SELECT oid FROM tenant_table))
    UNION
    SELECT vr.view_oid, vp.source
    FROM view_reads vr
    JOIN view_on_protected vp ON vp.view_oid = vr.rel_oid
),
finding ("check", object, detail) AS (
    SELECT 'app_role_missing' AS "check", p.purpose,
           format('atlas_meta.roles names no existing role for purpose %L', p.purpose)
    FROM (VALUES ('app'), ('agent')) p (purpose)
    WHERE NOT EXISTS (SELECT 1 FROM declared_role d WHERE d.purpose = p.purpose AND d.oid IS NOT NULL)

    UNION ALL
    SELECT 'rls_disabled' AS "check", t.name, 'has org_id but no ENABLE ROW LEVEL SECURITY'
    FROM tenant_table t WHERE NOT t.relrowsecurity

    UNION ALL
    SELECT 'rls_not_forced' AS "check", t.name,
           'has org_id but no FORCE ROW LEVEL SECURITY (its owner bypasses the policies)'
    FROM tenant_table t WHERE NOT t.relforcerowsecurity

    UNION ALL
    SELECT 'policy_missing' AS "check", t.name,
           format('no permissive policy covers %s (FOR %s or FOR ALL)', cmd.name, cmd.name)
    FROM tenant_table t CROSS JOIN command cmd
    WHERE NOT EXISTS (SELECT 1 FROM pg_policy p
                      WHERE p.polrelid = t.oid AND p.polpermissive AND p.polcmd IN (cmd.code, '*'))

    UNION ALL
    SELECT 'policy_not_org_scoped' AS "check", pe.table_name,
           format('policy %I: %s (%s) references neither app.current_org() nor app.org_id',
                  pe.polname, pe.clause, pe.expr)
    FROM policy_expr pe
    WHERE pe.polrelid IN (SELECT oid FROM tenant_table)
      AND pe.expr !~ '(app\.current_org\(\)|''app\.org_id'')'
      AND NOT pe.platform_read
      AND NOT pe.queue_read

    UNION ALL
    SELECT 'policy_fail_open' AS "check", pe.table_name,
           format('policy %I: %s (%s) %s', pe.polname, pe.clause, pe.expr,
                  CASE WHEN pe.expr ~* '^[(\s]*true[)\s]*$' THEN 'is always true'
                       WHEN pe.expr ~* '(\mOR\s+[(\s]*true\M|\mtrue[)\s]*\s+OR\M)' THEN 'has a true disjunct'
                       ELSE 'admits every row when the org setting is unset (IS NULL OR ...)'
                  END)
    FROM policy_expr pe
    WHERE NOT pe.queue_locate AND (pe.expr ~* '^[(\s]*true[)\s]*$'
       OR pe.expr ~* '(\mOR\s+[(\s]*true\M|\mtrue[)\s]*\s+OR\M)'
       OR (pe.expr ~ '\mOR\M'
           AND pe.expr ~* '(app\.current_org\(\)|''app\.org_id'')[^=<>]*?\mIS\s+NULL\M'))

    UNION ALL
    SELECT 'policy_subquery_in_citus_form' AS "check", pe.table_name,
           format('policy %I: %s (%s) holds a subquery; Citus refuses it on a distributed table',
                  pe.polname, pe.clause, pe.expr)
    FROM policy_expr pe
    WHERE pe.polrelid IN (SELECT oid FROM tenant_table)
      AND pe.expr ~ '\mSELECT\M'
      AND EXISTS (SELECT 1 FROM atlas_meta.policy_form f WHERE f.form = 'citus')

    UNION ALL
    SELECT 'child_table_unprotected' AS "check", child.name,
           format('%s of tenant table %s lacks %s',
                  CASE WHEN child.relispartition THEN 'partition' ELSE 'inheritance child' END,
                  parent.name,
                  concat_ws(', ',
                            CASE WHEN NOT child.relrowsecurity THEN 'ENABLE ROW LEVEL SECURITY' END,
                            CASE WHEN NOT child.relforcerowsecurity THEN 'FORCE ROW LEVEL SECURITY' END,
                            CASE WHEN NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = child.oid)
                                 THEN 'policies of its own' END))
    FROM pg_inherits i
    JOIN tenant_table parent ON parent.oid = i.inhparent
    JOIN user_relation child ON child.oid = i.inhrelid
    WHERE NOT child.relrowsecurity OR NOT child.relforcerowsecurity
       OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = child.oid)

    UNION ALL
    SELECT 'global_table_not_allowlisted' AS "check", g.name,
           'has no org_id and is not on the global-table allowlist in scripts/audit_policies.sql'
    FROM global_table g
    WHERE g.name NOT IN (SELECT name FROM global_allowlist)

    UNION ALL
    SELECT 'global_table_rls_missing' AS "check", g.name,
           format('reachable by %s without ENABLE and FORCE ROW LEVEL SECURITY',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM global_table g
    JOIN app_role a ON has_table_privilege(a.oid, g.oid, 'SELECT, INSERT, UPDATE, DELETE')
    WHERE g.name IN (SELECT name FROM global_allowlist)
      AND NOT (g.relrowsecurity AND g.relforcerowsecurity)
    GROUP BY g.name

    UNION ALL
    SELECT 'app_role_superuser' AS "check", a.rolname, a.reached || ' is SUPERUSER'
    FROM app_role a WHERE a.rolsuper

    UNION ALL
    SELECT 'app_role_bypassrls' AS "check", a.rolname, a.reached || ' is BYPASSRLS'
    FROM app_role a WHERE a.rolbypassrls

    UNION ALL
    SELECT 'app_role_dangerous_attribute' AS "check", a.rolname,
           a.reached || ' is ' || concat_ws(', ', CASE WHEN a.rolcreaterole THEN 'CREATEROLE' END,
                                            CASE WHEN a.rolcreatedb THEN 'CREATEDB' END,
                                            CASE WHEN a.rolreplication THEN 'REPLICATION' END)
    FROM app_role a WHERE a.rolcreaterole OR a.rolcreatedb OR a.rolreplication

    UNION ALL
    SELECT 'app_role_predefined_role' AS "check", a.rolname, a.reached || ' is a predefined role'
    FROM app_role a
    WHERE a.rolname IN ('pg_read_all_data', 'pg_write_all_data', 'pg_read_server_files',
                        'pg_write_server_files', 'pg_execute_server_program')

    UNION ALL
    SELECT 'app_role_owns_object' AS "check", s.nspname::text, 'schema owned by ' || a.reached
    FROM user_schema s JOIN pg_namespace n ON n.oid = s.oid JOIN app_role a ON a.oid = n.nspowner

    UNION ALL
    SELECT 'app_role_owns_object' AS "check", r.name,
           CASE r.relkind WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
                          WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE 'table' END
           || ' owned by ' || a.reached
    FROM user_relation r JOIN app_role a ON a.oid = r.relowner

    UNION ALL
    SELECT 'app_role_owns_object' AS "check", f.name, 'function owned by ' || a.reached
    FROM user_function f JOIN app_role a ON a.oid = f.proowner

    UNION ALL
    SELECT 'security_definer_search_path' AS "check", f.name,
           'SECURITY DEFINER without SET search_path: callers can shadow what it calls'
    FROM user_function f
    WHERE f.prosecdef
      AND NOT EXISTS (SELECT 1 FROM unnest(f.proconfig) c (setting) WHERE c.setting LIKE 'search_path=%')

    UNION ALL
    SELECT 'security_definer_executable' AS "check", f.name,
           format('SECURITY DEFINER, executable by %s', string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM user_function f JOIN app_role a ON has_function_privilege(a.oid, f.oid, 'EXECUTE')
    WHERE f.prosecdef
      AND NOT (f.name IN ('app.due_jobs(integer,integer,uuid)', 'app.job_databases()')
               AND f.proowner IN (SELECT oid FROM queue_role)
               AND a.oid IN (SELECT oid FROM worker_role))
      -- sql/161: one yes/no about one org's deletion mark, for the job worker on the app role
      AND NOT (f.name = 'app.org_marked_for_deletion(uuid)'
               AND a.oid IN (SELECT oid FROM declared_role WHERE purpose = 'app'))
    GROUP BY f.name

    UNION ALL
    SELECT 'job_queue_widened' AS "check", q.rolname,
           concat_ws(', ', CASE WHEN q.rolcanlogin THEN 'can log in' END,
                     CASE WHEN q.rolsuper THEN 'is SUPERUSER' END,
                     CASE WHEN q.rolbypassrls THEN 'is BYPASSRLS' END,
                     CASE WHEN EXISTS (SELECT 1 FROM pg_auth_members am WHERE am.roleid = q.oid)
                          THEN 'is granted to a role' END)
    FROM queue_role q
    WHERE q.rolcanlogin OR q.rolsuper OR q.rolbypassrls
       OR EXISTS (SELECT 1 FROM pg_auth_members am WHERE am.roleid = q.oid)

    UNION ALL
    SELECT 'job_queue_widened' AS "check", f.name, 'function owned by the queue role ' || q.rolname
    FROM user_function f JOIN queue_role q ON q.oid = f.proowner
    WHERE f.name NOT IN ('app.due_jobs(integer,integer,uuid)', 'app.job_databases()')

    UNION ALL
    SELECT 'job_queue_widened' AS "check", w.rolname,
           'the worker role is granted to ' || string_agg(m.member::regrole::text, ', ')
    FROM worker_role w JOIN pg_auth_members m ON m.roleid = w.oid
    GROUP BY w.rolname

    UNION ALL
    SELECT 'view_not_security_invoker' AS "check", v.name,
           format('reads %s with its owner''s rights: set security_invoker = true',
                  string_agg(DISTINCT vp.source, ', '))
    FROM user_relation v JOIN view_on_protected vp ON vp.view_oid = v.oid
    WHERE v.relkind = 'v'
      AND NOT EXISTS (SELECT 1 FROM unnest(v.reloptions) o (opt)
                      WHERE o.opt ~* '^security_invoker='
                        AND substring(o.opt FROM '=(.*)$')::boolean)
    GROUP BY v.name

    UNION ALL
    SELECT CASE r.relkind WHEN 'm' THEN 'materialized_view_readable' ELSE 'foreign_table_readable' END
               AS "check", r.name,
           format('SELECT granted to %s; row level security does not apply here',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM user_relation r JOIN app_role a ON has_table_privilege(a.oid, r.oid, 'SELECT')
    WHERE r.relkind IN ('m', 'f')
    GROUP BY r.relkind, r.name

    UNION ALL
    SELECT 'truncate_granted' AS "check", r.name,
           format('TRUNCATE granted to %s; TRUNCATE ignores row level security',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM user_relation r JOIN app_role a ON has_table_privilege(a.oid, r.oid, 'TRUNCATE')
    WHERE r.relkind IN ('r', 'p')
    GROUP BY r.name

    UNION ALL
    SELECT 'sequence_readable' AS "check", r.name,
           format('USAGE/SELECT/UPDATE granted to %s; sequence values leak other orgs'' activity',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM user_relation r JOIN app_role a ON has_sequence_privilege(a.oid, r.oid, 'USAGE, SELECT, UPDATE')
    WHERE r.relkind = 'S'
    GROUP BY r.name

    UNION ALL
    SELECT 'set_config_executable' AS "check", 'pg_catalog.set_config(text,text,boolean)',
           format('executable by %s: a query could switch app.org_id mid-transaction',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM app_role a
    WHERE has_function_privilege(a.oid, 'pg_catalog.set_config(text,text,boolean)'::regprocedure, 'EXECUTE')
    HAVING count(*) > 0

    UNION ALL
    SELECT 'pg_settings_updatable' AS "check", 'pg_catalog.pg_settings',
           format('UPDATE granted to %s: a query could switch app.org_id mid-transaction',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM app_role a
    WHERE has_table_privilege(a.oid, 'pg_catalog.pg_settings'::regclass, 'UPDATE')
    HAVING count(*) > 0

    UNION ALL
    SELECT 'temp_privilege' AS "check", quote_ident(current_database()),
           format('TEMPORARY granted to %s: temp objects can shadow real ones on the search_path',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM app_role a
    WHERE has_database_privilege(a.oid, current_database(), 'TEMPORARY')
    HAVING count(*) > 0

    UNION ALL
    SELECT 'database_create_privilege' AS "check", quote_ident(current_database()),
           format('CREATE granted to %s', string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM app_role a
    WHERE has_database_privilege(a.oid, current_database(), 'CREATE')
    HAVING count(*) > 0

    UNION ALL
    SELECT 'schema_writable' AS "check", quote_ident(s.nspname),
           format('CREATE granted to %s: objects created there can shadow real ones',
                  string_agg(a.rolname, ', ' ORDER BY a.rolname))
    FROM user_schema s JOIN app_role a ON has_schema_privilege(a.oid, s.oid, 'CREATE')
    GROUP BY s.nspname
)
-- One row holds the verdict and, when needed, the statement that prints the
-- findings, so the query above is written (and run) once.
SELECT count(*) > 0 AS audit_failed,
       count(*) AS audit_count,
       'SELECT * FROM (VALUES ' || string_agg(format('(%L, %L, %L)', f."check", f.object, f.detail), ', ')
       || ') AS finding ("check", object, detail) ORDER BY 1, 2, 3' AS audit_report
FROM finding f
\gset

\if :audit_failed
:audit_report;
\echo policy audit: :audit_count finding(s)
DO $$ BEGIN RAISE EXCEPTION 'policy audit failed: see the findings above'; END $$;
\else
\echo policy audit: no findings
\endif
