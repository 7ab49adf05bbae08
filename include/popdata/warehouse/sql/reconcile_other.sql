-- Reconciliation other than births (popdata.reconcile.other.refresh_other): rebuilds the tables of
-- migration 0007 for one reference date (:reference_date) inside the caller's transaction.
-- Every table is deleted and refilled, so a re-run gives identical tables.
-- Statements are separated by lines reading "-- statement". Bound: :reference_date,
-- :prenatal_indicator, :fee_rate_indicator, :timezone. The caller fills rec_o_lateness first.
--
-- A person is matched across feeds by tokens: 'k<person_key>' (core.record_link) and 'i<id_no>'
-- (a valid identity number); two records are the same person when any of their tokens agree.
-- Temporary tables are named rec_o_* and dropped at the end. Each is analysed as soon as it is
-- filled: autovacuum never analyses temporary tables, and without statistics the planner misjudged
-- joins by orders of magnitude (at 100 000 persons rec_o_mention took 442 s instead of 1 s: a
-- nested loop re-aggregated the registry snapshot for each of 36 000 mentions). The one-row
-- `snapshot` CTEs are MATERIALIZED for the same reason: computed once, whatever the estimates.

DROP TABLE IF EXISTS rec_o_death, rec_o_police_death, rec_o_registry, rec_o_registry_tokens,
    rec_o_cancelled_tokens, rec_o_death_tokens, rec_o_roll, rec_o_births, rec_o_parent_tokens,
    rec_o_audits, rec_o_mention, rec_o_migrant_tokens

-- statement
-- Health deaths on or before the reference date, with the person key of the deceased.
CREATE TEMP TABLE rec_o_death AS
SELECT d.death_cert_no, d.name, d.id_no, coalesce(d.id_no_valid, false) AS id_no_valid, d.death_date,
       d.region_code, l.person_key
FROM core.death_records d
LEFT JOIN core.record_link l
       ON l.feed = 'death_records' AND l.role = 'subject'
      AND l.source_key = coalesce(CAST(d.death_cert_no AS text), '')
WHERE d.death_date IS NOT NULL AND d.death_date <= CAST(:reference_date AS date)

-- statement
ANALYZE rec_o_death

-- statement
-- Police cancellations of hukou for death (死亡) made on or before the reference date; the date of
-- death is the one on the cancellation, its cancellation date when missing.
CREATE TEMP TABLE rec_o_police_death AS
SELECT c.cancel_no, c.id_no, coalesce(c.id_no_valid, false) AS id_no_valid,
       coalesce(c.death_date, c.cancel_date) AS death_date, c.region_code, l.person_key
FROM core.hukou_cancellations c
LEFT JOIN core.record_link l
       ON l.feed = 'hukou_cancellations' AND l.role = 'subject'
      AND l.source_key = coalesce(CAST(c.cancel_no AS text), '')
WHERE c.reason = '死亡'
  AND coalesce(c.cancel_date, c.death_date) <= CAST(:reference_date AS date)

-- statement
ANALYZE rec_o_police_death

-- statement
-- Tokens of every person whose hukou was cancelled (any reason) on or before the reference date,
-- and whether the reason was death.
CREATE TEMP TABLE rec_o_cancelled_tokens AS
SELECT t.token, bool_or(c.reason = '死亡') AS for_death
FROM core.hukou_cancellations c
LEFT JOIN core.record_link l
       ON l.feed = 'hukou_cancellations' AND l.role = 'subject'
      AND l.source_key = coalesce(CAST(c.cancel_no AS text), '')
CROSS JOIN LATERAL (VALUES ('k' || l.person_key),
                           (CASE WHEN c.id_no_valid THEN 'i' || c.id_no END)) AS t (token)
WHERE t.token IS NOT NULL
  AND coalesce(c.cancel_date, c.death_date) <= CAST(:reference_date AS date)
GROUP BY t.token

-- statement
ANALYZE rec_o_cancelled_tokens

-- statement
ALTER TABLE rec_o_cancelled_tokens ADD PRIMARY KEY (token)

-- statement
-- The latest registry snapshot with the person key of each row.
CREATE TEMP TABLE rec_o_registry AS
SELECT r.file_id, r.extract_date, r.id_no, coalesce(r.id_no_valid, false) AS id_no_valid, r.name, r.sex,
       r.ethnicity, r.birth_date, r.household_no, r.relation, r.region_code, r.address, r.marital,
       r.status, l.person_key
FROM core.household_registry r
LEFT JOIN core.record_link l
       ON l.feed = 'household_registry' AND l.role = 'subject'
      AND l.source_key = coalesce(CAST(r.id_no AS text), '')

-- statement
ANALYZE rec_o_registry

-- statement
-- Tokens of the persons in the latest snapshot; active when a row of theirs is 正常 (or blank).
CREATE TEMP TABLE rec_o_registry_tokens AS
SELECT t.token, bool_or(r.status IS NULL OR r.status = '正常') AS active
FROM rec_o_registry r
CROSS JOIN LATERAL (VALUES ('k' || r.person_key),
                           (CASE WHEN r.id_no_valid THEN 'i' || r.id_no END)) AS t (token)
