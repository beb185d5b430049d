-- One cancel/terminate attempt.
INSERT INTO action_log (taken_us, server, action, pid, application_name, usename, state, query_age_s, xact_age_s,
                        os_user, monitor_role, outcome, reason)
VALUES (:taken_us, :server, :action, :pid, :application_name, :usename, :state, :query_age_s, :xact_age_s,
        :os_user, :monitor_role, :outcome, :reason)
