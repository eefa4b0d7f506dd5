//! The sync `Store` on real files: what it refuses to open (leaving the file as it was), what
//! it keeps across reopening, its options, closing, and threads sharing one store or one file.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use jetstate::chrono::Utc;
use jetstate::serde_json::{json, Value};
use jetstate::{
    Durability, ErrorKind, EventKind, ExecutionId, Options, Store, Tenant, TenantId, TenantStatus, WorkItem,
    WorkflowExecution, WorkflowStatus, DEFAULT_TENANT,
};

fn execution(id: &ExecutionId, state: Value) -> WorkflowExecution {
    WorkflowExecution {
        execution_id: id.clone(),
        status: WorkflowStatus::Running,
        ..WorkflowExecution::new("wf", "1", state)
    }
}

/// An item of `queue` for a new execution, created through `store` (a work item belongs to its
/// execution's tenant).
fn item(store: &Store, queue: &str) -> WorkItem {
    let id = ExecutionId::new();
    store.create_execution(&execution(&id, json!({}))).expect("the item's execution");
    WorkItem::new(id, "n", queue, json!({}))
}

/// An item for an execution that need not exist: for calls refused before they look.
fn unchecked_item(queue: &str) -> WorkItem {
    WorkItem::new(ExecutionId::new(), "n", queue, json!({}))
}

/// The bytes of every file in `dir`, by name: a refused open must leave all of them as they were
/// and create none.
fn snapshot_dir(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("dir")
        .map(|entry| {
            let path = entry.expect("entry").path();
            let bytes = std::fs::read(&path).expect("readable");
            (path, bytes)
        })
        .collect();
    files.sort();
    files
}

fn assert_refused_untouched(path: &Path, want_in_message: &str) {
    let dir = path.parent().expect("parent");
    let before = snapshot_dir(dir);
    let err = Store::open(path, Options::default()).expect_err("must be refused");
    assert_eq!(err.kind(), ErrorKind::Database, "{err}");
    assert!(err.message().contains(want_in_message), "{err}");
    assert_eq!(snapshot_dir(dir), before, "the refused file (or its directory) changed");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notes.db");
    std::fs::write(&path, "these are my notes, not a database\n".repeat(200)).expect("write");
    assert_refused_untouched(&path, "not a SQLite database");
}

#[test]
fn a_sqlite_file_of_another_application_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("theirs.db");
    {
        let conn = rusqlite::Connection::open(&path).expect("create");
        conn.execute_batch(
            "CREATE TABLE accounts (id INTEGER PRIMARY KEY, balance INTEGER); INSERT INTO accounts VALUES (1, 100);",
        )
        .expect("their schema");
    }
    assert_refused_untouched(&path, "another application");
}

#[test]
fn a_file_of_a_newer_schema_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("future.db");
    Store::open(&path, Options::default()).expect("create").close().expect("close");
    {
        let conn = rusqlite::Connection::open(&path).expect("raw");
        conn.pragma_update(None, "user_version", jetstate::schema::SCHEMA_VERSION + 1).expect("bump");
        // Leave no WAL behind, so that the snapshot of the directory is of settled files.
        conn.pragma_update(None, "journal_mode", "DELETE").expect("checkpoint");
    }
    assert_refused_untouched(&path, "newer");
}

#[test]
fn a_truncated_file_is_refused_and_left_as_it_was() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("cut.db");
    {
        let store = Store::open(&path, Options::default()).expect("create");
        for n in 0..200 {
            store
                .create_execution(&execution(&ExecutionId::new(), json!({"n": n, "pad": "x".repeat(500)})))
                .expect("row");
        }
        store.close().expect("close");
        let conn = rusqlite::Connection::open(&path).expect("raw");
        conn.pragma_update(None, "journal_mode", "DELETE").expect("checkpoint");
    }
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 3]).expect("truncate");
    let before = snapshot_dir(dir.path());
    match Store::open(&path, Options::default()) {
        Err(err) => assert_eq!(err.kind(), ErrorKind::Database, "{err}"),
        Ok(store) => {
            // SQLite may open a truncated file and only fail on reading a missing page: then a
            // read reports it, as a Database error, never a panic.
            let err = store.list_executions(None, 1000, 0).expect_err("a truncated file cannot be read whole");
            assert_eq!(err.kind(), ErrorKind::Database, "{err}");
            drop(store);
        }
    }
    assert_eq!(
        snapshot_dir(dir.path()).into_iter().find(|(p, _)| p == &path),
        before.into_iter().find(|(p, _)| p == &path)
    );
}

