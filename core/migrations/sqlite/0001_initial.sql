-- jetstate schema, version 1.
--
-- Conventions (core/DESIGN.md explains why):
--   * identifiers that are UUIDs are 16-byte BLOBs; tenant ids are TEXT;
--   * every time is an INTEGER count of microseconds since the Unix epoch (UTC);
--   * JSON values are TEXT holding serialized JSON;
--   * the tenant `default` is inserted by the migration runner, with the store's clock.

CREATE TABLE tenants (
    id          TEXT    NOT NULL PRIMARY KEY,
    name        TEXT    NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    policy      TEXT,
    limits      TEXT,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
) WITHOUT ROWID;

-- Registry of compiled workflow definitions; storing an existing key replaces the IR.
CREATE TABLE workflow_definitions (
    tenant_id   TEXT    NOT NULL REFERENCES tenants (id),
    workflow_id TEXT    NOT NULL,
    version     TEXT    NOT NULL,
    ir          TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version)
) WITHOUT ROWID;
-- The unscoped store looks definitions up by (workflow_id, version) across tenants.
CREATE INDEX workflow_definitions_by_id ON workflow_definitions (workflow_id, version);

CREATE TABLE executions (
    id               BLOB    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
    workflow_id      TEXT    NOT NULL,
    workflow_version TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    initial_input    TEXT    NOT NULL,
    current_state    TEXT    NOT NULL,
    session_type     TEXT,
    started_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    completed_at     INTEGER
);

-- list_executions pages newest-first; each filter combination has an index that yields rows
-- already in (updated_at, id) order, so paging never sorts.
CREATE INDEX executions_by_update        ON executions (updated_at, id);
CREATE INDEX executions_by_status        ON executions (status, updated_at, id);
CREATE INDEX executions_by_tenant        ON executions (tenant_id, updated_at, id);
CREATE INDEX executions_by_tenant_status ON executions (tenant_id, status, updated_at, id);

-- The append-only event log. (execution_id, sequence) is the key: a second append of a used
-- sequence violates it, which is how optimistic concurrency is enforced.
CREATE TABLE events (
    execution_id BLOB    NOT NULL REFERENCES executions (id),
    sequence     INTEGER NOT NULL CHECK (sequence >= 1),
    id           BLOB    NOT NULL,
    event_type   TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, sequence)
) WITHOUT ROWID;

CREATE TABLE snapshots (
    execution_id BLOB    NOT NULL REFERENCES executions (id),
    at_sequence  INTEGER NOT NULL,
    id           BLOB    NOT NULL,
    state        TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (execution_id, at_sequence)
) WITHOUT ROWID;

-- The work queue. `lease_token` counts the claims of the item: each claim takes the next value,
-- so a token names exactly one lease (the fencing token).
CREATE TABLE work_items (
    id               BLOB    NOT NULL PRIMARY KEY,
    tenant_id        TEXT    NOT NULL REFERENCES tenants (id),
    execution_id     BLOB    NOT NULL,
    node_id          TEXT    NOT NULL,
    queue_type       TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    status           TEXT    NOT NULL
                     CHECK (status IN ('pending', 'claimed', 'completed', 'failed', 'dead_letter')),
    attempt          INTEGER NOT NULL CHECK (attempt >= 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 0),
    created_at       INTEGER NOT NULL,
    retry_after      INTEGER,
    lease_expires_at INTEGER,
    worker_id        TEXT,
    lease_token      INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    updated_at       INTEGER NOT NULL
);

-- Each index here serves a statement of the core (queue.rs pins them with INDEXED BY): every
-- index costs a write on every state change, so none is kept "in case".
-- A claim seeks the first pending item of one queue type in (created_at, id) order: these
-- partial indexes hold only pending items, already in that order, so no claim ever sorts.
CREATE INDEX work_items_pending
    ON work_items (queue_type, created_at, id) WHERE status = 'pending';
CREATE INDEX work_items_pending_by_tenant
    ON work_items (tenant_id, queue_type, created_at, id) WHERE status = 'pending';
-- Reclaim visits only claimed items whose lease has run out.
CREATE INDEX work_items_leases
    ON work_items (lease_expires_at) WHERE status = 'claimed';

-- API tokens: only the SHA-256 of the plaintext is kept.
CREATE TABLE api_tokens (
    id           BLOB    NOT NULL PRIMARY KEY,
    tenant_id    TEXT    NOT NULL REFERENCES tenants (id),
    name         TEXT    NOT NULL,
    role         TEXT    NOT NULL,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
