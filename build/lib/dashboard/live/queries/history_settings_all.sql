-- Every settings body already stored (the writer caches them to store each body once).
SELECT id, body FROM settings
