-- The queue that services need (schema version 4): priorities, scheduled items, unique keys,
-- partitions, progress and cancellation on `work_items`; per-queue settings (paused, concurrency
-- and rate limits) in `queues`; the rate limit's record of recent claims; the retention policy.
--
-- `work_items` is rebuilt, as 0002 and 0003 did, to widen its status CHECK (`cancelled`) and to
-- add CHECKs on the new columns. New columns:
-- * priority: lower runs first (as in River, Oban, graphile-worker); 0 unless given;
-- * run_at: not claimable before it; the claim's order is (priority, run_at, id), so that a
--   scheduled item sorts by when it may run and never stands in front of due ones of its
--   priority. An item enqueued without one runs at its created_at: the order of every item
--   written before this version is unchanged;
-- * unique_key, unique_for: the key is held (a partial unique index, below) while the item is
--   pending or claimed, and after completion for unique_for microseconds when that is set;
-- * partition_key: the partition a per-partition concurrency limit counts it in;
-- * progress: what its worker's last renew reported (JSON), for operators;
-- * claimed_at: when its current (or last) lease was taken.
CREATE TABLE work_items_rebuilt (
    id               BLOB    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
    execution_id     BLOB    NOT NULL,
    node_id          TEXT    NOT NULL,
    queue_type       TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL
                     CHECK (status = 'pending' OR status = 'claimed' OR status = 'completed'
                            OR status = 'failed' OR status = 'dead_letter' OR status = 'cancelled'),
    attempt          INTEGER NOT NULL CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 0),
    created_at       INTEGER NOT NULL,
    retry_after      INTEGER,
    lease_expires_at INTEGER,
    worker_id        TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    updated_at       INTEGER NOT NULL,
    priority         INTEGER NOT NULL DEFAULT 0 CHECK (priority >= -32768 AND priority <= 32767),
    run_at           INTEGER NOT NULL,
    unique_key       TEXT,
    unique_for       INTEGER CHECK (unique_for > 0),
    partition_key    TEXT,
    progress         TEXT,
    claimed_at       INTEGER,
    CHECK (status <> 'pending' OR lease_expires_at IS NULL),
    CHECK (status <> 'claimed' OR lease_expires_at IS NOT NULL)
);
INSERT INTO work_items_rebuilt (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
        max_attempts, created_at, retry_after, lease_expires_at, worker_id, lease_token, last_error, updated_at,
        priority, run_at)
    SELECT id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt, max_attempts, created_at,
           retry_after, lease_expires_at, worker_id, lease_token, last_error, updated_at, 0, created_at
    FROM work_items;
DROP TABLE work_items;
ALTER TABLE work_items_rebuilt RENAME TO work_items;

-- The items a worker may take or holds (see 0003), now in the claim's order: a claim seeks
-- ('pending', NULL, queue_type) and reads on in (priority, run_at, id) order; reclaim seeks
-- ('claimed', ..) in expiry order. (The index of tenant views, `work_items_pending_by_tenant`,
-- went with the old table: `queue::index_tenant_views` recreates it in this transaction when a
-- tenant other than `default` exists, in the new order.)
CREATE INDEX work_items_open
    ON work_items (status, lease_expires_at, queue_type, priority, run_at, id)
    WHERE status = 'pending' OR status = 'claimed';

-- A unique key is held by at most one item of a tenant's queue type while it is pending or
-- claimed, or completed with a `unique_for` not yet lapsed (a lapsed one is released, by
-- clearing its `unique_for`, by the enqueue that finds it). The database refuses the second
-- holder, whatever the concurrency: no read-then-insert.
CREATE UNIQUE INDEX work_items_unique
    ON work_items (tenant_id, queue_type, unique_key)
    WHERE unique_key IS NOT NULL
      AND (status = 'pending' OR status = 'claimed' OR (status = 'completed' AND unique_for IS NOT NULL));

-- Settings of a queue type, for every tenant's items of it. A queue type without a row has none:
-- not paused, no limit. Durations in microseconds.
CREATE TABLE queues (
    queue_type            TEXT    NOT NULL PRIMARY KEY,
    paused                INTEGER NOT NULL DEFAULT 0 CHECK (paused = 0 OR paused = 1),
    concurrency           INTEGER CHECK (concurrency > 0),
    partition_concurrency INTEGER CHECK (partition_concurrency > 0),
    rate_limit            INTEGER CHECK (rate_limit > 0),
    rate_period           INTEGER CHECK (rate_period > 0),
    -- How many claims the rate limit has granted: the next slot of `queue_rate_slots` to use is
    -- this modulo `rate_limit`.
    rate_granted          INTEGER NOT NULL DEFAULT 0,
    updated_at            INTEGER NOT NULL,
    CHECK ((rate_limit IS NULL) = (rate_period IS NULL))
) WITHOUT ROWID;

-- The rate limit's memory: the times of a queue type's last `rate_limit` claims, one slot each,
-- used in turn. A claim is granted while the slot it would take holds a time a whole period ago
-- (or none): then no period holds more than `rate_limit` claims.
CREATE TABLE queue_rate_slots (
    queue_type TEXT    NOT NULL REFERENCES queues (queue_type) ON DELETE CASCADE,
    slot       INTEGER NOT NULL,
    claimed_at INTEGER NOT NULL,
    PRIMARY KEY (queue_type, slot)
) WITHOUT ROWID;

-- The retention policy (`Store::set_retention`): one row at most, its policy as JSON.
CREATE TABLE retention (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    policy     TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
