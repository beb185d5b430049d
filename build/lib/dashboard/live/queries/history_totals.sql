-- Per sample: status and the total of client backends (NULL for a gap).
SELECT taken_us, status, total, own_connections, latency_ms, error
FROM sample
WHERE server = :server AND taken_us >= :since_us AND taken_us <= :until_us
ORDER BY taken_us
