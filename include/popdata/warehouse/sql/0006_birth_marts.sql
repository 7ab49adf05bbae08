-- The birth side of cross-agency reconciliation (Alembic revision 0006): consolidated births,
-- sex ratio at birth, warning villages, birth-registration gaps, the dual-system estimate of
-- births, and the two work lists (health births not registered with the police, police
-- registrations without a birth certificate). Filled by popdata.reconcile.births.refresh_births
-- (sql/reconcile_births.sql), which deletes and re-inserts every row in the caller's transaction:
-- each table holds the figures of the last run, as of its reference_date.

-- mart.births ---------------------------------------------------------------------------------
CREATE TABLE mart.births (
    birth_key          text    PRIMARY KEY,
    child_person_key   bigint,
    mother_person_key  bigint,
    birth_date         date,
    sex                text CHECK (sex IN ('M', 'F')),
    birth_order        integer,
    in_health          boolean NOT NULL,
    in_police          boolean NOT NULL,
    in_fp_approval     boolean NOT NULL,
    region_code        text,
    county_code        text,
    town_code          text,
    village_code       text,
    year               integer,
    month              integer,
    reference_date     date    NOT NULL,
    CHECK (in_health OR in_police)
);
CREATE INDEX births_region_year ON mart.births (county_code, town_code, village_code, year);
COMMENT ON TABLE mart.births IS '整合出生：同一出生的出生医学证明与公安出生登记合为一行（按子女人员键或出生医学证明编号匹配） / one consolidated birth: the health birth certificate and the police birth registration of the same birth are one row (matched by the child''s person key or the certificate number)';
COMMENT ON COLUMN mart.births.birth_key IS '出生键（由子女人员键推导，无人员键时由证件编号推导；非身份证号） / birth key, derived from the child''s person key (or, without one, the record number); never an ID number';
COMMENT ON COLUMN mart.births.child_person_key IS '子女人员键（优先出生医学证明） / the child''s person key, the certificate''s first';
COMMENT ON COLUMN mart.births.mother_person_key IS '母亲人员键（优先出生医学证明） / the mother''s person key, the certificate''s first';
COMMENT ON COLUMN mart.births.birth_date IS '出生日期（优先出生医学证明） / date of birth, the certificate''s first';
COMMENT ON COLUMN mart.births.sex IS '性别 M/F（代码1/2；优先出生医学证明；不详为空） / sex M/F from codes 1/2, the certificate''s first; null when unknown';
COMMENT ON COLUMN mart.births.birth_order IS '胎次（仅取自出生医学证明，否则为空） / birth order, from the birth certificate only, else null';
COMMENT ON COLUMN mart.births.in_health IS '有出生医学证明 / a health birth certificate exists';
COMMENT ON COLUMN mart.births.in_police IS '有公安出生登记 / a police birth registration exists';
COMMENT ON COLUMN mart.births.in_fp_approval IS '母亲有生育审批：女方人员键为母亲、审批结果为批准、申请日期在出生前365天内（含出生当日） / the mother has an approved birth approval (wife = mother, decision 批准) applied within the 365 days up to the birth';
COMMENT ON COLUMN mart.births.region_code IS '区划代码（12位；优先出生医学证明的母亲户籍地，否则公安登记户籍地） / 12-digit region: the certificate''s mother''s registration region, else the police registration''s';
COMMENT ON COLUMN mart.births.county_code IS '县级代码（6位） / county code, 6 digits';
COMMENT ON COLUMN mart.births.town_code IS '乡镇代码（9位；未知为空） / town code, 9 digits, null when unknown';
COMMENT ON COLUMN mart.births.village_code IS '村（居）代码（12位；未知为空） / village code, 12 digits, null when unknown';
COMMENT ON COLUMN mart.births.year IS '出生年份 / year of birth';
COMMENT ON COLUMN mart.births.month IS '出生月份 / month of birth';
COMMENT ON COLUMN mart.births.reference_date IS '统计基准日（数据截至日期） / reference date the figures are as of';

