-- Core tables of every incremental feed (Alembic revision 0002): every published version of every
-- record in core.<feed>_rows (history: which file sent it, for which extract date), and the
-- current version per source key in the view core.<feed> (latest extract wins; ties: latest file, last line).

-- fp/annual_targets: 年度任务
CREATE TABLE core.annual_targets_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    region_code           text,
    region_code_sent      text,
    year                  integer,
    indicator             text,
    target                numeric(14,2),
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX annual_targets_rows_key ON core.annual_targets_rows (region_code, year, indicator);
COMMENT ON TABLE core.annual_targets_rows IS '年度任务（全部版本） / every published version of fp/annual_targets';
COMMENT ON COLUMN core.annual_targets_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.annual_targets_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.annual_targets_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.annual_targets_rows.region_code IS '区划代码（县或乡） / region code, county or town';
COMMENT ON COLUMN core.annual_targets_rows.year IS '年度 / year';
COMMENT ON COLUMN core.annual_targets_rows.indicator IS '指标 / indicator';
COMMENT ON COLUMN core.annual_targets_rows.target IS '目标值 / target value';
CREATE VIEW core.annual_targets AS
SELECT DISTINCT ON (region_code, year, indicator) r.*
FROM core.annual_targets_rows r
ORDER BY region_code, year, indicator, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.annual_targets IS '年度任务（当前版本） / current version per source key';

-- fp/assistance_rolls: 奖励扶助与特别扶助发放名册
CREATE TABLE core.assistance_rolls_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    id_no                 text,
    id_no_valid           boolean,
    id_no_sent            text,
    name                  text,
    name_sent             text,
    sex                   text,
    birth_date            date,
    program               text,
    year                  integer,
    amount                numeric(14,2),
    region_code           text,
    region_code_sent      text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX assistance_rolls_rows_key ON core.assistance_rolls_rows (id_no, program, year);
COMMENT ON TABLE core.assistance_rolls_rows IS '奖励扶助与特别扶助发放名册（全部版本） / every published version of fp/assistance_rolls';
COMMENT ON COLUMN core.assistance_rolls_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.assistance_rolls_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.assistance_rolls_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.assistance_rolls_rows.id_no IS '身份证号 / ID number';
COMMENT ON COLUMN core.assistance_rolls_rows.name IS '姓名 / name';
COMMENT ON COLUMN core.assistance_rolls_rows.sex IS '性别 / sex';
COMMENT ON COLUMN core.assistance_rolls_rows.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN core.assistance_rolls_rows.program IS '扶助项目 / program';
COMMENT ON COLUMN core.assistance_rolls_rows.year IS '发放年度 / year paid';
COMMENT ON COLUMN core.assistance_rolls_rows.amount IS '发放金额（元） / amount in yuan';
COMMENT ON COLUMN core.assistance_rolls_rows.region_code IS '户籍地区划代码 / region of registration';
CREATE VIEW core.assistance_rolls AS
SELECT DISTINCT ON (id_no, program, year) r.*
FROM core.assistance_rolls_rows r
ORDER BY id_no, program, year, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.assistance_rolls IS '奖励扶助与特别扶助发放名册（当前版本） / current version per source key';

-- fp/birth_approvals: 生育服务登记与再生育审批
CREATE TABLE core.birth_approvals_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    app_no                text,
    wife_name             text,
    wife_name_sent        text,
    wife_id               text,
    wife_id_valid         boolean,
    wife_id_sent          text,
    husband_name          text,
    husband_name_sent     text,
    husband_id            text,
    husband_id_valid      boolean,
    husband_id_sent       text,
    category              text,
    apply_date            date,
    decision_date         date,
    decision              text,
    region_code           text,
    region_code_sent      text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX birth_approvals_rows_key ON core.birth_approvals_rows (app_no);
