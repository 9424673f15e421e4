-- 097_reset_request_throttle.sql: password-reset requests are throttled like sign-in
-- attempts, on counters of their own.
--
-- POST /api/auth/request-password-reset answered every request: anyone could have a
-- reset mail sent to any address as often as they liked (mail bombing), each one a
-- new row in password_resets. Now each request is charged before anything is looked
-- up, per email and per client address, with 061's growing back-off, and a request
-- in back-off is answered 429 with Retry-After. It is charged whether or not the
-- email has an account, so the answer still tells nothing about that.
--
-- The scopes 'reset_account' and 'reset_address' keep these counters apart from
-- sign-in's ('account', 'address'): asking for reset mails never pushes a user's
-- sign-in into back-off, and failed sign-ins never block the reset that fixes them.
-- 061's charge_sign_in becomes app.charge_attempt with the scope pair as arguments;
-- charge_sign_in keeps its signature and answers as before.
SET LOCAL ROLE :"owner_role";

ALTER TABLE sign_in_throttle DROP CONSTRAINT sign_in_throttle_scope_check,
    ADD CONSTRAINT sign_in_throttle_scope_check
        CHECK (scope IN ('account', 'address', 'reset_account', 'reset_address'));

-- 061's policies, with reset_address rows reachable like address rows.
DROP POLICY "Sign-in throttle rows are read during a sign-in" ON sign_in_throttle;
DROP POLICY "Sign-in throttle rows are created during a sign-in" ON sign_in_throttle;
DROP POLICY "Sign-in throttle rows are updated during a sign-in" ON sign_in_throttle;
CREATE POLICY "Throttle rows are read during a sign-in or reset request" ON sign_in_throttle
    FOR SELECT USING (scope IN ('address', 'reset_address') AND (SELECT app.auth_email()) <> ''
                      OR subject = (SELECT app.auth_email()));
CREATE POLICY "Throttle rows are created during a sign-in or reset request" ON sign_in_throttle
    FOR INSERT WITH CHECK (scope IN ('address', 'reset_address') AND (SELECT app.auth_email()) <> ''
                           OR subject = (SELECT app.auth_email()));
CREATE POLICY "Throttle rows are updated during a sign-in or reset request" ON sign_in_throttle
    FOR UPDATE USING (scope IN ('address', 'reset_address') AND (SELECT app.auth_email()) <> ''
                      OR subject = (SELECT app.auth_email()))
    WITH CHECK (scope IN ('address', 'reset_address') AND (SELECT app.auth_email()) <> ''
                OR subject = (SELECT app.auth_email()));

-- Either refuses (scope and seconds to wait, nothing charged but `refused`) or
-- charges one attempt to both keys (refused_scope NULL). Rows are locked in one
-- order, so concurrent attempts serialize instead of deadlocking.
CREATE FUNCTION app.charge_attempt(p_account_scope text, p_address_scope text,
                                   p_account text, p_address text,
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
    IF (p_account_scope, p_address_scope) NOT IN (('account', 'address'), ('reset_account', 'reset_address')) THEN
        RAISE EXCEPTION 'unknown throttle scopes % and %', p_account_scope, p_address_scope
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO sign_in_throttle (scope, subject, last_attempt_at)
    VALUES (p_account_scope, p_account, v_now), (p_address_scope, p_address, v_now)
    ON CONFLICT (scope, subject) DO NOTHING;
    FOR v_row IN
        SELECT t.scope, t.failures AS f, t.last_attempt_at FROM sign_in_throttle t
        WHERE (t.scope, t.subject) IN ((p_account_scope, p_account), (p_address_scope, p_address))
        ORDER BY t.scope FOR UPDATE
    LOOP
        IF v_now - v_row.last_attempt_at > make_interval(secs => p_forget_s) THEN
            CONTINUE;  -- quiet long enough: forgotten
        END IF;
        v_wait := extract(epoch FROM v_row.last_attempt_at - v_now) + app.sign_in_backoff_s(
            v_row.f, CASE WHEN v_row.scope = p_account_scope THEN p_account_free ELSE p_address_free END,
            p_base_s, p_max_s);
        IF v_wait > v_worst THEN
            v_worst := v_wait;
            v_worst_scope := v_row.scope;
        END IF;
    END LOOP;
    IF v_worst_scope IS NOT NULL THEN
        UPDATE sign_in_throttle t SET refused = t.refused + 1, last_refused_at = v_now
        WHERE t.scope = v_worst_scope
          AND t.subject = CASE WHEN v_worst_scope = p_account_scope THEN p_account ELSE p_address END;
        RETURN QUERY SELECT v_worst_scope, v_worst, NULL::integer;
        RETURN;
    END IF;
    UPDATE sign_in_throttle t
    SET failures = CASE WHEN v_now - t.last_attempt_at > make_interval(secs => p_forget_s) THEN 1
                        ELSE t.failures + 1 END,
        last_attempt_at = v_now
    WHERE (t.scope, t.subject) IN ((p_account_scope, p_account), (p_address_scope, p_address));
    SELECT t.failures INTO v_account_failures FROM sign_in_throttle t
    WHERE t.scope = p_account_scope AND t.subject = p_account;
    RETURN QUERY SELECT NULL::text, 0::double precision, v_account_failures;
END
$$;

CREATE OR REPLACE FUNCTION app.charge_sign_in(p_account text, p_address text,
                                              p_account_free integer, p_address_free integer,
                                              p_base_s double precision, p_max_s double precision,
                                              p_forget_s double precision, p_at timestamptz DEFAULT NULL)
RETURNS TABLE (refused_scope text, retry_after_s double precision, failures integer)
LANGUAGE sql SECURITY INVOKER SET search_path = pg_catalog, public
AS $$
    SELECT * FROM app.charge_attempt('account', 'address', p_account, p_address, p_account_free,
                                     p_address_free, p_base_s, p_max_s, p_forget_s, p_at)
$$;

REVOKE ALL ON FUNCTION app.charge_attempt(text, text, text, text, integer, integer, double precision,
                                          double precision, double precision, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.charge_attempt(text, text, text, text, integer, integer, double precision,
                                             double precision, double precision, timestamptz) TO :"app_role";
