-- Cancel/terminate attempts in a time range, oldest first (every server when :server is NULL).
SELECT taken_us, server, action, pid, application_name, usename, state, query_age_s, xact_age_s, os_user,
       monitor_role, outcome, reason
FROM action_log
WHERE (:server IS NULL OR server = :server) AND taken_us >= :since_us AND taken_us <= :until_us
ORDER BY taken_us, id
