-- Retention, step 2: the samples older than the cut-off.
DELETE FROM sample WHERE taken_us < :cutoff_us
