//! Export and import as JSON Lines (`transfer.rs`): a store with rows in every state goes out and
//! back in without loss; one execution travels alone; every bad line is refused with its line
//! number and the target store left exactly as it was.

use std::path::Path;
use std::time::Duration;

use jetstate::chrono::{TimeZone, Utc};
use jetstate::serde_json::{json, Value};
use jetstate::{
    Clock, ErrorKind, EventKind, ExecutionId, Options, Snapshot, Store, StoredEvent, Tenant, TenantId, TenantLimits,
    TenantStatus, WorkItem, WorkflowDefinition, WorkflowExecution,
};

fn open(path: &Path) -> Store {
    let clock = Clock::manual(Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).single().expect("a time"));
    Store::open(path, Options::default().clock(clock).lease(Duration::from_secs(30))).expect("opens")
}

fn export(store: &Store, execution: Option<&ExecutionId>) -> String {
    let mut out = Vec::new();
    store.export(execution, &mut out, &mut |_| {}).expect("exports");
    String::from_utf8(out).expect("UTF-8")
}

fn import(store: &Store, text: &str) -> jetstate::Result<jetstate::RowCounts> {
    store.import(&mut text.as_bytes(), text.len() as u64, &mut |_| {})
}

/// The rows of an export, without its header (which carries the time of the export).
fn rows(export: &str) -> Vec<&str> {
    export.lines().skip(1).collect()
}

/// A store with a row in every table and every state a row can be in.
fn populated(store: &Store) -> (ExecutionId, ExecutionId) {
    let acme = Tenant {
        id: TenantId("acme".into()),
        name: "Acme «corp»".into(),
        status: TenantStatus::Suspended,
        policy: Some(json!({"models": ["small"], "budget": 1.5e-7})),
        limits: Some(TenantLimits { max_workflows: Some(3), ..TenantLimits::default() }),
        created_at: store.now(),
        updated_at: store.now(),
    };
    store.create_tenant(&acme).expect("tenant");
    store
        .store_workflow(&WorkflowDefinition {
            workflow_id: "triage".into(),
            version: "2".into(),
            ir: json!({"nodes": ["classify", "reply"], "big": u64::MAX, "neg": i64::MIN, "pi": std::f64::consts::PI}),
            created_at: store.now(),
            tenant_id: "default".into(),
        })
        .expect("definition");
    let run = WorkflowExecution::new("triage", "2", json!({"ticket": "naïve ✓ \u{0}"}));
    store.create_execution(&run).expect("execution");
    let other = WorkflowExecution::new("digest", "1", json!([]));
    store.for_tenant("acme").create_execution(&other).expect("execution");
    let id = run.execution_id.clone();
    store
        .append_next_events(
            &id,
            vec![
                EventKind::WorkflowStarted {
                    workflow_id: "triage".into(),
                    workflow_version: "2".into(),
                    initial_input: json!({}),
                },
                EventKind::NodeScheduled { node_id: "classify".into(), queue_type: "llm".into() },
            ],
        )
        .expect("events");
    store
        .append_event_raw(&StoredEvent {
            id: jetstate::uuid::Uuid::new_v4(),
            execution_id: id.clone(),
            sequence: 3,
            kind: json!({"type": "from_a_newer_engine", "z": 1, "a": [1.25, null]}),
            created_at: store.now(),
        })
        .expect("raw event");
    store.write_snapshot(&Snapshot::new(id.clone(), 2, json!({"seen": 2}))).expect("snapshot");
    store.update_execution_current_state(&id, &json!({"answer": 42})).expect("state");

    let items: Vec<WorkItem> =
        (0..5).map(|n| WorkItem::new(id.clone(), format!("node-{n}"), "llm", json!({"n": n}))).collect();
    store.enqueue_work_items(&items).expect("items");
    let claimed = store.claim_fenced("w1", &["llm"], None).expect("claim").expect("an item");
    store.complete_fenced(&claimed.item.id, claimed.token).expect("completed");
    store.claim_fenced("w1", &["llm"], None).expect("claim").expect("an item"); // left claimed
    let failed = store.claim_fenced("w2", &["llm"], None).expect("claim").expect("an item");
    store.fail_fenced(&failed.item.id, failed.token, "timeout").expect("failed");
    store.move_to_dead_letter(&items[4].id, "poison").expect("dead letter");
    store
        .for_tenant("acme")
        .enqueue_work_item(&WorkItem::new(other.execution_id.clone(), "n", "mail", json!(null)))
        .expect("item");

    let (plaintext, _) = store.create_token("ci", "operator").expect("token");
    let (_, revoked) = store.create_token_expiring("old", "reader", store.now() + chrono_days(3)).expect("token");
    store.revoke_token(&revoked.id).expect("revoked");
    store.validate_token(&plaintext).expect("validates").expect("live");
    (id, other.execution_id)
}

