-- Every (application_name, state) pair already stored, by id.
SELECT id, application_name, state FROM app_state
