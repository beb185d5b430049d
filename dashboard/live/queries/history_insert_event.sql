-- One event seen by the sampler (a deploy wave).
INSERT INTO event_log (taken_us, server, kind, subject, detail) VALUES (:taken_us, :server, :kind, :subject, :detail)
