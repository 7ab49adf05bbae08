-- Reconciliation marts and work lists other than births (Alembic revision 0007): deaths, birth
-- approvals, pre-pregnancy checks, social fees, registry completeness, feed quality, linkage quality,
-- the cross-department audits, and the police and fp work lists ops.deaths_not_cancelled and
-- ops.paid_after_death. Every table is rebuilt as a whole by popdata.reconcile.other.refresh_other
-- (sql/reconcile_other.sql) for one reference date, which each row carries.

-- mart.death_reconciliation ----------------------------------------------------------------------
CREATE TABLE mart.death_reconciliation (
    region_code             text,
    county_code             text,
    town_code               text,
    year                    integer NOT NULL,
    month                   integer NOT NULL,
    reference_date          date    NOT NULL,
    deaths_health           integer NOT NULL,
    deaths_police           integer NOT NULL,
    not_cancelled_over_30d  integer NOT NULL,
    paid_after_death        integer NOT NULL
);
CREATE UNIQUE INDEX death_reconciliation_grain ON mart.death_reconciliation
    (region_code, year, month) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.death_reconciliation IS '死亡核对：乡镇×死亡月份（卫生死亡证、公安死亡注销、未注销户口、死后仍发放扶助） / death reconciliation by town and month of death: health deaths, police cancellations for death, deaths not cancelled after 30 days, assistance paid after death';
COMMENT ON COLUMN mart.death_reconciliation.region_code IS '乡镇统计用区划代码（12位；乡镇未知时为县级代码，区划未解析时为空） / 12-digit code of the town (the county''s code when the town is unknown, null when unresolved)';
COMMENT ON COLUMN mart.death_reconciliation.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.death_reconciliation.town_code IS '乡级代码（9位） / 9-digit town code';
COMMENT ON COLUMN mart.death_reconciliation.year IS '死亡年份 / year of death';
COMMENT ON COLUMN mart.death_reconciliation.month IS '死亡月份 / month of death';
COMMENT ON COLUMN mart.death_reconciliation.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.death_reconciliation.deaths_health IS '卫生部门死亡医学证明数（户籍地所在乡镇） / deaths with a health death certificate, by the town of registration';
COMMENT ON COLUMN mart.death_reconciliation.deaths_police IS '公安因死亡注销户口数（按死亡日期，缺失时按注销日期） / police hukou cancellations for death, by date of death (the cancellation date when it is missing)';
COMMENT ON COLUMN mart.death_reconciliation.not_cancelled_over_30d IS '死亡超过30天仍未注销户口的人数（见 ops.deaths_not_cancelled） / deaths more than 30 days before the reference date with no cancellation for death and still 正常 in the latest registry snapshot';
COMMENT ON COLUMN mart.death_reconciliation.paid_after_death IS '死亡后仍发放的扶助名册条目数（按名册户籍地与死亡月份） / assistance roll entries for a year starting after the recipient''s death, by the roll''s town and the month of death';

-- mart.fp_approvals ------------------------------------------------------------------------------
CREATE TABLE mart.fp_approvals (
    region_code              text,
    county_code              text,
    town_code                text,
    year                     integer NOT NULL,
    month                    integer NOT NULL,
    category                 text,
    reference_date           date    NOT NULL,
    applications             integer NOT NULL,
    approved                 integer NOT NULL,
    rejected                 integer NOT NULL,
    pending                  integer NOT NULL,
    median_days_to_decision  double precision,
    p90_days_to_decision     double precision
);
CREATE UNIQUE INDEX fp_approvals_grain ON mart.fp_approvals (region_code, year, month, category) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.fp_approvals IS '生育登记与再生育审批：乡镇×申请月份×类别（立审立批） / birth approvals by town, month of application and category: decisions and days to decision';
COMMENT ON COLUMN mart.fp_approvals.region_code IS '乡镇统计用区划代码（12位） / 12-digit code of the town (the county''s when the town is unknown)';
COMMENT ON COLUMN mart.fp_approvals.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.fp_approvals.town_code IS '乡级代码（9位） / 9-digit town code';
COMMENT ON COLUMN mart.fp_approvals.year IS '申请年份 / year of application';
COMMENT ON COLUMN mart.fp_approvals.month IS '申请月份 / month of application';
COMMENT ON COLUMN mart.fp_approvals.category IS '登记类别（一孩、单独二孩、双独二孩、再生育） / category';
COMMENT ON COLUMN mart.fp_approvals.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.fp_approvals.applications IS '申请数（申请日期不晚于参照日期） / applications made on or before the reference date';
COMMENT ON COLUMN mart.fp_approvals.approved IS '批准数 / approved (批准) by the reference date';
COMMENT ON COLUMN mart.fp_approvals.rejected IS '不予批准数 / rejected (不予批准) by the reference date';
COMMENT ON COLUMN mart.fp_approvals.pending IS '待审数（含审批日期晚于参照日期者） / pending: no decision, or decided after the reference date';
COMMENT ON COLUMN mart.fp_approvals.median_days_to_decision IS '已决申请从申请到审批天数的中位数（percentile_cont） / median days from application to decision of the decided applications';
COMMENT ON COLUMN mart.fp_approvals.p90_days_to_decision IS '已决申请审批天数的第90百分位数（percentile_cont） / 90th percentile of days to decision';

