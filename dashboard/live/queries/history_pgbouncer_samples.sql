-- Whole PgBouncer samples of one name in a time range, with their config, to rebuild PgBouncerSnapshot objects.
SELECT s.id, s.name, s.taken_us, s.status, s.version, c.body AS config, s.total_clients, s.console_clients, s.latency_ms, s.error,
       s.sqlstate
FROM pgbouncer_sample AS s
LEFT JOIN pgbouncer_config AS c ON c.id = s.config_id
WHERE s.name = :name AND s.taken_us >= :since_us AND s.taken_us <= :until_us
ORDER BY s.taken_us, s.id