-- mart.sex_ratio_at_birth -----------------------------------------------------------------------
CREATE TABLE mart.sex_ratio_at_birth (
    level           text    NOT NULL CHECK (level IN ('county', 'town', 'village')),
    region_code     text    NOT NULL,
    county_code     text    NOT NULL,
    town_code       text,
    village_code    text,
    year            integer NOT NULL,
    birth_order     text    NOT NULL CHECK (birth_order IN ('all', '1', '2', '3+')),
    boys            integer NOT NULL,
    girls           integer NOT NULL,
    srb             double precision,
    ci_low          double precision,
    ci_high         double precision,
    status          text    NOT NULL CHECK (status IN ('normal', 'high', 'low', 'insufficient')),
    reference_date  date    NOT NULL,
    PRIMARY KEY (level, region_code, year, birth_order)
);
COMMENT ON TABLE mart.sex_ratio_at_birth IS '出生人口性别比：县/乡镇/村×年份×胎次（含Wilson 95%置信区间） / sex ratio at birth by region level × year × birth order, with Wilson 95 % intervals (births of known sex in mart.births)';
COMMENT ON COLUMN mart.sex_ratio_at_birth.level IS '区划层级 county/town/village / region level';
COMMENT ON COLUMN mart.sex_ratio_at_birth.region_code IS '该层级区划的12位代码（不足补0） / 12-digit code of the region at that level, zero-padded';
COMMENT ON COLUMN mart.sex_ratio_at_birth.county_code IS '县级代码（6位） / county code';
COMMENT ON COLUMN mart.sex_ratio_at_birth.town_code IS '乡镇代码（县级为空） / town code, null at county level';
COMMENT ON COLUMN mart.sex_ratio_at_birth.village_code IS '村（居）代码（村级才有） / village code, only at village level';
COMMENT ON COLUMN mart.sex_ratio_at_birth.year IS '出生年份 / year of birth';
COMMENT ON COLUMN mart.sex_ratio_at_birth.birth_order IS '胎次：all 全部（含胎次不详）、1、2、3+ / birth order: all (unknown order included), 1, 2, 3+';
COMMENT ON COLUMN mart.sex_ratio_at_birth.boys IS '男婴数 / boys';
COMMENT ON COLUMN mart.sex_ratio_at_birth.girls IS '女婴数 / girls';
COMMENT ON COLUMN mart.sex_ratio_at_birth.srb IS '性别比（每100女婴对应男婴数；无女婴为空） / boys per 100 girls, null without girls';
COMMENT ON COLUMN mart.sex_ratio_at_birth.ci_low IS '95%置信下限：男婴比例Wilson区间下限p换算为100p/(1-p) / 95 % lower bound: Wilson lower bound p of the share of boys, as 100p/(1-p)';
COMMENT ON COLUMN mart.sex_ratio_at_birth.ci_high IS '95%置信上限（同上；无女婴时无上限为空） / 95 % upper bound, likewise; null (unbounded) without girls';
COMMENT ON COLUMN mart.sex_ratio_at_birth.status IS '判定：insufficient 出生数<20；high 下限>107；low 上限<103；否则 normal / status: insufficient when boys + girls < 20; high when ci_low > 107; low when ci_high < 103; else normal';
COMMENT ON COLUMN mart.sex_ratio_at_birth.reference_date IS '统计基准日 / reference date the figures are as of';

