-- Chart data of one server in a time range: per sample its status and packed (app_state id, count) pairs,
-- oldest first (the index on (server, taken_us) gives the order). HistoryStore.frame() unpacks them.
SELECT taken_us, status, counts
FROM sample
WHERE server = :server AND taken_us >= :since_us AND taken_us <= :until_us
ORDER BY taken_us
