-- Birth reconciliation as of :reference_date (popdata.reconcile.births.refresh_births).
-- Rebuilds mart.births, ops.unregistered_births, ops.registrations_without_certificate,
-- mart.sex_ratio_at_birth, mart.warning_villages, mart.birth_registration_gaps and mart.birth_dse
-- in the caller's transaction (delete + insert: a re-run gives identical tables).
-- Statements are separated by lines reading "-- statement"; comment lines are dropped.
--
-- Records: the current version per source key among the versions whose extract date is on or
-- before the reference date (the rule of the core.<feed> views, restricted to what was known).
-- A consolidated birth is keyed by an "anchor": 'person:<child person key>' for a certificate
-- whose child has a person key (else 'cert:<cert_no>'); a registration takes the anchor of the
-- certificate whose child has the same person key, else of the certificate its birth_cert_no
-- names, else its own 'person:<key>' (or 'reg:<reg_no>'). A village birth report (村级直报, feed
-- village_reports, report_type 出生) takes the anchor of the certificate or registration whose child
-- has the same person key, else of the one whose mother has the same person key and whose birth
-- date is within 30 days of the reported one (the nearest), else its own 'person:<key>' (or
-- 'village:<report_no>'). birth_key = md5('birth|' || anchor).
-- The statistics use z = 1.959963984540054 (97.5 % normal quantile); the Python helpers of
-- popdata.reconcile.births implement the same formulas and the tests check both agree.
-- Each temporary table is analysed once filled (autovacuum never analyses temporary tables; see
-- reconcile_other.sql).

DROP TABLE IF EXISTS pg_temp.rb_cert, pg_temp.rb_reg, pg_temp.rb_known, pg_temp.rb_village, pg_temp.rb_approval, pg_temp.rb_birth;

-- statement
CREATE TEMP TABLE rb_cert ON COMMIT DROP AS
SELECT c.cert_no, c.child_sex, c.birth_date, c.birth_order, c.mother_name, c.mother_id, c.region_code,
       lc.person_key AS child_key,
       lm.person_key AS mother_key,
       CASE c.child_sex WHEN '1' THEN 'M' WHEN '2' THEN 'F' END AS sex_mf,
       coalesce('person:' || lc.person_key, 'cert:' || c.cert_no) AS anchor
FROM (
    SELECT DISTINCT ON (r.cert_no) r.cert_no, r.child_sex, r.birth_date, r.birth_order, r.mother_name,
           r.mother_id, r.region_code
    FROM core.birth_certificates_rows r
    WHERE r.cert_no IS NOT NULL AND r.extract_date <= CAST(:reference_date AS date)
    ORDER BY r.cert_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC
) c
LEFT JOIN core.record_link lc
       ON lc.feed = 'birth_certificates' AND lc.source_key = c.cert_no AND lc.role = 'child'
LEFT JOIN core.record_link lm
       ON lm.feed = 'birth_certificates' AND lm.source_key = c.cert_no AND lm.role = 'mother';

-- statement
ANALYZE rb_cert;

-- statement
CREATE TEMP TABLE rb_reg ON COMMIT DROP AS
WITH reg AS (
    SELECT g.reg_no, g.child_id, g.sex, g.birth_date, nullif(g.birth_cert_no, '') AS birth_cert_no,
           g.mother_id, g.region_code, g.reg_date,
           lc.person_key AS child_key,
           lm.person_key AS mother_key,
           CASE g.sex WHEN '1' THEN 'M' WHEN '2' THEN 'F' END AS sex_mf
    FROM (
        SELECT DISTINCT ON (r.reg_no) r.reg_no, r.child_id, r.sex, r.birth_date, r.birth_cert_no,
               r.mother_id, r.region_code, r.reg_date
        FROM core.birth_registrations_rows r
        WHERE r.reg_no IS NOT NULL AND r.extract_date <= CAST(:reference_date AS date)
        ORDER BY r.reg_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC
    ) g
    LEFT JOIN core.record_link lc
           ON lc.feed = 'birth_registrations' AND lc.source_key = g.reg_no AND lc.role = 'child'
    LEFT JOIN core.record_link lm
           ON lm.feed = 'birth_registrations' AND lm.source_key = g.reg_no AND lm.role = 'mother'
)
SELECT reg.*,
       (k.anchor IS NOT NULL OR n.anchor IS NOT NULL) AS has_certificate,
       coalesce(k.anchor, n.anchor, 'person:' || reg.child_key, 'reg:' || reg.reg_no) AS anchor
