-- One sample: client backends grouped by database, role, application, address, state and wait type.
-- One round trip, PostgreSQL 12+ (tested on 15 and 16). Run in autocommit, so every sample is its own
-- transaction and sees a fresh pg_stat_activity (inside one transaction the view is frozen).
-- Reads pg_stat_get_activity(NULL) once, the function behind both pg_stat_activity and pg_stat_ssl, so SSL
-- use comes from the same scan instead of a second scan and a join; names are resolved per group, not per
-- backend. Ages are seconds, measured from the statement's start (now()), never negative, NULL when there
-- is no such timestamp (GREATEST alone would turn NULL into 0, hence the CASE).
-- A role without pg_read_all_stats (pg_monitor) sees other roles' backends with backend_type, state, wait
-- and addresses NULL: rows with a database and a role are still counted, as state NULL (= not visible).
-- Our own connections (application_name = :own_application_name) are returned like any group; the caller
-- reports them apart. Query text only when :collect_queries, and only the oldest idle-in-transaction
-- session's, cut to :query_chars characters.
WITH backend AS (
    SELECT s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type, s.ssl,
           s.state_change, s.xact_start, s.backend_start, s.query
    FROM pg_stat_get_activity(NULL) AS s
    WHERE s.backend_type = 'client backend'
       OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
), grouped AS (
    SELECT
        datid, usesysid, application_name, client_addr, state, wait_event_type,
        count(*) AS count,
        count(*) FILTER (WHERE ssl) AS ssl_count,
        min(state_change) FILTER (WHERE state LIKE 'idle in transaction%') AS idle_in_transaction_since,
        min(xact_start) AS oldest_xact_start,
        min(backend_start) AS oldest_backend_start,
        max(backend_start) AS youngest_backend_start,
        (array_agg(left(query, CAST(:query_chars AS int)) ORDER BY state_change)
            FILTER (WHERE CAST(:collect_queries AS boolean) AND state LIKE 'idle in transaction%'))[1] AS last_query
    FROM backend
    GROUP BY datid, usesysid, application_name, client_addr, state, wait_event_type
)
SELECT
    d.datname,
    CASE WHEN g.usesysid IS NOT NULL THEN CAST(pg_get_userbyid(g.usesysid) AS text) END AS usename,
    COALESCE(g.application_name, '') AS application_name,
    host(g.client_addr) AS client_addr,
    g.state,
    g.wait_event_type,
    g.count,
    g.ssl_count,
    CASE WHEN g.idle_in_transaction_since IS NOT NULL
         THEN GREATEST(CAST(EXTRACT(EPOCH FROM now() - g.idle_in_transaction_since) AS float8), 0) END AS oldest_idle_in_transaction_s,
    CASE WHEN g.oldest_xact_start IS NOT NULL
         THEN GREATEST(CAST(EXTRACT(EPOCH FROM now() - g.oldest_xact_start) AS float8), 0) END AS oldest_xact_s,
    CASE WHEN g.oldest_backend_start IS NOT NULL
         THEN GREATEST(CAST(EXTRACT(EPOCH FROM now() - g.oldest_backend_start) AS float8), 0) END AS oldest_backend_s,
    CASE WHEN g.youngest_backend_start IS NOT NULL
         THEN GREATEST(CAST(EXTRACT(EPOCH FROM now() - g.youngest_backend_start) AS float8), 0) END AS youngest_backend_s,
    g.last_query,
    g.application_name = :own_application_name AS own
FROM grouped AS g
LEFT JOIN pg_database AS d ON d.oid = g.datid
ORDER BY g.count DESC, 1, 2, 3, 4, 5, 6
