-- The audit log in PostgreSQL: events by sequence number (the same JSON bytes as the sled
-- `audit` tree) and the one signed chain head (id 1). Appends hold an advisory transaction
-- lock from reading the head to the commit, so instances sharing the database write one chain
-- and the primary key refuses a reused number even apart from that lock.
CREATE TABLE audit_events (seq bigint PRIMARY KEY CHECK (seq > 0), value bytea NOT NULL);
CREATE TABLE audit_head (id smallint PRIMARY KEY CHECK (id = 1), value bytea NOT NULL)