#[test]
fn an_empty_file_becomes_a_jetstate_database_in_wal_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("empty.db");
    std::fs::write(&path, b"").expect("empty file");
    let store = Store::open(&path, Options::default()).expect("an empty file is initialised");
    assert_eq!(store.list_tenants().expect("tenants")[0].id.as_str(), DEFAULT_TENANT);
    let conn = rusqlite::Connection::open(&path).expect("raw");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |row| row.get(0)).expect("mode");
    assert_eq!(mode, "wal");
    let app: i32 = conn.query_row("PRAGMA application_id", [], |row| row.get(0)).expect("id");
    assert_eq!(app, jetstate::schema::APPLICATION_ID);
}

#[test]
fn data_survives_closing_and_reopening_at_either_durability() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("kept.db");
    let id = ExecutionId::new();
    for durability in [Durability::Full, Durability::Normal] {
        let store = Store::open(&path, Options::default().durability(durability)).expect("opens");
        assert_eq!(store.durability(), durability);
        if durability == Durability::Full {
            store.create_execution(&execution(&id, json!({"kept": true}))).expect("created");
            store.append_next_event(&id, EventKind::WorkflowFailed { error: "e".into() }).expect("event");
        }
        store.close().expect("close");
    }
    let store = Store::open(&path, Options::default()).expect("reopens");
    assert_eq!(store.get_execution(&id).expect("read").expect("kept").current_state, json!({"kept": true}));
    assert_eq!(store.latest_sequence(&id).expect("latest"), 1);
}

#[test]
fn options_no_store_can_honour_are_refused() {
    let zero_lease = Options::default().lease(Duration::ZERO);
    assert_eq!(Store::open_in_memory(zero_lease).unwrap_err().kind(), ErrorKind::InvalidArgument);
    let inverted = Options::default().backoff(Duration::from_secs(10), Duration::from_secs(1));
    assert_eq!(Store::open_in_memory(inverted).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!("fast".parse::<Durability>().unwrap_err().kind(), ErrorKind::InvalidArgument);
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_dir = dir.path().join("no/such/dir/x.db");
    assert_eq!(Store::open(&missing_dir, Options::default()).unwrap_err().kind(), ErrorKind::Database);
}

#[test]
fn a_closed_store_refuses_calls_with_an_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("c.db"), Options::default()).expect("opens");
    let view = store.for_tenant("default");
    store.close().expect("closes");
    store.close().expect("closing twice is fine");
    assert!(view.is_closed());
    let err = view.get_execution(&ExecutionId::new()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Database);
    assert!(err.message().contains("closed"), "{err}");
    assert_eq!(store.enqueue_work_item(&unchecked_item("q")).unwrap_err().kind(), ErrorKind::Database);
}

#[test]
fn store_is_send_sync_and_cheap_to_share() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<Store>();
    assert_send_sync::<jetstate::SqliteBackend>();
}

#[test]
fn threads_appending_next_sequences_leave_no_gap_and_no_duplicate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path().join("seq.db"), Options::default().durability(Durability::Normal)).expect("opens");
    let id = ExecutionId::new();
    store.create_execution(&execution(&id, json!({}))).expect("created");
    let (threads, per_thread) = (8, 50);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let (store, id) = (store.clone(), id.clone());
            scope.spawn(move || {
                for _ in 0..per_thread {
                    store.append_next_event(&id, EventKind::NodeCancelled { node_id: "n".into() }).expect("append");
                }
            });
        }
    });
    let sequences: Vec<i64> = store.get_events(&id).expect("events").iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=threads * per_thread).collect::<Vec<i64>>());
}

