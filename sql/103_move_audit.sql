-- 103_move_audit.sql: every step of `atlas org move` is audited (app/placement/move.py).
--
-- A move is an operator's command, not a person's request: it has no user of
-- Atlas to name. Its platform_audit entries carry no actor (NULL) and name the
-- operating-system user and host in `detail` instead. The platform role's INSERT
-- policy still requires actor_user_id = app.current_user_id(), so a request can
-- never write an entry without its actor; only the mover (the shared database's
-- admin) writes these.
SET LOCAL ROLE :"owner_role";

ALTER TABLE platform_audit ALTER COLUMN actor_user_id DROP NOT NULL;
COMMENT ON COLUMN platform_audit.actor_user_id IS
    'The acting platform admin; NULL for an operator''s command (atlas org move), named in detail.';