FROM reg
LEFT JOIN (SELECT DISTINCT child_key, anchor FROM rb_cert WHERE child_key IS NOT NULL) k
       ON k.child_key = reg.child_key
LEFT JOIN rb_cert n ON n.cert_no = reg.birth_cert_no;

-- statement
ANALYZE rb_reg;

-- statement
-- the births a village report may join, looked up per report by child key or mother key and date
CREATE TEMP TABLE rb_known ON COMMIT DROP AS
SELECT child_key, mother_key, birth_date, anchor FROM rb_cert
UNION
SELECT child_key, mother_key, birth_date, anchor FROM rb_reg;

-- statement
CREATE INDEX ON rb_known (child_key);

-- statement
CREATE INDEX ON rb_known (mother_key, birth_date);

-- statement
ANALYZE rb_known;

-- statement
CREATE TEMP TABLE rb_village ON COMMIT DROP AS
WITH rep AS (
    SELECT v.report_no, v.birth_date, v.birth_order, v.region_code,
           lc.person_key AS child_key,
           lm.person_key AS mother_key,
           CASE v.sex WHEN '1' THEN 'M' WHEN '2' THEN 'F' END AS sex_mf
    FROM (
        SELECT DISTINCT ON (r.report_no) r.report_no, r.report_type, r.sex, r.birth_date, r.birth_order,
               r.region_code
        FROM core.village_reports_rows r
        WHERE r.report_no IS NOT NULL AND r.extract_date <= CAST(:reference_date AS date)
        ORDER BY r.report_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC
    ) v
    LEFT JOIN core.record_link lc
           ON lc.feed = 'village_reports' AND lc.source_key = v.report_no AND lc.role = 'child'
    LEFT JOIN core.record_link lm
           ON lm.feed = 'village_reports' AND lm.source_key = v.report_no AND lm.role = 'mother'
    WHERE v.report_type = '出生'
)
SELECT rep.*,
       coalesce(
           (SELECT min(k.anchor) FROM rb_known k WHERE k.child_key = rep.child_key),
           (SELECT k.anchor FROM rb_known k
             WHERE k.mother_key = rep.mother_key
               AND k.birth_date BETWEEN rep.birth_date - 30 AND rep.birth_date + 30
             ORDER BY abs(k.birth_date - rep.birth_date), k.anchor LIMIT 1),
           'person:' || rep.child_key,
           'village:' || rep.report_no
       ) AS anchor
FROM rep;

-- statement
ANALYZE rb_village;

-- statement
CREATE TEMP TABLE rb_approval ON COMMIT DROP AS
SELECT l.person_key AS wife_key, a.apply_date
FROM (
    SELECT DISTINCT ON (r.app_no) r.app_no, r.apply_date, r.decision
    FROM core.birth_approvals_rows r
    WHERE r.app_no IS NOT NULL AND r.extract_date <= CAST(:reference_date AS date)
    ORDER BY r.app_no, r.extract_date DESC, r.file_id DESC, r.line_no DESC
) a
JOIN core.record_link l ON l.feed = 'birth_approvals' AND l.source_key = a.app_no AND l.role = 'wife'
WHERE a.decision = '批准' AND a.apply_date IS NOT NULL;

-- statement
-- mart.births looks approvals up by the mother's key and a date range, once per birth: without
-- this index that was a scan of every approval per birth (55 s at 1 000 000 persons)
CREATE INDEX ON rb_approval (wife_key, apply_date);

-- statement
ANALYZE rb_approval;

