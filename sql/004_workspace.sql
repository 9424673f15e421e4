-- 004_workspace.sql: tenant tables the product keeps besides CRM data:
-- the audit trail, agent conversations, the semantic layer, background jobs.
SET LOCAL ROLE :"owner_role";

-- Append-only for the application (no UPDATE or DELETE grant; 010_privileges.sql).
-- actor_user_id deliberately has no foreign key: the trail outlives the actor.
CREATE TABLE audit_log (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    actor_user_id  uuid,
    action         text NOT NULL CHECK (length(action) BETWEEN 1 AND 100),
    entity         text NOT NULL CHECK (length(entity) BETWEEN 1 AND 100),
    entity_id      text,
    changed_fields text[] NOT NULL DEFAULT '{}',
    outcome        text NOT NULL DEFAULT 'ok' CHECK (outcome IN ('ok', 'refused', 'error')),
    request_id     text,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    PRIMARY KEY (org_id, id)
);
CREATE INDEX audit_log_org_time_idx ON audit_log (org_id, occurred_at DESC, id);
CREATE INDEX audit_log_org_actor_idx ON audit_log (org_id, actor_user_id, occurred_at DESC);

CREATE TABLE conversations (
    org_id     uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    title      text NOT NULL DEFAULT 'New conversation' CHECK (length(title) BETWEEN 1 AND 300),
    created_by uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (created_by)
);
CREATE INDEX conversations_org_updated_idx ON conversations (org_id, updated_at DESC, id);

CREATE TABLE messages (
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL,
    role            text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'assistant', 'tool', 'system')),
    content         text NOT NULL CHECK (length(content) <= 200000),
    created_by      uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, conversation_id) REFERENCES conversations (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, created_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (created_by)
);
CREATE INDEX messages_org_conversation_idx ON messages (org_id, conversation_id, created_at);

-- The database is the source of truth for each org's semantic layer; files
-- under semantic/.orgs/{org}/entities/ are a synced copy.
CREATE TABLE semantic_entities (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,62}$'),
    yaml_content text NOT NULL CHECK (length(yaml_content) <= 1000000),
    version      integer NOT NULL DEFAULT 1 CHECK (version >= 1),
    updated_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, name),
    FOREIGN KEY (org_id, updated_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (updated_by)
);

-- A background job carries its org in its own row: the worker sets app.org_id
-- from jobs.org_id, never from the payload.
CREATE TABLE jobs (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    kind        text NOT NULL CHECK (length(kind) BETWEEN 1 AND 100),
    payload     jsonb NOT NULL DEFAULT '{}'::jsonb,
    status      text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'canceled')),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    run_after   timestamptz NOT NULL DEFAULT now(),
    locked_at   timestamptz,
    last_error  text,
    created_by  uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, created_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (created_by)
);
CREATE INDEX jobs_org_runnable_idx ON jobs (org_id, run_after) WHERE status = 'queued';
