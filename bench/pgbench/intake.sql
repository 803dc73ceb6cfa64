-- The intake's three INSERTs in one transaction, as pitcrew.flow.start_intake sends them
-- (one round trip each, the next row pointing at the one before), without the event and the
-- notifications that follow: the floor of what any linked intake has to write.
BEGIN;
INSERT INTO intakes (id, customer_id, vehicle_info, issue_description, created_at) VALUES (gen_random_uuid(), ('c1000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, '{"year": 2016, "make": "Honda", "model": "Civic", "mileage": 84000}'::jsonb, 'Grinding noise when braking', now()) RETURNING intakes.id AS intake_id \gset
INSERT INTO sessions (id, customer_user_id, mechanic_id, type, plan_code, status, intake_id, created_at, started_at, ended_at, summary, rating, rating_comment) VALUES (gen_random_uuid(), ('c1000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, NULL, 'chat', 'standard', 'pending', :intake_id::uuid, now(), NULL, NULL, NULL, NULL, NULL) RETURNING sessions.id AS session_id \gset
INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code, status, mechanic_id, parent_session_id, created_at, accepted_at, closed_at) VALUES (gen_random_uuid(), ('c1000000-0000-4000-8000-' || lpad(:client_id::text, 12, '0'))::uuid, 'Bench Customer', 'chat', 'standard', 'pending', NULL, :session_id::uuid, now(), NULL, NULL);
COMMIT;
