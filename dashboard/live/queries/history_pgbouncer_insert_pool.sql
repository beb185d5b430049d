-- One pool of a PgBouncer sample.
INSERT INTO pgbouncer_pool (sample_id, seq, database, user, pool_mode, cl_active, cl_waiting, sv_active, sv_idle, sv_used,
                            maxwait_s, sv_tested, sv_login, cl_active_cancel_req, cl_waiting_cancel_req,
                            sv_active_cancel, sv_being_canceled, avg_xact_ms, avg_query_ms, avg_wait_ms, xacts,
                            avg_source)
VALUES (:sample_id, :seq, :database, :user, :pool_mode, :cl_active, :cl_waiting, :sv_active, :sv_idle, :sv_used,
        :maxwait_s, :sv_tested, :sv_login, :cl_active_cancel_req, :cl_waiting_cancel_req, :sv_active_cancel,
        :sv_being_canceled, :avg_xact_ms, :avg_query_ms, :avg_wait_ms, :xacts, :avg_source)
