-- Assistance rolls (奖励扶助、特别扶助) that pay a person whom health recorded dead before the
-- roll year. One row per paid roll entry of a person with a death record; matched on valid
-- identity numbers only.
SELECT (extract(year FROM d.death_date) >= a.year) AS alive_in_roll_year
FROM core.assistance_rolls a
JOIN core.death_records d ON d.id_no = a.id_no AND d.id_no_valid AND d.death_date IS NOT NULL
WHERE a.id_no_valid AND coalesce(a.amount, 0) > 0
