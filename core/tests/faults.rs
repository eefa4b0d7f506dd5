//! Faults injected at every step of every write operation: a full disk, an I/O error on a read,
//! write, sync or truncate (once, or from then on), and power cuts that keep none, all, or all
//! but a torn last one of the writes that were not synced. Through `support::fault_vfs`.
//!
//! For every operation, at both durabilities, the fault goes to step 1, 2, 3... until the
//! operation runs clean, and after each run:
//! * a copy of the files as they are at that moment (what a crash right then would leave) holds
//!   exactly the calls that returned `Ok` (an error whose outcome is unknown may go either way),
//!   and `PRAGMA integrity_check` is ok;
//! * the same store, once the fault clears, goes on working;
//! * closed, the file holds the same, plus that last call;
//! * after a power cut, the file opens, is intact, and holds every call that returned `Ok` at
//!   `full`, a prefix of them at `normal` (core/DESIGN.md, "Durability").
//!
//! "Holds the calls" is checked against twins: the same calls run without faults on copies of the
//! same starting file, every row of every table compared (ids the store draws at random masked).
//! Each test prints how many fault points it tried; RELIABILITY.md quotes the totals.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use jetstate::chrono::{DateTime, Utc};
use jetstate::serde_json::json;
use jetstate::uuid::Uuid;
use jetstate::{
    Clock, Durability, Error, Event, EventKind, ExecutionId, Options, Snapshot, Store, StoredEvent, Tenant, TenantId,
    TenantStatus, WorkItem, WorkflowDefinition, WorkflowExecution, WorkflowStatus,
};
use support::fault_vfs::{Fault, FaultVfs, Keep, Op, Plan};

// ── The starting file ────────────────────────────────────────────────────────────────────────

fn at(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_767_225_600 + seconds, 0).expect("in range") // 2026-01-01
}

/// Every run's clock: a minute after the starting file was made.
const RUN_AT: i64 = 60;

fn fixed(n: u128) -> Uuid {
    Uuid::from_u128(0x0000_0000_0000_4000_8000_0000_0000_0000 | n)
}

/// What the starting file holds, by name.
struct Fixture {
    /// Running, three events, a snapshot at 2.
    e1: ExecutionId,
    /// Running, no events.
    e2: ExecutionId,
    /// Tenant acme's.
    acme: ExecutionId,
    /// The follow-up call's execution.
    marker: ExecutionId,
    /// Pending, queue `pending`.
    pending: Uuid,
    /// Claimed by `w1` with a lease of an hour (token 1).
    live: Uuid,
    /// Claimed by `w2` with a lease of a second: expired at run time.
    stale: Uuid,
    /// Dead-lettered.
    dead: Uuid,
    token_plaintext: String,
    token_id: String,
    /// An export of one execution that is not in the file, for import.
    import: Vec<u8>,
}

struct Template {
    _dir: tempfile::TempDir,
    path: PathBuf,
    fixture: Fixture,
}

fn execution(id: &ExecutionId, status: WorkflowStatus) -> WorkflowExecution {
    WorkflowExecution {
        execution_id: id.clone(),
        workflow_id: "wf".into(),
        workflow_version: "1".into(),
        status,
        initial_input: json!({"n": 0}),
        current_state: json!({"n": 0, "log": []}),
        started_at: at(0),
        updated_at: at(0),
        completed_at: None,
        session_type: None,
    }
}

fn item(id: Uuid, execution: &ExecutionId, queue: &str) -> WorkItem {
    WorkItem {
        id,
        execution_id: execution.clone(),
        node_id: "n".into(),
        queue_type: queue.into(),
        payload: json!({"p": id.to_string()}),
        attempt: 0,
        max_attempts: 3,
        created_at: at(0),
        lease_expires_at: None,
        worker_id: None,
        tenant_id: "default".into(),
    }
}

fn event(id: u128, execution: &ExecutionId, sequence: i64) -> Event {
    Event {
        id: fixed(id),
        execution_id: execution.clone(),
        sequence,
        kind: EventKind::NodeCompleted {
            node_id: format!("n{sequence}"),
            output: json!(sequence),
            state_patch: json!({"n": sequence}),
            duration_ms: 1,
            gen_ai_system: None,
            gen_ai_model: None,
            input_tokens: None,
            output_tokens: None,
            finish_reason: None,
            cost_usd: None,
            provenance: None,
        },
        created_at: at(1),
    }
}

fn tenant(id: &str, name: &str) -> Tenant {
    Tenant {
        id: TenantId::from(id),
        name: name.into(),
        status: TenantStatus::Active,
        policy: None,
        limits: None,
        created_at: at(0),
        updated_at: at(0),
    }
}

