-- jetstate's schema on PostgreSQL, version 3: the logical schema SQLite's migrations 0001 to 0003
-- reach, created in one step (no PostgreSQL store was ever of an older version). A version number
-- names the same tables, columns and rules on both engines, so that an export of either imports
-- into the other; the files are numbered per engine.
--
-- Types, chosen so that every value reads back as the other engine stores it:
-- * ids are `uuid` (SQLite: 16-byte BLOBs), times `bigint` microseconds since the epoch, counts
--   and sequences `bigint`;
-- * JSON is `text` holding the text the core wrote: read back byte for byte, as in SQLite (jsonb
--   would reorder keys and drop duplicate ones);
-- * text compares byte for byte (`COLLATE "C"`), as SQLite's BINARY does, so that listings sort
--   the same on both engines whatever the database's locale;
-- * `position`, on the tables whose rows SQLite orders by rowid, is the order of writing, which
--   the core breaks ties with (tokens by creation time, then position) and exports keep.

CREATE TABLE jetstate_schema (
    version    bigint NOT NULL PRIMARY KEY,
    applied_at bigint NOT NULL
);

CREATE TABLE tenants (
    id          text COLLATE "C" NOT NULL PRIMARY KEY,
    name        text   NOT NULL,
    status      text   NOT NULL CHECK (status IN ('active', 'suspended', 'archived')),
    policy      text,
    limits      text,
    created_at  bigint NOT NULL,
    updated_at  bigint NOT NULL
);

CREATE TABLE workflow_definitions (
    tenant_id   text COLLATE "C" NOT NULL REFERENCES tenants (id),
    workflow_id text COLLATE "C" NOT NULL,
    version     text COLLATE "C" NOT NULL,
    ir          text   NOT NULL,
    created_at  bigint NOT NULL,
    PRIMARY KEY (tenant_id, workflow_id, version)
);
CREATE INDEX workflow_definitions_by_id ON workflow_definitions (workflow_id, version);

CREATE TABLE executions (
    id               uuid   NOT NULL PRIMARY KEY,
    tenant_id        text COLLATE "C" NOT NULL REFERENCES tenants (id),
    workflow_id      text COLLATE "C" NOT NULL,
    workflow_version text COLLATE "C" NOT NULL,
    status           text COLLATE "C" NOT NULL,
    initial_input    text   NOT NULL,
    current_state    text   NOT NULL,
    session_type     text,
    started_at       bigint NOT NULL,
    updated_at       bigint NOT NULL,
    completed_at     bigint,
    position         bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
CREATE INDEX executions_by_update        ON executions (updated_at, id);
CREATE INDEX executions_by_status        ON executions (status, updated_at, id);
CREATE INDEX executions_by_tenant        ON executions (tenant_id, updated_at, id);
CREATE INDEX executions_by_tenant_status ON executions (tenant_id, status, updated_at, id);

-- The key (execution_id, sequence) is what makes an append of a taken sequence a
-- SEQUENCE_CONFLICT: the insert finds the key taken, whoever took it and however concurrently.
CREATE TABLE events (
    execution_id uuid   NOT NULL REFERENCES executions (id),
    sequence     bigint NOT NULL CHECK (sequence >= 1),
    id           uuid   NOT NULL,
    event_type   text   NOT NULL,
    kind         text   NOT NULL,
    created_at   bigint NOT NULL,
    PRIMARY KEY (execution_id, sequence)
);

CREATE TABLE snapshots (
    execution_id uuid   NOT NULL REFERENCES executions (id),
    at_sequence  bigint NOT NULL,
    id           uuid   NOT NULL,
    state        text   NOT NULL,
    created_at   bigint NOT NULL,
    PRIMARY KEY (execution_id, at_sequence)
);

CREATE TABLE work_items (
    id               uuid   NOT NULL PRIMARY KEY,
    tenant_id        text COLLATE "C" NOT NULL REFERENCES tenants (id),
    execution_id     uuid   NOT NULL,
    node_id          text   NOT NULL,
    queue_type       text COLLATE "C" NOT NULL,
    payload          text   NOT NULL,
    status           text   NOT NULL
                     CHECK (status IN ('pending', 'claimed', 'completed', 'failed', 'dead_letter')),
    attempt          bigint NOT NULL CHECK (attempt >= 0),
    max_attempts     bigint NOT NULL CHECK (max_attempts >= 0),
    created_at       bigint NOT NULL,
    retry_after      bigint,
    lease_expires_at bigint,
    worker_id        text,
    lease_token      bigint NOT NULL DEFAULT 0,
    last_error       text,
    updated_at       bigint NOT NULL,
    position         bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    CHECK (status <> 'pending' OR lease_expires_at IS NULL),
    CHECK (status <> 'claimed' OR lease_expires_at IS NOT NULL)
)
-- Every item is inserted, then updated by its claim and its completion: two dead tuples a cycle.
-- The default (vacuum once a fifth of the table is dead) waits longer the more completed items the
-- table keeps; a queue's table is vacuumed after a fixed number of dead tuples instead, so that the
-- claim's partial indexes and the heap stay small however large the table grows.
WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
      autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000,
      autovacuum_analyze_scale_factor = 0.02);
-- A claim's seek: the head of a queue type among pending items, in (created_at, id) order; and a
-- tenant view's. Partial: completed and dead items cost a claim nothing. (Unlike SQLite's, the
-- index of tenant views exists from the start: building it later would lock the table.)
CREATE INDEX work_items_pending
    ON work_items (queue_type, created_at, id) WHERE status = 'pending';
CREATE INDEX work_items_pending_by_tenant
    ON work_items (tenant_id, queue_type, created_at, id) WHERE status = 'pending';
-- Reclaim's and the summary's seek of expired leases.
CREATE INDEX work_items_leases
    ON work_items (lease_expires_at) WHERE status = 'claimed';

CREATE TABLE api_tokens (
    id           uuid   NOT NULL PRIMARY KEY,
    tenant_id    text COLLATE "C" NOT NULL REFERENCES tenants (id),
    name         text   NOT NULL,
    role         text   NOT NULL,
    token_hash   bytea  NOT NULL UNIQUE,
    created_at   bigint NOT NULL,
    expires_at   bigint,
    revoked_at   bigint,
    last_used_at bigint,
    position     bigint GENERATED ALWAYS AS IDENTITY UNIQUE
);
