-- The demo application's role: not a superuser, so it cannot take the reserved slots and the storm
-- breaks the budget the way a real application would ("remaining connection slots are reserved ...").
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'demo_app') THEN
        CREATE ROLE demo_app LOGIN;
    END IF;
END
$$
