-- 003_crm.sql: the CRM tenant tables.
--
-- Shape rules, checked by tests/test_schema_shape.py:
--   * org_id uuid NOT NULL REFERENCES organizations, first column;
--   * the primary key is (org_id, id), every unique constraint includes org_id;
--   * every foreign key to another tenant table is (org_id, x_id), so a row can
--     only ever point at a row of its own org; with ON DELETE SET NULL (x_id)
--     the org_id column itself is never nulled.
-- The same shape lets these tables be distributed by org_id (docs/scaling.md).
SET LOCAL ROLE :"owner_role";

CREATE TABLE accounts (
    org_id          uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    domain          text,
    industry        text,
    employee_count  integer CHECK (employee_count >= 0),
    annual_revenue  numeric(16, 2) CHECK (annual_revenue >= 0),
    phone           text,
    website         text,
    owner_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX accounts_org_name_idx ON accounts (org_id, name);
CREATE INDEX accounts_org_created_idx ON accounts (org_id, created_at, id);

CREATE TABLE contacts (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    account_id  uuid,
    first_name  text NOT NULL CHECK (length(btrim(first_name)) BETWEEN 1 AND 100),
    last_name   text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    email       text,
    phone       text,
    title       text,
    lifecycle_stage text NOT NULL DEFAULT 'lead'
                CHECK (lifecycle_stage IN ('subscriber', 'lead', 'customer', 'evangelist', 'other')),
    owner_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE SET NULL (account_id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX contacts_org_created_idx ON contacts (org_id, created_at, id);
CREATE INDEX contacts_org_account_idx ON contacts (org_id, account_id);
CREATE INDEX contacts_org_email_idx ON contacts (org_id, email);
CREATE INDEX contacts_org_last_name_idx ON contacts (org_id, last_name, id);

CREATE TABLE leads (
    org_id        uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id            uuid NOT NULL DEFAULT gen_random_uuid(),
    first_name    text NOT NULL CHECK (length(btrim(first_name)) BETWEEN 1 AND 100),
    last_name     text NOT NULL DEFAULT '' CHECK (length(last_name) <= 100),
    email         text,
    company       text,
    source        text NOT NULL DEFAULT 'other'
                  CHECK (source IN ('web', 'referral', 'event', 'outbound', 'partner', 'other')),
    status        text NOT NULL DEFAULT 'new'
                  CHECK (status IN ('new', 'contacted', 'qualified', 'disqualified', 'converted')),
    score         integer NOT NULL DEFAULT 0 CHECK (score BETWEEN 0 AND 100),
    owner_id      uuid,
    converted_contact_id uuid,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id),
    FOREIGN KEY (org_id, converted_contact_id) REFERENCES contacts (org_id, id)
        ON DELETE SET NULL (converted_contact_id)
);
CREATE INDEX leads_org_created_idx ON leads (org_id, created_at, id);
CREATE INDEX leads_org_status_idx ON leads (org_id, status);

CREATE TABLE opportunities (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    account_id  uuid,
    primary_contact_id uuid,
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    stage       text NOT NULL DEFAULT 'prospecting'
                CHECK (stage IN ('prospecting', 'qualification', 'proposal', 'negotiation',
                                 'closed_won', 'closed_lost')),
    amount      numeric(16, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
    currency    char(3) NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    probability integer NOT NULL DEFAULT 10 CHECK (probability BETWEEN 0 AND 100),
    close_date  date,
    owner_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE SET NULL (account_id),
    FOREIGN KEY (org_id, primary_contact_id) REFERENCES contacts (org_id, id)
        ON DELETE SET NULL (primary_contact_id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX opportunities_org_created_idx ON opportunities (org_id, created_at, id);
CREATE INDEX opportunities_org_account_idx ON opportunities (org_id, account_id);
CREATE INDEX opportunities_org_stage_idx ON opportunities (org_id, stage);

CREATE TABLE activities (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    kind           text NOT NULL DEFAULT 'task' CHECK (kind IN ('call', 'email', 'meeting', 'task')),
    subject        text NOT NULL CHECK (length(btrim(subject)) BETWEEN 1 AND 300),
    details        text,
    due_at         timestamptz,
    completed_at   timestamptz,
    contact_id     uuid,
    account_id     uuid,
    opportunity_id uuid,
    owner_id       uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE SET NULL (contact_id),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE SET NULL (account_id),
    FOREIGN KEY (org_id, opportunity_id) REFERENCES opportunities (org_id, id)
        ON DELETE SET NULL (opportunity_id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX activities_org_created_idx ON activities (org_id, created_at, id);
CREATE INDEX activities_org_due_idx ON activities (org_id, due_at);

CREATE TABLE notes (
    org_id         uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id             uuid NOT NULL DEFAULT gen_random_uuid(),
    body           text NOT NULL CHECK (length(body) BETWEEN 1 AND 100000),
    contact_id     uuid,
    account_id     uuid,
    opportunity_id uuid,
    author_id      uuid,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, contact_id) REFERENCES contacts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, opportunity_id) REFERENCES opportunities (org_id, id) ON DELETE CASCADE,
    FOREIGN KEY (org_id, author_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (author_id)
);
CREATE INDEX notes_org_created_idx ON notes (org_id, created_at, id);

CREATE TABLE projects (
    org_id      uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    description text,
    status      text NOT NULL DEFAULT 'planned'
                CHECK (status IN ('planned', 'active', 'on_hold', 'done', 'canceled')),
    account_id  uuid,
    start_date  date,
    due_date    date,
    budget      numeric(16, 2) CHECK (budget >= 0),
    owner_id    uuid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    CHECK (due_date IS NULL OR start_date IS NULL OR due_date >= start_date),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE SET NULL (account_id),
    FOREIGN KEY (org_id, owner_id) REFERENCES members (org_id, user_id) ON DELETE SET NULL (owner_id)
);
CREATE INDEX projects_org_created_idx ON projects (org_id, created_at, id);

CREATE TABLE sites (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    account_id   uuid,
    name         text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
    address_line text,
    city         text,
    region       text,
    postal_code  text,
    country      char(2) CHECK (country ~ '^[A-Z]{2}$'),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    FOREIGN KEY (org_id, account_id) REFERENCES accounts (org_id, id) ON DELETE SET NULL (account_id)
);
CREATE INDEX sites_org_created_idx ON sites (org_id, created_at, id);

CREATE TABLE knowledge_files (
    org_id       uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    id           uuid NOT NULL DEFAULT gen_random_uuid(),
    title        text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 300),
    filename     text NOT NULL CHECK (filename !~ '[/\\]' AND length(filename) BETWEEN 1 AND 255),
    content_type text NOT NULL DEFAULT 'text/plain',
    size_bytes   bigint NOT NULL DEFAULT 0 CHECK (size_bytes >= 0),
    body         text NOT NULL DEFAULT '',
    project_id   uuid,
    created_by   uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, id),
    UNIQUE (org_id, filename),
    FOREIGN KEY (org_id, project_id) REFERENCES projects (org_id, id) ON DELETE SET NULL (project_id),
    FOREIGN KEY (org_id, created_by) REFERENCES members (org_id, user_id) ON DELETE SET NULL (created_by)
);
CREATE INDEX knowledge_files_org_created_idx ON knowledge_files (org_id, created_at, id);