-- statement
CREATE TEMP TABLE rb_birth ON COMMIT DROP AS
WITH h AS (SELECT DISTINCT ON (anchor) * FROM rb_cert ORDER BY anchor, cert_no),
     p AS (SELECT DISTINCT ON (anchor) * FROM rb_reg ORDER BY anchor, reg_no),
     v AS (SELECT DISTINCT ON (anchor) * FROM rb_village ORDER BY anchor, report_no),
     a AS (SELECT anchor FROM rb_cert UNION SELECT anchor FROM rb_reg UNION SELECT anchor FROM rb_village)
SELECT a.anchor,
       md5('birth|' || a.anchor) AS birth_key,
       coalesce(h.child_key, p.child_key, v.child_key) AS child_person_key,
       coalesce(h.mother_key, p.mother_key, v.mother_key) AS mother_person_key,
       h.mother_key AS health_mother_key,
       p.mother_key AS police_mother_key,
       v.mother_key AS village_mother_key,
       coalesce(h.birth_date, p.birth_date, v.birth_date) AS birth_date,
       coalesce(h.sex_mf, p.sex_mf, v.sex_mf) AS sex,
       CASE WHEN h.birth_order >= 1 THEN h.birth_order WHEN v.birth_order >= 1 THEN v.birth_order END
           AS birth_order,
       h.anchor IS NOT NULL AS in_health,
       p.anchor IS NOT NULL AS in_police,
       v.anchor IS NOT NULL AS in_village_report,
       coalesce(h.region_code, p.region_code, v.region_code) AS region_code
FROM a
LEFT JOIN h ON h.anchor = a.anchor
LEFT JOIN p ON p.anchor = a.anchor
LEFT JOIN v ON v.anchor = a.anchor;

-- statement
ANALYZE rb_birth;

-- statement
DELETE FROM mart.births;

-- statement
INSERT INTO mart.births (birth_key, child_person_key, mother_person_key, birth_date, sex, birth_order,
                         in_health, in_police, in_fp_approval, in_village_report, region_code, county_code,
                         town_code, village_code, year, month, reference_date)
SELECT b.birth_key, b.child_person_key, b.mother_person_key, b.birth_date, b.sex, b.birth_order,
       b.in_health, b.in_police,
       EXISTS (
           SELECT 1 FROM rb_approval x
           WHERE x.wife_key IN (b.health_mother_key, b.police_mother_key, b.village_mother_key)
             AND x.apply_date BETWEEN b.birth_date - 365 AND b.birth_date
       ),
       b.in_village_report,
       b.region_code,
       substr(b.region_code, 1, 6),
       CASE WHEN substr(b.region_code, 7, 3) <> '000' THEN substr(b.region_code, 1, 9) END,
       CASE WHEN substr(b.region_code, 10, 3) <> '000' THEN b.region_code END,
       extract(year FROM b.birth_date)::int,
       extract(month FROM b.birth_date)::int,
       CAST(:reference_date AS date)
FROM rb_birth b;

-- statement
DELETE FROM ops.unregistered_births;

-- statement
INSERT INTO ops.unregistered_births (cert_no, birth_date, child_sex, mother_name, mother_id, region_code,
                                     days_since_birth, birth_key, county_code, town_code, village_code,
                                     agency, reference_date)
SELECT c.cert_no, c.birth_date, c.child_sex, c.mother_name, c.mother_id, c.region_code,
       CAST(:reference_date AS date) - c.birth_date,
       b.birth_key,
       substr(c.region_code, 1, 6),
       CASE WHEN substr(c.region_code, 7, 3) <> '000' THEN substr(c.region_code, 1, 9) END,
       CASE WHEN substr(c.region_code, 10, 3) <> '000' THEN c.region_code END,
       'police',
       CAST(:reference_date AS date)
FROM rb_cert c
JOIN rb_birth b ON b.anchor = c.anchor
WHERE NOT b.in_police
  AND c.birth_date IS NOT NULL
  AND CAST(:reference_date AS date) - c.birth_date > 30;

-- statement
DELETE FROM ops.registrations_without_certificate;

