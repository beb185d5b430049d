-- End the target backend's session (its open transaction is rolled back, its connection closed).
SELECT pg_catalog.pg_terminate_backend(CAST(:pid AS pg_catalog.int4)) AS signalled
