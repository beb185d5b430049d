-- The settings of one server's last sample before a moment (none when it has no earlier sample).
SELECT s.taken_us, t.body
FROM sample AS s
JOIN settings AS t ON t.id = s.settings_id
WHERE s.server = :server AND s.taken_us < :since_us
ORDER BY s.taken_us DESC
LIMIT 1
