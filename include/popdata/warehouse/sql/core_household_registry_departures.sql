-- core.household_registry_departures around one published snapshot (:file_id), inside the publish
-- transaction. The snapshot sits between its predecessor and successor by extract date; the
-- departures of those two pairs are (re)computed, and any pair the new snapshot splits is dropped.
-- Statements are separated by lines reading "-- statement".

CREATE TEMP TABLE snapshot_pairs ON COMMIT DROP AS
WITH snapshots AS (
    SELECT file_id,
           lag(file_id) OVER w AS previous_id,
           lead(file_id) OVER w AS next_id
    FROM audit.file_ledger
    WHERE feed = 'household_registry' AND stage = 'published'
    WINDOW w AS (ORDER BY extract_date, file_id)
)
SELECT previous_id AS from_id, file_id AS to_id FROM snapshots WHERE file_id = :file_id AND previous_id IS NOT NULL
UNION ALL
SELECT file_id AS from_id, next_id AS to_id FROM snapshots WHERE file_id = :file_id AND next_id IS NOT NULL;

-- statement
DELETE FROM core.household_registry_departures d
WHERE d.from_file_id IN (SELECT from_id FROM snapshot_pairs)
   OR d.to_file_id IN (SELECT to_id FROM snapshot_pairs);

-- statement
INSERT INTO core.household_registry_departures
    (id_no, name, status_before, from_file_id, to_file_id, last_seen, left_as_of)
SELECT DISTINCT ON (p.to_id, a.id_no, p.from_id)
       a.id_no, a.name, a.status, p.from_id, p.to_id, a.extract_date, b_ledger.extract_date
FROM snapshot_pairs p
JOIN core.household_registry_rows a ON a.file_id = p.from_id
JOIN audit.file_ledger b_ledger ON b_ledger.file_id = p.to_id
WHERE NOT EXISTS (
    SELECT 1 FROM core.household_registry_rows b WHERE b.file_id = p.to_id AND b.id_no = a.id_no)
ORDER BY p.to_id, a.id_no, p.from_id, a.line_no;

-- statement
DROP TABLE snapshot_pairs;
