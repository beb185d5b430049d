-- Read once per connection: the server's capacity and timeout settings, and what our role may see.
-- Returns one row whose columns are planner.snapshot.ServerSettings' fields, plus role and own_pid.
-- postmaster_start changes when the server restarts (a restart also forces this query to run again).
-- PostgreSQL 12+: reserved_connections exists from 16, so current_setting(..., true) gives NULL on 15.
-- The timeouts come from pg_settings (milliseconds, no unit suffix). They are read before our session turns
-- idle_session_timeout off for itself (set_config below, evaluated after the MATERIALIZED row), so the
-- values are the server's, and an idle monitor between samples is not cut by that timeout.
WITH server AS MATERIALIZED (
    SELECT
        CAST(pg_catalog.current_setting('max_connections') AS pg_catalog.int4) AS max_connections,
        CAST(pg_catalog.current_setting('superuser_reserved_connections') AS pg_catalog.int4) AS superuser_reserved_connections,
        CAST(pg_catalog.current_setting('reserved_connections', true) AS pg_catalog.int4) AS reserved_connections,
        (SELECT CAST(setting AS pg_catalog.int8) FROM pg_catalog.pg_settings
          WHERE name = 'idle_in_transaction_session_timeout') AS idle_in_transaction_session_timeout_ms,
        (SELECT CAST(setting AS pg_catalog.int8) FROM pg_catalog.pg_settings
          WHERE name = 'idle_session_timeout') AS idle_session_timeout_ms,
        pg_catalog.current_setting('ssl') = 'on' AS ssl,
        CAST(pg_catalog.current_setting('server_version_num') AS pg_catalog.int4) AS server_version_num,
        CAST(pg_catalog.current_setting('max_worker_processes') AS pg_catalog.int4) AS max_worker_processes,
        CAST(pg_catalog.current_setting('max_prepared_transactions') AS pg_catalog.int4) AS max_prepared_transactions,
        CAST(pg_catalog.current_setting('max_locks_per_transaction') AS pg_catalog.int4) AS max_locks_per_transaction,
        CAST(pg_catalog.current_setting('max_wal_senders') AS pg_catalog.int4) AS max_wal_senders,
        pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'USAGE') AS can_see_all,
        CAST(current_user AS pg_catalog.text) AS role,
        pg_catalog.current_setting('is_superuser') = 'on' AS superuser,
        pg_catalog.pg_backend_pid() AS own_pid,
        pg_catalog.pg_postmaster_start_time() AS postmaster_start
)
SELECT
    server.*,
    CASE WHEN server.idle_session_timeout_ms IS NOT NULL
         THEN pg_catalog.set_config('idle_session_timeout', '0', false) END AS own_idle_session_timeout
FROM server