-- mart.prenatal_check_progress -------------------------------------------------------------------
CREATE TABLE mart.prenatal_check_progress (
    level            text    NOT NULL CHECK (level IN ('county', 'town')),
    region_code      text,
    county_code      text,
    town_code        text,
    year             integer NOT NULL,
    reference_date   date    NOT NULL,
    couples_checked  integer NOT NULL,
    target           numeric(14,2),
    pct_of_target    double precision,
    at_risk_share    double precision
);
CREATE UNIQUE INDEX prenatal_check_progress_grain ON mart.prenatal_check_progress (level, region_code, year) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.prenatal_check_progress IS '免费孕前优生健康检查进度：乡镇及县×年度，对年度任务 / pre-pregnancy checks by town and county and year against the annual target';
COMMENT ON COLUMN mart.prenatal_check_progress.level IS '层级：county 县，town 乡镇 / level';
COMMENT ON COLUMN mart.prenatal_check_progress.region_code IS '统计用区划代码（12位，县或乡镇） / 12-digit code of the county or town';
COMMENT ON COLUMN mart.prenatal_check_progress.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.prenatal_check_progress.town_code IS '乡级代码（9位；县级行为空） / 9-digit town code, null on county rows';
COMMENT ON COLUMN mart.prenatal_check_progress.year IS '检查年度 / year of the check';
COMMENT ON COLUMN mart.prenatal_check_progress.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.prenatal_check_progress.couples_checked IS '已检查夫妇数（按女方人员键去重；检查日期不晚于参照日期） / couples checked (distinct by the wife''s person key) on or before the reference date';
COMMENT ON COLUMN mart.prenatal_check_progress.target IS '年度任务（对），annual_targets 指标「孕前优生健康检查(对)」 / annual target in couples, indicator 孕前优生健康检查(对)';
COMMENT ON COLUMN mart.prenatal_check_progress.pct_of_target IS '任务完成率（0..1，可超过1） / couples checked over the target, a fraction (may exceed 1)';
COMMENT ON COLUMN mart.prenatal_check_progress.at_risk_share IS '评估结果为风险人群的夫妇比例（有结果者为分母） / share of couples with an at-risk result (风险人群) among those with a result';

-- mart.social_fee --------------------------------------------------------------------------------
CREATE TABLE mart.social_fee (
    region_code     text,
    county_code     text,
    town_code       text,
    year            integer NOT NULL,
    reference_date  date    NOT NULL,
    cases           integer NOT NULL,
    assessed_yuan   numeric(16,2) NOT NULL,
    collected_yuan  numeric(16,2) NOT NULL,
    collection_rate double precision,
    target_rate     double precision
);
CREATE UNIQUE INDEX social_fee_grain ON mart.social_fee (region_code, year) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.social_fee IS '社会抚养费征收：乡镇×征收决定年度，应征、实征、到位率与目标 / social maintenance fee by town and year of decision: assessed, collected, collection rate against the target';
COMMENT ON COLUMN mart.social_fee.region_code IS '乡镇统计用区划代码（12位） / 12-digit code of the town (the county''s when the town is unknown)';
COMMENT ON COLUMN mart.social_fee.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.social_fee.town_code IS '乡级代码（9位） / 9-digit town code';
COMMENT ON COLUMN mart.social_fee.year IS '征收决定年度 / year of the decision';
COMMENT ON COLUMN mart.social_fee.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.social_fee.cases IS '案件数（决定日期不晚于参照日期） / cases decided on or before the reference date';
COMMENT ON COLUMN mart.social_fee.assessed_yuan IS '应征金额合计（元） / assessed, yuan';
COMMENT ON COLUMN mart.social_fee.collected_yuan IS '已征金额合计（元；空值按0） / collected, yuan (blank counts as 0)';
COMMENT ON COLUMN mart.social_fee.collection_rate IS '征收到位率 = 已征/应征（0..1） / collection rate, collected over assessed';
COMMENT ON COLUMN mart.social_fee.target_rate IS '到位率目标（0..1），annual_targets 指标「社会抚养费征收到位率(%)」除以100 / target collection rate from annual_targets, percent divided by 100';

