-- An (application_name, state) pair seen for the first time.
INSERT INTO app_state (application_name, state) VALUES (:application_name, :state)
