-- Schema version 4, as SQLite's 0004: priorities, scheduled items, unique keys, partitions,
-- progress and cancellation on `work_items`; per-queue settings in `queues`; the rate limit's
-- record of recent claims; the retention policy. (migrations/sqlite/0004_queue_options.sql says
-- what each column means.)

ALTER TABLE work_items
    ADD COLUMN priority      bigint NOT NULL DEFAULT 0 CHECK (priority >= -32768 AND priority <= 32767),
    ADD COLUMN run_at        bigint,
    ADD COLUMN unique_key    text COLLATE "C",
    ADD COLUMN unique_for    bigint CHECK (unique_for > 0),
    ADD COLUMN partition_key text COLLATE "C",
    ADD COLUMN progress      text,
    ADD COLUMN claimed_at    bigint;
UPDATE work_items SET run_at = created_at;
ALTER TABLE work_items ALTER COLUMN run_at SET NOT NULL;
ALTER TABLE work_items DROP CONSTRAINT work_items_status_check;
ALTER TABLE work_items ADD CONSTRAINT work_items_status_check
    CHECK (status IN ('pending', 'claimed', 'completed', 'failed', 'dead_letter', 'cancelled'));

-- The claim's seeks, in the claim's order (priority, run_at, id).
DROP INDEX work_items_pending;
DROP INDEX work_items_pending_by_tenant;
CREATE INDEX work_items_pending
    ON work_items (queue_type, priority, run_at, id) WHERE status = 'pending';
CREATE INDEX work_items_pending_by_tenant
    ON work_items (tenant_id, queue_type, priority, run_at, id) WHERE status = 'pending';
-- A limited queue's claim counts the items of its type (and partition) that are claimed.
CREATE INDEX work_items_claimed
    ON work_items (queue_type, partition_key) WHERE status = 'claimed';
-- A unique key's holders (see SQLite's 0004).
CREATE UNIQUE INDEX work_items_unique
    ON work_items (tenant_id, queue_type, unique_key)
    WHERE unique_key IS NOT NULL
      AND (status IN ('pending', 'claimed') OR (status = 'completed' AND unique_for IS NOT NULL));

CREATE TABLE queues (
    queue_type            text COLLATE "C" NOT NULL PRIMARY KEY,
    paused                boolean NOT NULL DEFAULT false,
    concurrency           bigint CHECK (concurrency > 0),
    partition_concurrency bigint CHECK (partition_concurrency > 0),
    rate_limit            bigint CHECK (rate_limit > 0),
    rate_period           bigint CHECK (rate_period > 0),
    rate_granted          bigint NOT NULL DEFAULT 0,
    updated_at            bigint NOT NULL,
    CHECK ((rate_limit IS NULL) = (rate_period IS NULL))
);

CREATE TABLE queue_rate_slots (
    queue_type text COLLATE "C" NOT NULL REFERENCES queues (queue_type) ON DELETE CASCADE,
    slot       bigint NOT NULL,
    claimed_at bigint NOT NULL,
    PRIMARY KEY (queue_type, slot)
);

CREATE TABLE retention (
    id         bigint NOT NULL PRIMARY KEY CHECK (id = 1),
    policy     text   NOT NULL,
    updated_at bigint NOT NULL
);
