-- 121_invitee_email.sql: the invitee's address through a helper, so no tenant policy holds a
-- subquery of its own.
--
-- The invitations policies let the invitee see and answer theirs with
-- `email = (SELECT u.email FROM users u WHERE u.id = (SELECT app.current_user_id()))`:
-- a subquery over another table, which Citus refuses in a policy on a distributed
-- table. The lookup moves into app.current_user_email(), called like every other
-- helper: wrapped as (SELECT app.current_user_email()) in the subquery form (one
-- InitPlan per statement, as before), called directly in the citus form (120).
-- It runs as the caller, under the users table's own policy (a user sees itself).
SET LOCAL ROLE :"owner_role";

CREATE FUNCTION app.current_user_email() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT u.email FROM public.users u WHERE u.id OPERATOR(pg_catalog.=) app.current_user_id()
    $$;
COMMENT ON FUNCTION app.current_user_email() IS
    'The signed-in user''s email (app.user_id of the current transaction), or NULL.';
REVOKE ALL ON FUNCTION app.current_user_email() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app.current_user_email() TO :"app_role", :"platform_role";

ALTER POLICY "Invitations are visible within the current org, and to the invitee" ON invitations
    USING (org_id = (SELECT app.current_org()) OR email = (SELECT app.current_user_email()));
ALTER POLICY "Invitations are answered within the current org, or by the invitee" ON invitations
    USING (org_id = (SELECT app.current_org()) OR email = (SELECT app.current_user_email()))
    WITH CHECK (org_id = (SELECT app.current_org()) OR email = (SELECT app.current_user_email()));