COMMENT ON TABLE core.birth_approvals_rows IS '生育服务登记与再生育审批（全部版本） / every published version of fp/birth_approvals';
COMMENT ON COLUMN core.birth_approvals_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.birth_approvals_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.birth_approvals_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.birth_approvals_rows.app_no IS '申请编号 / application number';
COMMENT ON COLUMN core.birth_approvals_rows.wife_name IS '女方姓名 / wife''s name';
COMMENT ON COLUMN core.birth_approvals_rows.wife_id IS '女方身份证号 / wife''s ID number';
COMMENT ON COLUMN core.birth_approvals_rows.husband_name IS '男方姓名 / husband''s name';
COMMENT ON COLUMN core.birth_approvals_rows.husband_id IS '男方身份证号 / husband''s ID number';
COMMENT ON COLUMN core.birth_approvals_rows.category IS '登记类别（一孩、单独二孩、双独二孩、再生育） / category';
COMMENT ON COLUMN core.birth_approvals_rows.apply_date IS '申请日期 / date applied';
COMMENT ON COLUMN core.birth_approvals_rows.decision_date IS '审批日期（待审为空） / date decided, blank while pending';
COMMENT ON COLUMN core.birth_approvals_rows.decision IS '审批结果（批准、不予批准、待审） / decision';
COMMENT ON COLUMN core.birth_approvals_rows.region_code IS '户籍地区划代码 / region of registration';
CREATE VIEW core.birth_approvals AS
SELECT DISTINCT ON (app_no) r.*
FROM core.birth_approvals_rows r
ORDER BY app_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.birth_approvals IS '生育服务登记与再生育审批（当前版本） / current version per source key';

-- fp/social_fee_cases: 社会抚养费征收案卷
CREATE TABLE core.social_fee_cases_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    case_no               text,
    id_no                 text,
    id_no_valid           boolean,
    id_no_sent            text,
    name                  text,
    name_sent             text,
    decision_date         date,
    assessed              numeric(14,2),
    collected             numeric(14,2),
    status                text,
    region_code           text,
    region_code_sent      text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX social_fee_cases_rows_key ON core.social_fee_cases_rows (case_no);
COMMENT ON TABLE core.social_fee_cases_rows IS '社会抚养费征收案卷（全部版本） / every published version of fp/social_fee_cases';
COMMENT ON COLUMN core.social_fee_cases_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.social_fee_cases_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.social_fee_cases_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.social_fee_cases_rows.case_no IS '案卷号 / case number';
COMMENT ON COLUMN core.social_fee_cases_rows.id_no IS '当事人身份证号 / ID number';
COMMENT ON COLUMN core.social_fee_cases_rows.name IS '当事人姓名 / name';
COMMENT ON COLUMN core.social_fee_cases_rows.decision_date IS '征收决定日期 / date of the decision';
COMMENT ON COLUMN core.social_fee_cases_rows.assessed IS '应征金额（元） / assessed, yuan';
COMMENT ON COLUMN core.social_fee_cases_rows.collected IS '已征金额（元） / collected, yuan';
COMMENT ON COLUMN core.social_fee_cases_rows.status IS '案件状态 / case status';
COMMENT ON COLUMN core.social_fee_cases_rows.region_code IS '户籍地区划代码 / region of registration';
CREATE VIEW core.social_fee_cases AS
SELECT DISTINCT ON (case_no) r.*
FROM core.social_fee_cases_rows r
ORDER BY case_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.social_fee_cases IS '社会抚养费征收案卷（当前版本） / current version per source key';

-- health/birth_certificates: 出生医学证明
CREATE TABLE core.birth_certificates_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    cert_no               text,
    child_name            text,
    child_name_sent       text,
    child_sex             text,
    birth_date            date,
    birth_date_time       time,
    birth_order           integer,
    gestation_weeks       integer,
    birth_weight_g        integer,
    facility              text,
    mother_name           text,
    mother_name_sent      text,
    mother_id             text,
    mother_id_valid       boolean,
    mother_id_sent        text,
    father_name           text,
    father_name_sent      text,
    father_id             text,
    father_id_valid       boolean,
    father_id_sent        text,
    region_code           text,
    region_code_sent      text,
    issue_date            date,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX birth_certificates_rows_key ON core.birth_certificates_rows (cert_no);
