-- The leaking handler's statement: it runs inside a transaction that is never committed nor closed.
SELECT pg_catalog.now()
