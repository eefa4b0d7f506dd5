-- The rate limit's memory as a log of grants (schema version 5), in place of version 4's ring.
--
-- The ring (`queue_rate_slots`, with its position `queues.rate_granted`) cost a rated claim two
-- writes in two places: its slot, and the position in the queue's row. A log costs one: the
-- grant's row, appended after the last one (`seq` counts a queue type's grants from 1). A claim
-- is granted while the grant `rate_limit` places back (seq = last + 1 - rate_limit) is absent or
-- a whole period old: then no window of `rate_period` holds more than `rate_limit` grants. The
-- log keeps the last `rate_limit` grants at least; older ones are trimmed every few dozen grants
-- (`queue::limits::TRIM_EVERY`).
CREATE TABLE queue_rate_grants (
    queue_type TEXT    NOT NULL,
    seq        INTEGER NOT NULL CHECK (seq > 0),
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (queue_type, seq)
) WITHOUT ROWID;

-- The ring's slots in grant order: the slot at the ring's position is the oldest (seq 1), the
-- one before it the latest (seq rate_limit). A ring not yet full has no slots past its position:
-- its grants keep their order, their first seq above 1, as a log that has not reached the limit.
INSERT INTO queue_rate_grants (queue_type, seq, claimed_at)
    SELECT s.queue_type, (s.slot - q.rate_granted % q.rate_limit + q.rate_limit) % q.rate_limit + 1, s.claimed_at
    FROM queue_rate_slots s JOIN queues q ON q.queue_type = s.queue_type
    WHERE q.rate_limit IS NOT NULL;
DROP TABLE queue_rate_slots;
ALTER TABLE queues DROP COLUMN rate_granted;
