-- A group key seen for the first time (the writer keeps the known ones in memory).
INSERT INTO group_key (datname, usename, application_name, client_addr, state, wait_event_type)
VALUES (:datname, :usename, :application_name, :client_addr, :state, :wait_event_type)
