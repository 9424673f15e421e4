-- 108_key_cascades.sql: what a revoked key (or a removed member) leaves behind is
-- found and stopped (app/cascades.py).
--
-- Jobs already carry the API key that enqueued them (jobs.api_key_id, 085).
-- Invitations now do too, so that revoking a key cancels the invitations it sent
-- that are still pending. Keys may no longer manage people (app/api/members.py),
-- so new invitations never carry a key; the column exists for invitations keys
-- sent before that rule, found from the audit trail below, which names the key
-- of every entry a key caused (080).
--
-- No foreign key: invitations live in the shared database (control plane), an
-- org's keys where the org is placed.

-- ===== Backfill (as the migrating role, before the owner role's forced RLS) =====
ALTER TABLE invitations ADD COLUMN api_key_id uuid;
UPDATE invitations i SET api_key_id = a.api_key_id
FROM audit_log a
WHERE a.org_id = i.org_id AND a.entity = 'invitation' AND a.entity_id = i.id::text
  AND a.action IN ('invitation.create', 'invitation.resend') AND a.api_key_id IS NOT NULL
  AND i.status = 'pending';

SET LOCAL ROLE :"owner_role";

-- ===== What the cascades look up =====
CREATE INDEX invitations_org_key_pending_idx ON invitations (org_id, api_key_id)
    WHERE status = 'pending' AND api_key_id IS NOT NULL;
CREATE INDEX invitations_org_inviter_pending_idx ON invitations (org_id, inviter_id)
    WHERE status = 'pending';
CREATE INDEX jobs_org_key_active_idx ON jobs (org_id, api_key_id)
    WHERE status IN ('queued', 'running') AND api_key_id IS NOT NULL;
CREATE INDEX jobs_org_creator_active_idx ON jobs (org_id, created_by)
    WHERE status IN ('queued', 'running');
