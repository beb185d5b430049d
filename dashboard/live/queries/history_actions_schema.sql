-- Migration of the history file for acting on servers: one row per cancel/terminate attempt that reached a
-- server (done, refused or failed). CREATE ... IF NOT EXISTS: applied to every history file on open, so a
-- file written before this table existed keeps working (its samples are untouched) and gains the table.
CREATE TABLE IF NOT EXISTS action_log (
    id INTEGER PRIMARY KEY,
    taken_us INTEGER NOT NULL,           -- when, microseconds since 1970-01-01 UTC
    server TEXT NOT NULL,
    action TEXT NOT NULL,                -- cancel | terminate
    pid INTEGER NOT NULL,                -- the target backend
    application_name TEXT,
    usename TEXT,
    state TEXT,
    query_age_s REAL,                    -- now() - query_start of the target when acted on
    xact_age_s REAL,
    os_user TEXT,                        -- who: the operating-system user running the tool ...
    monitor_role TEXT,                   -- ... and the database role it acted as
    outcome TEXT NOT NULL,               -- done | refused | failed
    reason TEXT                          -- why refused or failed; what happened when done
);
CREATE INDEX IF NOT EXISTS action_log_server_time ON action_log (server, taken_us);
-- Events the sampler saw that are no sample field: a deploy seen as a wave of new backends of one
-- application (kind 'deploy', subject = the application). Same migration rule as action_log.
CREATE TABLE IF NOT EXISTS event_log (
    id INTEGER PRIMARY KEY,
    taken_us INTEGER NOT NULL,
    server TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS event_log_server_time ON event_log (server, taken_us);
