-- sample_sessions.sql plus each backend's last statement, cut on the server to :query_chars characters
-- (opt-in: it can hold customer data; the sampler masks its literals). Same rows, same NULLs.
SELECT
    s.pid, s.application_name, s.state, s.wait_event_type, s.wait_event,
    s.backend_start, s.xact_start, s.state_change,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.datid END AS datid,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.usesysid END AS usesysid,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.client_addr END AS client_addr,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.ssl END AS ssl,
    CASE WHEN s.wait_event_type = 'Lock' THEN pg_catalog.pg_blocking_pids(s.pid) END AS blocked_by,
    CASE WHEN s.pid = pg_catalog.pg_backend_pid() THEN pg_catalog.now() END AS sampled_at,
    pg_catalog."left"(s.query, CAST(:query_chars AS pg_catalog.int4)) AS query
FROM pg_catalog.pg_stat_get_activity(NULL) AS s
WHERE s.backend_type = 'client backend'
   OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