COMMENT ON TABLE core.birth_certificates_rows IS '出生医学证明（全部版本） / every published version of health/birth_certificates';
COMMENT ON COLUMN core.birth_certificates_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.birth_certificates_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.birth_certificates_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.birth_certificates_rows.cert_no IS '出生医学证明编号 / birth certificate number';
COMMENT ON COLUMN core.birth_certificates_rows.child_name IS '新生儿姓名 / child''s name (often blank)';
COMMENT ON COLUMN core.birth_certificates_rows.child_sex IS '新生儿性别 / child''s sex';
COMMENT ON COLUMN core.birth_certificates_rows.birth_date IS '出生日期（可含时间） / date of birth, time kept in birth_date_time';
COMMENT ON COLUMN core.birth_certificates_rows.birth_order IS '胎次 / birth order';
COMMENT ON COLUMN core.birth_certificates_rows.gestation_weeks IS '出生孕周 / gestation in weeks';
COMMENT ON COLUMN core.birth_certificates_rows.birth_weight_g IS '出生体重（克） / birth weight in grams';
COMMENT ON COLUMN core.birth_certificates_rows.facility IS '接生机构 / facility of birth';
COMMENT ON COLUMN core.birth_certificates_rows.mother_name IS '母亲姓名 / mother''s name';
COMMENT ON COLUMN core.birth_certificates_rows.mother_id IS '母亲身份证号 / mother''s ID number';
COMMENT ON COLUMN core.birth_certificates_rows.father_name IS '父亲姓名 / father''s name';
COMMENT ON COLUMN core.birth_certificates_rows.father_id IS '父亲身份证号 / father''s ID number';
COMMENT ON COLUMN core.birth_certificates_rows.region_code IS '母亲户籍地区划代码 / region of the mother''s registration';
COMMENT ON COLUMN core.birth_certificates_rows.issue_date IS '签发日期 / date issued';
CREATE VIEW core.birth_certificates AS
SELECT DISTINCT ON (cert_no) r.*
FROM core.birth_certificates_rows r
ORDER BY cert_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.birth_certificates IS '出生医学证明（当前版本） / current version per source key';

-- health/death_records: 死亡医学证明
CREATE TABLE core.death_records_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    death_cert_no         text,
    name                  text,
    name_sent             text,
    id_no                 text,
    id_no_valid           boolean,
    id_no_sent            text,
    sex                   text,
    birth_date            date,
    death_date            date,
    cause_icd10           text,
    region_code           text,
    region_code_sent      text,
    reporting_unit        text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX death_records_rows_key ON core.death_records_rows (death_cert_no);
COMMENT ON TABLE core.death_records_rows IS '死亡医学证明（全部版本） / every published version of health/death_records';
COMMENT ON COLUMN core.death_records_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.death_records_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.death_records_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.death_records_rows.death_cert_no IS '死亡证编号 / death certificate number';
COMMENT ON COLUMN core.death_records_rows.name IS '死者姓名 / name of the deceased';
COMMENT ON COLUMN core.death_records_rows.id_no IS '身份证号 / ID number';
COMMENT ON COLUMN core.death_records_rows.sex IS '性别 / sex';
COMMENT ON COLUMN core.death_records_rows.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN core.death_records_rows.death_date IS '死亡日期 / date of death';
COMMENT ON COLUMN core.death_records_rows.cause_icd10 IS '根本死因ICD-10编码 / underlying cause, ICD-10';
COMMENT ON COLUMN core.death_records_rows.region_code IS '户籍地区划代码 / region of registration';
COMMENT ON COLUMN core.death_records_rows.reporting_unit IS '报告单位 / reporting unit';
CREATE VIEW core.death_records AS
SELECT DISTINCT ON (death_cert_no) r.*
FROM core.death_records_rows r
ORDER BY death_cert_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.death_records IS '死亡医学证明（当前版本） / current version per source key';

