-- 142: the SSO slug lookup is the app role's only.
--
-- 141 added a permissive SELECT policy on organizations that calls app.sso_lookup(), which only the app
-- role may execute. Policies without TO apply to every role, so the platform role's reads of
-- organizations failed with insufficient_privilege. The policy now applies to the app role alone; the
-- other roles keep exactly the policies they had before 141.
ALTER POLICY "Organizations are found by their slug for an SSO sign-in" ON organizations TO :"app_role";
