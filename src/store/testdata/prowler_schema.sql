-- The Prowler API's tables that Herald reads, created exactly as the API's Django migrations create
-- them (prowler-cloud/prowler api/src/backend/api/migrations/0001_initial.py and 0048_api_key.py,
-- the RowLevelSecurityConstraint / BaseSecurityConstraint SQL in api/rls.py, names in api/db_utils.py),
-- cut down to the columns and tables Herald's tests need. Run by the bootstrap superuser
-- (prowler_admin, as in the API's docker-compose.yml where POSTGRES_USER=${POSTGRES_ADMIN_USER}),
-- connected to prowler_db. Herald itself never runs any of this: it only reads these tables.
--
-- Deliberate omissions (not read by Herald): django_* tables, tasks / celery results (scans.task_id
-- is kept without its foreign key), RBAC tables, findings and the other RLS tables.

-- 0001_initial.py: the API role, created by the migration with LOGIN and a password.
CREATE ROLE prowler LOGIN PASSWORD 'prowler-api-pw';
GRANT CONNECT ON DATABASE prowler_db TO prowler;

-- PostgresEnumMigration: CREATE TYPE <name> AS ENUM (...).
CREATE TYPE "member_role" AS ENUM ('owner', 'member');
CREATE TYPE "state" AS ENUM ('available', 'scheduled', 'executing', 'completed', 'failed', 'cancelled');
CREATE TYPE "scan_trigger" AS ENUM ('scheduled', 'manual');
CREATE TYPE "provider" AS ENUM ('aws', 'azure', 'gcp', 'kubernetes');

-- User (db_table "users") + BaseSecurityConstraint("statements_on_user"): grants only, no RLS.
CREATE TABLE "users" (
  "id" uuid NOT NULL PRIMARY KEY,
  "name" varchar(150) NOT NULL,
  "password" varchar(128) NOT NULL,
  "last_login" timestamp with time zone NULL,
  "email" varchar(254) NOT NULL UNIQUE,
  "company_name" varchar(150) NOT NULL,
  "is_active" boolean NOT NULL,
  "date_joined" timestamp with time zone NOT NULL
);
GRANT SELECT ON users TO prowler;
GRANT INSERT ON users TO prowler;
GRANT UPDATE ON users TO prowler;
GRANT DELETE ON users TO prowler;

-- Tenant (db_table "tenants"), its grant, and its own policies (ENABLE only, not FORCE).
CREATE TABLE "tenants" (
  "id" uuid NOT NULL PRIMARY KEY,
  "inserted_at" timestamp with time zone NOT NULL,
  "updated_at" timestamp with time zone NOT NULL,
  "name" varchar(100) NOT NULL
);
GRANT SELECT, INSERT, UPDATE, DELETE ON TABLE tenants TO prowler;

-- Membership (db_table "memberships") + BaseSecurityConstraint("statements_on_membership").
CREATE TABLE "memberships" (
  "id" uuid NOT NULL PRIMARY KEY,
  "role" member_role NOT NULL,
  "date_joined" timestamp with time zone NOT NULL,
  "tenant_id" uuid NOT NULL REFERENCES "tenants" ("id") DEFERRABLE INITIALLY DEFERRED,
  "user_id" uuid NOT NULL REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT "unique_resources_by_membership" UNIQUE ("user_id", "tenant_id")
);
CREATE INDEX "memberships_tenant_id" ON "memberships" ("tenant_id");
CREATE INDEX "memberships_user_id" ON "memberships" ("user_id");
GRANT SELECT ON memberships TO prowler;
GRANT INSERT ON memberships TO prowler;
GRANT UPDATE ON memberships TO prowler;
GRANT DELETE ON memberships TO prowler;

ALTER TABLE tenants ENABLE ROW LEVEL SECURITY;
CREATE POLICY "prowler_tenants_select" ON tenants FOR SELECT TO prowler USING (
  CASE
    WHEN (current_setting('api.user_id', true) IS NOT NULL AND current_setting('api.user_id', true) <> '') THEN
      EXISTS (SELECT 1 FROM memberships WHERE memberships.tenant_id = tenants.id
              AND memberships.user_id = current_setting('api.user_id', true)::uuid)
    WHEN (current_setting('api.tenant_id', true) IS NOT NULL AND current_setting('api.tenant_id', true) <> '') THEN
      tenants.id = current_setting('api.tenant_id', true)::uuid
    ELSE FALSE
  END);
CREATE POLICY "prowler_tenants_update" ON tenants FOR UPDATE TO prowler USING (
  CASE
    WHEN (current_setting('api.user_id', true) IS NOT NULL AND current_setting('api.user_id', true) <> '') THEN
      EXISTS (SELECT 1 FROM memberships WHERE memberships.tenant_id = tenants.id
              AND memberships.user_id = current_setting('api.user_id', true)::uuid)
    WHEN (current_setting('api.tenant_id', true) IS NOT NULL AND current_setting('api.tenant_id', true) <> '') THEN
      tenants.id = current_setting('api.tenant_id', true)::uuid
    ELSE FALSE
  END);
CREATE POLICY "prowler_tenants_delete" ON tenants FOR DELETE TO prowler USING (
  CASE
    WHEN (current_setting('api.user_id', true) IS NOT NULL AND current_setting('api.user_id', true) <> '') THEN
      EXISTS (SELECT 1 FROM memberships WHERE memberships.tenant_id = tenants.id
              AND memberships.user_id = current_setting('api.user_id', true)::uuid)
    WHEN (current_setting('api.tenant_id', true) IS NOT NULL AND current_setting('api.tenant_id', true) <> '') THEN
      tenants.id = current_setting('api.tenant_id', true)::uuid
    ELSE FALSE
  END);
CREATE POLICY "prowler_tenants_insert" ON tenants FOR INSERT TO prowler WITH CHECK (true);

-- Provider (db_table "providers") + RowLevelSecurityConstraint("tenant_id", name="rls_on_provider").
CREATE TABLE "providers" (
  "id" uuid NOT NULL PRIMARY KEY,
  "inserted_at" timestamp with time zone NOT NULL,
  "updated_at" timestamp with time zone NOT NULL,
  "is_deleted" boolean NOT NULL,
  "provider" provider NOT NULL,
  "uid" varchar(250) NOT NULL,
  "alias" varchar(100) NULL,
  "connected" boolean NULL,
  "tenant_id" uuid NOT NULL REFERENCES "tenants" ("id") DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX "providers_tenant_id" ON "providers" ("tenant_id");

-- Scan (db_table "scans") + RowLevelSecurityConstraint("tenant_id", name="rls_on_scan").
CREATE TABLE "scans" (
  "id" uuid NOT NULL PRIMARY KEY,
  "name" varchar(100) NULL,
  "trigger" scan_trigger NOT NULL,
  "state" state NOT NULL,
  "unique_resource_count" integer NOT NULL,
  "progress" integer NOT NULL,
  "scanner_args" jsonb NOT NULL,
  "duration" integer NULL,
  "scheduled_at" timestamp with time zone NULL,
  "inserted_at" timestamp with time zone NOT NULL,
  "updated_at" timestamp with time zone NOT NULL,
  "started_at" timestamp with time zone NULL,
  "completed_at" timestamp with time zone NULL,
  "next_scan_at" timestamp with time zone NULL,
  "provider_id" uuid NOT NULL REFERENCES "providers" ("id") DEFERRABLE INITIALLY DEFERRED,
  "task_id" uuid NULL,
  "tenant_id" uuid NOT NULL REFERENCES "tenants" ("id") DEFERRABLE INITIALLY DEFERRED
);
CREATE INDEX "scans_tenant_id" ON "scans" ("tenant_id");

-- TenantAPIKey (db_table "api_keys", 0048_api_key.py; drf-simple-apikey's AbstractAPIKey columns)
-- + RowLevelSecurityConstraint("tenant_id", name="rls_on_tenantapikey").
CREATE TABLE "api_keys" (
  "name" varchar(100) NOT NULL,
  "expiry_date" timestamp with time zone NOT NULL,
  "revoked" boolean NOT NULL,
  "created" timestamp with time zone NOT NULL,
  "whitelisted_ips" jsonb NULL,
  "blacklisted_ips" jsonb NULL,
  "id" uuid NOT NULL PRIMARY KEY,
  "prefix" varchar(11) NOT NULL UNIQUE,
  "last_used_at" timestamp with time zone NULL,
  "entity_id" uuid NULL REFERENCES "users" ("id") DEFERRABLE INITIALLY DEFERRED,
  "tenant_id" uuid NOT NULL REFERENCES "tenants" ("id") DEFERRABLE INITIALLY DEFERRED,
  CONSTRAINT "unique_api_key_prefixes" UNIQUE ("tenant_id", "prefix"),
  CONSTRAINT "unique_api_key_name_per_tenant" UNIQUE ("tenant_id", "name")
);
CREATE INDEX "api_keys_tenant_prefix_idx" ON "api_keys" ("tenant_id", "prefix");

-- RowLevelSecurityConstraint.create_sql for providers, scans and api_keys, statements
-- ["SELECT", "INSERT", "UPDATE", "DELETE"], db_user = POSTGRES_USER (prowler). The policy names are
-- unquoted in rls.py, so PostgreSQL folds them to lower case (prowler_scans_select, ...).
ALTER TABLE providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE providers FORCE ROW LEVEL SECURITY;
CREATE POLICY prowler_providers_SELECT ON providers FOR SELECT TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_providers_INSERT ON providers FOR INSERT TO prowler WITH CHECK (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_providers_UPDATE ON providers FOR UPDATE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_providers_DELETE ON providers FOR DELETE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
GRANT SELECT ON providers TO prowler;
GRANT INSERT ON providers TO prowler;
GRANT UPDATE ON providers TO prowler;
GRANT DELETE ON providers TO prowler;

ALTER TABLE scans ENABLE ROW LEVEL SECURITY;
ALTER TABLE scans FORCE ROW LEVEL SECURITY;
CREATE POLICY prowler_scans_SELECT ON scans FOR SELECT TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_scans_INSERT ON scans FOR INSERT TO prowler WITH CHECK (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_scans_UPDATE ON scans FOR UPDATE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_scans_DELETE ON scans FOR DELETE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
GRANT SELECT ON scans TO prowler;
GRANT INSERT ON scans TO prowler;
GRANT UPDATE ON scans TO prowler;
GRANT DELETE ON scans TO prowler;

ALTER TABLE api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE api_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY prowler_api_keys_SELECT ON api_keys FOR SELECT TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_api_keys_INSERT ON api_keys FOR INSERT TO prowler WITH CHECK (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_api_keys_UPDATE ON api_keys FOR UPDATE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
CREATE POLICY prowler_api_keys_DELETE ON api_keys FOR DELETE TO prowler USING (
  CASE WHEN current_setting('api.tenant_id', True) IS NULL THEN FALSE
       ELSE "tenant_id" = current_setting('api.tenant_id')::uuid END);
GRANT SELECT ON api_keys TO prowler;
GRANT INSERT ON api_keys TO prowler;
GRANT UPDATE ON api_keys TO prowler;
GRANT DELETE ON api_keys TO prowler;

-- ---------------------------------------------------------------------------------------------
-- Data: three tenants; users with Django password hashes; memberships; one provider and scan per
-- tenant; API keys. The ids are mirrored in store/test_postgres_server.hpp (namespace fixture).
-- T1 and the first user are the ids of the API's dev fixtures (api/fixtures/dev/*.json).
INSERT INTO tenants (id, inserted_at, updated_at, name) VALUES
  ('12646005-9067-4d2a-a098-8bb378604362', now(), now(), 'Tenant One'),
  ('0412980b-06e3-436a-ab98-3c9b1d0333d3', now(), now(), 'Tenant Two'),
  ('d2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41', now(), now(), 'Tenant Three');

INSERT INTO users (id, name, password, email, company_name, is_active, date_joined) VALUES
  ('8b38e2eb-6689-4f1e-a4ba-95b275130200', 'Devie Prowlerson',
   'pbkdf2_sha256$870000$Z63pGJ7nre48hfcGbk5S0O$rQpKczAmijs96xa+gPVJifpT3Fetb8DOusl5Eq6gxac=',
   'dev@prowler.com', 'Prowler Developers', true, now()),
  ('b6493a3a-c997-489b-8b99-278bf74de9f6', 'Bob Builder',
   'pbkdf2_sha256$870000$hW1oKq2V8c3NfTzX5bYd9e$0mB8yV9oQfE4rT1uJ6kL2sA7dG3hP5wN8cX0zR4tY1U=',
   'bob@prowler.com', 'Prowler Developers', true, now()),
  ('6d4f8a91-3c2e-4b5a-8f7d-1e9c5b2a4d6f', 'Carol Inactive',
   'pbkdf2_sha256$870000$Qm2nR8sT4uV6wX0yZ2aB4c$Jk3Lm5No7Pq9Rs1Tu3Vw5Xy7Za9Bc1De3Fg5Hi7Jk0=',
   'carol@prowler.com', 'Prowler Developers', false, now()),
  ('3f1c9a7e-5b2d-4e8f-a6c4-9d0b1e2f3a4b', 'Dave Nomember',
   'pbkdf2_sha256$870000$Aa1Bb2Cc3Dd4Ee5Ff6Gg7H$Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0Pp9Oo8Nn7Mm6=',
   'dave@prowler.com', 'Prowler Developers', true, now());

INSERT INTO memberships (id, role, date_joined, tenant_id, user_id) VALUES
  ('2b6a1d4e-8c3f-4a5b-9e7d-0f1a2b3c4d5e', 'owner', now(),
   '12646005-9067-4d2a-a098-8bb378604362', '8b38e2eb-6689-4f1e-a4ba-95b275130200'),
  ('5c7e9a1b-3d5f-4b7a-8c9e-1a2b3c4d5e6f', 'member', now(),
   '0412980b-06e3-436a-ab98-3c9b1d0333d3', '8b38e2eb-6689-4f1e-a4ba-95b275130200'),
  ('7e9a1c3d-5f7b-4d9a-ae1c-3b4c5d6e7f80', 'owner', now(),
   '0412980b-06e3-436a-ab98-3c9b1d0333d3', 'b6493a3a-c997-489b-8b99-278bf74de9f6'),
  ('9a1c3e5f-7b9d-4f1a-b3c5-5d6e7f809a1b', 'owner', now(),
   'd2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41', '6d4f8a91-3c2e-4b5a-8f7d-1e9c5b2a4d6f');

INSERT INTO providers (id, inserted_at, updated_at, is_deleted, provider, uid, alias, connected, tenant_id) VALUES
  ('a1b2c3d4-0001-4000-8000-000000000001', now(), now(), false, 'aws', '123456789012', 'prod', true,
   '12646005-9067-4d2a-a098-8bb378604362'),
  ('a1b2c3d4-0002-4000-8000-000000000002', now(), now(), false, 'gcp', 'project-two', 'two', true,
   '0412980b-06e3-436a-ab98-3c9b1d0333d3'),
  ('a1b2c3d4-0003-4000-8000-000000000003', now(), now(), false, 'azure', 'sub-three', 'three', true,
   'd2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41');

INSERT INTO scans (id, name, trigger, state, unique_resource_count, progress, scanner_args,
                   inserted_at, updated_at, provider_id, tenant_id) VALUES
  ('01890f3a-7c1e-7a2b-8c3d-4e5f60718291', 'Scan one', 'manual', 'executing', 0, 40, '{}', now(), now(),
   'a1b2c3d4-0001-4000-8000-000000000001', '12646005-9067-4d2a-a098-8bb378604362'),
  ('01890f3a-7c1e-7a2b-8c3d-4e5f60718292', 'Scan two', 'scheduled', 'completed', 12, 100, '{}', now(), now(),
   'a1b2c3d4-0002-4000-8000-000000000002', '0412980b-06e3-436a-ab98-3c9b1d0333d3'),
  ('01890f3a-7c1e-7a2b-8c3d-4e5f60718293', 'Scan three', 'manual', 'available', 0, 0, '{}', now(), now(),
   'a1b2c3d4-0003-4000-8000-000000000003', 'd2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41');

-- K1 alice@T1 (usable), K2 bob@T2 (revoked), K3 T3 with no entity (its user was deleted),
-- K4 alice@T1 with IP lists.
INSERT INTO api_keys (name, expiry_date, revoked, created, whitelisted_ips, blacklisted_ips, id, prefix,
                      last_used_at, entity_id, tenant_id) VALUES
  ('ci key', now() + interval '365 days', false, now(), NULL, NULL,
   'c0ffee00-0001-4000-8000-000000000001', 'pk_K2AAAAAA', NULL,
   '8b38e2eb-6689-4f1e-a4ba-95b275130200', '12646005-9067-4d2a-a098-8bb378604362'),
  ('old key', now() + interval '365 days', true, now(), NULL, NULL,
   'c0ffee00-0002-4000-8000-000000000002', 'pk_K3BBBBBB', NULL,
   'b6493a3a-c997-489b-8b99-278bf74de9f6', '0412980b-06e3-436a-ab98-3c9b1d0333d3'),
  ('orphan key', now() + interval '365 days', false, now(), NULL, NULL,
   'c0ffee00-0003-4000-8000-000000000003', 'pk_K4CCCCCC', NULL,
   NULL, 'd2a0f4b6-1c3e-4f59-9b7a-5e6d8c0a2b41'),
  ('ip key', now() + interval '365 days', false, now(), '["10.0.0.1", "2001:db8::1"]', '["192.0.2.7"]',
   'c0ffee00-0004-4000-8000-000000000004', 'pk_K5DDDDDD', NULL,
   '8b38e2eb-6689-4f1e-a4ba-95b275130200', '12646005-9067-4d2a-a098-8bb378604362');
