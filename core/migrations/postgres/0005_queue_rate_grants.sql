-- Schema version 5, as SQLite's 0005: the rate limit's memory as a log of grants, in place of
-- version 4's ring (migrations/sqlite/0005_queue_rate_grants.sql says why and how it is read).

CREATE TABLE queue_rate_grants (
    queue_type text COLLATE "C" NOT NULL,
    seq        bigint NOT NULL CHECK (seq > 0),
    claimed_at bigint NOT NULL,
    PRIMARY KEY (queue_type, seq)
);

INSERT INTO queue_rate_grants (queue_type, seq, claimed_at)
    SELECT s.queue_type, (s.slot - q.rate_granted % q.rate_limit + q.rate_limit) % q.rate_limit + 1, s.claimed_at
    FROM queue_rate_slots s JOIN queues q ON q.queue_type = s.queue_type
    WHERE q.rate_limit IS NOT NULL;
DROP TABLE queue_rate_slots;
ALTER TABLE queues DROP COLUMN rate_granted;
