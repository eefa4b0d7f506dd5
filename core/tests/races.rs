//! Workers racing on one file: threads sharing a store, threads each with its own connection,
//! and separate processes. N workers claim M items; each item must be completed exactly once,
//! claimed exactly once (its lease token is 1), and no worker may see an error.
//!
//! This test has its own `main` (`harness = false`): started with `JETSTATE_RACE_WORKER` set, the
//! binary is a worker process of the process race instead.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jetstate::serde_json::json;
use jetstate::uuid::Uuid;
use jetstate::{Durability, ExecutionId, Options, Store, WorkItem, WorkItemStatus, WorkflowExecution};

use race_worker::QUEUE;

fn options() -> Options {
    // The race is about isolation, which does not depend on durability; NORMAL keeps it quick.
    Options::default().durability(Durability::Normal).busy_timeout(Duration::from_secs(30))
}

/// A new execution in `store`, for the items of a race.
fn execution(store: &Store) -> ExecutionId {
    let execution = WorkflowExecution::new("race", "1", json!({}));
    store.create_execution(&execution).expect("the race's execution");
    execution.execution_id
}

fn fill(path: &Path, items: usize) -> Vec<Uuid> {
    let store = Store::open(path, options()).expect("opens");
    let execution = execution(&store);
    (0..items)
        .map(|n| {
            let item = WorkItem::new(execution.clone(), format!("node-{n}"), QUEUE, json!({"n": n}));
            store.enqueue_work_item(&item).expect("enqueued")
        })
        .collect()
}

/// Claims and completes until the queue is empty; returns the ids it completed.
fn work(store: &Store, worker_id: &str) -> Vec<Uuid> {
    let mut done = Vec::new();
    while let Some(lease) = store.claim_fenced(worker_id, &[QUEUE], None).expect("claim never fails") {
        store.complete_fenced(&lease.item.id, lease.token).expect("complete never fails");
        done.push(lease.item.id);
    }
    done
}

/// Every item completed exactly once by the workers, and claimed exactly once in the file.
fn check(path: &Path, items: &[Uuid], completed: Vec<Uuid>, what: &str) {
    assert_eq!(completed.len(), items.len(), "{what}: {} completions for {} items", completed.len(), items.len());
    let unique: HashSet<Uuid> = completed.into_iter().collect();
    assert_eq!(unique, items.iter().copied().collect(), "{what}: some item was completed twice or never");
    let store = Store::open(path, options()).expect("opens");
    for id in items {
        let entry = store.get_work_item(id).expect("read").expect("item exists");
        assert_eq!(entry.status, WorkItemStatus::Completed, "{what}: {id}");
        assert_eq!(entry.lease_token, 1, "{what}: {id} was claimed {} times", entry.lease_token);
    }
}

fn threads_sharing_one_store(dir: &Path) {
    let path = dir.join("shared.db");
    let items = fill(&path, 1_000);
    let store = Store::open(&path, options()).expect("opens");
    let completed: Vec<Uuid> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let store = store.clone();
                scope.spawn(move || work(&store, &format!("thread-{n}")))
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread")).collect()
    });
    check(&path, &items, completed, "8 threads sharing one store");
}

fn threads_with_their_own_connections(dir: &Path) {
    let path = dir.join("connections.db");
    let items = fill(&path, 1_000);
    let completed: Vec<Uuid> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|n| {
                let path = path.clone();
                scope.spawn(move || work(&Store::open(&path, options()).expect("opens"), &format!("conn-{n}")))
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().expect("worker thread")).collect()
    });
    check(&path, &items, completed, "8 threads with their own connections");
}