-- health/prenatal_checks: 免费孕前优生健康检查
CREATE TABLE core.prenatal_checks_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    check_no              text,
    wife_name             text,
    wife_name_sent        text,
    wife_id               text,
    wife_id_valid         boolean,
    wife_id_sent          text,
    husband_name          text,
    husband_name_sent     text,
    husband_id            text,
    husband_id_valid      boolean,
    husband_id_sent       text,
    check_date            date,
    facility              text,
    region_code           text,
    region_code_sent      text,
    result                text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX prenatal_checks_rows_key ON core.prenatal_checks_rows (check_no);
COMMENT ON TABLE core.prenatal_checks_rows IS '免费孕前优生健康检查（全部版本） / every published version of health/prenatal_checks';
COMMENT ON COLUMN core.prenatal_checks_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.prenatal_checks_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.prenatal_checks_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.prenatal_checks_rows.check_no IS '检查编号 / check number';
COMMENT ON COLUMN core.prenatal_checks_rows.wife_name IS '女方姓名 / wife''s name';
COMMENT ON COLUMN core.prenatal_checks_rows.wife_id IS '女方身份证号 / wife''s ID number';
COMMENT ON COLUMN core.prenatal_checks_rows.husband_name IS '男方姓名 / husband''s name';
COMMENT ON COLUMN core.prenatal_checks_rows.husband_id IS '男方身份证号 / husband''s ID number';
COMMENT ON COLUMN core.prenatal_checks_rows.check_date IS '检查日期 / date of the check';
COMMENT ON COLUMN core.prenatal_checks_rows.facility IS '检查机构 / facility';
COMMENT ON COLUMN core.prenatal_checks_rows.region_code IS '现居住地区划代码 / region of residence';
COMMENT ON COLUMN core.prenatal_checks_rows.result IS '评估结果（正常/风险人群） / result (normal / at risk)';
CREATE VIEW core.prenatal_checks AS
SELECT DISTINCT ON (check_no) r.*
FROM core.prenatal_checks_rows r
ORDER BY check_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.prenatal_checks IS '免费孕前优生健康检查（当前版本） / current version per source key';

-- police/birth_registrations: 出生登记
CREATE TABLE core.birth_registrations_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    reg_no                text,
    child_id              text,
    child_id_valid        boolean,
    child_id_sent         text,
    child_name            text,
    child_name_sent       text,
    sex                   text,
    birth_date            date,
    birth_cert_no         text,
    mother_id             text,
    mother_id_valid       boolean,
    mother_id_sent        text,
    father_id             text,
    father_id_valid       boolean,
    father_id_sent        text,
    household_no          text,
    region_code           text,
    region_code_sent      text,
    reg_date              date,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX birth_registrations_rows_key ON core.birth_registrations_rows (reg_no);