WHERE t.token IS NOT NULL
GROUP BY t.token

-- statement
ANALYZE rec_o_registry_tokens

-- statement
ALTER TABLE rec_o_registry_tokens ADD PRIMARY KEY (token)

-- statement
-- The earliest recorded date of death per token (health certificate or police cancellation).
CREATE TEMP TABLE rec_o_death_tokens AS
SELECT DISTINCT ON (t.token) t.token, x.death_date, x.source
FROM (
    SELECT person_key, id_no, id_no_valid, death_date, 'health' AS source FROM rec_o_death
    UNION ALL
    SELECT person_key, id_no, id_no_valid, death_date, 'police' AS source FROM rec_o_police_death
) x
CROSS JOIN LATERAL (VALUES ('k' || x.person_key),
                           (CASE WHEN x.id_no_valid THEN 'i' || x.id_no END)) AS t (token)
WHERE t.token IS NOT NULL
ORDER BY t.token, x.death_date, x.source

-- statement
ANALYZE rec_o_death_tokens

-- statement
ALTER TABLE rec_o_death_tokens ADD PRIMARY KEY (token)

-- statement
-- ops.deaths_not_cancelled: more than 30 days between death and the reference date, no cancellation
-- for death, and the latest registry snapshot still shows the person as 正常.
DELETE FROM ops.deaths_not_cancelled

-- statement
INSERT INTO ops.deaths_not_cancelled (death_cert_no, name, id_no, death_date, region_code, days_since_death,
                                      person_key, agency, reference_date)
SELECT d.death_cert_no, d.name, d.id_no, d.death_date, d.region_code,
       CAST(:reference_date AS date) - d.death_date, d.person_key, 'police', CAST(:reference_date AS date)
FROM rec_o_death d
WHERE CAST(:reference_date AS date) - d.death_date > 30
  AND NOT EXISTS (
      SELECT 1 FROM rec_o_cancelled_tokens c
      WHERE c.for_death
        AND c.token IN ('k' || d.person_key, CASE WHEN d.id_no_valid THEN 'i' || d.id_no END))
  AND EXISTS (
      SELECT 1 FROM rec_o_registry_tokens r
      WHERE r.active
        AND r.token IN ('k' || d.person_key, CASE WHEN d.id_no_valid THEN 'i' || d.id_no END))

-- statement
-- Assistance roll entries with the recipient's person key and earliest recorded death.
CREATE TEMP TABLE rec_o_roll AS
SELECT a.id_no, coalesce(a.id_no_valid, false) AS id_no_valid, a.name, a.program, a.year, a.amount,
       a.region_code, l.person_key,
       coalesce('k' || l.person_key, CASE WHEN a.id_no_valid THEN 'i' || a.id_no END, 'n' || a.id_no) AS who,
       dd.death_date, dd.source AS death_source
FROM core.assistance_rolls a
LEFT JOIN core.record_link l
       ON l.feed = 'assistance_rolls' AND l.role = 'subject'
      AND l.source_key = concat_ws('|', coalesce(CAST(a.id_no AS text), ''), coalesce(CAST(a.program AS text), ''),
                                   coalesce(CAST(a.year AS text), ''))
LEFT JOIN LATERAL (
    SELECT t.death_date, t.source FROM rec_o_death_tokens t
    WHERE t.token IN ('k' || l.person_key, CASE WHEN a.id_no_valid THEN 'i' || a.id_no END)
    ORDER BY t.death_date, t.source
    LIMIT 1
) dd ON true
WHERE a.id_no IS NOT NULL AND a.program IS NOT NULL AND a.year IS NOT NULL

-- statement
ANALYZE rec_o_roll

-- statement
-- ops.paid_after_death: a roll entry for a year that starts after the recipient's death date.
DELETE FROM ops.paid_after_death

-- statement
INSERT INTO ops.paid_after_death (id_no, name, program, year, amount, death_date, death_source, region_code,
                                  person_key, agency, reference_date)
SELECT r.id_no, r.name, r.program, r.year, r.amount, r.death_date, r.death_source, r.region_code,
       r.person_key, 'fp', CAST(:reference_date AS date)
FROM rec_o_roll r
WHERE r.death_date IS NOT NULL AND make_date(r.year, 1, 1) > r.death_date

-- statement
-- mart.death_reconciliation: town × month of death.
DELETE FROM mart.death_reconciliation

-- statement
INSERT INTO mart.death_reconciliation (region_code, county_code, town_code, year, month, reference_date,
                                       deaths_health, deaths_police, not_cancelled_over_30d, paid_after_death)
