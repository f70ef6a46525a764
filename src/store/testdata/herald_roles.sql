-- What an operator runs once for Herald beside the Prowler API (docs/prowler.md), as the
-- bootstrap superuser, connected to the API's database. Herald's API role is the API's own
-- POSTGRES_USER (prowler): its row-level security policies name that role, so Herald's lookups see
-- exactly what the API's views see, and it already has SELECT on users, memberships, tenants and the
-- resource tables. Only the key reader is new.
--
-- herald_keys (Herald's store.postgres.admin_user): reads one api_keys row by id before the tenant
-- is known. api_keys is FORCE ROW LEVEL SECURITY and its policies name only the API role, so any
-- other role sees no rows unless it bypasses RLS. BYPASSRLS is harmless here because the role can
-- read nothing but these api_keys columns (no other grant, no ownership, no write).
CREATE ROLE herald_keys LOGIN PASSWORD 'herald-keys-pw' BYPASSRLS;
GRANT CONNECT ON DATABASE prowler_db TO herald_keys;
GRANT SELECT (id, prefix, tenant_id, entity_id, revoked, whitelisted_ips, blacklisted_ips)
  ON api_keys TO herald_keys;
