-- The settings of one server each time they changed in a time range: (first seen at, body), oldest first.
-- Consecutive samples with the same settings row are one entry (LAG over the sample index's order); the
-- settings in force before the range come from history_settings_before.sql, so a change at its start shows.
SELECT c.taken_us, t.body
FROM (
    SELECT s.taken_us, s.settings_id, LAG(s.settings_id) OVER (ORDER BY s.taken_us) AS previous
    FROM sample AS s
    WHERE s.server = :server AND s.taken_us >= :since_us AND s.taken_us <= :until_us AND s.settings_id IS NOT NULL
) AS c
JOIN settings AS t ON t.id = c.settings_id
WHERE c.previous IS NULL OR c.previous <> c.settings_id
ORDER BY c.taken_us