fn processes(dir: &Path) {
    let path = dir.join("processes.db");
    let items = fill(&path, 2_000);
    let me = std::env::current_exe().expect("own path");
    let children: Vec<_> = (0..4)
        .map(|n| {
            Command::new(&me)
                .env("JETSTATE_RACE_WORKER", &path)
                .env("JETSTATE_RACE_NAME", format!("process-{n}"))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("worker process starts")
        })
        .collect();
    let mut completed = Vec::new();
    for child in children {
        let output = child.wait_with_output().expect("worker process ends");
        assert!(
            output.status.success(),
            "a worker process failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let ids = String::from_utf8(output.stdout).expect("ids are text");
        completed.extend(ids.lines().map(|line| line.parse::<Uuid>().expect("an item id")));
    }
    check(&path, &items, completed, "4 processes");
}

/// The worker of the expiring-lease race: the one the cross-language races run too.
#[path = "../examples/race_worker.rs"]
#[allow(dead_code)]
mod race_worker;

fn processes_with_leases_expiring(dir: &Path) {
    let path = dir.join("expiring.db");
    let store = Store::open(&path, race_worker::options()).expect("opens");
    let execution = execution(&store);
    let items: Vec<Uuid> = (0..10_000)
        .map(|n| {
            let mut item = WorkItem::new(execution.clone(), format!("node-{n}"), QUEUE, json!({"n": n}));
            item.max_attempts = 1_000; // expiries are retried, never dead-lettered, in this race
            item
        })
        .collect::<Vec<_>>()
        .chunks(1_000)
        .flat_map(|chunk| store.enqueue_work_items(chunk).expect("enqueued"))
        .collect();
    let me = std::env::current_exe().expect("own path");
    let children: Vec<_> = (0..4)
        .map(|n| {
            Command::new(&me)
                .env("JETSTATE_RACE_WORKER", &path)
                .env("JETSTATE_RACE_MODE", "expiring")
                .env("JETSTATE_RACE_NAME", format!("process-{n}"))
                .env("JETSTATE_RACE_SEED", (n * 31).to_string())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("worker process starts")
        })
        .collect();
    let (mut done, mut lost) = (Vec::new(), 0usize);
    let mut completing_token: HashMap<Uuid, i64> = HashMap::new();
    for child in children {
        let output = child.wait_with_output().expect("worker process ends");
        assert!(output.status.success(), "a worker failed: {}", String::from_utf8_lossy(&output.stderr));
        for line in String::from_utf8(output.stdout).expect("text").lines() {
            match line.split_once(' ') {
                Some(("DONE", rest)) => {
                    let (id, token) = rest.split_once(' ').expect("id and token");
                    let id = id.parse::<Uuid>().expect("an item id");
                    completing_token.insert(id, token.parse().expect("a token"));
                    done.push(id);
                }
                Some(("LOST", _)) => lost += 1,
                _ => panic!("unexpected line {line:?}"),
            }
        }
    }
    assert!(lost > 0, "no lease expired mid-run: the scenario did not test what it should");
    assert_eq!(done.len(), items.len(), "{} completions for {} items ({lost} leases lost)", done.len(), items.len());
    let unique: HashSet<Uuid> = done.into_iter().collect();
    assert_eq!(unique, items.iter().copied().collect(), "an item was completed twice or never");
    for id in &items {
        let entry = store.get_work_item(id).expect("read").expect("item exists");
        assert_eq!(entry.status, WorkItemStatus::Completed);
        // Fencing: only the holder of the item's last lease may have completed it.
        assert_eq!(
            completing_token[id], entry.lease_token,
            "{id} was completed under a lease that was no longer current"
        );
    }
    println!("  ({lost} leases expired mid-run and were lost by their stalled holders)");
}

fn main() {
    if let Ok(path) = std::env::var("JETSTATE_RACE_WORKER") {
        if std::env::var("JETSTATE_RACE_MODE").as_deref() == Ok("expiring") {
            let name = std::env::var("JETSTATE_RACE_NAME").unwrap_or_else(|_| "worker".into());
            let seed = std::env::var("JETSTATE_RACE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0);
            race_worker::work(&path, &name, seed, &mut std::io::stdout().lock()).expect("only lost leases");
            return;
        }
        let name = std::env::var("JETSTATE_RACE_NAME").unwrap_or_else(|_| "worker".into());
        let store = Store::open(&path, options()).expect("worker opens the file");
        let done = work(&store, &name);
        let mut out = std::io::stdout().lock();
        for id in done {
            writeln!(out, "{id}").expect("stdout");
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    type Scenario = (&'static str, fn(&Path));
    let scenarios: [Scenario; 4] = [
        ("threads sharing one store claim each item once", threads_sharing_one_store),
        ("threads with their own connections claim each item once", threads_with_their_own_connections),
        ("processes on one file claim each item once", processes),
        ("10,000 items, 4 processes, leases expiring mid-run: each completed once", processes_with_leases_expiring),
    ];
    for (name, scenario) in scenarios {
        let started = Instant::now();
        scenario(dir.path());
        println!("test {name} ... ok ({:.1}s)", started.elapsed().as_secs_f64());
    }
    println!("\nraces: {} passed, 0 failed", scenarios.len());
}
