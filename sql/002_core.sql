-- 002_core.sql: the helpers every policy calls, and the global tables.
SET LOCAL ROLE :"owner_role";

-- ===== Helpers: the one place a setting becomes an identity =====
-- Each returns NULL when its setting is missing OR empty: after any SET or
-- RESET in a session, current_setting(name, true) yields '' rather than NULL,
-- and '' must fail closed exactly like "never set". Policies compare with "=",
-- so NULL matches no row and admits no write.
--
-- They are plain SQL expressions with no SET clause so that PostgreSQL inlines
-- them into each policy's initPlan (a function with SET search_path is called,
-- not inlined: about 20 us more per statement). Inlined bodies are parsed with
-- the caller's search_path, so every name in them is schema-qualified,
-- operators included; the application roles cannot create objects anyway.
CREATE SCHEMA app AUTHORIZATION :"owner_role";

CREATE FUNCTION app.current_org() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.org_id', true) OPERATOR(pg_catalog.=) ''
                    THEN NULL
                    ELSE pg_catalog.current_setting('app.org_id', true)::pg_catalog.uuid END
    $$;
COMMENT ON FUNCTION app.current_org() IS
    'The org of the current transaction (SET LOCAL app.org_id), or NULL: fail closed.';

CREATE FUNCTION app.current_user_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.user_id', true) OPERATOR(pg_catalog.=) ''
                    THEN NULL
                    ELSE pg_catalog.current_setting('app.user_id', true)::pg_catalog.uuid END
    $$;
COMMENT ON FUNCTION app.current_user_id() IS
    'The signed-in user of the current transaction (SET LOCAL app.user_id), or NULL.';

CREATE FUNCTION app.session_token_hash() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.session_token_hash', true) OPERATOR(pg_catalog.=) ''
                    THEN NULL
                    ELSE pg_catalog.current_setting('app.session_token_hash', true) END
    $$;
COMMENT ON FUNCTION app.session_token_hash() IS
    'Hash of the presented session token: knowing the token is the capability to read its session row.';

CREATE FUNCTION app.auth_email() RETURNS text
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
        SELECT CASE WHEN pg_catalog.current_setting('app.auth_email', true) OPERATOR(pg_catalog.=) ''
                    THEN NULL
                    ELSE pg_catalog.lower(pg_catalog.current_setting('app.auth_email', true)) END
    $$;
COMMENT ON FUNCTION app.auth_email() IS
    'Email being signed up or signed in with: the only user row visible before a session exists.';

-- ===== Global tables (reference tables when distributed; see docs/scaling.md) =====
CREATE TABLE organizations (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name       text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    slug       text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    logo       text,
    metadata   jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email          text NOT NULL UNIQUE CHECK (email = lower(email) AND email LIKE '%_@_%'),
    name           text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    password_hash  text NOT NULL,
    platform_role  text NOT NULL DEFAULT 'user' CHECK (platform_role IN ('user', 'admin')),
    email_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- A membership is org-scoped data: it has org_id, RLS and org policies like any
-- tenant table, plus one extra visibility rule (a user sees their own).
CREATE TABLE members (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin', 'owner')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, user_id)
);
CREATE INDEX members_user_id_idx ON members (user_id);

CREATE TABLE invitations (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    email       text NOT NULL CHECK (email = lower(email)),
    role        text NOT NULL DEFAULT 'member' CHECK (role IN ('member', 'admin', 'owner')),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'accepted', 'rejected', 'canceled')),
    inviter_id  uuid REFERENCES users (id) ON DELETE SET NULL,
    expires_at  timestamptz NOT NULL DEFAULT now() + interval '48 hours',
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id)
);
CREATE INDEX invitations_email_idx ON invitations (email) WHERE status = 'pending';

CREATE TABLE sessions (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    token_hash    text NOT NULL UNIQUE CHECK (token_hash ~ '^[0-9a-f]{64}$'),
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    active_org_id uuid REFERENCES organizations (id) ON DELETE SET NULL,
    user_agent    text,
    ip_address    inet,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
