-- 010_privileges.sql: what each role may touch. Rows are limited separately,
-- by the policies in 020_policies.sql; a grant here never widens what RLS allows.
SET LOCAL ROLE :"owner_role";

GRANT USAGE ON SCHEMA app TO :"app_role", :"agent_role";
GRANT EXECUTE ON FUNCTION app.current_org(), app.current_user_id(),
                          app.session_token_hash(), app.auth_email()
    TO :"app_role", :"agent_role";

-- ===== Application role =====
-- Global tables: what sign-up, sign-in and org management need; the policies
-- decide which rows.
GRANT SELECT, INSERT, UPDATE, DELETE ON organizations TO :"app_role";
GRANT SELECT, INSERT, UPDATE ON users TO :"app_role";
GRANT SELECT, INSERT, UPDATE, DELETE ON sessions, members, invitations TO :"app_role";

-- Tenant tables: full CRUD, except the audit trail, which is append-only.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    accounts, contacts, leads, opportunities, activities, notes, projects, sites,
    knowledge_files, conversations, messages, semantic_entities, jobs
    TO :"app_role";
GRANT SELECT, INSERT ON audit_log TO :"app_role";

-- ===== Agent role: read-only, CRM data only =====
GRANT SELECT ON
    accounts, contacts, leads, opportunities, activities, notes, projects, sites, knowledge_files
    TO :"agent_role";
