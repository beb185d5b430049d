-- A settings body seen for the first time.
INSERT INTO settings (body) VALUES (:body)
