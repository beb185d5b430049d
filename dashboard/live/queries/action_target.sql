-- Before cancelling or terminating a backend: what the target is and whether the monitor may signal it.
-- One row for the target pid (none when no such backend), with the monitor's own pid and role. The
-- decision is made by dashboard.live.actions.refusal() from these facts; the server enforces the same
-- rules again when the signal is sent (a non-superuser may signal backends of roles whose privileges it
-- has, or any non-superuser backend as a member of pg_signal_backend; nobody but a superuser may signal
-- a superuser's backend).
SELECT
    a.pid, a.application_name, a.state, a.backend_type,
    -- as in sample_activity.sql: without pg_read_all_stats another role's backend_type reads NULL
    a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datid IS NOT NULL AND a.usesysid IS NOT NULL)
        AS client_backend,
    CAST(r.rolname AS pg_catalog.text) AS usename,
    coalesce(r.rolsuper, false) AS target_superuser,
    pg_catalog.now() - a.query_start AS query_age,
    pg_catalog.now() - a.xact_start AS xact_age,
    pg_catalog.pg_backend_pid() AS own_pid,
    CAST(current_user AS pg_catalog.text) AS monitor_role,
    (SELECT m.rolsuper FROM pg_catalog.pg_roles AS m WHERE m.rolname = current_user) AS monitor_superuser,
    a.usesysid IS NOT NULL AND pg_catalog.pg_has_role(current_user, a.usesysid, 'USAGE') AS monitor_has_target_role,
    pg_catalog.pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS monitor_signal_backend
FROM pg_catalog.pg_stat_activity AS a
LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = a.usesysid
WHERE a.pid = CAST(:pid AS pg_catalog.int4)
