-- SQLite schema of the sample history (HistoryStore). One row per sample (gaps included: status <> 'ok',
-- total NULL), one row per group of a sample, group keys and settings stored once and referenced by id,
-- so 24 h of 1 s samples x 40 groups stays around a hundred megabytes and reads by (server, time) use an index.
-- sample.counts repeats the sample's connections per (application_name, state) as packed little-endian int32
-- pairs (app_state id, count): charts read 24 h of them in a fraction of a second, where fetching the
-- millions of group rows one by one into Python would take seconds.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS settings (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL UNIQUE            -- ServerSettings as sorted JSON
);
CREATE TABLE IF NOT EXISTS group_key (
    id INTEGER PRIMARY KEY,
    datname TEXT, usename TEXT, application_name TEXT NOT NULL, client_addr TEXT, state TEXT, wait_event_type TEXT
);
CREATE TABLE IF NOT EXISTS app_state (
    id INTEGER PRIMARY KEY,
    application_name TEXT NOT NULL,
    state TEXT
);
CREATE TABLE IF NOT EXISTS sample (
    id INTEGER PRIMARY KEY,
    server TEXT NOT NULL,
    taken_us INTEGER NOT NULL,           -- microseconds since 1970-01-01 UTC
    status TEXT NOT NULL,
    total INTEGER,                       -- NULL for a gap: never zero
    own_connections INTEGER NOT NULL,
    latency_ms REAL,
    error TEXT,
    sqlstate TEXT,
    settings_id INTEGER REFERENCES settings(id),
    counts BLOB                          -- NULL for a gap; empty for an ok sample without client backends
);
CREATE INDEX IF NOT EXISTS sample_server_time ON sample (server, taken_us);
CREATE TABLE IF NOT EXISTS sample_group (
    sample_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,                -- position in Snapshot.groups
    key_id INTEGER NOT NULL REFERENCES group_key(id),
    count INTEGER NOT NULL,
    ssl_count INTEGER NOT NULL,
    oldest_idle_in_transaction_s REAL,
    oldest_xact_s REAL,
    oldest_backend_s REAL,
    youngest_backend_s REAL,
    last_query TEXT,
    PRIMARY KEY (sample_id, seq)
) WITHOUT ROWID;
