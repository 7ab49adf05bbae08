-- Whole-file feeds (snapshots and references) store one partition per published file.
-- core.<feed>_rows becomes PARTITION BY LIST (file_id); publishing a file attaches its
-- staging table as that file's partition instead of copying its rows again (a 1 000 000-row
-- registry snapshot: one ATTACH with its index builds instead of an INSERT … SELECT that
-- pays a foreign-key check and three index inserts per row). Rows already published move
-- into one partition per file. Views are recreated on the new tables unchanged.

DROP VIEW core.household_registry;
ALTER TABLE core.household_registry_rows RENAME TO household_registry_rows_unpartitioned;
ALTER TABLE core.household_registry_rows_unpartitioned
    RENAME CONSTRAINT household_registry_rows_pkey TO household_registry_rows_unpartitioned_pkey;
ALTER INDEX core.household_registry_rows_id_no RENAME TO household_registry_rows_unpartitioned_id_no;
CREATE TABLE core.household_registry_rows (
    LIKE core.household_registry_rows_unpartitioned INCLUDING DEFAULTS INCLUDING COMMENTS,
    PRIMARY KEY (file_id, line_no),
    FOREIGN KEY (file_id) REFERENCES audit.file_ledger (file_id)
) PARTITION BY LIST (file_id);
CREATE INDEX household_registry_rows_id_no ON core.household_registry_rows (id_no);
COMMENT ON TABLE core.household_registry_rows IS '户籍人口快照（全部历史，每个文件一个分区） / every published household registry snapshot, one partition per file';

DROP VIEW core.regions;
ALTER TABLE core.regions_rows RENAME TO regions_rows_unpartitioned;
ALTER TABLE core.regions_rows_unpartitioned RENAME CONSTRAINT regions_rows_pkey TO regions_rows_unpartitioned_pkey;
CREATE TABLE core.regions_rows (
    LIKE core.regions_rows_unpartitioned INCLUDING DEFAULTS INCLUDING COMMENTS,
    PRIMARY KEY (file_id, line_no),
    FOREIGN KEY (file_id) REFERENCES audit.file_ledger (file_id)
) PARTITION BY LIST (file_id);
COMMENT ON TABLE core.regions_rows IS '统计用区划代码（全部版本，每个文件一个分区） / every published region reference, one partition per file';

DO $$
DECLARE
    feed text;
    f bigint;
BEGIN
    FOREACH feed IN ARRAY ARRAY['household_registry', 'regions'] LOOP
        FOR f IN EXECUTE format('SELECT DISTINCT file_id FROM core.%I ORDER BY 1', feed || '_rows_unpartitioned') LOOP
            EXECUTE format('CREATE TABLE core.%I PARTITION OF core.%I FOR VALUES IN (%s)',
                           feed || '_rows_' || f, feed || '_rows', f);
        END LOOP;
        EXECUTE format('INSERT INTO core.%I SELECT * FROM core.%I', feed || '_rows', feed || '_rows_unpartitioned');
        EXECUTE format('DROP TABLE core.%I', feed || '_rows_unpartitioned');
    END LOOP;
END
$$;

CREATE VIEW core.household_registry AS
SELECT r.*
FROM core.household_registry_rows r
WHERE r.file_id = (
    SELECT l.file_id FROM audit.file_ledger l
    WHERE l.feed = 'household_registry' AND l.stage = 'published'
    ORDER BY l.extract_date DESC NULLS LAST, l.file_id DESC
    LIMIT 1);
COMMENT ON VIEW core.household_registry IS '最新户籍人口快照 / the latest published household registry snapshot';

CREATE VIEW core.regions AS
SELECT r.*
FROM core.regions_rows r
WHERE r.file_id = (
    SELECT l.file_id FROM audit.file_ledger l
    WHERE l.feed = 'regions' AND l.stage = 'published'
    ORDER BY l.extract_date DESC NULLS LAST, l.file_id DESC
    LIMIT 1);
COMMENT ON VIEW core.regions IS '最新统计用区划代码 / the latest region reference';