fn chrono_days(days: i64) -> jetstate::chrono::Duration {
    jetstate::chrono::Duration::days(days)
}

#[test]
fn a_store_goes_out_and_back_in_without_loss() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    let (id, _) = populated(&source);
    let first = export(&source, None);

    let header: Value = jetstate::serde_json::from_str(first.lines().next().expect("header")).expect("JSON");
    assert_eq!(header["format"], "jetstate-export");
    assert_eq!(header["version"], 1);
    assert_eq!(header["scope"], "store");

    let target = open(&dir.path().join("b.db"));
    let counts = import(&target, &first).expect("imports");
    assert_eq!(counts["events"], 3);
    assert_eq!(counts["work_items"], 6);
    assert_eq!(counts["api_tokens"], 2);
    assert_eq!(counts["tenants"], 2);
    let second = export(&target, None);
    assert_eq!(rows(&second), rows(&first), "the imported store exports the same lines");

    // What the operations read back is equal too.
    assert_eq!(target.get_execution(&id).expect("read"), source.get_execution(&id).expect("read"));
    assert_eq!(target.get_events_raw(&id, 0).expect("read"), source.get_events_raw(&id, 0).expect("read"));
    assert_eq!(
        target.list_work_items(None, 100, 0).expect("read"),
        source.list_work_items(None, 100, 0).expect("read")
    );
    assert_eq!(target.list_tenants().expect("read"), source.list_tenants().expect("read"));
    // Tenants came in with the import, and with them the index of tenant views' claims.
    let raw = rusqlite::Connection::open(dir.path().join("b.db")).expect("raw");
    let indexed: i64 = raw
        .query_row("SELECT count(*) FROM sqlite_schema WHERE name = 'work_items_pending_by_tenant'", [], |row| {
            row.get(0)
        })
        .expect("schema");
    assert_eq!(indexed, 1);
    assert_eq!(target.list_tokens().expect("read"), source.list_tokens().expect("read"));
    assert_eq!(target.latest_snapshot(&id).expect("read"), source.latest_snapshot(&id).expect("read"));
    assert_eq!(target.get_workflow("triage", "2").expect("read"), source.get_workflow("triage", "2").expect("read"));
    // The lease and its fencing token came along: the next claim of the item takes the next token.
    assert_eq!(target.summary().expect("summary").queues, source.summary().expect("summary").queues);
}

#[test]
fn an_import_is_all_or_nothing_and_a_second_import_is_a_conflict() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    populated(&source);
    let text = export(&source, None);
    let target = open(&dir.path().join("b.db"));
    import(&target, &text).expect("imports");
    let before = export(&target, None);
    let err = import(&target, &text).expect_err("the same rows again");
    assert_eq!(err.kind(), ErrorKind::Conflict, "{err}");
    assert!(err.message().contains("already exists"), "{err}");
    assert!(err.message().starts_with("line "), "{err}");
    assert_eq!(rows(&export(&target, None)), rows(&before), "nothing of the second import stayed");
}