COMMENT ON TABLE core.birth_registrations_rows IS '出生登记（全部版本） / every published version of police/birth_registrations';
COMMENT ON COLUMN core.birth_registrations_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.birth_registrations_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.birth_registrations_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.birth_registrations_rows.reg_no IS '登记编号 / registration number';
COMMENT ON COLUMN core.birth_registrations_rows.child_id IS '子女公民身份号码 / child''s ID number';
COMMENT ON COLUMN core.birth_registrations_rows.child_name IS '子女姓名 / child''s name';
COMMENT ON COLUMN core.birth_registrations_rows.sex IS '性别 / sex';
COMMENT ON COLUMN core.birth_registrations_rows.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN core.birth_registrations_rows.birth_cert_no IS '出生医学证明编号 / birth certificate number';
COMMENT ON COLUMN core.birth_registrations_rows.mother_id IS '母亲身份证号 / mother''s ID number';
COMMENT ON COLUMN core.birth_registrations_rows.father_id IS '父亲身份证号 / father''s ID number';
COMMENT ON COLUMN core.birth_registrations_rows.household_no IS '户号 / household number';
COMMENT ON COLUMN core.birth_registrations_rows.region_code IS '户籍地区划代码 / region of registration';
COMMENT ON COLUMN core.birth_registrations_rows.reg_date IS '登记日期 / date registered';
CREATE VIEW core.birth_registrations AS
SELECT DISTINCT ON (reg_no) r.*
FROM core.birth_registrations_rows r
ORDER BY reg_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.birth_registrations IS '出生登记（当前版本） / current version per source key';

-- police/hukou_cancellations: 户口注销
CREATE TABLE core.hukou_cancellations_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    cancel_no             text,
    id_no                 text,
    id_no_valid           boolean,
    id_no_sent            text,
    name                  text,
    name_sent             text,
    reason                text,
    cancel_date           date,
    death_date            date,
    region_code           text,
    region_code_sent      text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX hukou_cancellations_rows_key ON core.hukou_cancellations_rows (cancel_no);
COMMENT ON TABLE core.hukou_cancellations_rows IS '户口注销（全部版本） / every published version of police/hukou_cancellations';
COMMENT ON COLUMN core.hukou_cancellations_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.hukou_cancellations_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.hukou_cancellations_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.hukou_cancellations_rows.cancel_no IS '注销编号 / cancellation number';
COMMENT ON COLUMN core.hukou_cancellations_rows.id_no IS '公民身份号码 / ID number';
COMMENT ON COLUMN core.hukou_cancellations_rows.name IS '姓名 / name';
COMMENT ON COLUMN core.hukou_cancellations_rows.reason IS '注销原因（死亡、迁出…） / reason (death, moved out …)';
COMMENT ON COLUMN core.hukou_cancellations_rows.cancel_date IS '注销日期 / date cancelled';
COMMENT ON COLUMN core.hukou_cancellations_rows.death_date IS '死亡日期 / date of death, when the reason is 死亡';
COMMENT ON COLUMN core.hukou_cancellations_rows.region_code IS '户籍地区划代码 / region of registration';
CREATE VIEW core.hukou_cancellations AS
SELECT DISTINCT ON (cancel_no) r.*
FROM core.hukou_cancellations_rows r
ORDER BY cancel_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.hukou_cancellations IS '户口注销（当前版本） / current version per source key';

