-- Migration 0012: the roles services log in as, and two views that publish what they need (issue 8).
--
-- Login roles (LOGIN, no password: trust or peer authentication only, until `popdata db logins`
-- sets the password from the environment; cluster-wide, created when missing, never dropped):
--   popdata_pipeline  the DAG tasks (and the Great Expectations connections they open); a member of
--                     popdata_loader, which it switches to (SET ROLE) so that what it creates is owned
--                     by the loader. It owns nothing and is no superuser: the platform (the owner that
--                     runs migrations) is never the role the DAGs log in with.
--   popdata_view      the population-data view in the Airflow UI; a member of popdata_dashboard.
-- Group role popdata_dashboard: what the view may read: every row of mart (as an analyst), audit,
-- the sizes of the work lists (never their rows) and the region names. No core, no ops, no pii.
--
-- Views (owned by the platform, so they read core and ops with its rights and publish only this):
--   mart.region_names      the latest statistical region reference: codes and names (public data)
--   audit.work_list_sizes  rows per work list in ops, and to whom each is addressed

-- statement
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['popdata_dashboard'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
    FOREACH r IN ARRAY ARRAY['popdata_pipeline', 'popdata_view'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT', r);
            EXCEPTION WHEN duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$

-- statement
DO $$
DECLARE
    m text[];
BEGIN
    FOREACH m SLICE 1 IN ARRAY ARRAY[['popdata_loader', 'popdata_pipeline'],
                                     ['popdata_analyst', 'popdata_dashboard'],
                                     ['popdata_dashboard', 'popdata_view']] LOOP
        IF NOT pg_has_role(m[2], m[1], 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO %I', m[1], m[2]);
            EXCEPTION WHEN unique_violation OR duplicate_object THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$

-- statement
CREATE VIEW mart.region_names AS
SELECT r.code AS region_code, r.name, r.level, r.parent_code, r.urban_rural
FROM core.regions r
WHERE r.code IS NOT NULL

-- statement
COMMENT ON VIEW mart.region_names IS '统计用区划代码与名称（最新版本，公开资料） / the latest statistical region reference: codes and names (public data)'

-- statement
COMMENT ON COLUMN mart.region_names.region_code IS '12位统计用区划代码 / 12-digit statistical region code'

-- statement
COMMENT ON COLUMN mart.region_names.name IS '区划名称 / region name'

-- statement
COMMENT ON COLUMN mart.region_names.level IS '层级（县/乡镇/村） / level (county, town, village)'

-- statement
COMMENT ON COLUMN mart.region_names.parent_code IS '上级区划代码 / code of the parent region'

-- statement
COMMENT ON COLUMN mart.region_names.urban_rural IS '城乡分类代码 / urban-rural classification code'

-- statement
CREATE VIEW audit.work_list_sizes AS
SELECT 'unregistered_births'::text AS work_list, 'police'::text AS addressed_to,
       count(*) AS list_rows, count(*) AS records
FROM ops.unregistered_births
UNION ALL
SELECT 'registrations_without_certificate', 'health', count(*), count(*) FROM ops.registrations_without_certificate
UNION ALL
SELECT 'deaths_not_cancelled', 'police', count(*), count(*) FROM ops.deaths_not_cancelled
UNION ALL
SELECT 'paid_after_death', 'fp', count(*), count(*) FROM ops.paid_after_death
UNION ALL
SELECT 'id_corrections', 'sending agency', count(*), count(*) FROM ops.id_corrections
UNION ALL
SELECT 'clerical_review', 'engineers', count(*), count(DISTINCT mention_id) FROM ops.clerical_review

-- statement
COMMENT ON VIEW audit.work_list_sizes IS '各工作清单的行数（不含名单内容） / rows per work list in ops, never their contents'

-- statement
COMMENT ON COLUMN audit.work_list_sizes.work_list IS '工作清单（ops 表名） / work list (the ops table)'

-- statement
COMMENT ON COLUMN audit.work_list_sizes.addressed_to IS '接收部门 / the agency it is addressed to'

-- statement
COMMENT ON COLUMN audit.work_list_sizes.list_rows IS '行数 / rows'

-- statement
COMMENT ON COLUMN audit.work_list_sizes.records IS '不同记录数（待复核清单为记录角色数，其余同行数） / distinct records (record roles for the clerical review queue, else the rows)'

-- statement
GRANT USAGE ON SCHEMA audit TO popdata_dashboard

-- statement
GRANT SELECT ON ALL TABLES IN SCHEMA audit TO popdata_dashboard

-- statement
ALTER DEFAULT PRIVILEGES IN SCHEMA audit GRANT SELECT ON TABLES TO popdata_dashboard

-- statement
GRANT SELECT ON mart.region_names TO popdata_analyst, popdata_county_analyst, popdata_engineer, popdata_loader

-- statement
GRANT SELECT ON audit.work_list_sizes TO popdata_engineer, popdata_loader
