-- One group of one sample.
INSERT INTO sample_group (sample_id, seq, key_id, count, ssl_count, oldest_idle_in_transaction_s, oldest_xact_s,
                          oldest_backend_s, youngest_backend_s, last_query)
VALUES (:sample_id, :seq, :key_id, :count, :ssl_count, :oldest_idle_in_transaction_s, :oldest_xact_s,
        :oldest_backend_s, :youngest_backend_s, :last_query)
