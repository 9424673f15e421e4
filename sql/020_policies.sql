-- 020_policies.sql: which rows each command may touch.
--
-- Every table with org_id has RLS enabled AND forced (so even the owner is
-- filtered), and one permissive policy per command. The org is read through
-- app.current_org(), wrapped as (SELECT app.current_org()) so PostgreSQL
-- evaluates it once per statement (an initPlan) and can use the org_id index.
-- An unset or empty org is NULL, and "org_id = NULL" admits nothing: fail closed.
-- Never write "app.current_org() IS NULL OR ...": that is the fail-open shape.
SET LOCAL ROLE :"owner_role";

-- ===== accounts =====
ALTER TABLE accounts ENABLE ROW LEVEL SECURITY;
ALTER TABLE accounts FORCE ROW LEVEL SECURITY;
CREATE POLICY "Accounts are visible within the current org" ON accounts
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Accounts are created only in the current org" ON accounts
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Accounts are updated only within the current org" ON accounts
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Accounts are deleted only within the current org" ON accounts
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== contacts =====
ALTER TABLE contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY "Contacts are visible within the current org" ON contacts
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Contacts are created only in the current org" ON contacts
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Contacts are updated only within the current org" ON contacts
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Contacts are deleted only within the current org" ON contacts
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== leads =====
ALTER TABLE leads ENABLE ROW LEVEL SECURITY;
ALTER TABLE leads FORCE ROW LEVEL SECURITY;
CREATE POLICY "Leads are visible within the current org" ON leads
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Leads are created only in the current org" ON leads
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Leads are updated only within the current org" ON leads
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Leads are deleted only within the current org" ON leads
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== opportunities =====
ALTER TABLE opportunities ENABLE ROW LEVEL SECURITY;
ALTER TABLE opportunities FORCE ROW LEVEL SECURITY;
CREATE POLICY "Opportunities are visible within the current org" ON opportunities
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Opportunities are created only in the current org" ON opportunities
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Opportunities are updated only within the current org" ON opportunities
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Opportunities are deleted only within the current org" ON opportunities
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== activities =====
ALTER TABLE activities ENABLE ROW LEVEL SECURITY;
ALTER TABLE activities FORCE ROW LEVEL SECURITY;
CREATE POLICY "Activities are visible within the current org" ON activities
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Activities are created only in the current org" ON activities
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Activities are updated only within the current org" ON activities
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Activities are deleted only within the current org" ON activities
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== notes =====
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
ALTER TABLE notes FORCE ROW LEVEL SECURITY;
CREATE POLICY "Notes are visible within the current org" ON notes
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Notes are created only in the current org" ON notes
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Notes are updated only within the current org" ON notes
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Notes are deleted only within the current org" ON notes
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== projects =====
ALTER TABLE projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE projects FORCE ROW LEVEL SECURITY;
CREATE POLICY "Projects are visible within the current org" ON projects
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Projects are created only in the current org" ON projects
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Projects are updated only within the current org" ON projects
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Projects are deleted only within the current org" ON projects
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== sites =====
ALTER TABLE sites ENABLE ROW LEVEL SECURITY;
ALTER TABLE sites FORCE ROW LEVEL SECURITY;
CREATE POLICY "Sites are visible within the current org" ON sites
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Sites are created only in the current org" ON sites
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Sites are updated only within the current org" ON sites
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Sites are deleted only within the current org" ON sites
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== knowledge_files =====
ALTER TABLE knowledge_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE knowledge_files FORCE ROW LEVEL SECURITY;
CREATE POLICY "Knowledge files are visible within the current org" ON knowledge_files
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Knowledge files are created only in the current org" ON knowledge_files
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Knowledge files are updated only within the current org" ON knowledge_files
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Knowledge files are deleted only within the current org" ON knowledge_files
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== conversations =====
ALTER TABLE conversations ENABLE ROW LEVEL SECURITY;
ALTER TABLE conversations FORCE ROW LEVEL SECURITY;
CREATE POLICY "Conversations are visible within the current org" ON conversations
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Conversations are created only in the current org" ON conversations
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Conversations are updated only within the current org" ON conversations
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Conversations are deleted only within the current org" ON conversations
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== messages =====
ALTER TABLE messages ENABLE ROW LEVEL SECURITY;
ALTER TABLE messages FORCE ROW LEVEL SECURITY;
CREATE POLICY "Messages are visible within the current org" ON messages
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Messages are created only in the current org" ON messages
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Messages are updated only within the current org" ON messages
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Messages are deleted only within the current org" ON messages
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== semantic_entities =====
ALTER TABLE semantic_entities ENABLE ROW LEVEL SECURITY;
ALTER TABLE semantic_entities FORCE ROW LEVEL SECURITY;
CREATE POLICY "Semantic entities are visible within the current org" ON semantic_entities
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Semantic entities are created only in the current org" ON semantic_entities
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Semantic entities are updated only within the current org" ON semantic_entities
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Semantic entities are deleted only within the current org" ON semantic_entities
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== jobs =====
ALTER TABLE jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE jobs FORCE ROW LEVEL SECURITY;
CREATE POLICY "Jobs are visible within the current org" ON jobs
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Jobs are created only in the current org" ON jobs
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Jobs are updated only within the current org" ON jobs
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Jobs are deleted only within the current org" ON jobs
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== audit_log: append-only =====
-- UPDATE and DELETE are not granted to the application; the policies exist so
-- that even a future grant could not reach another org's entries.
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY "Audit entries are visible within the current org" ON audit_log
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Audit entries are written only in the current org" ON audit_log
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Audit entries are never rewritten outside the current org" ON audit_log
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Audit entries are never deleted outside the current org" ON audit_log
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== members: org-scoped, and a user sees their own memberships =====
-- Listing "my organizations" before choosing one needs the second rule; it
-- reveals only rows about the signed-in user (app.user_id).
ALTER TABLE members ENABLE ROW LEVEL SECURITY;
ALTER TABLE members FORCE ROW LEVEL SECURITY;
CREATE POLICY "Members are visible within the current org, and users see their own" ON members
    FOR SELECT USING (org_id = (SELECT app.current_org())
                      OR user_id = (SELECT app.current_user_id()));
