-- Database and role names by oid, read once per connection (and again when a sample shows an oid not seen
-- yet), so each sample returns oids and the server does not resolve names every second.
-- pg_roles is readable by every role, unlike pg_authid.
SELECT 'database' AS kind, oid, CAST(datname AS pg_catalog.text) AS name FROM pg_catalog.pg_database
UNION ALL
SELECT 'role' AS kind, oid, CAST(rolname AS pg_catalog.text) AS name FROM pg_catalog.pg_roles
