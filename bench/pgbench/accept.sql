-- One accept attempt, statement for statement what pitcrew.flow.accept sends to PostgreSQL:
-- one statement moves the request (its guarded UPDATE decides the winner) and, for the winner,
-- the session; the winner resolves the mechanics' offers of the request, writes the customer's
-- notification, takes the events lock and NOTIFYs (one statement), appends the request.accepted
-- event and the notification's event in one INSERT, and commits; a loser reads the request and
-- its session and rolls back.
--
-- Client c tries request number first + c * stride + n at its n-th transaction, so
-- stride = transactions per client gives every client its own rows (uncontended) and
-- stride = 0 makes every client race for the same request at each step (contended).
-- Rows, mechanics and customers are seeded by bench/seed.py with ids built from numbers.
\set n :n + 1
\set idx :first + :client_id * :stride + :n - 1
BEGIN;
WITH won AS (UPDATE session_requests SET status = 'accepted', mechanic_id = ('c2000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, accepted_at = now() WHERE session_requests.id = ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid AND session_requests.status = 'pending' RETURNING session_requests.parent_session_id, session_requests.customer_id), moved AS (UPDATE sessions SET mechanic_id = ('c2000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, status = 'waiting' FROM won WHERE sessions.id = won.parent_session_id AND sessions.status = 'pending' AND sessions.mechanic_id IS NULL RETURNING sessions.id) SELECT won.parent_session_id AS won_session, won.customer_id AS won_customer, (SELECT count(*) FROM moved) AS won_moved, :idx::bigint AS won_n FROM won \aset
\if :won_n = :idx
UPDATE notifications SET resolved_at = now() WHERE notifications.request_id = ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid AND notifications.kind IN ('request.created', 'request.released') AND notifications.resolved_at IS NULL AND notifications.user_id IN (SELECT users.id FROM users WHERE users.role = 'mechanic');
INSERT INTO notifications (id, user_id, kind, title, body, session_id, request_id, created_at) VALUES (gen_random_uuid(), :won_customer::uuid, 'request.accepted', 'Bench Mechanic accepted your request', 'They will join shortly.', :won_session::uuid, ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid, now());
SELECT pg_advisory_xact_lock(7100), pg_notify('pitcrew_events', '');
INSERT INTO events (at, actor_id, kind, session_id, request_id, payload) VALUES (now(), ('c2000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, 'request.accepted', :won_session::uuid, ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid, jsonb_build_object('mechanic_id', 'c2000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'), 'mechanic_name', 'Bench Mechanic', 'customer_id', :won_customer::text, 'request_status', 'accepted', 'session_status', 'waiting', 'audience', jsonb_build_object('users', jsonb_build_array(:won_customer::text), 'mechanics', true))), (now(), NULL, 'notification.created', :won_session::uuid, ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid, jsonb_build_object('title', 'Bench Mechanic accepted your request', 'body', 'They will join shortly.', 'about', 'request.accepted', 'audience', jsonb_build_object('users', jsonb_build_array(:won_customer::text), 'mechanics', false))) RETURNING events.id;
COMMIT;
\else
SELECT session_requests.status, session_requests.mechanic_id, sessions.id, sessions.status FROM session_requests JOIN sessions ON sessions.id = session_requests.parent_session_id WHERE session_requests.id = ('b0000000-0000-4000-8000-' || lpad(:idx::text, 12, '0'))::uuid;
ROLLBACK;
\endif