#[test]
fn two_stores_racing_for_one_sequence_on_one_file_let_exactly_one_win() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("race.db");
    let stores: Vec<Store> = (0..4).map(|_| Store::open(&path, Options::default()).expect("opens")).collect();
    let id = ExecutionId::new();
    stores[0].create_execution(&execution(&id, json!({}))).expect("created");
    for round in 1..=25 {
        let barrier = Arc::new(std::sync::Barrier::new(stores.len()));
        let outcomes: Vec<Result<i64, jetstate::Error>> = std::thread::scope(|scope| {
            let handles: Vec<_> = stores
                .iter()
                .map(|store| {
                    let (barrier, id) = (Arc::clone(&barrier), id.clone());
                    scope.spawn(move || {
                        let next = store.latest_sequence(&id)? + 1;
                        barrier.wait();
                        store.append_event(jetstate::Event::new(
                            id,
                            next,
                            EventKind::NodeCancelled { node_id: "n".into() },
                        ))
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        let wins = outcomes.iter().filter(|o| o.is_ok()).count();
        assert_eq!(wins, 1, "round {round}: {outcomes:?}");
        assert!(outcomes.iter().filter_map(|o| o.as_ref().err()).all(|e| e.kind() == ErrorKind::SequenceConflict));
    }
    assert_eq!(stores[1].latest_sequence(&id).expect("latest"), 25);
}

#[test]
fn concurrent_array_appends_lose_no_update() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("patch.db");
    let first = Store::open(&path, Options::default().durability(Durability::Normal)).expect("opens");
    let second = Store::open(&path, Options::default().durability(Durability::Normal)).expect("second connection");
    let id = ExecutionId::new();
    first.create_execution(&execution(&id, json!({"log": []}))).expect("created");
    std::thread::scope(|scope| {
        for (n, store) in [&first, &second, &first, &second].into_iter().enumerate() {
            let id = id.clone();
            scope.spawn(move || {
                for k in 0..40 {
                    store.patch_append_array(&id, "log", json!(n * 100 + k)).expect("append");
                }
            });
        }
    });
    let log = first.get_execution(&id).expect("read").expect("found").current_state["log"].clone();
    assert_eq!(log.as_array().expect("array").len(), 160);
}

#[test]
fn large_and_awkward_values_round_trip() {
    let store = Store::open_in_memory(Options::default()).expect("opens");
    let id = ExecutionId::new();
    let big = "x".repeat(8 << 20);
    let awkward = json!({
        "big": big,
        "nul": "a\u{0000}b",
        "float": 0.30000000000000004,
        "huge": u64::MAX,
        "tiny": -9.87e-300,
        "unicode": "日本語 ✓ \u{1F600}",
        "nested": (0..100).fold(json!(1), |inner, _| json!([inner])),
    });
    store.create_execution(&execution(&id, awkward.clone())).expect("created");
    let read = store.get_execution(&id).expect("read").expect("found").current_state;
    let differing: Vec<&String> = awkward
        .as_object()
        .expect("object")
        .iter()
        .filter(|(key, value)| read.get(key.as_str()) != Some(*value))
        .map(|(key, _)| key)
        .collect();
    assert!(differing.is_empty(), "these values changed on the way through the store: {differing:?}");
}

#[test]
fn jitter_when_asked_for_spreads_retry_times() {
    let start = Utc::now();
    let clock = jetstate::Clock::manual(start);
    let store = Store::open_in_memory(
        Options::default()
            .clock(clock.clone())
            .backoff_jitter(true)
            .backoff(Duration::from_secs(8), Duration::from_secs(60)),
    )
    .expect("opens");
    let ids: Vec<_> = (0..20).map(|_| store.enqueue_work_item(&item(&store, "q")).expect("enqueued")).collect();
    while store.claim_work_item("w", &["q"]).expect("claim").is_some() {}
    clock.advance(Duration::from_secs(31)).expect("advance");
    assert_eq!(store.reclaim_expired_leases().expect("reclaim").retryable.len(), 20);
    let delays: std::collections::HashSet<i64> = ids
        .iter()
        .map(|id| {
            let retry_after = store.get_work_item(id).expect("read").expect("found").retry_after.expect("backoff set");
            let delay = (retry_after - clock.now()).num_milliseconds();
            assert!((4000..=8000).contains(&delay), "{delay} ms outside [base/2, base]");
            delay
        })
        .collect();
    assert!(delays.len() > 1, "jitter gave every item the same delay");
}

#[test]
fn json_too_deep_to_read_back_is_refused_and_nothing_is_written() {
    let nested = |depth: usize| (1..depth).fold(json!([]), |inner, _| json!([inner]));
    let store = Store::open_in_memory(Options::default()).expect("opens");

    let deepest = ExecutionId::new();
    store.create_execution(&execution(&deepest, nested(jetstate::MAX_JSON_DEPTH))).expect("the deepest readable value");
    let read = store.get_execution(&deepest).expect("it reads back").expect("found");
    assert_eq!(read.current_state, nested(jetstate::MAX_JSON_DEPTH));

    let too_deep = ExecutionId::new();
    let err = store.create_execution(&execution(&too_deep, nested(jetstate::MAX_JSON_DEPTH + 1))).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(store.get_execution(&too_deep).expect("read").is_none(), "nothing was written");

    let err = store.update_execution_current_state(&deepest, &nested(500)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(
        store.get_execution(&deepest).expect("read").expect("found").current_state,
        nested(jetstate::MAX_JSON_DEPTH)
    );

    let deep_kind = json!({"type": "from_elsewhere", "payload": nested(200)});
    let err = store.append_next_raw(&deepest, vec![deep_kind.clone()]).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    let err = store.append_next_event(&deepest, EventKind::Unknown(deep_kind)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(store.latest_sequence(&deepest).expect("latest"), 0);
}

#[test]
fn a_token_is_stored_only_as_a_hash_and_carries_256_random_bits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("tokens.db");
    let store = Store::open(&path, Options::default()).expect("opens");
    let mut seen = std::collections::HashSet::new();
    let mut plaintexts = Vec::new();
    for n in 0..20 {
        let (plaintext, info) = store.create_token(&format!("t{n}"), "admin").expect("token");
        let secret = plaintext.strip_prefix(jetstate::tokens::TOKEN_PREFIX).expect("the fixed prefix");
        assert_eq!(secret.len(), 64, "256 bits as hex");
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(seen.insert(secret.to_string()), "two tokens alike");
        assert!(!format!("{info:?}").contains(secret), "the info must not carry the plaintext");
        plaintexts.push(plaintext);
    }
    store.close().expect("close");
    let mut bytes = std::fs::read(&path).expect("db");
    bytes.extend(std::fs::read(dir.path().join("tokens.db-wal")).unwrap_or_default());
    for plaintext in &plaintexts {
        let secret = &plaintext[jetstate::tokens::TOKEN_PREFIX.len()..];
        let found = bytes.windows(secret.len()).any(|window| window == secret.as_bytes());
        assert!(!found, "a plaintext token is in the database file");
    }
    let store = Store::open(&path, Options::default()).expect("reopens");
    assert!(store.validate_token(&plaintexts[0]).expect("validate").is_some(), "the hash still validates it");
    let mut tampered = plaintexts[0].clone();
    tampered.pop();
    tampered.push(if plaintexts[0].ends_with('0') { '1' } else { '0' });
    assert!(store.validate_token(&tampered).expect("validate").is_none());
}

#[test]
fn a_read_only_store_reads_everything_and_never_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("inspected.db");
    let id = ExecutionId::new();
    {
        let store = Store::open(&path, Options::default()).expect("opens");
        store.create_execution(&execution(&id, json!({"seen": true}))).expect("created");
        store.append_next_event(&id, EventKind::WorkflowFailed { error: "e".into() }).expect("event");
        store.enqueue_work_item(&item(&store, "q")).expect("item");
        store.close().expect("close");
    }
    let before = std::fs::read(&path).expect("db bytes");

    let reader = Store::open(&path, Options::default().read_only(true)).expect("opens read-only");
    assert_eq!(reader.get_execution(&id).expect("read").expect("found").current_state, json!({"seen": true}));
    assert_eq!(reader.get_events(&id).expect("events").len(), 1);
    assert_eq!(reader.materialize(&id).expect("materialized").status, WorkflowStatus::Failed);
    assert_eq!(reader.list_work_items(None, 10, 0).expect("items").len(), 1);
    for err in [
        reader.create_execution(&execution(&ExecutionId::new(), json!({}))).unwrap_err(),
        reader.enqueue_work_item(&WorkItem::new(id.clone(), "n", "q", json!({}))).unwrap_err(),
        reader.claim_work_item("w", &["q"]).unwrap_err(),
        reader.validate_token("jst_x").unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Database);
        assert!(err.message().contains("read-only"), "{err}");
    }
    reader.close().expect("close");
    assert_eq!(std::fs::read(&path).expect("db bytes"), before, "a read-only store changed the file");
}

#[test]
fn a_read_only_open_creates_nothing_and_refuses_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    assert_eq!(Store::open(&missing, Options::default().read_only(true)).unwrap_err().kind(), ErrorKind::Database);
    assert!(!missing.exists(), "a read-only open created the file");

    let empty = dir.path().join("empty.db");
    std::fs::write(&empty, b"").expect("empty file");
    let err = Store::open(&empty, Options::default().read_only(true)).unwrap_err();
    assert!(err.message().contains("empty"), "{err}");
    assert_eq!(std::fs::read(&empty).expect("bytes").len(), 0);

    let err = Store::open_in_memory(Options::default().read_only(true)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_read_only_store_sees_a_live_writers_commits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("live.db");
    let writer = Store::open(&path, Options::default()).expect("opens");
    let first = ExecutionId::new();
    writer.create_execution(&execution(&first, json!({}))).expect("created");
    let reader = Store::open(&path, Options::default().read_only(true)).expect("opens read-only beside a writer");
    assert!(reader.get_execution(&first).expect("read").is_some());
    let second = ExecutionId::new();
    writer.create_execution(&execution(&second, json!({}))).expect("created later");
    assert!(reader.get_execution(&second).expect("read").is_some(), "the reader sees the later commit");
    assert_eq!(reader.list_executions(None, 10, 0).expect("list").len(), 2);
}

#[test]
fn the_summary_counts_what_the_store_holds() {
    let start = Utc::now();
    let clock = jetstate::Clock::manual(start);
    let store = Store::open_in_memory(Options::default().clock(clock.clone())).expect("opens");
    let mut running = None;
    for status in [WorkflowStatus::Running, WorkflowStatus::Running, WorkflowStatus::Completed] {
        let execution = WorkflowExecution { status, ..WorkflowExecution::new("wf", "1", json!({})) };
        store.create_execution(&execution).expect("created");
        running.get_or_insert(execution.execution_id);
    }
    let item = |queue: &str| WorkItem::new(running.clone().expect("an execution"), "n", queue, json!({}));
    let mut oldest = item("mail");
    oldest.created_at = start - jetstate::chrono::Duration::minutes(5);
    store.enqueue_work_items(&[oldest.clone(), item("mail"), item("mail"), item("llm")]).expect("enqueued");
    let _llm = store.claim_fenced("w", &["llm"], None).expect("claim").expect("an item");
    let doomed = store.claim_fenced("w", &["mail"], None).expect("claim").expect("the oldest");
    assert_eq!(doomed.item.id, oldest.id);
    store.move_to_dead_letter(&doomed.item.id, "poison").expect("dead-lettered");
    clock.advance(Duration::from_secs(31)).expect("advance");

    let summary = store.summary().expect("summary");
    assert_eq!(summary.schema_version, jetstate::schema::SCHEMA_VERSION);
    assert!(summary.database_bytes > 0);
    assert_eq!(summary.executions.get("running"), Some(&2));
    assert_eq!(summary.executions.get("completed"), Some(&1));
    assert_eq!(summary.queues["mail"].get("pending"), Some(&2));
    assert_eq!(summary.queues["mail"].get("dead_letter"), Some(&1));
    assert_eq!(summary.queues["llm"].get("claimed"), Some(&1));
    assert_eq!(summary.expired_leases, 1, "the llm item's lease ran out 1 s ago");
    assert_eq!(summary.dead_letter, 1);
    assert!(summary.oldest_pending.expect("pending items") >= start - jetstate::chrono::Duration::seconds(1));
    let other = store.for_tenant("nobody").summary().expect("a view's summary");
    assert!(other.executions.is_empty() && other.queues.is_empty() && other.oldest_pending.is_none());
}

#[test]
fn dead_letters_can_be_requeued_afresh_or_purged() {
    let store = Store::open_in_memory(Options::default()).expect("opens");
    let items: Vec<WorkItem> = (0..4).map(|_| item(&store, "q")).collect();
    store.enqueue_work_items(&items).expect("enqueued");
    for it in &items[..3] {
        store.move_to_dead_letter(&it.id, "poison").expect("dead-lettered");
    }
    let err = store.requeue_dead_letter(&items[3].id).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "a pending item is not requeued");
    assert_eq!(
        store.for_tenant("other").requeue_all_dead_letters().expect("a view"),
        0,
        "another tenant's are untouched"
    );

    store.requeue_dead_letter(&items[0].id).expect("requeued");
    let entry = store.get_work_item(&items[0].id).expect("read").expect("found");
    assert_eq!(
        (entry.status, entry.item.attempt, entry.last_error.as_deref()),
        (jetstate::WorkItemStatus::Pending, 0, Some("poison"))
    );
    let lease = store.claim_fenced("w", &["q"], None).expect("claim").expect("an item");
    assert_eq!(lease.token, 1, "its next claim takes a lease token as usual");

    assert_eq!(store.requeue_all_dead_letters().expect("requeue all"), 2);
    store.move_to_dead_letter(&items[1].id, "again").expect("dead-lettered again");
    assert_eq!(store.purge_dead_letters().expect("purge"), 1);
    assert!(store.get_work_item(&items[1].id).expect("read").is_none());
    assert_eq!(store.list_work_items(None, 10, 0).expect("list").len(), 3);
}

#[test]
fn an_online_backup_is_a_consistent_copy_taken_while_writers_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store =
        Store::open(dir.path().join("live.db"), Options::default().durability(Durability::Normal)).expect("opens");
    let id = ExecutionId::new();
    store.create_execution(&execution(&id, json!({"copied": true}))).expect("created");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let dest = dir.path().join("copy.db");
    let bytes = std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .append_next_event(&id, EventKind::NodeCancelled { node_id: "n".into() })
                    .expect("a writer runs on");
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        let bytes = store.backup(&dest).expect("backup beside a writer");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        bytes
    });
    assert!(bytes > 0);
    let raw = rusqlite::Connection::open(&dest).expect("the copy opens");
    let integrity: String = raw.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("check");
    assert_eq!(integrity, "ok");
    drop(raw);
    let copy = Store::open(&dest, Options::default().read_only(true)).expect("the copy is a jetstate file");
    assert_eq!(copy.get_execution(&id).expect("read").expect("copied").current_state, json!({"copied": true}));
    let copied: Vec<i64> = copy.get_events(&id).expect("events").iter().map(|e| e.sequence).collect();
    assert_eq!(copied, (1..=copied.len() as i64).collect::<Vec<_>>(), "a consistent prefix of the log");
    assert!(copied.len() as i64 <= store.latest_sequence(&id).expect("latest"));

    let before = std::fs::read(&dest).expect("copy bytes");
    assert_eq!(store.backup(&dest).unwrap_err().kind(), ErrorKind::InvalidArgument);
    assert_eq!(std::fs::read(&dest).expect("copy bytes"), before, "an existing file is not overwritten");
}

