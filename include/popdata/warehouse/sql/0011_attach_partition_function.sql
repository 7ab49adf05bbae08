-- Migration 0011: the pipeline publishes whole-file feeds without owning core (issue 8).
--
-- Publishing a whole-file feed (registry, regions) moves the file's staging table into core and
-- attaches it as the file's partition of core.<feed>_rows. PostgreSQL allows that only to the owner
-- of both tables, so the loader role calls this function, which runs as the platform (SECURITY
-- DEFINER) and does exactly that and nothing else: the parent must be a partitioned table of core,
-- the table a staging table named <parent>_<file_id>, identifiers are quoted, the search path fixed.
-- The platform role must own (or be a member of the owner of) the staging table it moves: the
-- migration makes it a member of popdata_loader, which owns what the pipeline creates.

-- statement
CREATE FUNCTION core.attach_file_partition(p_parent text, p_file_id bigint) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
    v_partition text := p_parent || '_' || p_file_id;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'core' AND c.relname = p_parent AND c.relkind = 'p') THEN
        RAISE EXCEPTION 'core.% is not a partitioned table', p_parent USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                   WHERE n.nspname = 'staging' AND c.relname = v_partition AND c.relkind = 'r') THEN
        RAISE EXCEPTION 'staging.% does not exist', v_partition USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('DROP TABLE IF EXISTS core.%I', v_partition);  -- a re-run of the same file's publish
    EXECUTE format('ALTER TABLE staging.%I SET SCHEMA core', v_partition);
    EXECUTE format('ALTER TABLE core.%I ATTACH PARTITION core.%I FOR VALUES IN (%s)', p_parent, v_partition,
                   p_file_id);
END
$$

-- statement
COMMENT ON FUNCTION core.attach_file_partition(text, bigint) IS '把某文件的暂存表挂为 core.<数据项>_rows 的分区（以平台身份执行） / attach a file''s staging table as its partition of core.<feed>_rows, as the platform'

-- statement
REVOKE ALL ON FUNCTION core.attach_file_partition(text, bigint) FROM PUBLIC

-- statement
GRANT EXECUTE ON FUNCTION core.attach_file_partition(text, bigint) TO popdata_loader

-- statement
DO $$
BEGIN
    IF NOT pg_has_role(current_user, 'popdata_loader', 'MEMBER') THEN
        EXECUTE format('GRANT popdata_loader TO %I', current_user);
    END IF;
END
$$

-- statement
-- the pipeline checks the revision before it works (it never migrates: only the platform does)
GRANT SELECT ON public.alembic_version TO popdata_loader