SELECT CASE WHEN rc IS NULL THEN NULL
            WHEN substr(rc, 7, 3) <> '000' THEN substr(rc, 1, 9) || '000'
            ELSE substr(rc, 1, 6) || '000000' END,
       substr(rc, 1, 6),
       CASE WHEN substr(rc, 7, 3) <> '000' THEN substr(rc, 1, 9) END,
       y, m, CAST(:reference_date AS date),
       count(*) FILTER (WHERE kind = 'health'),
       count(*) FILTER (WHERE kind = 'police'),
       count(*) FILTER (WHERE kind = 'not_cancelled'),
       count(*) FILTER (WHERE kind = 'paid_after_death')
FROM (
    SELECT rc, CAST(extract(year FROM dd) AS integer) AS y, CAST(extract(month FROM dd) AS integer) AS m, kind
    FROM (
        SELECT region_code AS rc, death_date AS dd, 'health' AS kind FROM rec_o_death
        UNION ALL
        SELECT region_code, death_date, 'police' FROM rec_o_police_death
        UNION ALL
        SELECT region_code, death_date, 'not_cancelled' FROM ops.deaths_not_cancelled
        UNION ALL
        SELECT region_code, death_date, 'paid_after_death' FROM ops.paid_after_death
    ) events
) e
GROUP BY 1, 2, 3, y, m

-- statement
-- mart.fp_approvals: town × month of application × category, as of the reference date.
DELETE FROM mart.fp_approvals

-- statement
INSERT INTO mart.fp_approvals (region_code, county_code, town_code, year, month, category, reference_date,
                               applications, approved, rejected, pending,
                               median_days_to_decision, p90_days_to_decision)
SELECT CASE WHEN rc IS NULL THEN NULL
            WHEN substr(rc, 7, 3) <> '000' THEN substr(rc, 1, 9) || '000'
            ELSE substr(rc, 1, 6) || '000000' END,
       substr(rc, 1, 6),
       CASE WHEN substr(rc, 7, 3) <> '000' THEN substr(rc, 1, 9) END,
       y, m, category, CAST(:reference_date AS date),
       count(*),
       count(*) FILTER (WHERE outcome = 'approved'),
       count(*) FILTER (WHERE outcome = 'rejected'),
       count(*) FILTER (WHERE outcome = 'pending'),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY days),
       percentile_cont(0.9) WITHIN GROUP (ORDER BY days)
FROM (
    SELECT a.region_code AS rc, a.category,
           CAST(extract(year FROM a.apply_date) AS integer) AS y,
           CAST(extract(month FROM a.apply_date) AS integer) AS m,
           o.outcome,
           CASE WHEN o.outcome <> 'pending' AND a.decision_date IS NOT NULL
                THEN a.decision_date - a.apply_date END AS days
    FROM core.birth_approvals a
    CROSS JOIN LATERAL (
        SELECT CASE WHEN a.decision_date > CAST(:reference_date AS date) THEN 'pending'
                    WHEN a.decision = '批准' THEN 'approved'
                    WHEN a.decision = '不予批准' THEN 'rejected'
                    ELSE 'pending' END AS outcome
    ) o
    WHERE a.apply_date IS NOT NULL AND a.apply_date <= CAST(:reference_date AS date)
) apps
GROUP BY 1, 2, 3, y, m, category

-- statement
-- mart.prenatal_check_progress: couples checked (distinct by the wife) per town and county and
-- year against the annual target.
DELETE FROM mart.prenatal_check_progress

-- statement
INSERT INTO mart.prenatal_check_progress (level, region_code, county_code, town_code, year, reference_date,
                                          couples_checked, target, pct_of_target, at_risk_share)
WITH checks AS (
    SELECT c.region_code AS rc, CAST(extract(year FROM c.check_date) AS integer) AS year, c.result,
           coalesce('k' || l.person_key, CASE WHEN c.wife_id_valid THEN 'i' || c.wife_id END,
                    'c' || c.check_no) AS couple
    FROM core.prenatal_checks c
    LEFT JOIN core.record_link l
           ON l.feed = 'prenatal_checks' AND l.role = 'wife'
          AND l.source_key = coalesce(CAST(c.check_no AS text), '')
    WHERE c.check_date IS NOT NULL AND c.check_date <= CAST(:reference_date AS date)
      AND c.region_code IS NOT NULL
), units AS (
    SELECT 'town' AS level, substr(rc, 1, 9) || '000' AS region_code, year, result, couple
    FROM checks WHERE substr(rc, 7, 3) <> '000'
    UNION ALL
    SELECT 'county', substr(rc, 1, 6) || '000000', year, result, couple FROM checks
), done AS (
    SELECT level, region_code, year,
           count(DISTINCT couple) AS couples,
           count(DISTINCT couple) FILTER (WHERE result LIKE '%风险%') AS at_risk,
           count(DISTINCT couple) FILTER (WHERE result IS NOT NULL) AS with_result
    FROM units
    GROUP BY level, region_code, year
), targets AS (
    SELECT CASE WHEN substr(t.region_code, 7, 3) <> '000' THEN 'town' ELSE 'county' END AS level,
           t.region_code, t.year, t.target
    FROM core.annual_targets t
    WHERE replace(replace(t.indicator, '（', '('), '）', ')') = :prenatal_indicator
      AND t.region_code IS NOT NULL AND substr(t.region_code, 10, 3) = '000'
      AND t.year <= extract(year FROM CAST(:reference_date AS date))
)
SELECT level, region_code, substr(region_code, 1, 6),
       CASE WHEN level = 'town' THEN substr(region_code, 1, 9) END,
       year, CAST(:reference_date AS date),
       coalesce(d.couples, 0), t.target,
       CASE WHEN t.target > 0 THEN coalesce(d.couples, 0) / CAST(t.target AS double precision) END,
       CASE WHEN d.with_result > 0 THEN d.at_risk / CAST(d.with_result AS double precision) END