-- police/migrant_registrations: 流动人口居住登记
CREATE TABLE core.migrant_registrations_rows (
    file_id           bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    line_no               integer NOT NULL,
    extract_date          date NOT NULL,
    reg_no                text,
    id_no                 text,
    id_no_valid           boolean,
    id_no_sent            text,
    name                  text,
    name_sent             text,
    sex                   text,
    birth_date            date,
    hukou_region_code     text,
    hukou_region_code_sent text,
    residence_region_code text,
    residence_region_code_sent text,
    reg_date              date,
    expiry_date           date,
    marital               text,
    extras                jsonb,
    PRIMARY KEY (file_id, line_no)
);
CREATE INDEX migrant_registrations_rows_key ON core.migrant_registrations_rows (reg_no);
COMMENT ON TABLE core.migrant_registrations_rows IS '流动人口居住登记（全部版本） / every published version of police/migrant_registrations';
COMMENT ON COLUMN core.migrant_registrations_rows.file_id IS '来源文件 / the file that sent this version';
COMMENT ON COLUMN core.migrant_registrations_rows.line_no IS '文件中的行号 / line in the file';
COMMENT ON COLUMN core.migrant_registrations_rows.extract_date IS '抽取日期 / extract date of the file';
COMMENT ON COLUMN core.migrant_registrations_rows.reg_no IS '居住登记编号 / residence registration number';
COMMENT ON COLUMN core.migrant_registrations_rows.id_no IS '公民身份号码 / ID number';
COMMENT ON COLUMN core.migrant_registrations_rows.name IS '姓名 / name';
COMMENT ON COLUMN core.migrant_registrations_rows.sex IS '性别 / sex';
COMMENT ON COLUMN core.migrant_registrations_rows.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN core.migrant_registrations_rows.hukou_region_code IS '户籍地区划代码（可能在外省） / region of hukou, may be another province';
COMMENT ON COLUMN core.migrant_registrations_rows.residence_region_code IS '现居住地区划代码 / region of residence in the county';
COMMENT ON COLUMN core.migrant_registrations_rows.reg_date IS '登记日期 / date registered';
COMMENT ON COLUMN core.migrant_registrations_rows.expiry_date IS '有效期至 / valid until';
COMMENT ON COLUMN core.migrant_registrations_rows.marital IS '婚姻状况 / marital status';
CREATE VIEW core.migrant_registrations AS
SELECT DISTINCT ON (reg_no) r.*
FROM core.migrant_registrations_rows r
ORDER BY reg_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC;
COMMENT ON VIEW core.migrant_registrations IS '流动人口居住登记（当前版本） / current version per source key';
-- police/household_registry: who left the registry between two snapshots -------------------------
-- A person in one published snapshot and missing from the next (by extract date) has left the
-- registry as of the later snapshot; the snapshot does not say why (hukou_cancellations usually does).
CREATE TABLE core.household_registry_departures (
    id_no          text    NOT NULL,
    name           text,
    status_before  text,
    from_file_id   bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    to_file_id     bigint  NOT NULL REFERENCES audit.file_ledger (file_id),
    last_seen      date    NOT NULL,
    left_as_of     date    NOT NULL,
    PRIMARY KEY (to_file_id, id_no, from_file_id)
);
CREATE INDEX household_registry_departures_id_no ON core.household_registry_departures (id_no);
CREATE INDEX household_registry_rows_file_id_no ON core.household_registry_rows (file_id, id_no);
COMMENT ON TABLE core.household_registry_departures IS '离开户籍登记的人：在前一快照、不在后一快照 / persons in one snapshot and missing from the next';
COMMENT ON COLUMN core.household_registry_departures.id_no IS '公民身份号码 / ID number';
COMMENT ON COLUMN core.household_registry_departures.name IS '姓名 / name in the earlier snapshot';
COMMENT ON COLUMN core.household_registry_departures.status_before IS '前一快照中的人口状态 / registry status in the earlier snapshot';
COMMENT ON COLUMN core.household_registry_departures.from_file_id IS '前一快照文件 / the earlier snapshot';
COMMENT ON COLUMN core.household_registry_departures.to_file_id IS '后一快照文件 / the later snapshot';
COMMENT ON COLUMN core.household_registry_departures.last_seen IS '最后出现的快照日期 / extract date of the earlier snapshot';
COMMENT ON COLUMN core.household_registry_departures.left_as_of IS '离开的快照日期 / extract date of the later snapshot';

-- audit.file_ledger: where a quarantined file was moved ------------------------------------------
ALTER TABLE audit.file_ledger ADD COLUMN quarantine_path text;
COMMENT ON COLUMN audit.file_ledger.quarantine_path IS '隔离文件的存放位置 / where the quarantined file was moved aside';
-- A drop is (path, bytes) once, unless that file was quarantined and moved aside: the same name
-- dropped again later is a new drop with its own receipt.
ALTER TABLE audit.file_ledger DROP CONSTRAINT file_ledger_drop_once;
CREATE UNIQUE INDEX file_ledger_drop_once ON audit.file_ledger (agency, feed, rel_path, sha256)
    WHERE quarantine_path IS NULL;
