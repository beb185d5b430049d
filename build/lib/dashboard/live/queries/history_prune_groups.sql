-- Retention, step 1: the groups of samples older than the cut-off.
DELETE FROM sample_group WHERE sample_id IN (SELECT id FROM sample WHERE taken_us < :cutoff_us)