-- mart.warning_villages -------------------------------------------------------------------------
CREATE TABLE mart.warning_villages (
    county_code               text    NOT NULL,
    town_code                 text    NOT NULL,
    village_code              text    NOT NULL,
    year                      integer NOT NULL,
    window_start              integer NOT NULL,
    years_with_second_births  integer NOT NULL,
    second_births             integer NOT NULL,
    second_girls              integer NOT NULL,
    p_value                   double precision NOT NULL,
    flagged                   boolean NOT NULL,
    reference_date            date    NOT NULL,
    PRIMARY KEY (village_code, year)
);
COMMENT ON TABLE mart.warning_villages IS '重点警示村（连续三年无二孩女婴）：村×三年窗口末年；窗口内有二孩出生的村才有行 / warning villages: village × last year of a 3-year window; a row for every village with a second birth in the window';
COMMENT ON COLUMN mart.warning_villages.county_code IS '县级代码 / county code';
COMMENT ON COLUMN mart.warning_villages.town_code IS '乡镇代码 / town code';
COMMENT ON COLUMN mart.warning_villages.village_code IS '村（居）代码 / village code';
COMMENT ON COLUMN mart.warning_villages.year IS '三年窗口的末年 / last year of the three-year window';
COMMENT ON COLUMN mart.warning_villages.window_start IS '三年窗口的首年（year-2） / first year of the window (year - 2)';
COMMENT ON COLUMN mart.warning_villages.years_with_second_births IS '窗口内有二孩出生的年数（0-3） / years of the window with at least one second birth';
COMMENT ON COLUMN mart.warning_villages.second_births IS '窗口内二孩出生数（胎次=2且性别已知） / second-order births of known sex in the window';
COMMENT ON COLUMN mart.warning_villages.second_girls IS '其中女婴数 / of which girls';
COMMENT ON COLUMN mart.warning_villages.p_value IS 'P值：女婴概率100/206时，二孩出生中女婴不多于所见数的概率；无女婴时即(106/206)^二孩数 / chance of at most that many girls among that many second births at a girl probability of 100/206; with no girl, (106/206)^second_births';
COMMENT ON COLUMN mart.warning_villages.flagged IS '警示：三年每年都有二孩出生且均非女婴 / the rule: a second birth in each of the three years and none a girl';
COMMENT ON COLUMN mart.warning_villages.reference_date IS '统计基准日 / reference date the figures are as of';

-- mart.birth_registration_gaps ------------------------------------------------------------------
CREATE TABLE mart.birth_registration_gaps (
    county_code                     text,
    town_code                       text,
    year                            integer,
    month                           integer,
    births_health                   integer NOT NULL,
    births_police                   integer NOT NULL,
    unregistered_over_30d           integer NOT NULL,
    registered_without_certificate  integer NOT NULL,
    reference_date                  date    NOT NULL
);
CREATE UNIQUE INDEX birth_registration_gaps_grain ON mart.birth_registration_gaps
    (county_code, town_code, year, month) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.birth_registration_gaps IS '出生登记缺口：乡镇×出生月份（按整合出生计数；区划不详的出生乡镇代码为空） / birth-registration gaps by town × month of birth, counting consolidated births; births whose town is unknown have town_code null';
COMMENT ON COLUMN mart.birth_registration_gaps.county_code IS '县级代码 / county code';
COMMENT ON COLUMN mart.birth_registration_gaps.town_code IS '乡镇代码（未知为空） / town code, null when unknown';
COMMENT ON COLUMN mart.birth_registration_gaps.year IS '出生年份 / year of birth';
COMMENT ON COLUMN mart.birth_registration_gaps.month IS '出生月份 / month of birth';
COMMENT ON COLUMN mart.birth_registration_gaps.births_health IS '有出生医学证明的出生数 / births with a health birth certificate';
COMMENT ON COLUMN mart.birth_registration_gaps.births_police IS '有公安出生登记的出生数 / births with a police birth registration';
COMMENT ON COLUMN mart.birth_registration_gaps.unregistered_over_30d IS '有出生证、无公安登记且出生已超过30天的出生数 / health births with no police registration, more than 30 days before the reference date';
COMMENT ON COLUMN mart.birth_registration_gaps.registered_without_certificate IS '有公安登记、无匹配出生医学证明的出生数 / police-registered births matched to no health birth certificate';
COMMENT ON COLUMN mart.birth_registration_gaps.reference_date IS '统计基准日 / reference date the figures are as of';