#[test]
fn an_exclusive_store_keeps_the_file_to_itself_and_runs_wal_without_shared_memory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("exclusive.db");
    let store = Store::open(&path, Options::default().exclusive(true)).expect("opens");
    let id = ExecutionId::new();
    store.create_execution(&execution(&id, json!({"mine": true}))).expect("created");
    store.append_next_event(&id, EventKind::NodeCancelled { node_id: "n".into() }).expect("event");
    assert_eq!(store.get_events(&id).expect("read through the one connection").len(), 1);
    assert!(!dir.path().join("exclusive.db-shm").exists(), "WAL's index lives in the connection's memory");

    let other = Store::open(&path, Options::default().busy_timeout(Duration::from_millis(50)));
    let err = other.expect_err("the file is held");
    assert_eq!(err.kind(), ErrorKind::Database, "{err}");
    assert!(err.message().contains("busy") || err.message().contains("locked"), "{err}");

    store.close().expect("closes");
    let reopened = Store::open(&path, Options::default()).expect("free once closed");
    assert_eq!(reopened.get_execution(&id).expect("read").expect("kept").current_state, json!({"mine": true}));
    let journal: String = rusqlite::Connection::open(&path)
        .expect("raw")
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(journal, "wal");
}

/// Whether the file holds the index that only tenant views' claims read.
fn indexes_tenant_views(path: &Path) -> bool {
    let conn = rusqlite::Connection::open(path).expect("raw");
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = 'work_items_pending_by_tenant'",
        [],
        |row| row.get::<_, i64>(0),
    )
    .expect("schema")
        == 1
}

