-- 098_platform_placements.sql: platform admins' figures follow an org to its dedicated
-- database.
--
-- The platform admin's organization list and stats counted jobs, conversations and
-- agent queries in the shared database only, so an org placed in a dedicated
-- database (095) showed 0 of each. The platform role now reads where each org
-- lives, in platform transactions only, and app/placement/platform_reads.py counts
-- those rows in the org's own database, as the platform role there.
SET LOCAL ROLE :"owner_role";

GRANT SELECT ON org_placements TO :"platform_role";
CREATE POLICY "Placements are listed in platform transactions" ON org_placements
    FOR SELECT TO :"platform_role" USING ((SELECT app.platform_scope()));
