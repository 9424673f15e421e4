-- 140_last_org.sql: sign-in lands in the org the user used last (issue 30 item 4).
--
-- Every session bound to an org (set-active, create, accept-invitation, sign-in,
-- SSO) records that org here, in the transaction that mints the session; a fresh
-- sign-in binds to it while the user is still a member, else to the earliest
-- membership as before. The column lives on the user's own row, so "Users
-- update only themselves" (020) is the only policy that admits the write; a
-- deleted org clears it.
SET LOCAL ROLE :"owner_role";

ALTER TABLE users ADD COLUMN last_org_id uuid REFERENCES organizations (id) ON DELETE SET NULL;
COMMENT ON COLUMN users.last_org_id IS
    'The org of the user''s latest org-bound session; sign-in lands there while the user is still a member.';