-- statement
INSERT INTO ops.registrations_without_certificate (reg_no, child_id, birth_date, mother_id, region_code,
                                                   birth_cert_no, reason, reg_date, birth_key, county_code,
                                                   town_code, village_code, agency, reference_date)
SELECT r.reg_no, r.child_id, r.birth_date, r.mother_id, r.region_code, r.birth_cert_no,
       CASE WHEN r.birth_cert_no IS NULL THEN 'no_certificate_number' ELSE 'certificate_number_not_found' END,
       r.reg_date,
       md5('birth|' || r.anchor),
       substr(r.region_code, 1, 6),
       CASE WHEN substr(r.region_code, 7, 3) <> '000' THEN substr(r.region_code, 1, 9) END,
       CASE WHEN substr(r.region_code, 10, 3) <> '000' THEN r.region_code END,
       'health',
       CAST(:reference_date AS date)
FROM rb_reg r
WHERE NOT r.has_certificate;

-- statement
DELETE FROM mart.sex_ratio_at_birth;

-- statement
INSERT INTO mart.sex_ratio_at_birth (level, region_code, county_code, town_code, village_code, year,
                                     birth_order, boys, girls, srb, ci_low, ci_high, status, reference_date)
WITH known AS (
    SELECT b.county_code, b.town_code, b.village_code, b.year, b.sex, o.grp
    FROM mart.births b
    CROSS JOIN LATERAL (
        VALUES ('all'),
               (CASE WHEN b.birth_order = 1 THEN '1' WHEN b.birth_order = 2 THEN '2'
                     WHEN b.birth_order >= 3 THEN '3+' END)
    ) AS o (grp)
    WHERE b.sex IS NOT NULL AND b.year IS NOT NULL AND b.county_code IS NOT NULL AND o.grp IS NOT NULL
),
levels AS (
    SELECT 'county' AS level, rpad(county_code, 12, '0') AS region_code, county_code,
           NULL::text AS town_code, NULL::text AS village_code, year, grp, sex
    FROM known
    UNION ALL
    SELECT 'town', rpad(town_code, 12, '0'), county_code, town_code, NULL, year, grp, sex
    FROM known WHERE town_code IS NOT NULL
    UNION ALL
    SELECT 'village', village_code, county_code, town_code, village_code, year, grp, sex
    FROM known WHERE village_code IS NOT NULL
),
counts AS (
    SELECT level, region_code, county_code, town_code, village_code, year, grp,
           count(*) FILTER (WHERE sex = 'M')::int AS boys,
           count(*) FILTER (WHERE sex = 'F')::int AS girls
    FROM levels
    GROUP BY level, region_code, county_code, town_code, village_code, year, grp
),
wilson AS (
    SELECT c.*,
           CASE WHEN c.girls > 0 THEN 100.0::float8 * c.boys / c.girls END AS srb,
           greatest(w.centre - w.half, 0.0::float8) AS p_low,
           least(w.centre + w.half, 1.0::float8) AS p_high
    FROM counts c
    CROSS JOIN LATERAL (
        SELECT (c.boys + c.girls)::float8 AS n,
               c.boys::float8 / (c.boys + c.girls) AS p,
               1.959963984540054::float8 AS z
    ) s
    CROSS JOIN LATERAL (
        SELECT (s.p + s.z * s.z / (2.0 * s.n)) / (1.0 + s.z * s.z / s.n) AS centre,
               s.z * sqrt(s.p * (1.0 - s.p) / s.n + s.z * s.z / (4.0 * s.n * s.n)) / (1.0 + s.z * s.z / s.n) AS half
    ) w
),
bounds AS (
    SELECT wilson.*,
           100.0 * p_low / (1.0 - p_low) AS ci_low,
           CASE WHEN girls > 0 THEN 100.0 * p_high / (1.0 - p_high) END AS ci_high
    FROM wilson
)
SELECT level, region_code, county_code, town_code, village_code, year, grp, boys, girls, srb, ci_low, ci_high,
       CASE WHEN boys + girls < 20 THEN 'insufficient'
            WHEN ci_low > 107 THEN 'high'
            WHEN ci_high < 103 THEN 'low'
            ELSE 'normal' END,
       CAST(:reference_date AS date)
