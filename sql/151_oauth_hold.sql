-- 151: MCP OAuth's codes and tokens take the org's write hold, like every placed table.
--
-- oauth_codes and oauth_tokens (150) live where the org's rows live, so `atlas org move` copies them; a
-- move refuses to start while a placed table could still be written during its switch. Without the
-- trigger, every move stopped with "placed tables without the org_hold trigger".
SELECT app.attach_org_hold('oauth_codes');
SELECT app.attach_org_hold('oauth_tokens');
