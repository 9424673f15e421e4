-- 061_limits.sql: limits shared by every worker and app server (app/ratelimit.py,
-- app/signin_throttle.py). PostgreSQL holds them because it is the one thing every
-- deployment shares; with the Redis backend it stays the authority (README "Limits").
SET LOCAL ROLE :"owner_role";

-- ===== The per-org query rate: a sliding window log =====
-- One row per org: the times of the queries admitted in the last window. A query
-- is admitted while fewer than the limit lie in the window ending now, so no span
-- of `window` ever holds more than the limit (no burst at a window edge).
CREATE TABLE query_rate_log (
    org_id   uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    admitted timestamptz[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (org_id)
);
GRANT SELECT, INSERT, UPDATE ON query_rate_log TO :"app_role";

ALTER TABLE query_rate_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE query_rate_log FORCE ROW LEVEL SECURITY;
CREATE POLICY "Query rate logs are visible within the current org" ON query_rate_log
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Query rate logs are created only in the current org" ON query_rate_log
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Query rate logs are updated only within the current org" ON query_rate_log
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Query rate logs are deleted only within the current org" ON query_rate_log
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- Takes one slot of the current org's window, or says how long until one frees.
-- Returns 0 when admitted, else the seconds to wait. SECURITY INVOKER: RLS applies,
-- so it only ever touches the row of app.org_id. p_at is for tests (a fixed clock).
CREATE FUNCTION app.take_query_slot(p_limit integer, p_window_s double precision,
                                    p_at timestamptz DEFAULT NULL)
RETURNS double precision
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_org  uuid := app.current_org();
    v_now  timestamptz := coalesce(p_at, clock_timestamp());
    v_span interval := make_interval(secs => p_window_s);
    v_kept timestamptz[];
BEGIN
    IF v_org IS NULL THEN
        RAISE EXCEPTION 'take_query_slot needs app.org_id' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO query_rate_log (org_id) VALUES (v_org) ON CONFLICT (org_id) DO NOTHING;
    SELECT coalesce(array_agg(t ORDER BY t), '{}') INTO v_kept
    FROM (SELECT admitted FROM query_rate_log WHERE org_id = v_org FOR UPDATE) AS r,
         unnest(r.admitted) AS t
    WHERE t > v_now - v_span;
    IF cardinality(v_kept) >= p_limit THEN
        UPDATE query_rate_log SET admitted = v_kept WHERE org_id = v_org;
        -- the slot frees when the entry `limit` places from the end leaves the window
        RETURN greatest(extract(epoch FROM v_kept[cardinality(v_kept) - p_limit + 1] + v_span - v_now),
                        0.001);
    END IF;
    UPDATE query_rate_log SET admitted = v_kept || v_now WHERE org_id = v_org;
    RETURN 0;
END
$$;
REVOKE ALL ON FUNCTION app.take_query_slot(integer, double precision, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.take_query_slot(integer, double precision, timestamptz) TO :"app_role";

-- ===== The sign-in throttle: failures per account and per client address =====
-- A global table (an attempt has no org yet). Every attempt is charged before the
-- password is checked, so parallel guesses are all counted; a success resets the
-- account and refunds the address's charge. Operators read it directly:
--   SELECT * FROM sign_in_throttle ORDER BY refused DESC, failures DESC;
CREATE TABLE sign_in_throttle (
    scope           text NOT NULL CHECK (scope IN ('account', 'address')),
    subject         text NOT NULL CHECK (length(subject) BETWEEN 1 AND 320),
    failures        integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    last_attempt_at timestamptz NOT NULL DEFAULT now(),
    refused         bigint NOT NULL DEFAULT 0,  -- attempts answered 429
    last_refused_at timestamptz,
    PRIMARY KEY (scope, subject)
);
GRANT SELECT, INSERT, UPDATE ON sign_in_throttle TO :"app_role";
ALTER TABLE sign_in_throttle ENABLE ROW LEVEL SECURITY;
ALTER TABLE sign_in_throttle FORCE ROW LEVEL SECURITY;
-- Rows are reachable only inside a declared sign-in (app.auth_email): that
-- account's row and the address rows (an address is not a secret to the server).
CREATE POLICY "Sign-in throttle rows are read during a sign-in" ON sign_in_throttle
    FOR SELECT USING (scope = 'address' AND (SELECT app.auth_email()) <> ''
                      OR subject = (SELECT app.auth_email()));
CREATE POLICY "Sign-in throttle rows are created during a sign-in" ON sign_in_throttle
    FOR INSERT WITH CHECK (scope = 'address' AND (SELECT app.auth_email()) <> ''
                           OR subject = (SELECT app.auth_email()));
CREATE POLICY "Sign-in throttle rows are updated during a sign-in" ON sign_in_throttle
    FOR UPDATE USING (scope = 'address' AND (SELECT app.auth_email()) <> ''
                      OR subject = (SELECT app.auth_email()))
    WITH CHECK (scope = 'address' AND (SELECT app.auth_email()) <> ''
                OR subject = (SELECT app.auth_email()));

-- Seconds to wait after `failures` charged attempts: none for the first `free`,
-- then base, 2 base, 4 base ... up to max.
CREATE FUNCTION app.sign_in_backoff_s(failures integer, free integer, base_s double precision,
                                      max_s double precision)
RETURNS double precision
LANGUAGE sql IMMUTABLE SECURITY INVOKER SET search_path = pg_catalog
AS $$
    SELECT CASE WHEN failures < free THEN 0::double precision
                ELSE least(max_s, base_s * power(2::double precision, least(failures - free, 60))) END
$$;

-- Either refuses (scope and seconds to wait, nothing charged but `refused`) or
-- charges one failure to both keys (refused_scope NULL). Rows are locked in one
-- order, so concurrent attempts serialize instead of deadlocking.
CREATE FUNCTION app.charge_sign_in(p_account text, p_address text,
                                   p_account_free integer, p_address_free integer,
                                   p_base_s double precision, p_max_s double precision,
                                   p_forget_s double precision, p_at timestamptz DEFAULT NULL)
RETURNS TABLE (refused_scope text, retry_after_s double precision, failures integer)
LANGUAGE plpgsql SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
DECLARE
    v_now  timestamptz := coalesce(p_at, clock_timestamp());
    v_row  record;
    v_wait double precision;
    v_worst_scope text;
    v_worst double precision := 0;
    v_account_failures integer := 0;
BEGIN
    INSERT INTO sign_in_throttle (scope, subject, last_attempt_at)
    VALUES ('account', p_account, v_now), ('address', p_address, v_now)
    ON CONFLICT (scope, subject) DO NOTHING;
    FOR v_row IN
        SELECT t.scope, t.failures AS f, t.last_attempt_at FROM sign_in_throttle t
        WHERE (t.scope, t.subject) IN (('account', p_account), ('address', p_address))
        ORDER BY t.scope FOR UPDATE
    LOOP
        IF v_now - v_row.last_attempt_at > make_interval(secs => p_forget_s) THEN
            CONTINUE;  -- quiet long enough: forgotten
        END IF;
        v_wait := extract(epoch FROM v_row.last_attempt_at - v_now) + app.sign_in_backoff_s(
            v_row.f, CASE v_row.scope WHEN 'account' THEN p_account_free ELSE p_address_free END,
            p_base_s, p_max_s);
        IF v_wait > v_worst THEN
            v_worst := v_wait;
            v_worst_scope := v_row.scope;
        END IF;
    END LOOP;
    IF v_worst_scope IS NOT NULL THEN
        UPDATE sign_in_throttle t SET refused = t.refused + 1, last_refused_at = v_now
        WHERE t.scope = v_worst_scope AND t.subject = CASE v_worst_scope WHEN 'account' THEN p_account
                                                                           ELSE p_address END;
        RETURN QUERY SELECT v_worst_scope, v_worst, NULL::integer;
        RETURN;
    END IF;
    UPDATE sign_in_throttle t
    SET failures = CASE WHEN v_now - t.last_attempt_at > make_interval(secs => p_forget_s) THEN 1
                        ELSE t.failures + 1 END,
        last_attempt_at = v_now
    WHERE (t.scope, t.subject) IN (('account', p_account), ('address', p_address));
    SELECT t.failures INTO v_account_failures FROM sign_in_throttle t
    WHERE t.scope = 'account' AND t.subject = p_account;
    RETURN QUERY SELECT NULL::text, 0::double precision, v_account_failures;
END
$$;

-- A correct password: the account starts afresh; the address gets its charge back.
CREATE FUNCTION app.sign_in_succeeded(p_account text, p_address text)
RETURNS void
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
    UPDATE sign_in_throttle t
    SET failures = CASE t.scope WHEN 'account' THEN 0 ELSE greatest(t.failures - 1, 0) END
    WHERE (t.scope, t.subject) IN (('account', p_account), ('address', p_address));
$$;

REVOKE ALL ON FUNCTION app.sign_in_backoff_s(integer, integer, double precision, double precision),
    app.charge_sign_in(text, text, integer, integer, double precision, double precision,
                       double precision, timestamptz),
    app.sign_in_succeeded(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.sign_in_backoff_s(integer, integer, double precision, double precision),
    app.charge_sign_in(text, text, integer, integer, double precision, double precision,
                       double precision, timestamptz),
    app.sign_in_succeeded(text, text) TO :"app_role";
