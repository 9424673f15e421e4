-- 120_policy_form.sql: every policy in one of two forms, generated from the catalog.
--
-- The policies read the org as (SELECT app.current_org()): an InitPlan, evaluated
-- once per statement. Citus refuses any subquery in a policy on a distributed
-- table ("Subqueries are not supported in policies on distributed tables",
-- ErrorIfUnsupportedPolicyExpr in commands/policy.c), so the same policies must
-- also exist as app.current_org() called directly: the function is plain SQL,
-- STABLE, without a SET clause, so PostgreSQL inlines it and still uses it as an
-- index condition on org_id (tests/test_policy_form.py reads the plans).
--
-- One declaration, two forms: atlas_meta.set_policy_form('citus' | 'subquery')
-- rewrites every policy of schema public from the catalog (pg_get_expr), turning
-- each `(SELECT app.<helper>())` into `app.<helper>()` or back; other subqueries
-- (a membership lookup, say) are left as written and reported by the audit.
-- `atlas migrate --policy-form citus` records the form in atlas_meta.policy_form
-- and applies it after every later migration, so policies added later follow.
SET LOCAL search_path = pg_catalog, pg_temp;

CREATE TABLE atlas_meta.policy_form (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    form     text NOT NULL CHECK (form IN ('subquery', 'citus'))
);
INSERT INTO atlas_meta.policy_form (form) VALUES ('subquery');
REVOKE ALL ON atlas_meta.policy_form FROM PUBLIC;

-- A helper call wrapped as PostgreSQL deparses it: ( SELECT app.current_org() AS current_org)
CREATE FUNCTION atlas_meta.policy_expression(expr text, form text) RETURNS text
    LANGUAGE sql IMMUTABLE
    SET search_path = pg_catalog, pg_temp
    AS $$
        SELECT CASE form
            WHEN 'citus' THEN regexp_replace(expr, '\(\s*SELECT (app\.[a-z_]+\(\)) AS [a-z_]+\)', '\1', 'g')
            ELSE regexp_replace(expr, '(?<!SELECT )(app\.[a-z_]+\(\))', '( SELECT \1)', 'g')
        END
    $$;
COMMENT ON FUNCTION atlas_meta.policy_expression(text, text) IS
    'A policy expression in the citus form (helpers called directly) or the subquery form (InitPlans).';

CREATE FUNCTION atlas_meta.set_policy_form(form text) RETURNS integer
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
    AS $$
    DECLARE
        p record;
        qual text;
        checked text;
        changed integer := 0;
    BEGIN
        IF form IS NULL OR form NOT IN ('subquery', 'citus') THEN
            RAISE EXCEPTION 'policy form must be subquery or citus, not %', form
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        FOR p IN
            SELECT pol.polname, c.relname,
                   pg_get_expr(pol.polqual, pol.polrelid) AS qual,
                   pg_get_expr(pol.polwithcheck, pol.polrelid) AS checked
            FROM pg_policy pol
            JOIN pg_class c ON c.oid = pol.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public'
            ORDER BY c.relname, pol.polname
        LOOP
            qual := atlas_meta.policy_expression(p.qual, form);
            checked := atlas_meta.policy_expression(p.checked, form);
            IF qual IS DISTINCT FROM p.qual THEN
                EXECUTE format('ALTER POLICY %I ON public.%I USING (%s)', p.polname, p.relname, qual);
            END IF;
            IF checked IS DISTINCT FROM p.checked THEN
                EXECUTE format('ALTER POLICY %I ON public.%I WITH CHECK (%s)', p.polname, p.relname, checked);
            END IF;
            IF qual IS DISTINCT FROM p.qual OR checked IS DISTINCT FROM p.checked THEN
                changed := changed + 1;
            END IF;
        END LOOP;
        UPDATE atlas_meta.policy_form SET form = set_policy_form.form;
        RETURN changed;
    END
    $$;
COMMENT ON FUNCTION atlas_meta.set_policy_form(text) IS
    'Rewrites every policy of schema public into the given form; returns how many changed.';
REVOKE ALL ON FUNCTION atlas_meta.set_policy_form(text), atlas_meta.policy_expression(text, text) FROM PUBLIC;
