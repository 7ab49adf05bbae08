-- popdata warehouse foundation: schemas, the audit trail, the household registry and the
-- region reference in core, and mart.population. Applied by Alembic revision 0001.

CREATE SCHEMA IF NOT EXISTS staging;
CREATE SCHEMA IF NOT EXISTS core;
CREATE SCHEMA IF NOT EXISTS pii;
CREATE SCHEMA IF NOT EXISTS mart;
CREATE SCHEMA IF NOT EXISTS ops;
CREATE SCHEMA IF NOT EXISTS audit;

COMMENT ON SCHEMA staging IS '暂存区：每个文件一张表，发布后删除 / per-file staging tables, dropped after publish (internal)';
COMMENT ON SCHEMA core IS '整合后的记录与历史 / consolidated records and their history (internal)';
COMMENT ON SCHEMA pii IS '身份信息与假名密钥 / identities and pseudonym keys (internal, most restricted)';
COMMENT ON SCHEMA mart IS '去标识化的分析数据集 / de-identified analyst marts (published)';
COMMENT ON SCHEMA ops IS '发回各部门的工作清单 / work lists for the agencies (published)';
COMMENT ON SCHEMA audit IS '文件台账、拒收行、质量结果 / file ledger, rejected rows, quality results (published to data engineers)';

-- audit.file_ledger -------------------------------------------------------------------------
CREATE TABLE audit.file_ledger (
    file_id           bigserial PRIMARY KEY,
    agency            text        NOT NULL,
    feed              text        NOT NULL,
    file_name         text        NOT NULL,
    rel_path          text        NOT NULL,
    sha256            char(64)    NOT NULL,
    size_bytes        bigint      NOT NULL,
    received_at       timestamptz NOT NULL DEFAULT now(),
    extract_date      date,
    status            text CHECK (status IN ('loaded', 'loaded_with_rejections', 'quarantined', 'duplicate')),
    stage             text        NOT NULL DEFAULT 'received'
                      CHECK (stage IN ('received', 'staged', 'validated', 'published', 'quarantined', 'duplicate')),
    rows_read         integer,
    rows_loaded       integer,
    rows_rejected     integer,
    rows_warned       integer,
    encoding          text,
    irregularities    text[]      NOT NULL DEFAULT '{}',
    quarantine_reason text,
    duplicate_of      bigint REFERENCES audit.file_ledger (file_id),
    manifest          jsonb,
    receipt_path      text,
    published_at      timestamptz,
    CONSTRAINT file_ledger_drop_once UNIQUE (agency, feed, rel_path, sha256),
    CONSTRAINT file_ledger_counts CHECK (rows_read IS NULL OR rows_read = rows_loaded + rows_rejected)
);
-- The same bytes for the same feed are loaded once, ever.
CREATE UNIQUE INDEX file_ledger_loaded_once ON audit.file_ledger (agency, feed, sha256)
    WHERE status IN ('loaded', 'loaded_with_rejections');
CREATE INDEX file_ledger_feed_received ON audit.file_ledger (feed, received_at);

