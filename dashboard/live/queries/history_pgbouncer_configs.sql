-- Every stored PgBouncer config body (the writer's cache).
SELECT id, body FROM pgbouncer_config
