-- 060_inflight.sql: the per-org limit on agent queries in flight (app/inflight.py).
--
-- The limit is counted with session advisory locks, which every worker and
-- app server sharing this database sees and which vanish with a dead
-- connection. Only the app role takes them: advisory-lock functions are
-- revoked from PUBLIC here, so the agent role (lock 2) cannot take, hold or
-- release another org's slots even if a query got past the gateway (lock 1),
-- whose function allowlist already refuses them.
-- ===== Advisory locks are for the app role only =====
REVOKE EXECUTE ON FUNCTION pg_catalog.pg_advisory_lock(bigint), pg_catalog.pg_advisory_lock_shared(bigint),
    pg_catalog.pg_try_advisory_lock(bigint), pg_catalog.pg_try_advisory_lock_shared(bigint),
    pg_catalog.pg_advisory_unlock(bigint), pg_catalog.pg_advisory_unlock_shared(bigint),
    pg_catalog.pg_advisory_lock(integer, integer), pg_catalog.pg_advisory_lock_shared(integer, integer),
    pg_catalog.pg_try_advisory_lock(integer, integer), pg_catalog.pg_try_advisory_lock_shared(integer, integer),
    pg_catalog.pg_advisory_unlock(integer, integer), pg_catalog.pg_advisory_unlock_shared(integer, integer),
    pg_catalog.pg_advisory_unlock_all(),
    pg_catalog.pg_advisory_xact_lock(bigint), pg_catalog.pg_advisory_xact_lock_shared(bigint),
    pg_catalog.pg_try_advisory_xact_lock(bigint), pg_catalog.pg_try_advisory_xact_lock_shared(bigint),
    pg_catalog.pg_advisory_xact_lock(integer, integer), pg_catalog.pg_advisory_xact_lock_shared(integer, integer),
    pg_catalog.pg_try_advisory_xact_lock(integer, integer),
    pg_catalog.pg_try_advisory_xact_lock_shared(integer, integer)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pg_catalog.pg_try_advisory_lock(integer, integer),
    pg_catalog.pg_advisory_unlock(integer, integer) TO :"app_role";

SET LOCAL ROLE :"owner_role";

-- ===== The org's own in-flight limit (NULL: the platform default) =====
ALTER TABLE org_settings
    ADD COLUMN query_max_in_flight integer CHECK (query_max_in_flight >= 1);
