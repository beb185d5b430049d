-- PgBouncer samples beside the servers' (HistoryStore), one row per sample (gaps included: status <> 'ok') and
-- one row per (sample, pool). Migration: only new tables, created when missing each time a store is opened,
-- so a history file written before PgBouncer was sampled gains them and keeps every server sample, and an
-- older version of the code opening a newer file ignores them. The config body is stored once (sorted JSON).
CREATE TABLE IF NOT EXISTS pgbouncer_config (
    id INTEGER PRIMARY KEY,
    body TEXT NOT NULL UNIQUE            -- PgBouncerConfig as sorted JSON
);
CREATE TABLE IF NOT EXISTS pgbouncer_sample (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,                  -- the PgBouncer's name (pgbouncer unless named)
    taken_us INTEGER NOT NULL,           -- microseconds since 1970-01-01 UTC
    status TEXT NOT NULL,
    version TEXT,
    config_id INTEGER REFERENCES pgbouncer_config(id),
    total_clients INTEGER,               -- NULL for a gap: never zero
    console_clients INTEGER NOT NULL,
    latency_ms REAL,
    error TEXT,
    sqlstate TEXT
);
CREATE INDEX IF NOT EXISTS pgbouncer_sample_name_time ON pgbouncer_sample (name, taken_us);
CREATE TABLE IF NOT EXISTS pgbouncer_pool (
    sample_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,                -- position in PgBouncerSnapshot.pools
    database TEXT NOT NULL,
    user TEXT NOT NULL,
    pool_mode TEXT,
    cl_active INTEGER NOT NULL,
    cl_waiting INTEGER NOT NULL,
    sv_active INTEGER NOT NULL,
    sv_idle INTEGER NOT NULL,
    sv_used INTEGER NOT NULL,
    maxwait_s REAL NOT NULL,
    sv_tested INTEGER NOT NULL,
    sv_login INTEGER NOT NULL,
    cl_active_cancel_req INTEGER,
    cl_waiting_cancel_req INTEGER,
    sv_active_cancel INTEGER,
    sv_being_canceled INTEGER,
    avg_xact_ms REAL,
    avg_query_ms REAL,
    avg_wait_ms REAL,
    xacts INTEGER,
    avg_source TEXT,
    PRIMARY KEY (sample_id, seq)
) WITHOUT ROWID;