fn template() -> &'static Template {
    static TEMPLATE: OnceLock<Template> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("template.db");
        let clock = Clock::manual(at(0));
        let store = Store::open(&path, Options::default().clock(clock.clone())).expect("opens");
        let (e1, e2, acme, marker) =
            (ExecutionId(fixed(1)), ExecutionId(fixed(2)), ExecutionId(fixed(3)), ExecutionId(fixed(4)));
        store.create_tenant(&tenant("acme", "Acme")).expect("tenant");
        store
            .store_workflow(&WorkflowDefinition {
                workflow_id: "wf".into(),
                version: "1".into(),
                ir: json!({"nodes": ["a", "b"]}),
                created_at: at(0),
                tenant_id: "default".into(),
            })
            .expect("definition");
        for id in [&e1, &e2, &marker] {
            store.create_execution(&execution(id, WorkflowStatus::Running)).expect("execution");
        }
        store.for_tenant("acme").create_execution(&execution(&acme, WorkflowStatus::Running)).expect("acme's");
        store.append_events(vec![event(10, &e1, 1), event(11, &e1, 2), event(12, &e1, 3)]).expect("events");
        store
            .write_snapshot(&Snapshot {
                id: fixed(20),
                execution_id: e1.clone(),
                at_sequence: 2,
                state: json!({"n": 2, "log": []}),
                created_at: at(1),
            })
            .expect("snapshot");
        let (pending, live, stale, dead) = (fixed(30), fixed(31), fixed(32), fixed(33));
        store
            .enqueue_work_items(&[
                item(pending, &e1, "pending"),
                item(live, &e1, "live"),
                item(stale, &e1, "stale"),
                item(dead, &e1, "dead"),
            ])
            .expect("items");
        store.claim_fenced("w1", &["live"], Some(Duration::from_secs(3600))).expect("claim").expect("live");
        store.claim_fenced("w2", &["stale"], Some(Duration::from_secs(1))).expect("claim").expect("stale");
        store.move_to_dead_letter(&dead, "poison").expect("dead-lettered");
        let (token_plaintext, token) = store.create_token("ci", "admin").expect("token");
        store.create_token("old", "reader").expect("a second token");

        // An export of one execution that the file does not hold, made in a store of its own.
        let other = Store::open_in_memory(Options::default().clock(clock)).expect("opens");
        let imported = ExecutionId(fixed(5));
        other.create_execution(&execution(&imported, WorkflowStatus::Running)).expect("execution");
        other.append_events(vec![event(40, &imported, 1), event(41, &imported, 2)]).expect("events");
        other.enqueue_work_item(&item(fixed(42), &imported, "imported")).expect("item");
        let mut import = Vec::new();
        other.export(Some(&imported), &mut import, &mut |_| {}).expect("export");
        // Its tenant and definition are the file's already: keep only what is new.
        let import = String::from_utf8(import)
            .expect("text")
            .lines()
            .filter(|line| {
                !line.contains(r#""table":"tenants""#) && !line.contains(r#""table":"workflow_definitions""#)
            })
            .map(|line| format!("{line}\n"))
            .collect::<String>()
            .into_bytes();
        store.close().expect("closes");
        Template {
            fixture: Fixture {
                e1,
                e2,
                acme,
                marker,
                pending,
                live,
                stale,
                dead,
                token_plaintext,
                token_id: token.id,
                import,
            },
            _dir: dir,
            path,
        }
    })
}

/// A fresh copy of the starting file in its own folder.
fn copy_template() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("store.db");
    std::fs::copy(&template().path, &path).expect("copied");
    (dir, path)
}

fn options(durability: Durability) -> Options {
    Options::default().clock(Clock::manual(at(RUN_AT))).durability(durability)
}

// ── Comparing files ──────────────────────────────────────────────────────────────────────────

const TABLES: [&str; 10] = [
    "tenants",
    "workflow_definitions",
    "executions",
    "events",
    "snapshots",
    "work_items",
    "api_tokens",
    "queues",
    "queue_rate_grants",
    "retention",
];

/// Columns whose values the store draws at random: the same call gives another value each time.
fn masked(table: &str, column: &str) -> bool {
    matches!((table, column), ("events", "id") | ("api_tokens", "id") | ("api_tokens", "token_hash"))
}

/// Every row of every table of the database at `path`, as text, sorted; and its schema version.
/// The file must pass `PRAGMA integrity_check`.
fn dump(path: &Path) -> Vec<String> {
    let conn = rusqlite::Connection::open(path).expect("the file opens");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("checked");
    assert_eq!(check, "ok", "{}", path.display());
    let version: i64 = conn.query_row("PRAGMA user_version", [], |row| row.get(0)).expect("version");
    let mut rows = vec![format!("user_version {version}")];
    for table in TABLES {
        // A file of an older schema lacks the newer tables: that it lacks them is part of its state.
        let exists: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1)",
                [table],
                |row| row.get(0),
            )
            .expect("schema");
        if !exists {
            rows.push(format!("{table}: absent"));
            continue;
        }
        let mut statement = conn.prepare(&format!("SELECT * FROM {table}")).expect("a table");
        let columns: Vec<String> = statement.column_names().map(str::to_string).collect();
        let mut found = statement
            .query_map([], |row| {
                let mut text = format!("{table}:");
                for (i, column) in columns.iter().enumerate() {
                    let value: rusqlite::types::Value = row.get(i)?;
                    if masked(table, column) {
                        text.push_str(" *");
                    } else {
                        text.push_str(&format!(" {value:?}"));
                    }
                }
                Ok(text)
            })
            .expect("rows")
            .map(|row| row.expect("row"))
            .collect::<Vec<_>>();
        rows.append(&mut found);
    }
    rows.sort();
    rows
}

/// The files of a store as a crash at this moment would leave them, copied to a folder of their own.
fn crash_image(path: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("store.db");
    for suffix in ["", "-wal"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            std::fs::copy(&from, PathBuf::from(format!("{}{suffix}", copy.display()))).expect("copied");
        }
    }
    (dir, copy)
}

// ── Operations ───────────────────────────────────────────────────────────────────────────────

type Call = Box<dyn Fn(&Store, &Fixture) -> jetstate::Result<()> + Send + Sync>;

