-- One demo request: hold the connection for :hold_s seconds, like a handler doing real work.
SELECT pg_sleep(CAST(:hold_s AS double precision))
