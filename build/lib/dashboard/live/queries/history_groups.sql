-- The groups of the samples with id in [:first_id, :last_id] (the caller keeps those it asked for).
SELECT g.sample_id, k.datname, k.usename, k.application_name, k.client_addr, k.state, k.wait_event_type,
       g.count, g.ssl_count, g.oldest_idle_in_transaction_s, g.oldest_xact_s, g.oldest_backend_s,
       g.youngest_backend_s, g.last_query
FROM sample_group AS g
JOIN group_key AS k ON k.id = g.key_id
WHERE g.sample_id BETWEEN :first_id AND :last_id
ORDER BY g.sample_id, g.seq
