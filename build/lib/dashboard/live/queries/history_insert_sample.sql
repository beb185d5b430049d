-- One sample (or gap) of one server.
INSERT INTO sample (server, taken_us, status, total, own_connections, latency_ms, error, sqlstate, settings_id, counts)
VALUES (:server, :taken_us, :status, :total, :own_connections, :latency_ms, :error, :sqlstate, :settings_id, :counts)
