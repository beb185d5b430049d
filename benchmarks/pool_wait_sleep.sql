-- One request's work: hold the connection for :seconds on the server (benchmarks/pool_wait.py).
SELECT pg_sleep(:seconds)
