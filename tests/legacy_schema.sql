-- A database of the system pitcrew replaces, as its Supabase project left it: the three
-- tables with DESIGN.md's column names, uuid ids, timestamptz times, vehicle_info jsonb,
-- statuses as text, no foreign keys or checks, and no users table (accounts lived in
-- Supabase's auth schema). Like some of its copies, it lacks two columns pitcrew has
-- (session_requests.closed_at, sessions.rating_comment) and has one pitcrew does not
-- (sessions.updated_at).
--
-- The rows are the incident pitcrew exists because of: request eaa411bc... was accepted by
-- mechanic 1daec681... but was created without parent_session_id, so its session
-- e8762f53... stayed `waiting` with no mechanic and never reached that mechanic's dashboard.
-- Around it: a session the same mechanic completed properly, and another customer's
-- request still waiting for a mechanic.

CREATE TABLE intakes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid,
    vehicle_info jsonb,
    issue_description text,
    created_at timestamptz DEFAULT now()
);

CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_user_id uuid,
    mechanic_id uuid,
    type text,
    plan_code text,
    status text,
    intake_id uuid,
    created_at timestamptz DEFAULT now(),
    started_at timestamptz,
    ended_at timestamptz,
    summary text,
    rating integer,
    updated_at timestamptz DEFAULT now()
);

CREATE TABLE session_requests (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    customer_id uuid,
    customer_name text,
    session_type text,
    plan_code text,
    status text,
    mechanic_id uuid,
    parent_session_id uuid,
    created_at timestamptz DEFAULT now(),
    accepted_at timestamptz
);

CREATE VIEW mechanic_session_overview AS
SELECT
    r.id AS request_id,
    r.status AS request_status,
    r.mechanic_id,
    r.customer_id,
    r.customer_name,
    r.session_type,
    r.plan_code,
    r.created_at AS request_created_at,
    r.accepted_at,
    r.parent_session_id,
    s.id AS session_id,
    s.status AS session_status,
    s.started_at,
    s.ended_at,
    s.rating,
    s.intake_id,
    i.vehicle_info,
    i.issue_description
FROM session_requests r
LEFT JOIN sessions s ON s.id = r.parent_session_id
LEFT JOIN intakes i ON i.id = s.intake_id
WHERE r.mechanic_id IS NOT NULL;

-- The incident: customer 5c0f3a6e... (Dana Whitfield), mechanic 1daec681...
INSERT INTO intakes (id, customer_id, vehicle_info, issue_description, created_at) VALUES
    ('0b7e6c1d-2f4a-4e8b-9c3d-5a6f7e8d9c01', '5c0f3a6e-8d21-4b7c-a9e4-3f2b1c0d9e8f',
     '{"year": 2014, "make": "Subaru", "model": "Outback", "mileage": 121000}',
     'Clunk from the front left over bumps', '2024-05-14 09:12:01+00');
INSERT INTO sessions (id, customer_user_id, mechanic_id, type, plan_code, status, intake_id,
                      created_at) VALUES
    ('e8762f53-5137-44ee-b8ef-09c9a01b1c5f', '5c0f3a6e-8d21-4b7c-a9e4-3f2b1c0d9e8f', NULL,
     'chat', 'standard', 'waiting', '0b7e6c1d-2f4a-4e8b-9c3d-5a6f7e8d9c01',
     '2024-05-14 09:12:02+00');
INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code, status,
                              mechanic_id, parent_session_id, created_at, accepted_at) VALUES
    ('eaa411bc-fca0-4c69-b5ce-7f66866c2274', '5c0f3a6e-8d21-4b7c-a9e4-3f2b1c0d9e8f',
     'Dana Whitfield', 'chat', 'standard', 'accepted', '1daec681-04cf-4640-9b98-d5369361e366',
     NULL, '2024-05-14 09:12:03+00', '2024-05-14 09:13:30+00');

-- The same mechanic's earlier session, linked and completed as it should be.
INSERT INTO intakes (id, customer_id, vehicle_info, issue_description, created_at) VALUES
    ('4a1d2e3f-5b6c-4d7e-8f90-a1b2c3d4e5f6', '9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4',
     '{"year": 2009, "make": "Ford", "model": "Ranger"}',
     'Battery light flickers at idle', '2024-05-02 15:40:00+00');
INSERT INTO sessions (id, customer_user_id, mechanic_id, type, plan_code, status, intake_id,
                      created_at, started_at, ended_at, summary, rating) VALUES
    ('7f3e2d1c-0b9a-4887-a665-544332211000', '9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4',
     '1daec681-04cf-4640-9b98-d5369361e366', 'video', 'premium', 'completed',
     '4a1d2e3f-5b6c-4d7e-8f90-a1b2c3d4e5f6', '2024-05-02 15:40:01+00',
     '2024-05-02 15:44:00+00', '2024-05-02 16:05:00+00', 'Alternator brushes worn.', 5);
INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code, status,
                              mechanic_id, parent_session_id, created_at, accepted_at) VALUES
    ('c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f', '9e8d7c6b-5a49-4382-b1a0-f9e8d7c6b5a4',
     'Marco Ruiz', 'video', 'premium', 'accepted', '1daec681-04cf-4640-9b98-d5369361e366',
     '7f3e2d1c-0b9a-4887-a665-544332211000', '2024-05-02 15:40:01+00',
     '2024-05-02 15:42:10+00');

-- Another customer's request, waiting for a mechanic, linked as it should be.
INSERT INTO intakes (id, customer_id, vehicle_info, issue_description, created_at) VALUES
    ('d4c3b2a1-9f8e-4d7c-b6a5-948372615000', '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901',
     '{"year": 2020, "make": "Kia", "model": "Niro", "mileage": 30500}',
     'Charging stops at 80 percent', '2024-05-14 10:00:00+00');
INSERT INTO sessions (id, customer_user_id, mechanic_id, type, plan_code, status, intake_id,
                      created_at) VALUES
    ('a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d', '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901', NULL,
     'chat', 'standard', 'pending', 'd4c3b2a1-9f8e-4d7c-b6a5-948372615000',
     '2024-05-14 10:00:00+00');
INSERT INTO session_requests (id, customer_id, customer_name, session_type, plan_code, status,
                              mechanic_id, parent_session_id, created_at) VALUES
    ('f0e1d2c3-b4a5-4968-8776-655443322110', '2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901',
     'Priya Natarajan', 'chat', 'standard', 'pending', NULL,
     'a9b8c7d6-e5f4-4a3b-8c2d-1e0f9a8b7c6d', '2024-05-14 10:00:00+00');