#[test]
fn one_execution_travels_with_its_events_snapshots_items_and_definition() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    let (id, other) = populated(&source);
    let text = export(&source, Some(&id));
    let header: Value = jetstate::serde_json::from_str(text.lines().next().expect("header")).expect("JSON");
    assert_eq!(header["scope"], "execution");
    let tables: Vec<String> = rows(&text)
        .iter()
        .map(|line| {
            jetstate::serde_json::from_str::<Value>(line).expect("JSON")["table"].as_str().expect("table").into()
        })
        .collect();
    assert_eq!(tables.iter().filter(|t| *t == "executions").count(), 1);
    assert_eq!(tables.iter().filter(|t| *t == "events").count(), 3);
    assert_eq!(tables.iter().filter(|t| *t == "snapshots").count(), 1);
    assert_eq!(tables.iter().filter(|t| *t == "work_items").count(), 5);
    assert_eq!(tables.iter().filter(|t| *t == "workflow_definitions").count(), 1);
    assert!(!tables.iter().any(|t| t == "tenants" || t == "api_tokens"), "{tables:?}");

    let target = open(&dir.path().join("b.db"));
    import(&target, &text).expect("imports into a store that has the tenant");
    assert_eq!(target.get_events_raw(&id, 0).expect("read"), source.get_events_raw(&id, 0).expect("read"));
    assert!(target.get_execution(&other).expect("read").is_none());

    // An execution of a tenant the target lacks: refused, naming the missing reference.
    let acme = export(&source, Some(&other));
    let fresh = open(&dir.path().join("c.db"));
    let err = import(&fresh, &acme).expect_err("no tenant acme here");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.message().contains("refers to a tenant or execution"), "{err}");
    assert!(fresh.list_executions(None, 10, 0).expect("read").is_empty());

    let err = source.export(Some(&ExecutionId::new()), &mut Vec::new(), &mut |_| {}).expect_err("unknown");
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn a_view_exports_its_tenant_and_cannot_import() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    let (id, other) = populated(&source);
    let text = export(&source.for_tenant("acme"), None);
    assert!(text.contains(&other.0.to_string()));
    assert!(!text.contains(&id.0.to_string()), "no row of another tenant");
    assert!(!text.contains("\"id\":\"default\""), "no other tenant's record");
    let err = import(&open(&dir.path().join("b.db")).for_tenant("acme"), &text).expect_err("a view");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn every_bad_line_is_refused_with_its_number_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    let (id, _) = populated(&source);
    let good = export(&source, Some(&id));
    let header = good.lines().next().expect("header").to_string();
    let event_line = good.lines().find(|l| l.contains("\"table\":\"events\"")).expect("an event").to_string();
    let execution_line = good.lines().find(|l| l.contains("\"table\":\"executions\"")).expect("execution").to_string();
    let whole = export(&source, None);
    let token_line = whole.lines().find(|l| l.contains("\"table\":\"api_tokens\"")).expect("a token").to_string();
    let tenant_line = whole.lines().find(|l| l.contains("\"table\":\"tenants\"")).expect("a tenant").to_string();
    let pending_line = whole
        .lines()
        .find(|l| l.contains("\"table\":\"work_items\"") && l.contains("\"status\":\"pending\""))
        .expect("a pending item")
        .to_string();
    let edit = |line: &str, f: &dyn Fn(&mut Value)| {
        let mut value: Value = jetstate::serde_json::from_str(line).expect("JSON");
        f(&mut value);
        value.to_string()
    };
    let cases: Vec<(&str, String, ErrorKind)> = vec![
        ("empty", String::new(), ErrorKind::InvalidArgument),
        ("no header", format!("{execution_line}\n"), ErrorKind::InvalidArgument),
        ("not JSON", format!("{header}\n{{\"table\": \n"), ErrorKind::InvalidArgument),
        ("newer format", format!("{}\n", edit(&header, &|v| v["version"] = json!(2))), ErrorKind::InvalidArgument),
        (
            "newer schema",
            format!("{}\n", edit(&header, &|v| v["schema_version"] = json!(99))),
            ErrorKind::InvalidArgument,
        ),
        ("unknown table", format!("{header}\n{{\"table\":\"users\",\"row\":{{}}}}\n"), ErrorKind::InvalidArgument),
        (
            "unknown column",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["x"] = json!(1))),
            ErrorKind::InvalidArgument,
        ),
        (
            "missing column",
            format!(
                "{header}\n{}\n",
                edit(&execution_line, &|v| {
                    v["row"].as_object_mut().expect("row").remove("status");
                })
            ),
            ErrorKind::InvalidArgument,
        ),
        (
            "bad status",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["status"] = json!("sleeping"))),
            ErrorKind::InvalidArgument,
        ),
        (
            "bad id",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["id"] = json!("42"))),
            ErrorKind::InvalidArgument,
        ),
        (
            "bad time",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["started_at"] = json!("yesterday"))),
            ErrorKind::InvalidArgument,
        ),
        (
            "number as text",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["workflow_id"] = json!(7))),
            ErrorKind::InvalidArgument,
        ),
        (
            "event type not the kind's",
            format!(
                "{header}\n{execution_line}\n{}\n",
                edit(&event_line, &|v| v["row"]["event_type"] = json!("node_failed"))
            ),
            ErrorKind::InvalidArgument,
        ),
        ("event of no execution", format!("{header}\n{event_line}\n"), ErrorKind::InvalidArgument),
        (
            "token hash not hex",
            format!("{header}\n{}\n", edit(&token_line, &|v| v["row"]["token_hash"] = json!("zz"))),
            ErrorKind::InvalidArgument,
        ),
        (
            "session type unknown",
            format!("{header}\n{}\n", edit(&execution_line, &|v| v["row"]["session_type"] = json!("forever"))),
            ErrorKind::InvalidArgument,
        ),
        (
            "tenant limits of another shape",
            format!("{header}\n{}\n", edit(&tenant_line, &|v| v["row"]["limits"] = json!({"max_workflows": "many"}))),
            ErrorKind::InvalidArgument,
        ),
        (
            // Claims would never see it: the queue's index seeks pending items without one.
            "pending item with a lease expiry",
            format!(
                "{header}\n{}\n",
                edit(&pending_line, &|v| v["row"]["lease_expires_at"] = json!("2026-11-26T12:00:30Z"))
            ),
            ErrorKind::InvalidArgument,
        ),
        (
            "tenant status unknown",
            format!("{header}\n{}\n", edit(&tenant_line, &|v| v["row"]["status"] = json!("gone"))),
            ErrorKind::InvalidArgument,
        ),
    ];
    let target = open(&dir.path().join("b.db"));
    let before = export(&target, None);
    for (case, text, kind) in cases {
        let err = import(&target, &text).expect_err(case);
        assert_eq!(err.kind(), kind, "{case}: {err}");
        if !text.is_empty() {
            assert!(err.message().starts_with("line "), "{case}: {err}");
        }
        assert_eq!(rows(&export(&target, None)), rows(&before), "{case}: the store is unchanged");
    }
    // The last line of a good import failing leaves the earlier lines out too.
    let mut text = good.clone();
    text.push_str(&format!("{}\n", edit(&event_line, &|v| v["row"]["sequence"] = json!(-1))));
    let err = import(&target, &text).expect_err("a bad last line");
    assert!(err.message().starts_with(&format!("line {}", good.lines().count() + 1)), "{err}");
    assert_eq!(rows(&export(&target, None)), rows(&before));
}