-- mart.registry_completeness -----------------------------------------------------------------------
CREATE TABLE mart.registry_completeness (
    region_code                            text,
    county_code                            text,
    town_code                              text,
    village_code                           text,
    reference_date                         date    NOT NULL,
    snapshot_date                          date,
    source_file_id                         bigint REFERENCES audit.file_ledger (file_id),
    persons                                integer NOT NULL,
    households                             integer NOT NULL,
    complete_persons                       integer NOT NULL,
    field_completeness                     double precision,
    persons_known_elsewhere_not_registered integer NOT NULL
);
CREATE UNIQUE INDEX registry_completeness_grain ON mart.registry_completeness (region_code) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.registry_completeness IS '户籍登记完整性：村（居）（居不漏户、户不漏人、人不漏项），依据最新户籍快照 / registry completeness by village from the latest registry snapshot: households, persons, complete records, persons known to other agencies but missing';
COMMENT ON COLUMN mart.registry_completeness.region_code IS '村（居）统计用区划代码（12位；只知乡镇时为乡镇代码，未解析为空） / 12-digit village code (the town''s when the village is unknown, null when unresolved)';
COMMENT ON COLUMN mart.registry_completeness.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.registry_completeness.town_code IS '乡级代码（9位） / 9-digit town code';
COMMENT ON COLUMN mart.registry_completeness.village_code IS '村级代码（12位） / 12-digit village code';
COMMENT ON COLUMN mart.registry_completeness.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.registry_completeness.snapshot_date IS '所用户籍快照的抽取日期 / extract date of the registry snapshot counted';
COMMENT ON COLUMN mart.registry_completeness.source_file_id IS '所用户籍快照文件 / the registry snapshot file counted';
COMMENT ON COLUMN mart.registry_completeness.persons IS '户籍人口（人口状态正常或为空） / registered persons, status 正常 or blank';
COMMENT ON COLUMN mart.registry_completeness.households IS '户数（不同户号） / households, distinct household numbers';
COMMENT ON COLUMN mart.registry_completeness.complete_persons IS '必填项齐全的人数（有效身份证号、姓名、性别、出生日期、户号、区划） / persons with every required field present and valid: ID, name, sex, date of birth, household number, region';
COMMENT ON COLUMN mart.registry_completeness.field_completeness IS '项目填报率：10个项目（必填6项及民族、与户主关系、住址、婚姻状况）中已填的比例 / share of filled values over 10 fields: the 6 required plus ethnicity, relation, address, marital status';
COMMENT ON COLUMN mart.registry_completeness.persons_known_elsewhere_not_registered IS '其他部门记录显示户籍在本村、但不在户籍快照中的人数（排除已死亡、已注销或有流动人口居住登记者） / persons whose latest record of another agency places their registration in the village, missing from the snapshot, not dead, cancelled or a registered migrant';

