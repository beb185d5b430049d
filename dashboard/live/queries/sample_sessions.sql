-- One sample with sessions (opt-in: --sessions, the dashboard's incident view): one row per client backend,
-- instead of sample_activity.sql's groups, in the same single round trip and the same single scan of
-- pg_stat_get_activity(NULL). The sampler builds the groups from these rows off the server (same keys, same
-- aggregates), so a sample with sessions is still one statement. PostgreSQL 12+.
-- pg_blocking_pids() takes the lock manager's partition locks, so it is asked only of backends waiting on
-- a heavyweight lock (wait_event_type 'Lock'): everyone else gets NULL without the call.
-- The query text is returned only when :with_query is true (opt-in: it can hold customer data), cut on the
-- server to :query_chars characters; the sampler masks its literals.
-- is_own marks the monitor's own backend (excluded from the sessions; counted apart like in the groups).
SELECT
    s.pid, s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type, s.wait_event,
    s.ssl, s.backend_start, s.xact_start, s.state_change,
    CASE WHEN s.wait_event_type = 'Lock' THEN pg_catalog.pg_blocking_pids(s.pid) END AS blocked_by,
    CASE WHEN CAST(:with_query AS pg_catalog.bool) THEN pg_catalog."left"(s.query, CAST(:query_chars AS pg_catalog.int4)) END AS query,
    s.pid = pg_catalog.pg_backend_pid() AS is_own,
    pg_catalog.now() AS sampled_at
FROM pg_catalog.pg_stat_get_activity(NULL) AS s
WHERE s.backend_type = 'client backend'
   OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