fn call(f: impl Fn(&Store, &Fixture) -> jetstate::Result<()> + Send + Sync + 'static) -> Call {
    Box::new(f)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum How {
    /// The calls one after the other.
    Sequence,
    /// The calls inside one `Store::group`.
    Group,
    /// The calls from threads of their own, in one batch of the writer (one commit).
    Batch,
}

struct Case {
    name: &'static str,
    how: How,
    calls: Vec<Call>,
}

fn one(name: &'static str, f: impl Fn(&Store, &Fixture) -> jetstate::Result<()> + Send + Sync + 'static) -> Case {
    Case { name, how: How::Sequence, calls: vec![call(f)] }
}

/// Every write operation of the store, once each, on the starting file.
fn single_calls() -> Vec<Case> {
    let scheduled = |node: &str| EventKind::NodeScheduled { node_id: node.into(), queue_type: "q".into() };
    vec![
        one("store_workflow", |s, _| {
            s.store_workflow(&WorkflowDefinition {
                workflow_id: "wf2".into(),
                version: "1".into(),
                ir: json!({"nodes": ["x"]}),
                created_at: at(RUN_AT),
                tenant_id: "default".into(),
            })
        }),
        one("create_execution", |s, _| s.create_execution(&execution(&ExecutionId(fixed(6)), WorkflowStatus::Pending))),
        one("update_execution_status", |s, f| s.update_execution_status(&f.e1, WorkflowStatus::Completed)),
        one("update_execution_current_state", |s, f| {
            s.update_execution_current_state(&f.e1, &json!({"big": "x".repeat(20_000)}))
        }),
        one("patch_append_array", |s, f| s.patch_append_array(&f.e1, "log", json!({"step": 1}))),
        one("append_event", |s, f| s.append_event(event(50, &f.e1, 4)).map(drop)),
        one("append_events (a batch)", |s, f| {
            s.append_events(vec![event(51, &f.e2, 1), event(52, &f.e2, 2), event(53, &f.e1, 4)])
        }),
        one("append_next_event", move |s, f| s.append_next_event(&f.e2, scheduled("a")).map(drop)),
        one("append_next_events (a batch)", move |s, f| {
            s.append_next_events(&f.e1, vec![scheduled("a"), scheduled("b"), scheduled("c")]).map(drop)
        }),
        one("append_events_raw (a large kind)", |s, f| {
            let kind = json!({"type": "blob", "data": "y".repeat(300_000)});
            s.append_events_raw(&[StoredEvent {
                id: fixed(54),
                execution_id: f.e2.clone(),
                sequence: 1,
                kind,
                created_at: at(RUN_AT),
            }])
        }),
        one("write_snapshot", |s, f| {
            s.write_snapshot(&Snapshot {
                id: fixed(55),
                execution_id: f.e1.clone(),
                at_sequence: 3,
                state: json!({"n": 3}),
                created_at: at(RUN_AT),
            })
        }),
        one("enqueue_work_item", |s, f| s.enqueue_work_item(&item(fixed(60), &f.e1, "pending")).map(drop)),
        one("enqueue_work_items (a batch)", |s, f| {
            s.enqueue_work_items(&[
                item(fixed(61), &f.e1, "pending"),
                item(fixed(62), &f.e2, "other"),
                item(fixed(63), &f.e2, "other"),
            ])
            .map(drop)
        }),
        one("claim_fenced", |s, _| s.claim_fenced("w3", &["pending"], None).map(drop)),
        one("claim_work_item (two queue types)", |s, _| s.claim_work_item("w3", &["nothing", "pending"]).map(drop)),
        one("renew_fenced", |s, f| s.renew_fenced(&f.live, 1, None).map(drop)),
        one("renew_lease", |s, f| s.renew_lease(&f.live, "w1")),
        one("complete_fenced", |s, f| s.complete_fenced(&f.live, 1)),
        one("complete_work_item", |s, f| s.complete_work_item(&f.stale)),
        one("fail_fenced", |s, f| s.fail_fenced(&f.live, 1, "boom")),
        one("fail_work_item", |s, f| s.fail_work_item(&f.live, "boom")),
        one("reclaim_expired_leases", |s, _| s.reclaim_expired_leases().map(drop)),
        one("move_to_dead_letter", |s, f| s.move_to_dead_letter(&f.pending, "poison")),
        one("requeue_dead_letter", |s, f| s.requeue_dead_letter(&f.dead)),
        one("requeue_all_dead_letters", |s, _| s.requeue_all_dead_letters().map(drop)),
        one("purge_dead_letters", |s, _| s.purge_dead_letters().map(drop)),
        one("create_token", |s, _| s.create_token("new", "reader").map(drop)),
        one("create_token_expiring", |s, _| s.create_token_expiring("soon", "reader", at(RUN_AT + 60)).map(drop)),
        one("validate_token", |s, f| s.validate_token(&f.token_plaintext).map(drop)),
        one("revoke_token", |s, f| s.revoke_token(&f.token_id)),
        one("create_tenant", |s, _| s.create_tenant(&tenant("globex", "Globex"))),
        one("update_tenant", |s, _| s.update_tenant(&Tenant { name: "Acme Inc".into(), ..tenant("acme", "Acme") })),
        one("a tenant view's enqueue", |s, f| {
            let mut theirs = item(fixed(64), &f.acme, "acme");
            theirs.tenant_id = "acme".into();
            s.for_tenant("acme").enqueue_work_item(&theirs).map(drop)
        }),
        one("import (JSON Lines)", |s, f| s.import(&mut f.import.as_slice(), 0, &mut |_| {}).map(drop)),
        Case {
            name: "enqueue with a unique key, then a duplicate that replaces the pending holder",
            how: How::Sequence,
            calls: {
                let options = || jetstate::EnqueueOptions {
                    unique_key: Some("k".into()),
                    on_duplicate: jetstate::OnDuplicate::Replace,
                    priority: 3,
                    ..Default::default()
                };
                vec![
                    call(move |s, f| s.enqueue(&item(fixed(70), &f.e1, "unique"), &options()).map(drop)),
                    call(move |s, f| s.enqueue(&item(fixed(71), &f.e1, "unique"), &options()).map(drop)),
                ]
            },
        },
        one("enqueue_batch with options", |s, f| {
            let scheduled = jetstate::EnqueueOptions { run_at: Some(at(RUN_AT + 60)), ..Default::default() };
            s.enqueue_batch(&[
                (item(fixed(72), &f.e1, "later"), scheduled),
                (item(fixed(73), &f.e2, "later"), Default::default()),
            ])
            .map(drop)
        }),
        one("append_and_enqueue", move |s, f| {
            s.append_and_enqueue(
                &f.e2,
                vec![json!({"type": "node_scheduled", "node_id": "z", "queue_type": "q"})],
                &[(item(fixed(74), &f.e2, "q"), Default::default())],
            )
            .map(drop)
        }),
        one("claim_batch", |s, _| s.claim_batch("w4", &["pending", "other"], 5, None).map(drop)),
        one("complete_batch", |s, f| s.complete_batch(&[(f.live, 1), (f.stale, 1)]).map(drop)),
        one("cancel_work_item", |s, f| s.cancel_work_item(&f.live).map(drop)),
        one("renew_with_progress", |s, f| s.renew_with_progress(&f.live, 1, &json!({"done": 1}), None).map(drop)),
        Case {
            name: "configure_queue, then a limited claim",
            how: How::Sequence,
            calls: vec![
                call(|s, _| {
                    let settings = jetstate::QueueSettings {
                        concurrency: Some(2),
                        rate_limit: Some(jetstate::RateLimit { claims: 5, period: std::time::Duration::from_secs(1) }),
                        ..Default::default()
                    };
                    s.configure_queue("pending", &settings)
                }),
                call(|s, _| s.claim_batch("w5", &["pending"], 3, None).map(drop)),
            ],
        },
        one("prune", |s, _| {
            let policy = jetstate::RetentionPolicy {
                keep_finished_items: Some(0),
                keep_finished_executions: Some(0),
                ..Default::default()
            };
            s.prune(&policy, false).map(drop)
        }),
        Case {
            name: "set_retention, then a reclaim that applies it",
            how: How::Sequence,
            calls: vec![
                call(|s, _| {
                    s.set_retention(Some(&jetstate::RetentionPolicy {
                        keep_finished_items: Some(0),
                        ..Default::default()
                    }))
                }),
                call(|s, _| s.reclaim_expired_leases().map(drop)),
            ],
        },
    ]
}

/// Independent calls (none reads what another writes), for the cases of several callers.
fn independent_calls() -> Vec<Call> {
    vec![
        call(|s, _| s.create_execution(&execution(&ExecutionId(fixed(7)), WorkflowStatus::Pending))),
        call(|s, f| s.append_next_event(&f.e2, EventKind::NodeCancelled { node_id: "b".into() }).map(drop)),
        call(|s, f| s.enqueue_work_item(&item(fixed(65), &f.e1, "batch")).map(drop)),
        call(|s, f| s.patch_append_array(&f.e1, "log", json!({"step": "batched"}))),
    ]
}

fn several_callers() -> Vec<Case> {
    vec![
        Case { name: "a group of calls (Store::group)", how: How::Group, calls: independent_calls() },
        Case { name: "callers batched in one commit", how: How::Batch, calls: independent_calls() },
    ]
}

/// Calls one after the other, each depending on the last: for power cuts, whose promise at
/// `normal` is about a prefix of them.
fn sequence() -> Case {
    let scheduled = |node: &str| EventKind::NodeScheduled { node_id: node.into(), queue_type: "seq".into() };
    Case {
        name: "a worker's step (append, enqueue, claim, complete, append)",
        how: How::Sequence,
        calls: vec![
            call(move |s, f| s.append_next_event(&f.e2, scheduled("a")).map(drop)),
            call(|s, f| s.enqueue_work_item(&item(fixed(66), &f.e2, "seq")).map(drop)),
            call(|s, _| s.claim_fenced("w9", &["seq"], None).map(drop)),
            call(|s, _| s.complete_fenced(&fixed(66), 1)),
            call(move |s, f| s.append_next_event(&f.e2, scheduled("b")).map(drop)),
        ],
    }
}

// ── Running an operation ─────────────────────────────────────────────────────────────────────

/// Runs the case's calls on `store`; each call's outcome, in order.
fn run(case: &Case, store: &Store, path: &Path) -> Vec<jetstate::Result<()>> {
    let fixture = &template().fixture;
    match case.how {
        How::Sequence => case.calls.iter().map(|c| c(store, fixture)).collect(),
        How::Group => {
            let mut outcomes = Vec::new();
            match store.group(|| {
                outcomes = case.calls.iter().map(|c| c(store, fixture)).collect();
                Ok(())
            }) {
                Ok(()) => outcomes,
                // Nothing of a group that failed is written, whatever each call returned inside.
                Err(err) => outcomes.into_iter().map(|_| Err(err.clone())).collect(),
            }
        }
        How::Batch => batched(store, path, case.calls.len(), |i| case.calls[i](store, fixture)),
    }
}

/// Runs `count` calls from threads of their own so that they share one commit: another connection
/// holds the file's write lock while the first call begins (it waits in SQLite's busy handler,
/// holding the writer) and the others queue behind it; once the lock goes, the first leads and the
/// others join its transaction.
fn batched<F>(store: &Store, path: &Path, count: usize, calls: F) -> Vec<jetstate::Result<()>>
where
    F: Fn(usize) -> jetstate::Result<()> + Sync,
{
    let lock = rusqlite::Connection::open(path).expect("a second connection");
    lock.execute_batch("BEGIN IMMEDIATE").expect("the write lock");
    let before = store.write_stats();
    let outcomes = std::thread::scope(|scope| {
        let first = scope.spawn(|| calls(0));
        // In turn, so that they queue (and then join) in their order.
        let others: Vec<_> = (1..count)
            .map(|i| {
                std::thread::sleep(Duration::from_millis(15));
                let calls = &calls;
                scope.spawn(move || calls(i))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(40));
        lock.execute_batch("ROLLBACK").expect("the lock released");
        let mut outcomes = vec![first.join().expect("no panic")];
        outcomes.extend(others.into_iter().map(|t| t.join().expect("no panic")));
        outcomes
    });
    let after = store.write_stats();
    BATCHED_COMMITS.with(|c| c.set(c.get() + (after.commits - before.commits)));
    outcomes
}

thread_local! {
    /// Commits made by the batched calls of this thread's runs (to check that they did share).
    static BATCHED_COMMITS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// The state of the starting file after the calls in `set` (a bit per call) ran without faults,
/// and the follow-up call if `follow_up`.
struct Twins {
    case: &'static str,
    known: HashMap<(u64, bool), Vec<String>>,
}

impl Twins {
    fn new(case: &Case) -> Twins {
        Twins { case: case.name, known: HashMap::new() }
    }

    fn state(&mut self, case: &Case, set: u64, follow_up: bool) -> &Vec<String> {
        self.known.entry((set, follow_up)).or_insert_with(|| {
            let (_dir, path) = copy_template();
            let store = Store::open(&path, options(Durability::Normal)).expect("opens");
            let fixture = &template().fixture;
            for (i, c) in case.calls.iter().enumerate() {
                if set & (1 << i) != 0 {
                    c(&store, fixture)
                        .unwrap_or_else(|err| panic!("{}: call {i} fails without faults: {err}", self.case));
                }
            }
            if follow_up {
                follow_up_call(&store).expect("the follow-up call");
            }
            drop(store);
            dump(&path)
        })
    }
}

/// The call made once a fault cleared, to see that the same store goes on working.
fn follow_up_call(store: &Store) -> jetstate::Result<()> {
    let fixture = &template().fixture;
    store.append_next_event(&fixture.marker, EventKind::NodeCancelled { node_id: "after".into() })?;
    store.latest_sequence(&fixture.marker).map(drop)
}

/// The sets of calls that the file may hold: those that returned `Ok`, with or without each whose
/// outcome is unknown.
fn allowed(outcomes: &[jetstate::Result<()>]) -> Vec<u64> {
    let ok: u64 = outcomes.iter().enumerate().filter(|(_, o)| o.is_ok()).map(|(i, _)| 1 << i).sum();
    let unknown: Vec<usize> = outcomes
        .iter()
        .enumerate()
        .filter(|(_, o)| o.as_ref().err().is_some_and(Error::outcome_unknown))
        .map(|(i, _)| i)
        .collect();
    (0..1u64 << unknown.len())
        .map(|pick| {
            ok | unknown
                .iter()
                .enumerate()
                .filter(|(bit, _)| pick & (1 << bit) != 0)
                .map(|(_, i)| 1u64 << i)
                .sum::<u64>()
        })
        .collect()
}

#[derive(Default, Debug)]
struct Tally {
    points: usize,
    unknown: usize,
    errors: usize,
}

/// The fault plans of a sweep, for step `at`.
fn plans(at: u64) -> [Plan; 4] {
    [
        Plan { at, on: None, fault: Fault::IoErr, persistent: false },
        Plan { at, on: None, fault: Fault::IoErr, persistent: true },
        Plan { at, on: Some(Op::Write), fault: Fault::Full, persistent: false },
        Plan { at, on: Some(Op::Write), fault: Fault::Full, persistent: true },
    ]
}

/// Faults at every step of `case`, at `durability`: the promises of the module's comment, after
/// each.
fn sweep(case: &Case, durability: Durability, twins: &mut Twins, tally: &mut Tally) {
    let vfs = FaultVfs::register();
    for variant in 0..plans(1).len() {
        for step in 1.. {
            if !fault_point(case, durability, plans(step)[variant], &vfs, twins, tally) {
                break;
            }
        }
    }
}

/// Runs `case` with `plan` armed and checks what the module's comment says; false if the plan's
/// fault was never injected (the operation ran clean).
fn fault_point(
    case: &Case,
    durability: Durability,
    plan: Plan,
    vfs: &FaultVfs,
    twins: &mut Twins,
    tally: &mut Tally,
) -> bool {
    let (_dir, path) = copy_template();
    vfs.reset();
    let store = Store::open(&path, options(durability).vfs(vfs.name())).expect("opens");
    vfs.arm(Some(plan));
    let outcomes = run(case, &store, &path);
    if !vfs.fired() {
        assert!(outcomes.iter().all(Result::is_ok), "{}: failed without a fault: {outcomes:?}", case.name);
        return false;
    }
    let place = format!("{} at {durability:?}, {plan:?}", case.name);
    tally.points += 1;
    tally.errors += outcomes.iter().filter(|o| o.is_err()).count();
    tally.unknown += outcomes.iter().filter(|o| o.as_ref().err().is_some_and(Error::outcome_unknown)).count();
    let sets = allowed(&outcomes);

    // A crash at this moment leaves exactly the calls acknowledged.
    let (_image_dir, image) = crash_image(&path);
    let found = dump(&image);
    assert!(
        sets.iter().any(|&set| twins.state(case, set, false) == &found),
        "{place}: after a crash the file disagrees with the calls' outcomes {outcomes:?}"
    );

    // The same store goes on once the fault clears, and its file holds it all.
    vfs.disarm();
    follow_up_call(&store).unwrap_or_else(|err| panic!("{place}: the store did not go on: {err}"));
    drop(store);
    let found = dump(&path);
    assert!(
        sets.iter().any(|&set| twins.state(case, set, true) == &found),
        "{place}: the closed file disagrees with the calls' outcomes {outcomes:?}"
    );
    true
}

/// Power cuts at every step of `case`: after each, the file as the disk holds it opens, is intact,
/// and holds every acknowledged call at `full`, a prefix of them at `normal`.
fn power_cuts(case: &Case, durability: Durability, twins: &mut Twins, tally: &mut Tally) {
    let vfs = FaultVfs::register();
    for keep in [Keep::Nothing, Keep::All, Keep::TornLast] {
        for step in 1.. {
            let (_dir, path) = copy_template();
            vfs.reset();
            let store = Store::open(&path, options(durability).vfs(vfs.name())).expect("opens");
            vfs.arm(Some(Plan { at: step, on: None, fault: Fault::PowerCut, persistent: true }));
            let outcomes = run(case, &store, &path);
            if !vfs.fired() {
                vfs.disarm();
                break;
            }
            let place = format!("{} at {durability:?}, power cut at step {step}, keeping {keep:?}", case.name);
            tally.points += 1;
            tally.errors += outcomes.iter().filter(|o| o.is_err()).count();
            tally.unknown += outcomes.iter().filter(|o| o.as_ref().err().is_some_and(Error::outcome_unknown)).count();
            drop(store);
            vfs.reboot(keep);
            let found = dump(&path);
            let calls = outcomes.len();
            let ok: u64 = outcomes.iter().enumerate().filter(|(_, o)| o.is_ok()).map(|(i, _)| 1 << i).sum();
            // Calls that failed were under way when the power went, or after: unknown.
            let candidates: Vec<u64> = match case.how {
                How::Sequence => (0..=calls).map(|n| (1u64 << n) - 1).collect(),
                How::Group | How::Batch => (0..1u64 << calls).collect(),
            };
            let held = candidates.into_iter().find(|&set| twins.state(case, set, false) == &found);
            let held = held.unwrap_or_else(|| panic!("{place}: the file holds no possible outcome of {outcomes:?}"));
            match durability {
                Durability::Full => assert_eq!(held & ok, ok, "{place}: acknowledged calls lost: {outcomes:?}"),
                // A prefix of the calls made one after the other (a set of them, for calls made
                // together): what `normal` promises.
                Durability::Normal => {}
            }
            let store = Store::open(&path, options(durability)).expect("the file opens after the power came back");
            follow_up_call(&store).unwrap_or_else(|err| panic!("{place}: the store did not go on: {err}"));
        }
    }
}

fn report(what: &str, tally: &Tally) {
    println!(
        "{what}: {} fault points, {} calls refused, {} of them with an unknown outcome",
        tally.points, tally.errors, tally.unknown
    );
}

/// The defect this file was written for: a call of a batch fills the disk in the middle of its
/// statement (its payload is larger than the page cache, so pages spill to the WAL), and SQLite
/// rolls back the whole transaction. The next member's savepoint then began a transaction of its
/// own and committed it alone, while the leader's commit failed and every member was told so.
#[test]
fn a_member_that_fills_the_disk_mid_statement_leaves_the_batch_consistent() {
    let big = "z".repeat(3 << 20);
    let calls = || {
        let big = big.clone();
        vec![
            call(|s, f| s.append_next_event(&f.e2, EventKind::NodeCancelled { node_id: "first".into() }).map(drop)),
            call(move |s, f| s.append_next_raw(&f.e1, vec![json!({"type": "blob", "data": big})]).map(drop)),
            call(|s, _| s.create_execution(&execution(&ExecutionId(fixed(8)), WorkflowStatus::Pending))),
            call(|s, f| s.patch_append_array(&f.e1, "log", json!("after"))),
        ]
    };
    for how in [How::Group, How::Batch] {
        let case = Case { name: "calls sharing a commit, the second spilling 3 MB", how, calls: calls() };
        let (mut twins, mut tally, vfs) = (Twins::new(&case), Tally::default(), FaultVfs::register());
        for durability in [Durability::Full, Durability::Normal] {
            for persistent in [false, true] {
                let plan = Plan { at: 1, on: Some(Op::Write), fault: Fault::Full, persistent };
                assert!(fault_point(&case, durability, plan, &vfs, &mut twins, &mut tally), "the disk filled");
            }
        }
    }
}

/// The same on a disk of 10 MB, as a user saw it: 60 appends at once, every fifth carrying 3 MB.
/// Every call that returned is in the file, and no call that failed is, in each of 6 rounds.
#[test]
fn sixty_appends_at_once_on_a_small_disk_agree_with_the_file() {
    let vfs = FaultVfs::register();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("small.db");
    let store = Store::open(&path, Options::default().vfs(vfs.name())).expect("opens");
    let run = WorkflowExecution::new("wf", "1", json!({}));
    store.create_execution(&run).expect("execution");
    let mut refused = 0;
    for round in 0..6 {
        store.clock().set(Utc::now()).ok();
        let used: u64 = ["", "-wal"]
            .iter()
            .map(|suffix| std::fs::metadata(format!("{}{suffix}", path.display())).map_or(0, |m| m.len()))
            .sum();
        vfs.set_quota(Some(used + (10 << 20)));
        let outcomes: Vec<(usize, bool)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..60)
                .map(|i| {
                    let (store, id) = (&store, &run.execution_id);
                    scope.spawn(move || {
                        let pad = if i % 5 == 0 { 3 << 20 } else { 16 };
                        let kind = json!({"type": "probe", "call": round * 100 + i, "pad": "p".repeat(pad)});
                        (round * 100 + i, store.append_next_raw(id, vec![kind]).is_ok())
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("no panic")).collect()
        });
        vfs.set_quota(None);
        refused += outcomes.iter().filter(|(_, ok)| !ok).count();
        let (_image_dir, image) = crash_image(&path);
        for file in [&image, &path] {
            let conn = rusqlite::Connection::open(file).expect("opens");
            let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("check");
            assert_eq!(check, "ok");
            let mut present =
                conn.prepare("SELECT 1 FROM events WHERE json_extract(kind, '$.call') = ?1").expect("query");
            let disagree: Vec<_> =
                outcomes.iter().filter(|(call, ok)| present.exists([*call as i64]).expect("read") != *ok).collect();
            assert!(disagree.is_empty(), "round {round}: calls whose outcome the file contradicts: {disagree:?}");
        }
        store
            .append_next_event(&run.execution_id, EventKind::NodeCancelled { node_id: "after".into() })
            .expect("goes on");
    }
    assert!(refused > 0, "the disk filled");
    println!("appends on a small disk: 360 calls, {refused} refused, each outcome as the file has it");
}

#[test]
fn every_single_call_under_faults_at_every_step() {
    let mut tally = Tally::default();
    for case in single_calls() {
        let mut twins = Twins::new(&case);
        for durability in [Durability::Full, Durability::Normal] {
            sweep(&case, durability, &mut twins, &mut tally);
        }
    }
    report("single calls", &tally);
}

#[test]
fn several_callers_under_faults_at_every_step() {
    let mut tally = Tally::default();
    for case in several_callers() {
        let mut twins = Twins::new(&case);
        for durability in [Durability::Full, Durability::Normal] {
            sweep(&case, durability, &mut twins, &mut tally);
        }
    }
    report("several callers", &tally);
}

#[test]
fn power_cuts_at_every_step() {
    let mut tally = Tally::default();
    let mut cases = single_calls();
    cases.push(sequence());
    cases.extend(several_callers());
    for case in &cases {
        let mut twins = Twins::new(case);
        for durability in [Durability::Full, Durability::Normal] {
            power_cuts(case, durability, &mut twins, &mut tally);
        }
    }
    report("power cuts", &tally);
}

// ── Opening (migrations) and backup ──────────────────────────────────────────────────────────

/// A file of schema version 1, with a row in each table of the queue and the log.
fn version_1_file(path: &Path) {
    let conn = rusqlite::Connection::open(path).expect("opens");
    conn.execute_batch(include_str!("../migrations/sqlite/0001_initial.sql")).expect("version 1");
    conn.execute_batch(
        "INSERT INTO tenants (id, name, status, created_at, updated_at) VALUES ('default', 'Default', 'active', 1, 1);
         INSERT INTO executions (id, tenant_id, workflow_id, workflow_version, status, initial_input, current_state,
             started_at, updated_at) VALUES (x'01', 'default', 'wf', '1', 'running', '{}', '{}', 1, 1);
         INSERT INTO events (execution_id, sequence, id, event_type, kind, created_at)
             VALUES (x'01', 1, x'02', 'node_cancelled', '{\"type\":\"node_cancelled\",\"node_id\":\"a\"}', 1);
         INSERT INTO work_items (id, tenant_id, execution_id, node_id, queue_type, payload, status, attempt,
             max_attempts, created_at, updated_at)
             VALUES (x'03', 'default', x'01', 'n', 'q', '{}', 'pending', 0, 3, 1, 1);
         PRAGMA application_id = 1246057555;
         PRAGMA user_version = 1;",
    )
    .expect("version 1 rows");
}

/// What a file holds, for the open sweep: nothing of jetstate's (absent, empty, or a SQLite file
/// with no tables) is `None`.
fn held(path: &Path) -> Option<Vec<String>> {
    if !path.exists() || std::fs::metadata(path).map_or(0, |m| m.len()) == 0 {
        return None;
    }
    let conn = rusqlite::Connection::open(path).expect("opens");
    let check: String = conn.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("check");
    assert_eq!(check, "ok");
    let tables: i64 = conn.query_row("SELECT count(*) FROM sqlite_schema", [], |row| row.get(0)).expect("schema");
    drop(conn);
    (tables > 0).then(|| dump(path))
}

#[test]
fn opening_a_file_migrates_it_whole_or_leaves_it_as_it_was() {
    let vfs = FaultVfs::register();
    let mut tally = Tally::default();
    for old in [false, true] {
        // The file before, and the file once opened without faults.
        let (_dir, before, migrated) = {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("twin.db");
            if old {
                version_1_file(&path);
            }
            let before = held(&path);
            drop(Store::open(&path, options(Durability::Full)).expect("migrates"));
            (dir, before, held(&path))
        };
        for durability in [Durability::Full, Durability::Normal] {
            for variant in 0..4 {
                for step in 1.. {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let path = dir.path().join("store.db");
                    if old {
                        version_1_file(&path);
                    }
                    vfs.reset();
                    let plan = plans(step)[variant];
                    vfs.arm(Some(plan));
                    let opened = Store::open(&path, options(durability).vfs(vfs.name()));
                    if !vfs.fired() {
                        opened.expect("opens without a fault");
                        break;
                    }
                    tally.points += 1;
                    tally.errors += usize::from(opened.is_err());
                    let place =
                        format!("open of a {} file at {durability:?}, {plan:?}", if old { "version 1" } else { "new" });
                    let (_image_dir, image) = crash_image(&path);
                    let expected = if opened.is_ok() { &migrated } else { &before };
                    assert_eq!(&held(&image), expected, "{place}: after a crash, {opened:?}");
                    vfs.disarm();
                    drop(opened);
                    assert_eq!(&held(&path), expected, "{place}: closed");
                    drop(Store::open(&path, options(durability).vfs(vfs.name())).expect("opens once the fault clears"));
                    assert_eq!(held(&path), migrated, "{place}: opened again");
                }
            }
            for keep in [Keep::Nothing, Keep::All, Keep::TornLast] {
                for step in 1.. {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let path = dir.path().join("store.db");
                    if old {
                        version_1_file(&path);
                    }
                    vfs.reset();
                    vfs.arm(Some(Plan { at: step, on: None, fault: Fault::PowerCut, persistent: true }));
                    let opened = Store::open(&path, options(durability).vfs(vfs.name()));
                    if !vfs.fired() {
                        opened.expect("opens without a fault");
                        break;
                    }
                    tally.points += 1;
                    tally.errors += usize::from(opened.is_err());
                    drop(opened);
                    vfs.reboot(keep);
                    let found = held(&path);
                    assert!(found == before || found == migrated, "power cut at step {step}, {keep:?}: {found:?}");
                    drop(Store::open(&path, options(durability)).expect("opens after the power came back"));
                    assert_eq!(held(&path), migrated);
                }
            }
        }
    }
    report("opening (migrations)", &tally);
}

#[test]
fn a_backup_is_whole_or_not_there() {
    let vfs = FaultVfs::register();
    let mut tally = Tally::default();
    let source = dump(&template().path);
    for durability in [Durability::Full, Durability::Normal] {
        for variant in 0..4 {
            for step in 1.. {
                let (dir, path) = copy_template();
                let dest = dir.path().join("backup.db");
                vfs.reset();
                let store = Store::open(&path, options(durability).vfs(vfs.name())).expect("opens");
                let plan = plans(step)[variant];
                vfs.arm(Some(plan));
                let copied = store.backup(&dest);
                if !vfs.fired() {
                    copied.expect("copies without a fault");
                    assert_eq!(dump(&dest), source);
                    break;
                }
                tally.points += 1;
                tally.errors += usize::from(copied.is_err());
                let place = format!("backup at {durability:?}, {plan:?}");
                match &copied {
                    Ok(_) => assert_eq!(dump(&dest), source, "{place}"),
                    Err(_) => {
                        assert!(!dest.exists(), "{place}: a failed backup left its file: {copied:?}");
                        assert!(!dir.path().join("backup.db-journal").exists(), "{place}: and its journal");
                    }
                }
                vfs.disarm();
                follow_up_call(&store).unwrap_or_else(|err| panic!("{place}: the store did not go on: {err}"));
                drop(store);
                assert_eq!(twin_with_follow_up(), dump(&path), "{place}: the source changed");
            }
        }
        for keep in [Keep::Nothing, Keep::All, Keep::TornLast] {
            for step in 1.. {
                let (dir, path) = copy_template();
                let dest = dir.path().join("backup.db");
                vfs.reset();
                let store = Store::open(&path, options(durability).vfs(vfs.name())).expect("opens");
                vfs.arm(Some(Plan { at: step, on: None, fault: Fault::PowerCut, persistent: true }));
                let copied = store.backup(&dest);
                if !vfs.fired() {
                    vfs.disarm();
                    break;
                }
                tally.points += 1;
                tally.errors += usize::from(copied.is_err());
                drop(store);
                vfs.reboot(keep);
                assert_eq!(dump(&path), source, "power cut at step {step}: the source changed");
                // An interrupted backup may leave a file, which opens as an empty database (its
                // hot journal rolls it back); only a backup that returned is a copy.
                match held(&dest) {
                    None => assert!(copied.is_err(), "step {step}: a backup that returned is gone"),
                    Some(found) => assert_eq!(found, source, "step {step}, {keep:?}: a partial backup"),
                }
            }
        }
    }
    report("backup", &tally);
}

/// The starting file after the follow-up call only.
fn twin_with_follow_up() -> Vec<String> {
    static STATE: OnceLock<Vec<String>> = OnceLock::new();
    STATE
        .get_or_init(|| {
            let (_dir, path) = copy_template();
            let store = Store::open(&path, options(Durability::Normal)).expect("opens");
            follow_up_call(&store).expect("the follow-up call");
            drop(store);
            dump(&path)
        })
        .clone()
}
