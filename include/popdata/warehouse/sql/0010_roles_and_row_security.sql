-- Migration 0010: who may read what, enforced by PostgreSQL (issue 8, docs/security.md).
--
-- Group roles (NOLOGIN; people and services log in as their own roles, members of these):
--   popdata_loader          the pipeline (DAG tasks): writes staging, core, audit, mart, ops
--   popdata_analyst         reads every row of mart
--   popdata_county_analyst  reads mart rows of the counties listed for it in access.county_analysts
--   popdata_engineer        reads audit and mart, and the clerical review queue in ops
--   popdata_ops_health / popdata_ops_police / popdata_ops_fp
--                           read the work lists addressed to their agency (ops), and only those rows
-- Nobody but the platform (the owner that runs these migrations, and the loader) reads core.
-- Row-level security is enabled and FORCED on every mart and ops table: without a policy for a
-- role, it sees no row, the owner included (superusers bypass RLS in PostgreSQL, always).
-- Roles are cluster-wide: they are created when missing and never dropped by a downgrade.

-- statement
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['popdata_loader', 'popdata_analyst', 'popdata_county_analyst', 'popdata_engineer',
                             'popdata_ops_health', 'popdata_ops_police', 'popdata_ops_fp'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object THEN
                NULL;  -- created meanwhile by a migration of another database of the cluster
            END;
        END IF;
    END LOOP;
END
$$

-- statement
CREATE SCHEMA access

-- statement
COMMENT ON SCHEMA access IS '访问控制配置 / access-control configuration (which counties each county analyst may read)'

-- statement
CREATE TABLE access.county_analysts (
    role_name    name NOT NULL,
    county_code  text NOT NULL CHECK (county_code ~ '^[0-9]{6}$'),
    PRIMARY KEY (role_name, county_code)
)

-- statement
COMMENT ON TABLE access.county_analysts IS '县级分析员可读的县 / counties each county analyst (a member of popdata_county_analyst) may read in mart'

-- statement
ALTER TABLE access.county_analysts ENABLE ROW LEVEL SECURITY

-- statement
ALTER TABLE access.county_analysts FORCE ROW LEVEL SECURITY

-- statement
CREATE POLICY own_rows ON access.county_analysts FOR SELECT TO popdata_county_analyst
    USING (role_name = current_user)

-- statement
GRANT USAGE ON SCHEMA access TO popdata_county_analyst

-- statement
GRANT SELECT ON access.county_analysts TO popdata_county_analyst

-- statement
-- nothing is open to PUBLIC: functions are executable by PUBLIC by default
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA core FROM PUBLIC

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA core REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC

-- statement
-- the loader: the platform's pipeline
GRANT USAGE, CREATE ON SCHEMA staging TO popdata_loader

-- statement
GRANT USAGE ON SCHEMA core, audit, mart, ops TO popdata_loader

-- statement
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA staging, core, audit, mart, ops TO popdata_loader

-- statement
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA staging, core, audit, mart, ops TO popdata_loader

-- statement
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA core TO popdata_loader

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, core, audit, mart, ops
    GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON TABLES TO popdata_loader

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA staging, core, audit, mart, ops
    GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO popdata_loader

-- statement
-- analysts and engineers read mart; engineers read audit
GRANT USAGE ON SCHEMA mart TO popdata_analyst, popdata_county_analyst, popdata_engineer

-- statement
GRANT SELECT ON ALL TABLES IN SCHEMA mart TO popdata_analyst, popdata_county_analyst, popdata_engineer

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA mart GRANT SELECT ON TABLES TO popdata_analyst, popdata_county_analyst, popdata_engineer

-- statement
GRANT USAGE ON SCHEMA audit TO popdata_engineer

-- statement
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO popdata_engineer

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT ON TABLES TO popdata_engineer

-- statement
-- ops: each agency reads the work lists addressed to it (WAREHOUSE.md, ops)
GRANT USAGE ON SCHEMA ops TO popdata_ops_health, popdata_ops_police, popdata_ops_fp, popdata_engineer

-- statement
GRANT SELECT ON ops.unregistered_births, ops.deaths_not_cancelled TO popdata_ops_police

-- statement
GRANT SELECT ON ops.registrations_without_certificate TO popdata_ops_health

-- statement
GRANT SELECT ON ops.paid_after_death TO popdata_ops_fp

-- statement
GRANT SELECT ON ops.id_corrections TO popdata_ops_health, popdata_ops_police, popdata_ops_fp

-- statement
GRANT SELECT ON ops.clerical_review TO popdata_engineer

-- statement
-- row-level security on every mart table
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname,
               EXISTS (SELECT FROM pg_catalog.pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'county_code' AND NOT a.attisdropped) AS by_county
        FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'mart' AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE mart.%I ENABLE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('ALTER TABLE mart.%I FORCE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('CREATE POLICY loader_all ON mart.%I TO popdata_loader USING (true) WITH CHECK (true)',
                       t.relname);
        EXECUTE format('CREATE POLICY read_all ON mart.%I FOR SELECT TO popdata_analyst, popdata_engineer'
                       ' USING (true)', t.relname);
        IF t.by_county THEN
            EXECUTE format('CREATE POLICY own_counties ON mart.%I FOR SELECT TO popdata_county_analyst'
                           ' USING (county_code IN (SELECT a.county_code FROM access.county_analysts a'
                           ' WHERE a.role_name = current_user))', t.relname);
        ELSE  -- not about a county (feed quality, linkage quality): readable by every analyst
            EXECUTE format('CREATE POLICY own_counties ON mart.%I FOR SELECT TO popdata_county_analyst'
                           ' USING (true)', t.relname);
        END IF;
    END LOOP;
END
$$

-- statement
-- row-level security on every ops table: the loader writes, each reader sees its agency's rows
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'ops' AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE ops.%I ENABLE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('ALTER TABLE ops.%I FORCE ROW LEVEL SECURITY', t.relname);
        EXECUTE format('CREATE POLICY loader_all ON ops.%I TO popdata_loader USING (true) WITH CHECK (true)',
                       t.relname);
    END LOOP;
END
$$

-- statement
CREATE POLICY addressed_to_police ON ops.unregistered_births FOR SELECT TO popdata_ops_police USING (true)

-- statement
CREATE POLICY addressed_to_police ON ops.deaths_not_cancelled FOR SELECT TO popdata_ops_police USING (true)

-- statement
CREATE POLICY addressed_to_health ON ops.registrations_without_certificate FOR SELECT TO popdata_ops_health
    USING (true)

-- statement
CREATE POLICY addressed_to_fp ON ops.paid_after_death FOR SELECT TO popdata_ops_fp USING (true)

-- statement
-- ID corrections go to the agency that sent the record (the feeds of each agency, AGENCY_EXTRACTS.md)
CREATE POLICY addressed_to_health ON ops.id_corrections FOR SELECT TO popdata_ops_health
    USING (feed IN ('birth_certificates', 'death_records', 'prenatal_checks'))

-- statement
CREATE POLICY addressed_to_police ON ops.id_corrections FOR SELECT TO popdata_ops_police
    USING (feed IN ('household_registry', 'birth_registrations', 'hukou_cancellations', 'migrant_registrations'))

-- statement
CREATE POLICY addressed_to_fp ON ops.id_corrections FOR SELECT TO popdata_ops_fp
    USING (feed IN ('birth_approvals', 'assistance_rolls', 'social_fee_cases', 'annual_targets'))

-- statement
CREATE POLICY engineers_read ON ops.clerical_review FOR SELECT TO popdata_engineer USING (true)
