-- One sample with sessions (opt-in: --sessions, the dashboard's incident view): one row per client backend,
-- instead of sample_activity.sql's groups, in the same single round trip and the same single scan of
-- pg_stat_get_activity(NULL). The sampler builds the groups from these rows off the server (same keys, same
-- aggregates), so a sample with sessions is still one statement. PostgreSQL 12+.
-- What it costs is the rows it sends: the server calls a type's send function for every non-NULL value of
-- every row (a NULL is only a length of -1), so every value a row does not need to carry is left NULL:
-- * pg_blocking_pids() (which also takes the lock manager's partition locks) is asked only of backends
--   waiting on a heavyweight lock (wait_event_type 'Lock'): everyone else gets NULL without the call;
-- * now() comes only on the monitor's own row, which is how the sampler finds that row (is_own) too;
-- * a backend's database, role, address and SSL never change: they come only for backends that started
--   at or after :known_before (the sampler passes its previous sample's now() minus a margin, and keeps
--   them per (pid, backend_start)); a NULL :known_before (the first sample on a connection, or a backend
--   it had not seen) sends them for every backend. A hidden row's NULL backend_start sends them too.
-- The query text has its own statement (sample_sessions_with_queries.sql).
SELECT
    s.pid, s.application_name, s.state, s.wait_event_type, s.wait_event,
    s.backend_start, s.xact_start, s.state_change,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.datid END AS datid,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.usesysid END AS usesysid,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.client_addr END AS client_addr,
    CASE WHEN s.backend_start < CAST(:known_before AS pg_catalog.timestamptz) THEN NULL ELSE s.ssl END AS ssl,
    CASE WHEN s.wait_event_type = 'Lock' THEN pg_catalog.pg_blocking_pids(s.pid) END AS blocked_by,
    CASE WHEN s.pid = pg_catalog.pg_backend_pid() THEN pg_catalog.now() END AS sampled_at
FROM pg_catalog.pg_stat_get_activity(NULL) AS s
WHERE s.backend_type = 'client backend'
   OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
