-- Example SQL for the common questions, shown in docs/data-dictionary.md ("Common questions").
--
-- Each example starts with a line "-- question: 中文 / English" and runs to the next one.
-- Every example must run as is in psql (no parameters, no psql variables):
-- tests/integration/test_data_dictionary.py executes each on a freshly migrated warehouse.
-- The marts and work lists hold the figures of the latest run, as of their reference_date.

-- question: 2013年各乡镇出生人口性别比及95%置信区间 / Sex ratio at birth by town for 2013, with 95 % intervals
SELECT town_code,
       boys,
       girls,
       round(srb::numeric, 1)     AS srb,
       round(ci_low::numeric, 1)  AS ci_low,
       round(ci_high::numeric, 1) AS ci_high,  -- null: unbounded (no girls)
       status                                  -- insufficient, high, low or normal
FROM mart.sex_ratio_at_birth
WHERE level = 'town'
  AND year = 2013
  AND birth_order = 'all'  -- or '1', '2', '3+'
ORDER BY town_code;

-- question: 各乡镇出生超过30天仍未落户的出生数 / Unregistered births older than 30 days, per town
SELECT town_code,                       -- null: town unknown
       count(*)              AS unregistered_births,
       min(birth_date)       AS earliest_birth,
       max(days_since_birth) AS most_days_since_birth,
       max(reference_date)   AS reference_date
FROM ops.unregistered_births
GROUP BY town_code
ORDER BY unregistered_births DESC, town_code NULLS LAST;

-- question: 按连续三年规则被警示的村及P值 / Villages flagged by the three-year rule, with p-values
SELECT county_code,
       town_code,
       village_code,
       window_start,
       year AS window_end,
       second_births,
       second_girls,
       p_value
FROM mart.warning_villages
WHERE flagged
ORDER BY year DESC, p_value, village_code;

-- question: 各月生育审批天数中位数（乡镇×类别） / Birth-approval median days to decision by month (per town and category)
-- The medians are per town × category × month of application; they do not add up across rows.
SELECT year,
       month,
       town_code,
       category,
       applications,
       approved + rejected AS decided,
       pending,
       median_days_to_decision,
       p90_days_to_decision
FROM mart.fp_approvals
ORDER BY year, month, town_code, category;

-- question: 某人在各部门的记录（按人员键经 core.record_link） / A person's records across agencies, through core.record_link by person_key
-- Replace 1 by the person key wanted; record_link is repointed when keys merge, so use the current key.
WITH wanted AS (SELECT 1::bigint AS person_key)
SELECT coalesce(f.agency, 'unknown') AS agency,
       l.feed,
       l.role,
       l.source_key,  -- the record's key columns joined by |
       l.method,
       l.match_probability,
       l.linked_at
FROM core.record_link AS l
JOIN wanted AS w ON w.person_key = l.person_key
LEFT JOIN (SELECT DISTINCT agency, feed FROM audit.file_ledger) AS f ON f.feed = l.feed
ORDER BY agency, l.feed, l.role, l.source_key;

-- question: 各数据项按月的拒收率与迟报 / Feed reject rates over time (by month received), with lateness
SELECT agency,
       feed,
       date_trunc('month', received_date)::date                           AS month_received,
       sum(files)                                                         AS files,
       sum(files_quarantined)                                             AS files_quarantined,
       sum(rows_read)                                                     AS rows_read,
       sum(rows_rejected)                                                 AS rows_rejected,
       round(sum(rows_rejected)::numeric / nullif(sum(rows_read), 0), 4) AS reject_rate,
       max(days_late)                                                     AS max_days_late
FROM mart.feed_quality
GROUP BY agency, feed, date_trunc('month', received_date)
ORDER BY agency, feed, month_received;

-- question: 各月未通过的数据质量检查 / Failed data-quality expectations by month validated
SELECT date_trunc('month', validated_at AT TIME ZONE 'Asia/Shanghai')::date AS month_validated,
       suite,
       expectation,
       column_name,
       severity,
       count(*)                            AS validations,
       count(*) FILTER (WHERE NOT success) AS failed,
       sum(unexpected_count)               AS unexpected_values,
       sum(element_count)                  AS values_checked
FROM audit.dq_results
GROUP BY 1, suite, expectation, column_name, severity
HAVING count(*) FILTER (WHERE NOT success) > 0
ORDER BY month_validated, failed DESC, suite, expectation, column_name;

-- question: 隔离的文件及原因 / Quarantined files and why
SELECT file_id,
       agency,
       feed,
       file_name,
       received_at,
       quarantine_reason,
       quarantine_path
FROM audit.file_ledger
WHERE status = 'quarantined'
ORDER BY received_at DESC, file_id DESC;

-- question: 最新月末各乡镇户籍人口（按性别） / Registered population by town and sex at the latest month end
SELECT town_code,
       sum(persons)                            AS persons,
       sum(persons) FILTER (WHERE sex = 'M')   AS male,
       sum(persons) FILTER (WHERE sex = 'F')   AS female,
       sum(persons) FILTER (WHERE sex IS NULL) AS sex_unknown
FROM mart.population
WHERE reference_date = (SELECT max(reference_date) FROM mart.population)
GROUP BY town_code
ORDER BY town_code NULLS LAST;

-- question: 各年出生人数双系统估计及区间 / Estimated births per year (dual-system estimate) with 95 % intervals
SELECT county_code,
       year,
       n_health,
       n_police,
       n_both,
       round(estimate::numeric)           AS estimate,
       round(ci_low::numeric)             AS ci_low,
       round(ci_high::numeric)            AS ci_high,
       round(coverage_health::numeric, 3) AS coverage_health,
       round(coverage_police::numeric, 3) AS coverage_police
FROM mart.birth_dse
ORDER BY county_code NULLS LAST, year;