FROM done d
FULL JOIN targets t USING (level, region_code, year)

-- statement
-- mart.social_fee: town × year of decision, with the target collection rate of the town.
DELETE FROM mart.social_fee

-- statement
INSERT INTO mart.social_fee (region_code, county_code, town_code, year, reference_date, cases, assessed_yuan,
                             collected_yuan, collection_rate, target_rate)
WITH cases AS (
    SELECT CASE WHEN c.region_code IS NULL THEN NULL
                WHEN substr(c.region_code, 7, 3) <> '000' THEN substr(c.region_code, 1, 9) || '000'
                ELSE substr(c.region_code, 1, 6) || '000000' END AS region_code,
           CAST(extract(year FROM c.decision_date) AS integer) AS year,
           count(*) AS cases,
           sum(coalesce(c.assessed, 0)) AS assessed,
           sum(coalesce(c.collected, 0)) AS collected
    FROM core.social_fee_cases c
    WHERE c.decision_date IS NOT NULL AND c.decision_date <= CAST(:reference_date AS date)
    GROUP BY 1, 2
), targets AS (
    SELECT t.region_code, t.year, t.target / 100.0 AS rate
    FROM core.annual_targets t
    WHERE replace(replace(replace(t.indicator, '（', '('), '）', ')'), '％', '%') = :fee_rate_indicator
      AND substr(t.region_code, 7, 3) <> '000' AND substr(t.region_code, 10, 3) = '000'
      AND t.year <= extract(year FROM CAST(:reference_date AS date))
)
SELECT region_code, substr(region_code, 1, 6),
       CASE WHEN substr(region_code, 7, 3) <> '000' THEN substr(region_code, 1, 9) END,
       year, CAST(:reference_date AS date),
       coalesce(c.cases, 0), coalesce(c.assessed, 0), coalesce(c.collected, 0),
       CASE WHEN c.assessed > 0 THEN CAST(c.collected / c.assessed AS double precision) END,
       CAST(t.rate AS double precision)
FROM cases c
FULL JOIN targets t USING (region_code, year)

-- statement
-- Tokens of migrants (a residence registration): not expected in the household registry.
CREATE TEMP TABLE rec_o_migrant_tokens AS
SELECT DISTINCT t.token
FROM core.migrant_registrations m
LEFT JOIN core.record_link l
       ON l.feed = 'migrant_registrations' AND l.role = 'subject'
      AND l.source_key = coalesce(CAST(m.reg_no AS text), '')
CROSS JOIN LATERAL (VALUES ('k' || l.person_key),
                           (CASE WHEN m.id_no_valid THEN 'i' || m.id_no END)) AS t (token)
WHERE t.token IS NOT NULL

-- statement
ANALYZE rec_o_migrant_tokens

-- statement
ALTER TABLE rec_o_migrant_tokens ADD PRIMARY KEY (token)