#[test]
fn a_store_of_one_tenant_keeps_no_index_for_views_and_its_views_still_claim_in_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("q.db");
    let store = Store::open(&path, Options::default()).expect("opens");
    let at = |seconds: i64| Utc::now() - jetstate::chrono::Duration::seconds(100 - seconds);
    let enqueue = |store: &Store, queue: &str, seconds: i64| {
        let mut item = item(store, queue);
        item.created_at = at(seconds);
        store.enqueue_work_item(&item).expect("enqueued");
        item.id
    };
    let (second, first, third) = (enqueue(&store, "q", 2), enqueue(&store, "q", 1), enqueue(&store, "r", 3));
    assert!(!indexes_tenant_views(&path), "one tenant: no index for views");

    // A view of `default` seeks the store's own index, in (created_at, id) order, over one queue
    // type or several; a view of a tenant that does not exist finds nothing.
    let default = store.for_tenant(DEFAULT_TENANT);
    assert_eq!(default.claim_work_item("w", &["q"]).expect("claim").map(|i| i.id), Some(first));
    assert!(store.for_tenant("ghost").claim_work_item("w", &["q", "r"]).expect("claim").is_none());
    assert_eq!(default.claim_work_item("w", &["r", "q"]).expect("claim").map(|i| i.id), Some(second));

    // The second tenant brings the index, with the items already there.
    let acme = Tenant {
        id: TenantId("acme".into()),
        name: "Acme".into(),
        status: TenantStatus::Active,
        policy: None,
        limits: None,
        created_at: store.now(),
        updated_at: store.now(),
    };
    store.create_tenant(&acme).expect("tenant");
    assert!(indexes_tenant_views(&path), "two tenants: the index");
    let acme_view = store.for_tenant("acme");
    let mut older = item(&acme_view, "r");
    older.created_at = at(0);
    acme_view.enqueue_work_item(&older).expect("enqueued");
    assert_eq!(default.claim_work_item("w", &["r"]).expect("claim").map(|i| i.id), Some(third), "not acme's");
    assert_eq!(acme_view.claim_work_item("w", &["q", "r"]).expect("claim").map(|i| i.id), Some(older.id));
    assert!(store.claim_work_item("w", &["q", "r"]).expect("claim").is_none());
    drop((default, acme_view, store));
    let reopened = Store::open(&path, Options::default()).expect("reopens");
    assert!(indexes_tenant_views(&path), "kept");
    assert_eq!(reopened.list_tenants().expect("tenants").len(), 2);
}