FROM bounds;

-- statement
DELETE FROM mart.warning_villages;

-- statement
INSERT INTO mart.warning_villages (county_code, town_code, village_code, year, window_start,
                                   years_with_second_births, second_births, second_girls, p_value, flagged,
                                   reference_date)
WITH second AS (
    SELECT county_code, town_code, village_code, year,
           count(*)::int AS births,
           count(*) FILTER (WHERE sex = 'F')::int AS girls
    FROM mart.births
    WHERE birth_order = 2 AND sex IS NOT NULL AND village_code IS NOT NULL AND year IS NOT NULL
    GROUP BY county_code, town_code, village_code, year
),
ends AS (SELECT DISTINCT year FROM mart.births WHERE year IS NOT NULL),
win AS (
    SELECT s.county_code, s.town_code, s.village_code, e.year,
           count(*)::int AS years_with,
           sum(s.births)::int AS births,
           sum(s.girls)::int AS girls
    FROM ends e
    JOIN second s ON s.year BETWEEN e.year - 2 AND e.year
    GROUP BY s.county_code, s.town_code, s.village_code, e.year
)
SELECT w.county_code, w.town_code, w.village_code, w.year, w.year - 2, w.years_with, w.births, w.girls,
       (SELECT sum(factorial(w.births) / (factorial(k) * factorial(w.births - k))
                   * power(100.000000000000000000000000000000::numeric / 206, k)
                   * power(106.000000000000000000000000000000::numeric / 206, w.births - k))
        FROM generate_series(0, w.girls) AS k)::float8,
       w.years_with = 3 AND w.girls = 0,
       CAST(:reference_date AS date)
FROM win w;

-- statement
DELETE FROM mart.birth_registration_gaps;

-- statement
INSERT INTO mart.birth_registration_gaps (county_code, town_code, year, month, births_health, births_police,
                                          unregistered_over_30d, registered_without_certificate, reference_date)
SELECT county_code, town_code, year, month,
       count(*) FILTER (WHERE in_health)::int,
       count(*) FILTER (WHERE in_police)::int,
       count(*) FILTER (WHERE in_health AND NOT in_police
                          AND CAST(:reference_date AS date) - birth_date > 30)::int,
       count(*) FILTER (WHERE in_police AND NOT in_health)::int,
       CAST(:reference_date AS date)
FROM mart.births
GROUP BY county_code, town_code, year, month;

-- statement
DELETE FROM mart.birth_dse;

-- statement
INSERT INTO mart.birth_dse (county_code, year, n_health, n_police, n_both, estimate, std_error, ci_low,
                            ci_high, coverage_health, coverage_police, reference_date)
WITH lists AS (
    SELECT county_code, year,
           count(*) FILTER (WHERE in_health)::int AS n1,
           count(*) FILTER (WHERE in_police)::int AS n2,
           count(*) FILTER (WHERE in_health AND in_police)::int AS m
    FROM mart.births
    WHERE year IS NOT NULL AND CAST(:reference_date AS date) - birth_date > 30
    GROUP BY county_code, year
)
SELECT l.county_code, l.year, l.n1, l.n2, l.m,
       e.estimate, sqrt(e.variance),
       e.estimate - 1.959963984540054::float8 * sqrt(e.variance),
       e.estimate + 1.959963984540054::float8 * sqrt(e.variance),
       l.n1 / e.estimate, l.n2 / e.estimate,
       CAST(:reference_date AS date)
FROM lists l
CROSS JOIN LATERAL (
    SELECT (l.n1 + 1.0::float8) * (l.n2 + 1.0) / (l.m + 1.0) - 1.0 AS estimate,
           (l.n1 + 1.0::float8) * (l.n2 + 1.0) * (l.n1 - l.m) * (l.n2 - l.m)
               / ((l.m + 1.0) * (l.m + 1.0) * (l.m + 2.0)) AS variance
) e;

-- statement
DROP TABLE rb_cert, rb_reg, rb_approval, rb_birth;