-- statement
-- Mentions of living persons whose record states their region of registration, for
-- registry completeness (the registry itself, deaths, cancellations, residence-only feeds left out;
-- persons in the registry, dead, cancelled or registered as migrants are excluded when counting).
CREATE TEMP TABLE rec_o_mention AS
WITH snapshot AS MATERIALIZED (
    SELECT min(extract_date) AS extract_date FROM rec_o_registry
), raw AS (
    SELECT 'assistance_rolls' AS feed, 'subject' AS role,
           concat_ws('|', coalesce(CAST(id_no AS text), ''), coalesce(CAST(program AS text), ''),
                     coalesce(CAST(year AS text), '')) AS source_key,
           id_no, id_no_valid, region_code, extract_date, make_date(year, 1, 1) AS event_date
    FROM core.assistance_rolls WHERE year IS NOT NULL
    UNION ALL
    SELECT 'social_fee_cases', 'subject', coalesce(CAST(case_no AS text), ''), id_no, id_no_valid, region_code,
           extract_date, decision_date FROM core.social_fee_cases
    UNION ALL
    SELECT 'birth_approvals', 'wife', coalesce(CAST(app_no AS text), ''), wife_id, wife_id_valid, region_code,
           extract_date, apply_date FROM core.birth_approvals
    UNION ALL
    SELECT 'birth_approvals', 'husband', coalesce(CAST(app_no AS text), ''), husband_id, husband_id_valid,
           region_code, extract_date, apply_date FROM core.birth_approvals
    UNION ALL
    SELECT 'birth_certificates', 'mother', coalesce(CAST(cert_no AS text), ''), mother_id, mother_id_valid,
           region_code, extract_date, birth_date FROM core.birth_certificates
    UNION ALL
    SELECT 'birth_certificates', 'father', coalesce(CAST(cert_no AS text), ''), father_id, father_id_valid,
           region_code, extract_date, birth_date FROM core.birth_certificates
    UNION ALL
    SELECT 'birth_registrations', 'child', coalesce(CAST(reg_no AS text), ''), child_id, child_id_valid,
           region_code, extract_date, reg_date FROM core.birth_registrations
    UNION ALL
    SELECT 'birth_registrations', 'mother', coalesce(CAST(reg_no AS text), ''), mother_id, mother_id_valid,
           region_code, extract_date, reg_date FROM core.birth_registrations
    UNION ALL
    SELECT 'birth_registrations', 'father', coalesce(CAST(reg_no AS text), ''), father_id, father_id_valid,
           region_code, extract_date, reg_date FROM core.birth_registrations
)
SELECT coalesce('k' || l.person_key, CASE WHEN x.id_no_valid THEN 'i' || x.id_no END) AS who,
       'k' || l.person_key AS token_key,
       CASE WHEN x.id_no_valid THEN 'i' || x.id_no END AS token_id,
       x.region_code, x.extract_date, x.event_date, x.feed, x.source_key, x.role
FROM raw x
JOIN core.record_link l ON l.feed = x.feed AND l.role = x.role AND l.source_key = x.source_key
CROSS JOIN snapshot s
WHERE x.region_code IS NOT NULL
  AND x.extract_date <= s.extract_date
  AND substr(x.region_code, 1, 6) IN (SELECT DISTINCT substr(region_code, 1, 6) FROM rec_o_registry
                                      WHERE region_code IS NOT NULL)

-- statement
ANALYZE rec_o_mention

-- statement
-- mart.registry_completeness: one row per village of the latest snapshot (or of a person known elsewhere).
DELETE FROM mart.registry_completeness

-- statement
INSERT INTO mart.registry_completeness (region_code, county_code, town_code, village_code, reference_date,
                                        snapshot_date, source_file_id, persons, households, complete_persons,
                                        field_completeness, persons_known_elsewhere_not_registered)
WITH snapshot AS MATERIALIZED (
    SELECT min(file_id) AS file_id, min(extract_date) AS extract_date FROM rec_o_registry
), reg AS (
    SELECT r.region_code, r.household_no,
           (r.id_no_valid AND nullif(btrim(r.name), '') IS NOT NULL AND r.sex IN ('1', '2')
            AND r.birth_date IS NOT NULL AND nullif(btrim(r.household_no), '') IS NOT NULL
            AND r.region_code IS NOT NULL) AS complete,
           CAST(r.id_no_valid AS integer)
           + CAST(nullif(btrim(r.name), '') IS NOT NULL AS integer)
           + CAST(coalesce(r.sex IN ('1', '2'), false) AS integer)
           + CAST(r.birth_date IS NOT NULL AS integer)
           + CAST(nullif(btrim(r.household_no), '') IS NOT NULL AS integer)
           + CAST(r.region_code IS NOT NULL AS integer)
           + CAST(nullif(btrim(r.ethnicity), '') IS NOT NULL AS integer)
           + CAST(nullif(btrim(r.relation), '') IS NOT NULL AS integer)
           + CAST(nullif(btrim(r.address), '') IS NOT NULL AS integer)
           + CAST(nullif(btrim(r.marital), '') IS NOT NULL AS integer) AS filled
    FROM rec_o_registry r
    WHERE r.status IS NULL OR r.status = '正常'
), village AS (
    SELECT region_code, count(*) AS persons, count(DISTINCT household_no) AS households,
           count(*) FILTER (WHERE complete) AS complete_persons, sum(filled) AS filled
    FROM reg
    GROUP BY region_code
), person AS (
    SELECT DISTINCT ON (m.who) m.who, m.region_code
    FROM rec_o_mention m
    ORDER BY m.who, m.extract_date DESC, m.event_date DESC NULLS LAST, m.feed, m.source_key, m.role
), excluded AS (
    SELECT DISTINCT m.who
    FROM rec_o_mention m
    WHERE EXISTS (SELECT 1 FROM rec_o_registry_tokens t WHERE t.token IN (m.token_key, m.token_id))
       OR EXISTS (SELECT 1 FROM rec_o_death_tokens t WHERE t.token IN (m.token_key, m.token_id))
       OR EXISTS (SELECT 1 FROM rec_o_cancelled_tokens t WHERE t.token IN (m.token_key, m.token_id))
       OR EXISTS (SELECT 1 FROM rec_o_migrant_tokens t WHERE t.token IN (m.token_key, m.token_id))
), elsewhere AS (
    SELECT p.region_code, count(*) AS missing
    FROM person p
    WHERE NOT EXISTS (SELECT 1 FROM excluded e WHERE e.who = p.who)
    GROUP BY p.region_code
)
SELECT region_code, substr(region_code, 1, 6),
       CASE WHEN substr(region_code, 7, 3) <> '000' THEN substr(region_code, 1, 9) END,
       CASE WHEN substr(region_code, 10, 3) <> '000' THEN region_code END,
       CAST(:reference_date AS date), s.extract_date, s.file_id,
       coalesce(v.persons, 0), coalesce(v.households, 0), coalesce(v.complete_persons, 0),
       CASE WHEN v.persons > 0 THEN v.filled / (10.0 * v.persons) END,
       coalesce(e.missing, 0)