#[test]
fn a_large_backup_in_steps_reports_progress_and_stays_one_snapshot() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("big.db"));
    let id = ExecutionId::new();
    store
        .create_execution(&WorkflowExecution {
            execution_id: id.clone(),
            ..WorkflowExecution::new("w", "1", json!({}))
        })
        .expect("created");
    let filler = "x".repeat(2000);
    let items: Vec<WorkItem> =
        (0..5000).map(|n| WorkItem::new(id.clone(), "n", "q", json!({"n": n, "pad": filler}))).collect();
    store.enqueue_work_items(&items).expect("items");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let mut seen = Vec::new();
    let dest = dir.path().join("copy.db");
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                store
                    .append_next_event(&id, EventKind::NodeCancelled { node_id: "n".into() })
                    .expect("a writer runs on");
            }
        });
        store.backup_with_progress(&dest, &mut |p| seen.push(p)).expect("backup beside a writer");
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    assert!(seen.len() > 2, "several steps: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0].done <= w[1].done), "progress only grows");
    let last = seen.last().expect("progress");
    assert_eq!(last.done, last.total);
    let copy = Store::open(&dest, Options::default().read_only(true)).expect("the copy is a jetstate file");
    let copied: Vec<i64> = copy.get_events(&id).expect("events").iter().map(|e| e.sequence).collect();
    assert_eq!(copied, (1..=copied.len() as i64).collect::<Vec<_>>(), "a consistent prefix of the log");
    assert_eq!(copy.list_work_items(None, 10_000, 0).expect("items").len(), 5000);
}