CREATE POLICY "Members are added only to the current org" ON members
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Members are updated only within the current org" ON members
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Members are removed only within the current org" ON members
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== invitations: org-scoped, and the invitee sees theirs =====
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY "Invitations are visible within the current org, and to the invitee" ON invitations
    FOR SELECT USING (org_id = (SELECT app.current_org())
                      OR email = (SELECT u.email FROM users u WHERE u.id = (SELECT app.current_user_id())));
CREATE POLICY "Invitations are sent only from the current org" ON invitations
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Invitations are answered within the current org, or by the invitee" ON invitations
    FOR UPDATE USING (org_id = (SELECT app.current_org())
                      OR email = (SELECT u.email FROM users u WHERE u.id = (SELECT app.current_user_id())))
    WITH CHECK (org_id = (SELECT app.current_org())
                OR email = (SELECT u.email FROM users u WHERE u.id = (SELECT app.current_user_id())));
CREATE POLICY "Invitations are withdrawn only within the current org" ON invitations
    FOR DELETE USING (org_id = (SELECT app.current_org()));

-- ===== Global tables: the narrowest rows that let auth work =====
ALTER TABLE organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE organizations FORCE ROW LEVEL SECURITY;
CREATE POLICY "Organizations are visible to their members" ON organizations
    FOR SELECT USING (id = (SELECT app.current_org())
                      OR id IN (SELECT m.org_id FROM members m
                                WHERE m.user_id = (SELECT app.current_user_id())));
CREATE POLICY "Organizations are created by a signed-in user" ON organizations
    FOR INSERT WITH CHECK ((SELECT app.current_user_id()) IS NOT NULL);
CREATE POLICY "Organizations are updated only as the current org" ON organizations
    FOR UPDATE USING (id = (SELECT app.current_org())) WITH CHECK (id = (SELECT app.current_org()));
CREATE POLICY "Organizations are deleted only as the current org" ON organizations
    FOR DELETE USING (id = (SELECT app.current_org()));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY "Users see themselves, the account signing in, and members of the current org" ON users
    FOR SELECT USING (id = (SELECT app.current_user_id())
                      OR email = (SELECT app.auth_email())
                      OR id IN (SELECT m.user_id FROM members m WHERE m.org_id = (SELECT app.current_org())));
CREATE POLICY "Users are created only by signing up with that email" ON users
    FOR INSERT WITH CHECK (email = (SELECT app.auth_email()));
CREATE POLICY "Users update only themselves" ON users
    FOR UPDATE USING (id = (SELECT app.current_user_id())) WITH CHECK (id = (SELECT app.current_user_id()));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY "Sessions are visible to their token holder and their user" ON sessions
    FOR SELECT USING (token_hash = (SELECT app.session_token_hash())
                      OR user_id = (SELECT app.current_user_id()));
CREATE POLICY "Sessions are created only for the signed-in user" ON sessions
    FOR INSERT WITH CHECK (user_id = (SELECT app.current_user_id()));
CREATE POLICY "Sessions are revoked by their token holder or their user" ON sessions
    FOR UPDATE USING (token_hash = (SELECT app.session_token_hash())
                      OR user_id = (SELECT app.current_user_id()))
    WITH CHECK (token_hash = (SELECT app.session_token_hash())
                OR user_id = (SELECT app.current_user_id()));
CREATE POLICY "Sessions are deleted by their user" ON sessions
    FOR DELETE USING (user_id = (SELECT app.current_user_id()));