-- mart.feed_quality ------------------------------------------------------------------------------
CREATE TABLE mart.feed_quality (
    agency            text    NOT NULL,
    feed              text    NOT NULL,
    received_date     date    NOT NULL,
    reference_date    date    NOT NULL,
    cadence           text,
    files             integer NOT NULL,
    files_quarantined integer NOT NULL,
    rows_read         integer NOT NULL,
    rows_rejected     integer NOT NULL,
    reject_rate       double precision,
    top_reason_code   text,
    days_late         integer,
    PRIMARY KEY (agency, feed, received_date)
);
COMMENT ON TABLE mart.feed_quality IS '数据项质量与及时性：数据项×接收日 / feed quality and timeliness by feed and day received';
COMMENT ON COLUMN mart.feed_quality.agency IS '报送部门 / sending agency';
COMMENT ON COLUMN mart.feed_quality.feed IS '数据项 / feed';
COMMENT ON COLUMN mart.feed_quality.received_date IS '接收日期（北京时间） / day received, Asia/Shanghai';
COMMENT ON COLUMN mart.feed_quality.reference_date IS '参照日期（只计抽取日期不晚于它的文件） / reference date; files with an extract date after it are left out';
COMMENT ON COLUMN mart.feed_quality.cadence IS '约定报送周期（配置） / expected cadence from the feed config';
COMMENT ON COLUMN mart.feed_quality.files IS '收到的文件数（含隔离与重复） / files received, quarantined and duplicates included';
COMMENT ON COLUMN mart.feed_quality.files_quarantined IS '隔离的文件数 / files quarantined';
COMMENT ON COLUMN mart.feed_quality.rows_read IS '读取行数 / data rows read';
COMMENT ON COLUMN mart.feed_quality.rows_rejected IS '拒收行数 / rows rejected';
COMMENT ON COLUMN mart.feed_quality.reject_rate IS '拒收率 = 拒收行/读取行（0..1） / rows rejected over rows read';
COMMENT ON COLUMN mart.feed_quality.top_reason_code IS '最常见的拒收原因代码（并列取字母序最小） / most frequent reason code of the rejected rows, ties to the smallest code';
COMMENT ON COLUMN mart.feed_quality.days_late IS '迟报天数：接收日减应报日，应报日 = 上一抽取日期 + 报送周期（月末对月末），不早于0；首个文件、不定期数据项为空；取当天各文件最大值 / days late: day received minus the due date, the previous extract date plus the cadence (month end to month end), at least 0; null for a feed''s first file and irregular feeds; the worst file of the day';

-- mart.linkage_quality ---------------------------------------------------------------------------
CREATE TABLE mart.linkage_quality (
    feed                  text    NOT NULL,
    role                  text    NOT NULL,
    reference_date        date    NOT NULL,
    records               integer NOT NULL,
    linked_by_id          integer NOT NULL,
    linked_probabilistic  integer NOT NULL,
    new_persons           integer NOT NULL,
    review_queue          integer NOT NULL,
    PRIMARY KEY (feed, role)
);
COMMENT ON TABLE mart.linkage_quality IS '人员关联质量：数据项×角色 / linkage quality by feed and person role';
COMMENT ON COLUMN mart.linkage_quality.feed IS '数据项 / feed';
COMMENT ON COLUMN mart.linkage_quality.role IS '人员角色（subject、child、mother、father、wife、husband） / person role';
COMMENT ON COLUMN mart.linkage_quality.reference_date IS '参照日期 / reference date of the run';
COMMENT ON COLUMN mart.linkage_quality.records IS '关联记录数（core.record_link 行） / record roles linked, rows of core.record_link';
COMMENT ON COLUMN mart.linkage_quality.linked_by_id IS '身份证号精确关联数 / linked by an exact identity number';
COMMENT ON COLUMN mart.linkage_quality.linked_probabilistic IS '概率或出生证规则关联数 / linked probabilistically or by the birth rules';
COMMENT ON COLUMN mart.linkage_quality.new_persons IS '未能关联、新建人员数 / linked to nobody, a new person';
COMMENT ON COLUMN mart.linkage_quality.review_queue IS '待人工复核的记录数（ops.clerical_review 中不同记录） / record roles waiting in ops.clerical_review';

-- mart.cross_department_audits -------------------------------------------------------------------
CREATE TABLE mart.cross_department_audits (
    audit           text    NOT NULL,
    audit_name      text    NOT NULL,
    region_code     text,
    county_code     text,
    reference_date  date    NOT NULL,
    checked         integer NOT NULL,
    hits            integer NOT NULL,
    hit_rate        double precision
);
CREATE UNIQUE INDEX cross_department_audits_grain ON mart.cross_department_audits (audit, region_code) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.cross_department_audits IS '跨部门比对：比对项目×县，检查数、命中数、命中率 / cross-department audits by audit and county: units checked, hits, hit rate';
COMMENT ON COLUMN mart.cross_department_audits.audit IS '比对代码：birth_sex_conflict 出生证与户籍性别不一致；id_shared 一号多人；birth_interval_under_9_months 同一母亲两次生育间隔不足9个月；assistance_recipient_died 扶助对象有死亡记录；assistance_recipient_new_birth 扶助对象再生育 / audit code';
COMMENT ON COLUMN mart.cross_department_audits.audit_name IS '比对名称（中文 / English） / audit name in Chinese and English';
COMMENT ON COLUMN mart.cross_department_audits.region_code IS '县级统计用区划代码（12位；未解析为空） / 12-digit county code, null when unresolved';
COMMENT ON COLUMN mart.cross_department_audits.county_code IS '县级代码（6位） / 6-digit county code';
COMMENT ON COLUMN mart.cross_department_audits.reference_date IS '参照日期（统计截止日） / reference date the figures are as of';
COMMENT ON COLUMN mart.cross_department_audits.checked IS '检查单位数（各项目定义见 docs/warehouse.md） / units checked (per audit, docs/warehouse.md)';
COMMENT ON COLUMN mart.cross_department_audits.hits IS '命中数 / units that failed the audit';
COMMENT ON COLUMN mart.cross_department_audits.hit_rate IS '命中率 = 命中/检查（0..1） / hits over checked';