-- mart.birth_dse --------------------------------------------------------------------------------
CREATE TABLE mart.birth_dse (
    county_code      text,
    year             integer NOT NULL,
    n_health         integer NOT NULL,
    n_police         integer NOT NULL,
    n_both           integer NOT NULL,
    estimate         double precision NOT NULL,
    std_error        double precision NOT NULL,
    ci_low           double precision NOT NULL,
    ci_high          double precision NOT NULL,
    coverage_health  double precision NOT NULL,
    coverage_police  double precision NOT NULL,
    reference_date   date    NOT NULL
);
CREATE UNIQUE INDEX birth_dse_grain ON mart.birth_dse (county_code, year) NULLS NOT DISTINCT;
COMMENT ON TABLE mart.birth_dse IS '出生人数双系统估计（Chapman式）：县×年份；只计出生超过30天的出生。两份名单并不独立（办理出生登记需出示出生医学证明），估计值是真实出生数的下限 / dual-system estimate of births (Chapman) by county × year, births more than 30 days before the reference date only. The two lists are not independent (registration asks for the certificate), so the estimate is a lower bound of the true births';
COMMENT ON COLUMN mart.birth_dse.county_code IS '县级代码（区划不详为空） / county code, null when unknown';
COMMENT ON COLUMN mart.birth_dse.year IS '出生年份 / year of birth';
COMMENT ON COLUMN mart.birth_dse.n_health IS 'n1：卫生名单（出生医学证明）出生数 / n1: births on the health list';
COMMENT ON COLUMN mart.birth_dse.n_police IS 'n2：公安名单（出生登记）出生数 / n2: births on the police list';
COMMENT ON COLUMN mart.birth_dse.n_both IS 'm：两份名单都有的出生数 / m: births on both lists';
COMMENT ON COLUMN mart.birth_dse.estimate IS '估计出生数 (n1+1)(n2+1)/(m+1)-1（名单不独立，为下限） / estimated births, (n1+1)(n2+1)/(m+1) - 1; a lower bound, the lists are not independent';
COMMENT ON COLUMN mart.birth_dse.std_error IS '标准误：方差 (n1+1)(n2+1)(n1-m)(n2-m)/((m+1)^2(m+2)) 的平方根 / standard error: square root of (n1+1)(n2+1)(n1-m)(n2-m)/((m+1)^2(m+2))';
COMMENT ON COLUMN mart.birth_dse.ci_low IS '95%正态区间下限（估计值-1.96标准误） / 95 % normal interval, lower: estimate - 1.96 standard errors';
COMMENT ON COLUMN mart.birth_dse.ci_high IS '95%正态区间上限（估计值+1.96标准误） / 95 % normal interval, upper: estimate + 1.96 standard errors';
COMMENT ON COLUMN mart.birth_dse.coverage_health IS '卫生名单覆盖率 n1/估计值 / coverage of the health list, n1 / estimate';
COMMENT ON COLUMN mart.birth_dse.coverage_police IS '公安名单覆盖率 n2/估计值 / coverage of the police list, n2 / estimate';
COMMENT ON COLUMN mart.birth_dse.reference_date IS '统计基准日 / reference date the figures are as of';

-- ops.unregistered_births -----------------------------------------------------------------------
CREATE TABLE ops.unregistered_births (
    cert_no           text    PRIMARY KEY,
    birth_date        date    NOT NULL,
    child_sex         text,
    mother_name       text,
    mother_id         text,
    region_code       text,
    days_since_birth  integer NOT NULL,
    birth_key         text    NOT NULL,
    county_code       text,
    town_code         text,
    village_code      text,
    agency            text    NOT NULL DEFAULT 'police' CHECK (agency = 'police'),
    reference_date    date    NOT NULL
);
CREATE INDEX unregistered_births_town ON ops.unregistered_births (town_code);
COMMENT ON TABLE ops.unregistered_births IS '未落户出生（发公安）：有出生医学证明、无匹配的公安出生登记（子女人员键或证明编号均不匹配），且出生距基准日超过30天 / health births with no matching police birth registration (neither the child''s person key nor the certificate number) and more than 30 days between birth and the reference date; for the police';
COMMENT ON COLUMN ops.unregistered_births.cert_no IS '出生医学证明编号 / birth certificate number';
COMMENT ON COLUMN ops.unregistered_births.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN ops.unregistered_births.child_sex IS '新生儿性别（GB/T 2261.1：1男 2女） / child''s sex, GB/T 2261.1 code (1 male, 2 female)';
COMMENT ON COLUMN ops.unregistered_births.mother_name IS '母亲姓名 / mother''s name';
COMMENT ON COLUMN ops.unregistered_births.mother_id IS '母亲身份证号 / mother''s ID number';
COMMENT ON COLUMN ops.unregistered_births.region_code IS '母亲户籍地区划代码 / region of the mother''s registration';
COMMENT ON COLUMN ops.unregistered_births.days_since_birth IS '出生至基准日天数（>30） / days from birth to the reference date, over 30';
COMMENT ON COLUMN ops.unregistered_births.birth_key IS '整合出生键（mart.births） / the consolidated birth in mart.births';
COMMENT ON COLUMN ops.unregistered_births.county_code IS '县级代码 / county code';
COMMENT ON COLUMN ops.unregistered_births.town_code IS '乡镇代码 / town code';
COMMENT ON COLUMN ops.unregistered_births.village_code IS '村（居）代码 / village code';
COMMENT ON COLUMN ops.unregistered_births.agency IS '接收部门（公安） / receiving agency: police';
COMMENT ON COLUMN ops.unregistered_births.reference_date IS '统计基准日 / reference date the list is as of';