COMMENT ON TABLE audit.file_ledger IS '文件台账：每个收到的文件一行 / one row per received file';
COMMENT ON COLUMN audit.file_ledger.file_id IS '文件编号 / file id';
COMMENT ON COLUMN audit.file_ledger.agency IS '报送部门 / sending agency (health, police, fp, stats)';
COMMENT ON COLUMN audit.file_ledger.feed IS '数据项 / feed name';
COMMENT ON COLUMN audit.file_ledger.file_name IS '文件名 / file name as dropped';
COMMENT ON COLUMN audit.file_ledger.rel_path IS '相对落地区的路径 / path relative to the landing folder';
COMMENT ON COLUMN audit.file_ledger.sha256 IS '文件内容SHA-256 / sha256 of the bytes';
COMMENT ON COLUMN audit.file_ledger.size_bytes IS '文件大小（字节） / size in bytes';
COMMENT ON COLUMN audit.file_ledger.received_at IS '登记时间 / when the platform registered the file';
COMMENT ON COLUMN audit.file_ledger.extract_date IS '抽取日期（清单或文件名） / extract date from manifest or file name';
COMMENT ON COLUMN audit.file_ledger.status IS '处理结果 / outcome: loaded, loaded_with_rejections, quarantined, duplicate (null while in flight)';
COMMENT ON COLUMN audit.file_ledger.stage IS '处理阶段 / pipeline stage reached';
COMMENT ON COLUMN audit.file_ledger.rows_read IS '读取行数 / data rows read (= loaded + rejected)';
COMMENT ON COLUMN audit.file_ledger.rows_loaded IS '入库行数 / rows loaded';
COMMENT ON COLUMN audit.file_ledger.rows_rejected IS '拒收行数 / rows rejected';
COMMENT ON COLUMN audit.file_ledger.rows_warned IS '有警告的行数 / rows loaded with warnings';
COMMENT ON COLUMN audit.file_ledger.encoding IS '识别出的编码 / detected encoding';
COMMENT ON COLUMN audit.file_ledger.irregularities IS '不规范之处 / irregularities (irregular_name, encoding, traditional_script, damaged_text …)';
COMMENT ON COLUMN audit.file_ledger.quarantine_reason IS '隔离原因 / why the file was quarantined';
COMMENT ON COLUMN audit.file_ledger.duplicate_of IS '重复文件对应的已入库文件 / the loaded file this one duplicates';
COMMENT ON COLUMN audit.file_ledger.manifest IS '随附清单 / the manifest, when one came';
COMMENT ON COLUMN audit.file_ledger.receipt_path IS '回执路径 / path of the JSON receipt';
COMMENT ON COLUMN audit.file_ledger.published_at IS '发布时间 / when the file was published';

-- audit.rejected_rows and audit.row_warnings -------------------------------------------------
CREATE TABLE audit.rejected_rows (
    file_id      bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no      integer NOT NULL,
    column_name  text,
    reason_code  text    NOT NULL,
    masked_value text
);
CREATE INDEX rejected_rows_file ON audit.rejected_rows (file_id, line_no);
COMMENT ON TABLE audit.rejected_rows IS '拒收行（值已脱敏） / rejected rows, values masked';
COMMENT ON COLUMN audit.rejected_rows.file_id IS '文件编号 / file id';
COMMENT ON COLUMN audit.rejected_rows.line_no IS '行号（文件中的物理行，表头为第1行） / physical line in the file, header = 1';
COMMENT ON COLUMN audit.rejected_rows.column_name IS '列名 / column';
COMMENT ON COLUMN audit.rejected_rows.reason_code IS '原因代码 / reason code';
COMMENT ON COLUMN audit.rejected_rows.masked_value IS '脱敏后的值 / masked value';

CREATE TABLE audit.row_warnings (LIKE audit.rejected_rows);
ALTER TABLE audit.row_warnings ADD FOREIGN KEY (file_id) REFERENCES audit.file_ledger (file_id);
CREATE INDEX row_warnings_file ON audit.row_warnings (file_id, line_no);
COMMENT ON TABLE audit.row_warnings IS '入库但有警告的值（值已脱敏） / loaded rows with a warning on a value, masked';

