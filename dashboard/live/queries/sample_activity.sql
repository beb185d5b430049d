-- One sample: client backends grouped by database, role, application, address, state and wait type.
-- One round trip, PostgreSQL 12+ (tested on 15 and 16). Run in autocommit, so every sample is its own
-- transaction and sees a fresh pg_stat_activity (inside one transaction the view is frozen).
-- Kept as lean as the server allows, because it runs every second on a server that may be in trouble:
-- it reads pg_stat_get_activity(NULL) once (the function behind both pg_stat_activity and pg_stat_ssl, so
-- SSL use comes from the same scan, without a second scan and a join), returns database and role oids
-- (the sampler names them from a per-connection cache), raw timestamps plus the statement's now() (the
-- sampler turns them into ages), no ordering, and never the query text (see sample_activity_with_queries).
-- No per-row test beyond the WHERE: state is a group key, so the oldest state_change of every group is
-- returned and the sampler keeps it as the idle-in-transaction age only for 'idle in transaction%' groups
-- (a FILTER (WHERE state LIKE ...) ran the LIKE on every row: about 2% more per sample at 200-500
-- connections, docs/live.md "Measured").
-- A role without pg_read_all_stats (pg_monitor) sees other roles' backends with backend_type, state, wait
-- and addresses NULL: rows with a database and a role are still counted, as state NULL (= not visible).
-- The sampler's own connection is among the rows; the sampler reports it apart by its application_name.
SELECT
    s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type,
    pg_catalog.count(*) AS count,
    pg_catalog.count(*) FILTER (WHERE s.ssl) AS ssl_count,
    pg_catalog.min(s.state_change) AS oldest_state_change,
    pg_catalog.min(s.xact_start) AS oldest_xact_start,
    pg_catalog.min(s.backend_start) AS oldest_backend_start,
    pg_catalog.max(s.backend_start) AS youngest_backend_start,
    pg_catalog.now() AS sampled_at
FROM pg_catalog.pg_stat_get_activity(NULL) AS s
WHERE s.backend_type = 'client backend'
   OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
GROUP BY s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type
