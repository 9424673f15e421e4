-- 126_agent_usage_hold.sql: agent_usage is a placed table, so a move holds its writes like every other.
--
-- 125 created agent_usage without the org_hold trigger that 095 attaches to every placed table;
-- `atlas org move` refuses to start while a placed table lacks it ("placed tables without the
-- org_hold trigger: agent_usage"), so every move failed.
SET LOCAL ROLE :"owner_role";

SELECT app.attach_org_hold('agent_usage');
