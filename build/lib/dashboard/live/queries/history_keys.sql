-- Every group key already stored (the writer caches them to store each key once).
SELECT id, datname, usename, application_name, client_addr, state, wait_event_type FROM group_key
