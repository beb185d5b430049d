-- One PgBouncer sample (or gap); its pools follow with history_pgbouncer_insert_pool.
INSERT INTO pgbouncer_sample (name, taken_us, status, version, config_id, total_clients, console_clients, latency_ms,
                              error, sqlstate)
VALUES (:name, :taken_us, :status, :version, :config_id, :total_clients, :console_clients, :latency_ms, :error,
        :sqlstate)
