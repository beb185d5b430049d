-- Retention, step 2: the PgBouncer samples older than the cut-off.
DELETE FROM pgbouncer_sample WHERE taken_us < :cutoff_us
