-- The pools of the PgBouncer samples with ids in a range (the samples of history_pgbouncer_samples), in order.
SELECT sample_id, database, user, pool_mode, cl_active, cl_waiting, sv_active, sv_idle, sv_used, maxwait_s, sv_tested,
       sv_login, cl_active_cancel_req, cl_waiting_cancel_req, sv_active_cancel, sv_being_canceled, avg_xact_ms,
       avg_query_ms, avg_wait_ms, xacts, avg_source
FROM pgbouncer_pool
WHERE sample_id >= :first_id AND sample_id <= :last_id
ORDER BY sample_id, seq
