-- One demo request: hold the connection for :hold_s seconds, like a handler doing real work.
SELECT pg_catalog.pg_sleep(CAST(:hold_s AS pg_catalog.float8))
