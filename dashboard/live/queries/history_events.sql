-- Events of one server in a time range, oldest first.
SELECT taken_us, kind, subject, detail
FROM event_log
WHERE server = :server AND taken_us >= :since_us AND taken_us <= :until_us
ORDER BY taken_us, id
