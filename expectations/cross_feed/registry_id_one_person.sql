-- 重号: one valid identity number held by two different persons in the latest household
-- registry snapshot (different names or birth dates under the same number). One row per number.
SELECT count(DISTINCT (r.name, r.birth_date)) AS persons
FROM core.household_registry r
WHERE r.id_no_valid
GROUP BY r.id_no
