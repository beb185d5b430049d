-- A PgBouncer config body seen for the first time.
INSERT INTO pgbouncer_config (body) VALUES (:body)
