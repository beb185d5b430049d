-- Open connections of one benchmark engine, by the application_name it sets ($1). PostgreSQL 12+.
SELECT count(*) FROM pg_stat_activity WHERE application_name = $1