-- ops.registrations_without_certificate ---------------------------------------------------------
CREATE TABLE ops.registrations_without_certificate (
    reg_no          text PRIMARY KEY,
    child_id        text,
    birth_date      date,
    mother_id       text,
    region_code     text,
    birth_cert_no   text,
    reason          text NOT NULL CHECK (reason IN ('no_certificate_number', 'certificate_number_not_found')),
    reg_date        date,
    birth_key       text NOT NULL,
    county_code     text,
    town_code       text,
    village_code    text,
    agency          text NOT NULL DEFAULT 'health' CHECK (agency = 'health'),
    reference_date  date NOT NULL
);
CREATE INDEX registrations_without_certificate_town ON ops.registrations_without_certificate (town_code);
COMMENT ON TABLE ops.registrations_without_certificate IS '无出生医学证明的出生登记（发卫健）：公安出生登记所填证明编号不对应任何出生医学证明（或未填），且子女人员键也不对应任何出生医学证明的子女 / police birth registrations whose certificate number matches no health birth certificate (or none was given) and whose child is not the child of any certificate by person key; for health';
COMMENT ON COLUMN ops.registrations_without_certificate.reg_no IS '登记编号 / registration number';
COMMENT ON COLUMN ops.registrations_without_certificate.child_id IS '子女公民身份号码 / child''s ID number';
COMMENT ON COLUMN ops.registrations_without_certificate.birth_date IS '出生日期 / date of birth';
COMMENT ON COLUMN ops.registrations_without_certificate.mother_id IS '母亲身份证号 / mother''s ID number';
COMMENT ON COLUMN ops.registrations_without_certificate.region_code IS '户籍地区划代码 / region of registration';
COMMENT ON COLUMN ops.registrations_without_certificate.birth_cert_no IS '登记所填出生医学证明编号（未找到；未填为空） / certificate number given on the registration, not found; null when none was given';
COMMENT ON COLUMN ops.registrations_without_certificate.reason IS '原因：no_certificate_number 未填编号，certificate_number_not_found 编号无对应证明 / why: no number given, or the number matches no certificate';
COMMENT ON COLUMN ops.registrations_without_certificate.reg_date IS '登记日期 / date registered';
COMMENT ON COLUMN ops.registrations_without_certificate.birth_key IS '整合出生键（mart.births） / the consolidated birth in mart.births';
COMMENT ON COLUMN ops.registrations_without_certificate.county_code IS '县级代码 / county code';
COMMENT ON COLUMN ops.registrations_without_certificate.town_code IS '乡镇代码 / town code';
COMMENT ON COLUMN ops.registrations_without_certificate.village_code IS '村（居）代码 / village code';
COMMENT ON COLUMN ops.registrations_without_certificate.agency IS '接收部门（卫健） / receiving agency: health';
COMMENT ON COLUMN ops.registrations_without_certificate.reference_date IS '统计基准日 / reference date the list is as of';
