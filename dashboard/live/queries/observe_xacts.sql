-- live observe: committed + rolled back transactions per database (pg_stat_database), and the database the
-- monitor itself is connected to (its own transactions there are subtracted). Read at the start and the end
-- of the window; the difference over a database one service has to itself is that service's rate.
-- Backends flush these counters at most once a second, so the window's edges are good to about a second.
SELECT
    d.datname,
    d.xact_commit + d.xact_rollback AS xacts,
    pg_catalog.current_database() AS own_database
FROM pg_catalog.pg_stat_database AS d
WHERE d.datname IS NOT NULL