FROM village v
FULL JOIN elsewhere e USING (region_code)
CROSS JOIN snapshot s
WHERE s.file_id IS NOT NULL

-- statement
-- mart.feed_quality: feed × day received, for files with an extract date on or before the reference
-- date; days late per file come from rec_o_lateness (computed from the feed cadence in Python).
DELETE FROM mart.feed_quality

-- statement
INSERT INTO mart.feed_quality (agency, feed, received_date, reference_date, cadence, files, files_quarantined,
                               rows_read, rows_rejected, reject_rate, top_reason_code, days_late)
WITH files AS (
    SELECT l.file_id, l.agency, l.feed, CAST(l.received_at AT TIME ZONE :timezone AS date) AS received_date,
           l.status, coalesce(l.rows_read, 0) AS rows_read, coalesce(l.rows_rejected, 0) AS rows_rejected,
           lt.days_late, lt.cadence
    FROM audit.file_ledger l
    LEFT JOIN rec_o_lateness lt ON lt.file_id = l.file_id
    WHERE l.extract_date <= CAST(:reference_date AS date)
), reasons AS (
    SELECT f.agency, f.feed, f.received_date, r.reason_code, count(*) AS n
    FROM files f
    JOIN audit.rejected_rows r ON r.file_id = f.file_id
    GROUP BY f.agency, f.feed, f.received_date, r.reason_code
), top AS (
    SELECT DISTINCT ON (agency, feed, received_date) agency, feed, received_date, reason_code
    FROM reasons
    ORDER BY agency, feed, received_date, n DESC, reason_code
)
SELECT f.agency, f.feed, f.received_date, CAST(:reference_date AS date), max(f.cadence),
       count(*), count(*) FILTER (WHERE f.status = 'quarantined'),
       sum(f.rows_read), sum(f.rows_rejected),
       CASE WHEN sum(f.rows_read) > 0 THEN sum(f.rows_rejected) / CAST(sum(f.rows_read) AS double precision) END,
       t.reason_code, max(f.days_late)
FROM files f
LEFT JOIN top t USING (agency, feed, received_date)
GROUP BY f.agency, f.feed, f.received_date, t.reason_code

-- statement
-- mart.linkage_quality: feed × role from core.record_link and ops.clerical_review.
DELETE FROM mart.linkage_quality

-- statement
INSERT INTO mart.linkage_quality (feed, role, reference_date, records, linked_by_id, linked_probabilistic,
                                  new_persons, review_queue)
WITH links AS (
    SELECT feed, role, count(*) AS records,
           count(*) FILTER (WHERE method = 'id_exact') AS by_id,
           count(*) FILTER (WHERE method = 'probabilistic') AS probabilistic,
           count(*) FILTER (WHERE method = 'new') AS new_persons
    FROM core.record_link
    GROUP BY feed, role
), review AS (
    SELECT feed, role, count(DISTINCT mention_id) AS queued
    FROM ops.clerical_review
    GROUP BY feed, role
)
SELECT feed, role, CAST(:reference_date AS date), coalesce(k.records, 0), coalesce(k.by_id, 0),
       coalesce(k.probabilistic, 0), coalesce(k.new_persons, 0), coalesce(r.queued, 0)
FROM links k
FULL JOIN review r USING (feed, role)

