-- Whole samples of one server in a time range, with their settings, to rebuild Snapshot objects.
SELECT s.id, s.server, s.taken_us, s.status, s.own_connections, s.latency_ms, s.error, s.sqlstate, t.body AS settings
FROM sample AS s
LEFT JOIN settings AS t ON t.id = s.settings_id
WHERE s.server = :server AND s.taken_us >= :since_us AND s.taken_us <= :until_us
ORDER BY s.taken_us, s.id
