-- Migration 0014: village direct reporting (村直报, issue 11; docs/village-reports.md).
--
-- core.village_reports_rows / core.village_reports: the feed fp/village_reports (its YAML and
--   suite), the files the intake app writes into the landing folder; reviewed DDL, as for the
--   contract's feeds (warehouse/feed_tables.py derived it once from the YAML).
-- Schema intake (the platform's own): what the intake app receives before it becomes a file.
--   intake.village_tokens   per-village tokens issued by the county, stored as sha256 only
--   intake.village_reports  accepted reports, as submitted, until a batch writes them to a file
--   intake.batches          the files written from them (name, rows, sha256)
--   intake.submissions      every submission, accepted or not: who, when, what (values masked)
-- Roles: popdata_intake (NOLOGIN) may read the tokens and the region names, add reports and
--   submissions, nothing else; the login popdata_village (the intake app) is its member. The
--   loader (the batching task) reads reports and writes batches.
-- mart.births gains in_village_report (a published column, CHANGELOG).
-- audit.village_report_weeks and audit.village_intake publish counts for the population-data
--   view (no report contents).

CREATE TABLE core."village_reports_rows" (
    "file_id" bigint NOT NULL REFERENCES audit.file_ledger (file_id),
    "line_no" integer NOT NULL,
    "extract_date" date NOT NULL,
    "report_no" text,
    "report_type" text,
    "region_code" text,
    "region_code_sent" text,
    "report_date" date,
    "name" text,
    "name_sent" text,
    "id_no" text,
    "id_no_valid" boolean,
    "id_no_sent" text,
    "sex" text,
    "birth_date" date,
    "birth_order" integer,
    "mother_name" text,
    "mother_name_sent" text,
    "mother_id" text,
    "mother_id_valid" boolean,
    "mother_id_sent" text,
    "father_name" text,
    "father_name_sent" text,
    "father_id" text,
    "father_id_valid" boolean,
    "father_id_sent" text,
    "death_date" date,
    "move_date" date,
    "move_place" text,
    "marital" text,
    "marital_date" date,
    "clerk" text,
    "extras" jsonb,
    PRIMARY KEY (file_id, line_no)
)

-- statement
CREATE INDEX "village_reports_rows_key" ON core."village_reports_rows" ("report_no")

-- statement
COMMENT ON TABLE core."village_reports_rows" IS '村级直报（全部版本） / every published version'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."report_no" IS '直报编号（受理时告知填报人） / report reference number, given to the clerk on acceptance'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."report_type" IS '报告类型：出生、死亡、迁入、迁出、婚姻变动 / report type: birth, death, move in, move out, marital change'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."region_code" IS '报告村(居)的区划代码 / region code of the reporting village'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."report_date" IS '报告日期（北京时间） / date of the report (Beijing time)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."name" IS '姓名（出生报告为新生儿，可空） / name (for a birth the newborn''s, may be blank)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."id_no" IS '公民身份号码（出生报告为新生儿，通常尚无） / identity number (for a birth the newborn''s, usually none yet)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."sex" IS '性别（出生报告为新生儿） / sex (for a birth the newborn''s)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."birth_date" IS '出生日期 / date of birth'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."birth_order" IS '孩次（出生报告） / birth order (birth reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."mother_name" IS '母亲姓名（出生报告） / mother''s name (birth reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."mother_id" IS '母亲身份证号（出生报告） / mother''s ID number (birth reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."father_name" IS '父亲姓名（出生报告） / father''s name (birth reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."father_id" IS '父亲身份证号（出生报告） / father''s ID number (birth reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."death_date" IS '死亡日期（死亡报告） / date of death (death reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."move_date" IS '迁入或迁出日期（迁移报告） / date of the move (move reports)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."move_place" IS '迁入报告为迁出地，迁出报告为迁往地 / where from (move in) or where to (move out)'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."marital" IS '变动后的婚姻状况：未婚、已婚、离婚、丧偶 / marital status after the change'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."marital_date" IS '婚姻状况变动日期 / date of the marital change'

-- statement
COMMENT ON COLUMN core."village_reports_rows"."clerk" IS '填报人（令牌名称） / the reporting clerk (the token''s label)'

-- statement
CREATE VIEW core."village_reports" AS SELECT DISTINCT ON ("report_no") r.* FROM core."village_reports_rows" r ORDER BY "report_no", r.extract_date DESC, r.file_id DESC, r.line_no DESC


-- statement
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'popdata_intake') THEN
        BEGIN
            CREATE ROLE popdata_intake NOLOGIN;
        EXCEPTION WHEN duplicate_object THEN
            NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'popdata_village') THEN
        BEGIN
            CREATE ROLE popdata_village LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS INHERIT;
        EXCEPTION WHEN duplicate_object THEN
            NULL;
        END;
    END IF;
    IF NOT pg_has_role('popdata_village', 'popdata_intake', 'MEMBER') THEN
        BEGIN
            GRANT popdata_intake TO popdata_village;
        EXCEPTION WHEN unique_violation OR duplicate_object THEN
            NULL;
        END;
    END IF;
END
$$

-- statement
CREATE SCHEMA intake

-- statement
COMMENT ON SCHEMA intake IS '村级直报的受理数据（平台内部） / village direct reports as received, before they become files (internal)'

-- statement
CREATE TABLE intake.village_tokens (
    token_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256  text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    village_code  text NOT NULL CHECK (village_code ~ '^[0-9]{12}$'),
    label         text NOT NULL CHECK (length(label) BETWEEN 1 AND 64),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
)

-- statement
COMMENT ON TABLE intake.village_tokens IS '村级直报令牌（仅存哈希） / per-village tokens issued by the county (only their sha256 is kept)'

-- statement
CREATE TABLE intake.batches (
    batch_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    file_name     text NOT NULL UNIQUE,
    extract_date  date NOT NULL,
    reports       integer NOT NULL CHECK (reports > 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    sha256        text CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    dropped_at    timestamptz
)

-- statement
COMMENT ON TABLE intake.batches IS '由直报生成的文件：文件名、行数、sha256；dropped_at 为空表示尚未写完 / files written from the reports (dropped_at null: not written out yet)'

-- statement
CREATE SEQUENCE intake.village_report_numbers

-- statement
CREATE TABLE intake.village_reports (
    report_id     bigint PRIMARY KEY,
    report_no     text NOT NULL UNIQUE,
    token_id      bigint NOT NULL REFERENCES intake.village_tokens (token_id),
    client_id     text NOT NULL CHECK (length(client_id) BETWEEN 1 AND 64),
    village_code  text NOT NULL CHECK (village_code ~ '^[0-9]{12}$'),
    report_type   text NOT NULL,
    report_date   date NOT NULL,
    fields        jsonb NOT NULL,
    accepted_at   timestamptz NOT NULL DEFAULT now(),
    batch_id      bigint REFERENCES intake.batches (batch_id),
    UNIQUE (token_id, client_id)
)

-- statement
COMMENT ON TABLE intake.village_reports IS '已受理的直报（原样保存，批量写成文件后仍保留） / accepted reports as submitted; batch_id names the file that carries each'

-- statement
CREATE INDEX village_reports_unbatched ON intake.village_reports (report_id) WHERE batch_id IS NULL

-- statement
CREATE TABLE intake.submissions (
    submission_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    submitted_at   timestamptz NOT NULL DEFAULT now(),
    token_id       bigint REFERENCES intake.village_tokens (token_id),
    village_code   text,
    channel        text NOT NULL CHECK (channel IN ('form', 'api')),
    client_id      text,
    report_type    text,
    outcome        text NOT NULL CHECK (outcome IN ('accepted', 'replayed', 'invalid', 'conflict',
                                                    'rate_limited', 'too_large', 'unauthorized')),
    report_no      text,
    errors         jsonb,
    masked_fields  jsonb
)

-- statement
COMMENT ON TABLE intake.submissions IS '每次提交的审计记录（谁、何时、何事；身份证号与姓名已遮蔽） / every submission: who (token), when, what (values masked), and the outcome'

-- statement
CREATE INDEX submissions_by_token ON intake.submissions (token_id, submitted_at)

-- statement
GRANT USAGE ON SCHEMA intake TO popdata_intake, popdata_loader

-- statement
GRANT SELECT ON intake.village_tokens TO popdata_intake

-- statement
GRANT SELECT, INSERT ON intake.village_reports TO popdata_intake

-- statement
GRANT USAGE ON SEQUENCE intake.village_report_numbers TO popdata_intake

-- statement
GRANT SELECT, INSERT ON intake.submissions TO popdata_intake

-- statement
GRANT SELECT ON intake.batches TO popdata_intake

-- statement
GRANT USAGE ON SCHEMA mart TO popdata_intake

-- statement
GRANT SELECT ON mart.region_names TO popdata_intake

-- statement
GRANT USAGE ON SCHEMA audit TO popdata_intake

-- statement
GRANT SELECT (file_id, agency, feed, file_name, status, rows_read, rows_loaded, rows_rejected, receipt_path)
    ON audit.file_ledger TO popdata_intake

-- statement
GRANT SELECT ON intake.village_reports, intake.village_tokens TO popdata_loader

-- statement
GRANT UPDATE (batch_id) ON intake.village_reports TO popdata_loader

-- statement
GRANT SELECT, INSERT, UPDATE ON intake.batches TO popdata_loader

-- statement
ALTER TABLE mart.births ADD COLUMN in_village_report boolean NOT NULL DEFAULT false

-- statement
ALTER TABLE mart.births DROP CONSTRAINT births_check

-- statement
-- a birth only a village reported is a birth too (it was CHECK (in_health OR in_police))
ALTER TABLE mart.births ADD CONSTRAINT births_known_somewhere CHECK (in_health OR in_police OR in_village_report)

-- statement
COMMENT ON TABLE mart.births IS '整合出生：同一出生的出生医学证明、公安出生登记与村级直报出生报告合为一行（按子女人员键或出生医学证明编号匹配；直报也可按母亲人员键与出生日期前后30天匹配） / one consolidated birth: the health birth certificate, the police birth registration and the village birth report of the same birth are one row (matched by the child''s person key or the certificate number; a village report also by the mother''s person key within 30 days of the birth date)'

-- statement
COMMENT ON COLUMN mart.births.in_village_report IS '有村级直报的出生报告（同一新生儿，或同一母亲在出生日期前后30天内） / a village birth report names this birth (the same child, or the same mother within 30 days of the birth date)'

-- statement
CREATE VIEW audit.village_report_weeks AS
SELECT r.village_code,
       (date_trunc('week', r.accepted_at AT TIME ZONE 'Asia/Shanghai'))::date AS week_start,
       r.report_type,
       count(*)::int AS reports
FROM intake.village_reports r
GROUP BY 1, 2, 3

-- statement
COMMENT ON VIEW audit.village_report_weeks IS '各村每周直报数（按报告类型；不含报告内容） / village direct reports per village, week (Monday, Beijing time) and report type; never their contents'

-- statement
COMMENT ON COLUMN audit.village_report_weeks.village_code IS '村(居)区划代码 / village region code'

-- statement
COMMENT ON COLUMN audit.village_report_weeks.week_start IS '周一（北京时间） / Monday of the week (Beijing time)'

-- statement
COMMENT ON COLUMN audit.village_report_weeks.report_type IS '报告类型 / report type'

-- statement
COMMENT ON COLUMN audit.village_report_weeks.reports IS '受理的报告数 / reports accepted'

-- statement
CREATE VIEW audit.village_intake AS
SELECT t.village_code,
       count(*) FILTER (WHERE t.revoked_at IS NULL)::int AS active_tokens,
       min(t.created_at) AS first_token_at,
       (SELECT max(r.accepted_at) FROM intake.village_reports r WHERE r.village_code = t.village_code) AS last_report_at,
       (SELECT count(*) FROM intake.village_reports r WHERE r.village_code = t.village_code)::int AS reports,
       (SELECT count(*) FROM intake.village_reports r
         WHERE r.village_code = t.village_code AND r.batch_id IS NULL)::int AS waiting_for_batch,
       (SELECT count(*) FROM intake.submissions s
         WHERE s.village_code = t.village_code AND s.outcome NOT IN ('accepted', 'replayed')
           AND s.submitted_at > now() - interval '7 days')::int AS refused_last_7_days
FROM intake.village_tokens t
GROUP BY t.village_code

-- statement
COMMENT ON VIEW audit.village_intake IS '各村直报状态：有效令牌、最近一次报告、待成批报告、近7天被拒提交 / per village with a token: active tokens, the last report, reports waiting for a batch, refused submissions in the last 7 days'

-- statement
COMMENT ON COLUMN audit.village_intake.village_code IS '村(居)区划代码 / village region code'

-- statement
COMMENT ON COLUMN audit.village_intake.active_tokens IS '未吊销的令牌数 / tokens not revoked'

-- statement
COMMENT ON COLUMN audit.village_intake.first_token_at IS '首个令牌签发时间 / when the first token was issued'

-- statement
COMMENT ON COLUMN audit.village_intake.last_report_at IS '最近一次受理报告的时间 / when the last report was accepted'

-- statement
COMMENT ON COLUMN audit.village_intake.reports IS '受理的报告总数 / reports accepted'

-- statement
COMMENT ON COLUMN audit.village_intake.waiting_for_batch IS '尚未写入文件的报告 / reports not yet written to a file'

-- statement
COMMENT ON COLUMN audit.village_intake.refused_last_7_days IS '近7天被拒的提交（校验错误、超限、无权限） / submissions refused in the last 7 days (invalid, over a limit, not allowed)'

-- statement
GRANT SELECT ON audit.village_report_weeks, audit.village_intake TO popdata_dashboard, popdata_engineer, popdata_loader