-- statement
-- Births for the audits: one per child (person key, else certificate number, else registration),
-- with the mother (person key preferred, else a valid ID number), the earliest date and a region.
CREATE TEMP TABLE rec_o_births AS
WITH raw AS (
    SELECT coalesce('k' || lc.person_key, 'c' || c.cert_no) AS birth, 'k' || lm.person_key AS mother_key,
           CASE WHEN c.mother_id_valid THEN 'i' || c.mother_id END AS mother_id,
           c.birth_date, c.region_code, 1 AS pref
    FROM core.birth_certificates c
    LEFT JOIN core.record_link lc ON lc.feed = 'birth_certificates' AND lc.role = 'child'
                                 AND lc.source_key = coalesce(CAST(c.cert_no AS text), '')
    LEFT JOIN core.record_link lm ON lm.feed = 'birth_certificates' AND lm.role = 'mother'
                                 AND lm.source_key = coalesce(CAST(c.cert_no AS text), '')
    WHERE c.birth_date IS NOT NULL AND c.birth_date <= CAST(:reference_date AS date)
    UNION ALL
    SELECT coalesce('k' || lc.person_key, 'c' || nullif(r.birth_cert_no, ''), 'r' || r.reg_no),
           'k' || lm.person_key, CASE WHEN r.mother_id_valid THEN 'i' || r.mother_id END,
           r.birth_date, r.region_code, 2
    FROM core.birth_registrations r
    LEFT JOIN core.record_link lc ON lc.feed = 'birth_registrations' AND lc.role = 'child'
                                 AND lc.source_key = coalesce(CAST(r.reg_no AS text), '')
    LEFT JOIN core.record_link lm ON lm.feed = 'birth_registrations' AND lm.role = 'mother'
                                 AND lm.source_key = coalesce(CAST(r.reg_no AS text), '')
    WHERE r.birth_date IS NOT NULL AND r.birth_date <= CAST(:reference_date AS date)
)
SELECT birth, coalesce(min(mother_key), min(mother_id)) AS mother, min(birth_date) AS birth_date,
       (array_agg(region_code ORDER BY pref, region_code) FILTER (WHERE region_code IS NOT NULL))[1] AS region_code
FROM raw
WHERE birth IS NOT NULL
GROUP BY birth

-- statement
ANALYZE rec_o_births

-- statement
-- Tokens of the parents (mother, father) of every birth, with the birth date and the birth order
-- the certificate states (registrations state none).
CREATE TEMP TABLE rec_o_parent_tokens AS
SELECT t.token, x.birth_date, x.birth_order
FROM (
    SELECT l.person_key, c.mother_id AS id_no, c.mother_id_valid AS id_no_valid, c.birth_date,
           c.birth_order
    FROM core.birth_certificates c
    LEFT JOIN core.record_link l ON l.feed = 'birth_certificates' AND l.role = 'mother'
                                AND l.source_key = coalesce(CAST(c.cert_no AS text), '')
    UNION ALL
    SELECT l.person_key, c.father_id, c.father_id_valid, c.birth_date, c.birth_order
    FROM core.birth_certificates c
    LEFT JOIN core.record_link l ON l.feed = 'birth_certificates' AND l.role = 'father'
                                AND l.source_key = coalesce(CAST(c.cert_no AS text), '')
    UNION ALL
    SELECT l.person_key, r.mother_id, r.mother_id_valid, r.birth_date, CAST(NULL AS integer)
    FROM core.birth_registrations r
    LEFT JOIN core.record_link l ON l.feed = 'birth_registrations' AND l.role = 'mother'
                                AND l.source_key = coalesce(CAST(r.reg_no AS text), '')
    UNION ALL
    SELECT l.person_key, r.father_id, r.father_id_valid, r.birth_date, NULL
    FROM core.birth_registrations r
    LEFT JOIN core.record_link l ON l.feed = 'birth_registrations' AND l.role = 'father'
                                AND l.source_key = coalesce(CAST(r.reg_no AS text), '')
) x
CROSS JOIN LATERAL (VALUES ('k' || x.person_key),
                           (CASE WHEN x.id_no_valid THEN 'i' || x.id_no END)) AS t (token)
WHERE t.token IS NOT NULL AND x.birth_date IS NOT NULL AND x.birth_date <= CAST(:reference_date AS date)

-- statement
ANALYZE rec_o_parent_tokens

-- statement
CREATE INDEX ON rec_o_parent_tokens (token)

-- statement
-- The audits, one row per unit checked: (audit, region_code, hit).
CREATE TEMP TABLE rec_o_audits (audit text NOT NULL, region_code text, hit boolean NOT NULL)

-- statement
-- birth_sex_conflict: a certificate whose child has a police record (registry row or birth
-- registration of the same person, or a registration naming the certificate) with a known sex;
-- a hit when a police sex differs from the certificate's.
INSERT INTO rec_o_audits (audit, region_code, hit)
WITH police_sex AS (
    SELECT 'k' || person_key AS token, sex FROM rec_o_registry WHERE person_key IS NOT NULL AND sex IN ('1', '2')
    UNION ALL
    SELECT 'k' || l.person_key, r.sex
    FROM core.birth_registrations r
    JOIN core.record_link l ON l.feed = 'birth_registrations' AND l.role = 'child'
                           AND l.source_key = coalesce(CAST(r.reg_no AS text), '')
    WHERE r.sex IN ('1', '2')
    UNION ALL
    SELECT 'c' || r.birth_cert_no, r.sex FROM core.birth_registrations r
    WHERE nullif(r.birth_cert_no, '') IS NOT NULL AND r.sex IN ('1', '2')
), cert AS (
    SELECT c.cert_no, c.child_sex, c.region_code, 'k' || l.person_key AS token_key, 'c' || c.cert_no AS token_cert
    FROM core.birth_certificates c
    LEFT JOIN core.record_link l ON l.feed = 'birth_certificates' AND l.role = 'child'
                                AND l.source_key = coalesce(CAST(c.cert_no AS text), '')
    WHERE c.child_sex IN ('1', '2') AND c.birth_date <= CAST(:reference_date AS date)
)
-- one join per token (an OR in the join condition rules out a hash join: at 100 000 persons the
-- nested loop over certificates × police rows took 53 s); the two tokens never agree ('k…', 'c…'),
-- so no police row is counted twice
SELECT 'birth_sex_conflict', c.region_code, bool_or(p.sex <> c.child_sex)
FROM cert c
CROSS JOIN LATERAL (VALUES (c.token_key), (c.token_cert)) AS t (token)
JOIN police_sex p ON p.token = t.token
GROUP BY c.cert_no, c.region_code

