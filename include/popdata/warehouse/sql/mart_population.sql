-- mart.population for the month of one household registry snapshot (:file_id).
-- Runs inside the publish transaction, after the snapshot's rows reached core.
-- Only the latest snapshot of a month counts for that month: when a later
-- snapshot of the same month is already published, nothing changes.
-- Statements are separated by lines reading "-- statement".

CREATE TEMP TABLE population_snapshot ON COMMIT DROP AS
SELECT l.file_id, l.extract_date,
       (date_trunc('month', l.extract_date) + interval '1 month - 1 day')::date AS month_end
FROM audit.file_ledger l
WHERE l.file_id = :file_id
  AND NOT EXISTS (
      SELECT 1 FROM audit.file_ledger o
      WHERE o.feed = l.feed AND o.stage = 'published' AND o.file_id <> l.file_id
        AND date_trunc('month', o.extract_date) = date_trunc('month', l.extract_date)
        AND (o.extract_date, o.file_id) > (l.extract_date, l.file_id));

-- statement
DELETE FROM mart.population p
USING population_snapshot s
WHERE p.year = extract(year FROM s.month_end) AND p.month = extract(month FROM s.month_end);

-- statement
INSERT INTO mart.population (region_code, county_code, town_code, village_code, year, month,
                             reference_date, sex, age_band, age_from, persons, source_file_id)
SELECT region_code,
       substr(region_code, 1, 6),
       CASE WHEN substr(region_code, 7, 3) <> '000' THEN substr(region_code, 1, 9) END,
       CASE WHEN substr(region_code, 10, 3) <> '000' THEN region_code END,
       extract(year FROM month_end)::int, extract(month FROM month_end)::int, month_end,
       sex,
       CASE WHEN age_from >= 85 THEN '85+' ELSE age_from || '-' || (age_from + 4) END,
       age_from, count(*)::int, file_id
FROM (
    SELECT r.region_code,
           CASE r.sex WHEN '1' THEN 'M' WHEN '2' THEN 'F' END AS sex,
           least(floor(extract(year FROM age(s.month_end, r.birth_date)) / 5) * 5, 85)::int AS age_from,
           s.month_end, s.file_id
    FROM core.household_registry_rows r
    JOIN population_snapshot s ON s.file_id = r.file_id
    WHERE (r.status IS NULL OR r.status = '正常')
      AND r.birth_date IS NOT NULL AND r.birth_date <= s.month_end
) persons
GROUP BY region_code, month_end, sex, age_from, file_id;

-- statement
DROP TABLE population_snapshot;
