-- Select-only: one request read by primary key, the shape of pgbench's built-in -S run on
-- pitcrew's own table (rows seeded by bench/seed.py, numbered first..last).
\set r random(:first, :last)
SELECT session_requests.id, session_requests.status, session_requests.mechanic_id, session_requests.parent_session_id FROM session_requests WHERE session_requests.id = ('b0000000-0000-4000-8000-' || lpad(:r::text, 12, '0'))::uuid;