#[test]
fn the_bindings_reach_export_and_import_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = open(&dir.path().join("a.db"));
    let (id, _) = populated(&source);
    let text =
        jetstate::wire::call(&source, "export_jsonl", &json!({"execution_id": id.0.to_string()})).expect("exports");
    let text = text.as_str().expect("JSON Lines text").to_string();
    assert_eq!(rows(&text), rows(&export(&source, Some(&id))));
    let target = open(&dir.path().join("b.db"));
    let counts = jetstate::wire::call(&target, "import_jsonl", &json!({"text": text})).expect("imports");
    assert_eq!(counts["events"], json!(3));
    let err = jetstate::wire::call(&target, "import_jsonl", &json!({"text": "{}\n"})).expect_err("not an export");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

/// An export of schema version 4 carries the rate limit's memory as a ring; it imports as the log
/// version 5 keeps (grant 1 the slot at the ring's position), and the limit holds on: a full
/// ring's grants of the last period still refuse a claim.
#[test]
fn a_version_4_export_brings_its_rate_ring_in_as_a_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("v4.db"));
    let now = store.now();
    let at = |ago_ms: i64| (now - jetstate::chrono::Duration::milliseconds(ago_ms)).to_rfc3339();
    let header = json!({"format": "jetstate-export", "version": 1, "schema_version": 4, "scope": "store",
                        "exported_at": at(0)});
    let lines = [
        header,
        json!({"table": "queues", "row": {"queue_type": "rated", "paused": 0, "concurrency": null,
               "partition_concurrency": null, "rate_limit": 3, "rate_period": 1_000_000, "rate_granted": 4,
               "updated_at": at(5_000)}}),
        // Position 4 % 3 = 1: slot 1 is the oldest grant, slot 0 the latest.
        json!({"table": "queue_rate_slots", "row": {"queue_type": "rated", "slot": 0, "claimed_at": at(100)}}),
        json!({"table": "queue_rate_slots", "row": {"queue_type": "rated", "slot": 1, "claimed_at": at(300)}}),
        json!({"table": "queue_rate_slots", "row": {"queue_type": "rated", "slot": 2, "claimed_at": at(200)}}),
    ];
    let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
    import(&store, &text).expect("a version 4 export imports");
    let grants: Vec<Value> = export(&store, None)
        .lines()
        .filter(|line| line.contains("\"table\":\"queue_rate_grants\""))
        .map(|line| jetstate::serde_json::from_str::<Value>(line).expect("JSON")["row"].clone())
        .collect();
    let seqs: Vec<(i64, String)> = grants
        .iter()
        .map(|row| (row["seq"].as_i64().expect("seq"), row["claimed_at"].as_str().expect("time").to_string()))
        .collect();
    let time = |ago_ms| store.now() - jetstate::chrono::Duration::milliseconds(ago_ms);
    let parsed: Vec<(i64, i64)> = seqs
        .iter()
        .map(|(seq, at)| (*seq, jetstate::chrono::DateTime::parse_from_rfc3339(at).expect("time").timestamp_micros()))
        .collect();
    assert_eq!(
        parsed,
        [(1, time(300).timestamp_micros()), (2, time(200).timestamp_micros()), (3, time(100).timestamp_micros())]
    );
    let execution = WorkflowExecution::new("wf", "1", json!({}));
    store.create_execution(&execution).expect("created");
    let item = WorkItem::new(execution.execution_id.clone(), "n", "rated", json!({}));
    store.enqueue_work_items(std::slice::from_ref(&item)).expect("enqueued");
    assert!(store.claim_fenced("w", &["rated"], None).expect("claim").is_none(), "3 grants in the last second");
}