-- ops.deaths_not_cancelled -----------------------------------------------------------------------
CREATE TABLE ops.deaths_not_cancelled (
    death_cert_no     text    NOT NULL,
    name              text,
    id_no             text,
    death_date        date    NOT NULL,
    region_code       text,
    days_since_death  integer NOT NULL,
    person_key        bigint,
    agency            text    NOT NULL DEFAULT 'police',
    reference_date    date    NOT NULL,
    PRIMARY KEY (death_cert_no)
);
COMMENT ON TABLE ops.deaths_not_cancelled IS '死亡超过30天未注销户口（发公安） / deaths more than 30 days ago with no hukou cancellation for death, still 正常 in the latest registry snapshot; for the police';
COMMENT ON COLUMN ops.deaths_not_cancelled.death_cert_no IS '死亡医学证明编号 / death certificate number';
COMMENT ON COLUMN ops.deaths_not_cancelled.name IS '死者姓名 / name of the deceased';
COMMENT ON COLUMN ops.deaths_not_cancelled.id_no IS '身份证号（死亡证所载） / ID number on the death certificate';
COMMENT ON COLUMN ops.deaths_not_cancelled.death_date IS '死亡日期 / date of death';
COMMENT ON COLUMN ops.deaths_not_cancelled.region_code IS '户籍地区划代码 / region of registration';
COMMENT ON COLUMN ops.deaths_not_cancelled.days_since_death IS '死亡至参照日期的天数（>30） / days from death to the reference date, more than 30';
COMMENT ON COLUMN ops.deaths_not_cancelled.person_key IS '人员键 / person key';
COMMENT ON COLUMN ops.deaths_not_cancelled.agency IS '接收部门（公安） / receiving agency: police';
COMMENT ON COLUMN ops.deaths_not_cancelled.reference_date IS '参照日期 / reference date of the list';

-- ops.paid_after_death ---------------------------------------------------------------------------
CREATE TABLE ops.paid_after_death (
    id_no           text    NOT NULL,
    name            text,
    program         text    NOT NULL,
    year            integer NOT NULL,
    amount          numeric(14,2),
    death_date      date    NOT NULL,
    death_source    text    NOT NULL CHECK (death_source IN ('health', 'police')),
    region_code     text,
    person_key      bigint,
    agency          text    NOT NULL DEFAULT 'fp',
    reference_date  date    NOT NULL,
    PRIMARY KEY (id_no, program, year)
);
COMMENT ON TABLE ops.paid_after_death IS '死亡后仍发放扶助：名册年度始于死亡日期之后（发计生） / assistance roll entries for a year that starts after the recipient''s death; for family planning';
COMMENT ON COLUMN ops.paid_after_death.id_no IS '身份证号 / ID number on the roll';
COMMENT ON COLUMN ops.paid_after_death.name IS '姓名 / name on the roll';
COMMENT ON COLUMN ops.paid_after_death.program IS '扶助项目 / program';
COMMENT ON COLUMN ops.paid_after_death.year IS '发放年度 / year paid';
COMMENT ON COLUMN ops.paid_after_death.amount IS '发放金额（元） / amount in yuan';
COMMENT ON COLUMN ops.paid_after_death.death_date IS '最早记录的死亡日期（死亡证；或公安死亡注销的死亡日期、缺失时注销日期） / earliest recorded date of death: death certificate, or the police cancellation''s death date (its cancellation date when missing)';
COMMENT ON COLUMN ops.paid_after_death.death_source IS '死亡日期来源：health 死亡证，police 户口注销 / where the death date comes from';
COMMENT ON COLUMN ops.paid_after_death.region_code IS '户籍地区划代码（名册） / region of registration on the roll';
COMMENT ON COLUMN ops.paid_after_death.person_key IS '人员键 / person key';
COMMENT ON COLUMN ops.paid_after_death.agency IS '接收部门（计生） / receiving agency: fp';
COMMENT ON COLUMN ops.paid_after_death.reference_date IS '参照日期 / reference date of the list';