-- statement
-- id_shared: a valid ID number of the latest registry snapshot; a hit when its rows carry two or
-- more different names (一号多人).
INSERT INTO rec_o_audits (audit, region_code, hit)
SELECT 'id_shared', min(region_code), count(DISTINCT name) > 1
FROM rec_o_registry
WHERE id_no_valid
GROUP BY id_no

-- statement
-- birth_interval_under_9_months: consecutive births to the same mother more than 2 days apart
-- (closer ones are one delivery); a hit when the later is less than 9 months after the earlier.
INSERT INTO rec_o_audits (audit, region_code, hit)
SELECT 'birth_interval_under_9_months', region_code, birth_date < previous + interval '9 months'
FROM (
    SELECT b.region_code, b.birth_date,
           lag(b.birth_date) OVER (PARTITION BY b.mother ORDER BY b.birth_date, b.birth) AS previous
    FROM rec_o_births b
    WHERE b.mother IS NOT NULL
) pairs
WHERE previous IS NOT NULL AND birth_date - previous > 2

-- statement
-- assistance_recipient_died: a recipient on any roll; a hit when a death is recorded for them on or
-- before the reference date.
INSERT INTO rec_o_audits (audit, region_code, hit)
SELECT 'assistance_recipient_died', min(region_code), bool_or(death_date IS NOT NULL)
FROM rec_o_roll
GROUP BY who

-- statement
-- assistance_recipient_new_birth: a recipient on any roll; a hit when they are the mother or father
-- of a birth on or after 1 January of the first year they were paid that is not their first child
-- (birth order 2 or more on the certificate, or an earlier birth of theirs recorded more than 2 days before).
INSERT INTO rec_o_audits (audit, region_code, hit)
SELECT 'assistance_recipient_new_birth', min(r.region_code),
       bool_or(EXISTS (
           SELECT 1 FROM rec_o_parent_tokens p
           WHERE p.token IN ('k' || r.person_key, CASE WHEN r.id_no_valid THEN 'i' || r.id_no END)
             AND p.birth_date >= r.first_paid
             AND (p.birth_order >= 2
                  OR EXISTS (SELECT 1 FROM rec_o_parent_tokens q
                             WHERE q.token = p.token AND q.birth_date < p.birth_date - 2))))
FROM (
    SELECT who, region_code, person_key, id_no, id_no_valid,
           make_date(min(year) OVER (PARTITION BY who), 1, 1) AS first_paid
    FROM rec_o_roll
) r
GROUP BY r.who

-- statement
DELETE FROM mart.cross_department_audits

-- statement
INSERT INTO mart.cross_department_audits (audit, audit_name, region_code, county_code, reference_date, checked,
                                          hits, hit_rate)
SELECT a.audit, n.audit_name,
       CASE WHEN a.county_code IS NOT NULL THEN a.county_code || '000000' END, a.county_code,
       CAST(:reference_date AS date), a.checked, a.hits,
       CASE WHEN a.checked > 0 THEN a.hits / CAST(a.checked AS double precision) END
FROM (
    SELECT audit, substr(region_code, 1, 6) AS county_code, count(*) AS checked, count(*) FILTER (WHERE hit) AS hits
    FROM rec_o_audits
    GROUP BY audit, substr(region_code, 1, 6)
) a
JOIN (VALUES
    ('birth_sex_conflict', '出生医学证明与户籍性别不一致 / sex differs between birth certificate and police records'),
    ('id_shared', '一个身份证号多人使用 / one ID number used by two or more people'),
    ('birth_interval_under_9_months', '同一母亲两次生育间隔不足9个月 / births to the same mother less than 9 months apart'),
    ('assistance_recipient_died', '扶助对象有死亡记录 / assistance recipient with a recorded death'),
    ('assistance_recipient_new_birth', '扶助对象再生育 / assistance recipient with a new birth')
) AS n (audit, audit_name) ON n.audit = a.audit

-- statement
DROP TABLE rec_o_death, rec_o_police_death, rec_o_registry, rec_o_registry_tokens, rec_o_cancelled_tokens,
    rec_o_death_tokens, rec_o_roll, rec_o_births, rec_o_parent_tokens, rec_o_audits, rec_o_mention,
    rec_o_migrant_tokens, rec_o_lateness
