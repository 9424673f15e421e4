-- 125_agent_usage.sql: what each org's analytics agent spent, per UTC day (app/agent/usage.py).
--
-- One row per (org, day), upserted after every model call and every tool call of
-- an ask, in the asking org's own transaction. The daily token budget is read from
-- it before an ask starts and after each model call (429 agent_budget_spent).
-- Org admins read their own org's rows; platform admins read one org's rows in a
-- platform transaction (app/api/agent_routes.py).
SET LOCAL ROLE :"owner_role";

-- ===== Table =====
CREATE TABLE agent_usage (
    org_id            uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    day               date NOT NULL,
    asks              integer NOT NULL DEFAULT 0 CHECK (asks >= 0),
    steps             integer NOT NULL DEFAULT 0 CHECK (steps >= 0),
    queries           integer NOT NULL DEFAULT 0 CHECK (queries >= 0),
    refused           integer NOT NULL DEFAULT 0 CHECK (refused >= 0),
    prompt_tokens     bigint NOT NULL DEFAULT 0 CHECK (prompt_tokens >= 0),
    completion_tokens bigint NOT NULL DEFAULT 0 CHECK (completion_tokens >= 0),
    time_ms           bigint NOT NULL DEFAULT 0 CHECK (time_ms >= 0),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, day)
);

-- ===== Privileges: the app upserts and reads; the platform role reads =====
GRANT SELECT, INSERT, UPDATE ON agent_usage TO :"app_role";
GRANT SELECT ON agent_usage TO :"platform_role";

-- ===== Policies (as in 020_policies.sql) =====
ALTER TABLE agent_usage ENABLE ROW LEVEL SECURITY;
ALTER TABLE agent_usage FORCE ROW LEVEL SECURITY;
CREATE POLICY "Agent usage is visible within the current org" ON agent_usage
    FOR SELECT USING (org_id = (SELECT app.current_org()));
CREATE POLICY "Agent usage is created only in the current org" ON agent_usage
    FOR INSERT WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Agent usage is updated only within the current org" ON agent_usage
    FOR UPDATE USING (org_id = (SELECT app.current_org()))
    WITH CHECK (org_id = (SELECT app.current_org()));
CREATE POLICY "Agent usage is deleted only within the current org" ON agent_usage
    FOR DELETE USING (org_id = (SELECT app.current_org()));