/// A group's calls, on each kind of store: a file with pooled readers, an exclusive file (the
/// browser's), memory. They behave as if made one after the other, and share one commit.
#[test]
fn a_group_of_calls_shares_one_commit_and_behaves_as_the_calls_one_by_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stores = [
        Store::open(dir.path().join("pooled.db"), Options::default()).expect("pooled"),
        Store::open(dir.path().join("exclusive.db"), Options::default().exclusive(true)).expect("exclusive"),
        Store::open_in_memory(Options::default()).expect("memory"),
    ];
    for store in stores {
        let id = ExecutionId::new();
        store.create_execution(&execution(&id, json!({}))).expect("execution");
        let before = store.write_stats();
        let tenant = store.for_tenant("acme");
        let acme = Tenant {
            id: TenantId("acme".into()),
            name: "Acme".into(),
            status: TenantStatus::Active,
            policy: None,
            limits: None,
            created_at: store.now(),
            updated_at: store.now(),
        };
        let (events, claimed) = store
            .group(|| {
                store.create_tenant(&acme)?;
                store.append_next_event(&id, EventKind::NodeCancelled { node_id: "a".into() })?;
                store.append_next_event(&id, EventKind::NodeCancelled { node_id: "b".into() })?;
                // A call that fails is refused alone; the group goes on.
                let stale = jetstate::Event::new(id.clone(), 1, EventKind::NodeCancelled { node_id: "c".into() });
                assert_eq!(store.append_event(stale).unwrap_err().kind(), ErrorKind::SequenceConflict);
                store.enqueue_work_item(&WorkItem::new(id.clone(), "n", "q", json!({})))?;
                let theirs = ExecutionId::new();
                tenant.create_execution(&execution(&theirs, json!({})))?;
                tenant.enqueue_work_item(&WorkItem::new(theirs, "n", "q", json!({})))?;
                // Reads, of one statement or several, see the group's earlier writes.
                let events = store.get_events(&id)?;
                assert_eq!(store.materialize(&id)?.last_sequence, 2);
                let claimed = store.claim_fenced("w", &["q"], None)?;
                // Closing is refused inside a group, and leaves the store as it was.
                assert_eq!(store.close().unwrap_err().kind(), ErrorKind::InvalidArgument);
                assert_eq!(store.latest_sequence(&id)?, 2);
                Ok((events, claimed))
            })
            .expect("the group commits");
        assert_eq!(events.iter().map(|e| e.sequence).collect::<Vec<_>>(), vec![1, 2], "{:?}", store.location());
        assert!(claimed.is_some(), "the claim saw the group's enqueue");
        let after = store.write_stats();
        assert_eq!((after.calls - before.calls, after.commits - before.commits), (7, 1), "{:?}", store.location());
        assert_eq!(store.latest_sequence(&id).expect("read"), 2);
        assert_eq!(tenant.list_work_items(None, 10, 0).expect("tenant's items").len(), 1);
        // A group given up writes nothing; the store goes on.
        let given_up = store.group(|| {
            store.append_next_event(&id, EventKind::NodeCancelled { node_id: "d".into() })?;
            Err::<(), _>(jetstate::Error::new(ErrorKind::InvalidArgument, "given up"))
        });
        assert_eq!(given_up.unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(store.latest_sequence(&id).expect("read"), 2);
        store.close().expect("closes");
    }
}
