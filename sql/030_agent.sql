-- 030_agent.sql: what the agent role needs beyond its grants, so that lock 2
-- (RLS and this role) holds even if a query got past lock 1 (app/gateway/).
--
-- Every org's agent queries run as this one role, and PostgreSQL lets a role
-- watch and signal its own sessions. So:
--   * it must not read other sessions' SQL: pg_stat_activity (and the
--     pg_stat_get_* functions under it) show the query text of every session
--     of the same role, and that text names another org and its filters.
--     track_activities is off for the role; it is a superuser-only setting, so
--     the agent cannot turn it back on.
--   * it must not cancel or terminate another org's running query:
--     pg_cancel_backend / pg_terminate_backend work on same-role sessions.
--     (Drivers cancel through the protocol, not these functions.)
--   * backstops for a caller that forgets its SET LOCALs. temp_file_limit is
--     superuser-only too, so the agent cannot raise it.
-- set_config is already revoked from PUBLIC (001_roles.sql), the role has no
-- membership to SET ROLE to, and it cannot create objects anywhere.

-- ===== The agent's sessions are invisible and unsignalable to each other =====
ALTER ROLE :"agent_role" SET track_activities = off;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_cancel_backend(integer) FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_terminate_backend(integer, bigint) FROM PUBLIC;

-- ===== Resource backstops (the gateway sets tighter values per transaction) =====
ALTER ROLE :"agent_role" SET statement_timeout = '30s';
ALTER ROLE :"agent_role" SET idle_in_transaction_session_timeout = '60s';
ALTER ROLE :"agent_role" SET work_mem = '16MB';
ALTER ROLE :"agent_role" SET temp_file_limit = '1GB';
