-- Retention, step 1: the pools of PgBouncer samples older than the cut-off.
DELETE FROM pgbouncer_pool WHERE sample_id IN (SELECT id FROM pgbouncer_sample WHERE taken_us < :cutoff_us)
