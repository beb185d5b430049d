-- Cancel the target backend's current statement (its transaction, if any, is rolled back by the error).
SELECT pg_catalog.pg_cancel_backend(CAST(:pid AS pg_catalog.int4)) AS signalled