-- audit.dq_results ---------------------------------------------------------------------------
CREATE TABLE audit.dq_results (
    dq_result_id     bigserial PRIMARY KEY,
    file_id          bigint REFERENCES audit.file_ledger (file_id),
    suite            text        NOT NULL,
    expectation      text        NOT NULL,
    column_name      text,
    success          boolean     NOT NULL,
    unexpected_count bigint,
    element_count    bigint,
    severity         text        NOT NULL,
    validated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dq_results_file ON audit.dq_results (file_id);
COMMENT ON TABLE audit.dq_results IS '数据质量检查结果：每批每项期望一行 / one row per expectation per validated batch';
COMMENT ON COLUMN audit.dq_results.file_id IS '文件编号（跨数据项检查为空） / file id, null for cross-feed suites';
COMMENT ON COLUMN audit.dq_results.suite IS '期望套件 / expectation suite';
COMMENT ON COLUMN audit.dq_results.expectation IS '期望类型 / expectation type';
COMMENT ON COLUMN audit.dq_results.column_name IS '列名 / column';
COMMENT ON COLUMN audit.dq_results.success IS '是否通过 / passed';
COMMENT ON COLUMN audit.dq_results.unexpected_count IS '不符合的行数 / unexpected values';
COMMENT ON COLUMN audit.dq_results.element_count IS '检查的行数 / values checked';
COMMENT ON COLUMN audit.dq_results.severity IS '严重程度（critical阻断发布，warning仅记录） / critical blocks publishing, warning is recorded';
COMMENT ON COLUMN audit.dq_results.validated_at IS '检查时间 / validated at';

-- core.household_registry_rows: every published snapshot, all rows --------------------------------
CREATE TABLE core.household_registry_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no           integer NOT NULL,
    extract_date      date    NOT NULL,
    id_no             text    NOT NULL,
    id_no_valid       boolean NOT NULL,
    id_no_sent        text,
    name              text    NOT NULL,
    name_sent         text,
    former_name       text,
    former_name_sent  text,
    sex               text,
    ethnicity         text,
    birth_date        date,
    household_no      text,
    relation          text,
    region_code       text,
    region_code_sent  text,
    address           text,
    marital           text,
    status            text,
    registered_date   date,
    extras            jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX household_registry_rows_id_no ON core.household_registry_rows (id_no);
COMMENT ON TABLE core.household_registry_rows IS '户籍人口快照（全部历史） / every published household registry snapshot';

CREATE VIEW core.household_registry AS
SELECT r.*
FROM core.household_registry_rows r
WHERE r.file_id = (
    SELECT l.file_id FROM audit.file_ledger l
    WHERE l.feed = 'household_registry' AND l.stage = 'published'
    ORDER BY l.extract_date DESC NULLS LAST, l.file_id DESC
    LIMIT 1);
COMMENT ON VIEW core.household_registry IS '最新户籍人口快照 / the latest published household registry snapshot';

-- core.regions_rows: the statistics bureau's region reference ------------------------------------
CREATE TABLE core.regions_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no           integer NOT NULL,
    extract_date      date    NOT NULL,
    code              text,
    code_sent         text,
    name              text    NOT NULL,
    level             text    NOT NULL,
    parent_code       text,
    parent_code_sent  text,
    urban_rural       text,
    extras            jsonb,
    PRIMARY KEY (file_id, line_no)
);
COMMENT ON TABLE core.regions_rows IS '统计用区划代码（全部版本） / every published region reference';

CREATE VIEW core.regions AS
SELECT r.*
FROM core.regions_rows r
WHERE r.file_id = (
    SELECT l.file_id FROM audit.file_ledger l
    WHERE l.feed = 'regions' AND l.stage = 'published'
    ORDER BY l.extract_date DESC NULLS LAST, l.file_id DESC
    LIMIT 1);
COMMENT ON VIEW core.regions IS '最新统计用区划代码 / the latest region reference';

-- mart.population ------------------------------------------------------------------------------
CREATE TABLE mart.population (
    region_code     text,
    county_code     text,
    town_code       text,
    village_code    text,
    year            integer NOT NULL,
    month           integer NOT NULL,
    reference_date  date    NOT NULL,
    sex             text CHECK (sex IN ('M', 'F')),
    age_band        text    NOT NULL,
    age_from        integer NOT NULL,
    persons         integer NOT NULL,
    source_file_id  bigint  NOT NULL REFERENCES audit.file_ledger (file_id)
);
CREATE UNIQUE INDEX population_grain ON mart.population
    (year, month, region_code, sex, age_band) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.population IS '户籍人口：村（居）×性别×5岁年龄组，月末 / registered population by village, sex and 5-year age band at month end (status 正常 only)';
COMMENT ON COLUMN mart.population.region_code IS '统计用区划代码（12位；只知乡镇时为乡镇级代码） / 12-digit region code (town-level code when the village is unknown; null when unresolved)';
COMMENT ON COLUMN mart.population.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.population.town_code IS '乡级代码（9位） / 9-digit town code';
COMMENT ON COLUMN mart.population.village_code IS '村级代码（12位） / 12-digit village code';
COMMENT ON COLUMN mart.population.year IS '年 / year of the reference month';
COMMENT ON COLUMN mart.population.month IS '月 / month';
COMMENT ON COLUMN mart.population.reference_date IS '参照日期（月末） / month end the ages are counted to';
COMMENT ON COLUMN mart.population.sex IS '性别 M/F（未知为空） / sex M/F, null when unknown or not stated';
COMMENT ON COLUMN mart.population.age_band IS '5岁年龄组（0-4 … 85+） / 5-year age band';
COMMENT ON COLUMN mart.population.age_from IS '年龄组下限 / lower bound of the age band';
COMMENT ON COLUMN mart.population.persons IS '人数 / persons';
COMMENT ON COLUMN mart.population.source_file_id IS '来源快照文件 / the registry snapshot counted';
