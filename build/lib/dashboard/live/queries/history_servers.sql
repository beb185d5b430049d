-- Servers with at least one sample, by name.
SELECT DISTINCT server FROM sample ORDER BY server
