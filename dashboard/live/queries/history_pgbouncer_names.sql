-- PgBouncers with at least one sample, by name.
SELECT DISTINCT name FROM pgbouncer_sample ORDER BY name
