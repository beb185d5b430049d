-- sample_activity.sql plus, per group, the last statement of its oldest session idle in a transaction,
-- cut to :query_chars characters (opt-in: query text can hold customer data; this names the code path
-- that leaked the transaction). Same grouping, same single scan, same columns, PostgreSQL 12+. The FILTER
-- stays on last_query only: it keeps to_char and the text out of every row that is not idle in a transaction.
SELECT
    s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type,
    pg_catalog.count(*) AS count,
    pg_catalog.count(*) FILTER (WHERE s.ssl) AS ssl_count,
    pg_catalog.min(s.state_change) AS oldest_state_change,
    pg_catalog.min(s.xact_start) AS oldest_xact_start,
    pg_catalog.min(s.backend_start) AS oldest_backend_start,
    pg_catalog.max(s.backend_start) AS youngest_backend_start,
    pg_catalog.now() AS sampled_at,
    (pg_catalog.min(ARRAY[pg_catalog.to_char(s.state_change, 'YYYYMMDDHH24MISSUS'),
                          pg_catalog."left"(s.query, CAST(:query_chars AS pg_catalog.int4))])
        FILTER (WHERE s.state LIKE 'idle in transaction%'))[2] AS last_query
FROM pg_catalog.pg_stat_get_activity(NULL) AS s
WHERE s.backend_type = 'client backend'
   OR (s.backend_type IS NULL AND s.datid IS NOT NULL AND s.usesysid IS NOT NULL)
GROUP BY s.datid, s.usesysid, s.application_name, s.client_addr, s.state, s.wait_event_type
