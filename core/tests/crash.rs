//! Crash safety: a child process appends events and cycles the queue on one file, printing each
//! call only after it returned success; the parent kills it with SIGKILL at random instants, again
//! and again (`JETSTATE_CRASH_KILLS`, default 200). After every kill the file must open,
//! `PRAGMA integrity_check` must say ok, every acknowledged call must be there, the event
//! sequences must have no gaps, and every item must be in exactly one state consistent with what
//! was acknowledged.
//!
//! Its own `main` (`harness = false`): started with `JETSTATE_CRASH_CHILD` set, the binary is the
//! child instead.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jetstate::chrono::Utc;
use jetstate::serde_json::json;
use jetstate::uuid::Uuid;
use jetstate::{EventKind, ExecutionId, Options, Store, WorkItem, WorkItemStatus, WorkflowExecution};

const QUEUE: &str = "crash";

fn execution_id() -> ExecutionId {
    ExecutionId(Uuid::from_u128(0x0c0ffee))
}

/// The child: works until it is killed, acknowledging each successful call on stdout.
fn child(path: &str) {
    let store = Store::open(path, Options::default()).expect("the child opens the file");
    let id = execution_id();
    let mut out = std::io::stdout().lock();
    let mut n: u64 = 0;
    loop {
        n += 1;
        let event = store
            .append_next_event(&id, EventKind::NodeCancelled { node_id: format!("n{n}") })
            .expect("append never fails");
        writeln!(out, "E {}", event.sequence).expect("stdout");
        let item = WorkItem::new(id.clone(), format!("n{n}"), QUEUE, json!({"n": n}));
        store.enqueue_work_item(&item).expect("enqueue never fails");
        writeln!(out, "Q {}", item.id).expect("stdout");
        if let Some(lease) = store.claim_fenced("child", &[QUEUE], None).expect("claim never fails") {
            writeln!(out, "C {}", lease.item.id).expect("stdout");
            store.complete_fenced(&lease.item.id, lease.token).expect("complete never fails");
            writeln!(out, "D {}", lease.item.id).expect("stdout");
        }
        out.flush().expect("stdout");
    }
}

/// What the children acknowledged, across all runs.
#[derive(Default)]
struct Acknowledged {
    max_sequence: i64,
    enqueued: HashSet<Uuid>,
    claimed: HashSet<Uuid>,
    completed: HashSet<Uuid>,
}

impl Acknowledged {
    fn read(&mut self, output: &[u8]) {
        // The last line may be cut by the kill: only whole lines count.
        for line in BufReader::new(output).split(b'\n').map(|l| l.expect("readable")).filter(|l| !l.is_empty()) {
            let line = String::from_utf8(line).expect("text");
            let Some((tag, value)) = line.split_once(' ') else { continue };
            let parsed = |v: &str| v.parse::<Uuid>().ok();
            match tag {
                "E" => {
                    if let Ok(sequence) = value.parse::<i64>() {
                        self.max_sequence = self.max_sequence.max(sequence);
                    }
                }
                "Q" => self.enqueued.extend(parsed(value)),
                "C" => self.claimed.extend(parsed(value)),
                "D" => self.completed.extend(parsed(value)),
                _ => {}
            }
        }
    }
}

/// Everything the file must satisfy after a kill.
fn check(path: &Path, acknowledged: &Acknowledged, kill: usize) {
    let raw = rusqlite::Connection::open(path).expect("the file opens after a kill");
    let integrity: String = raw.query_row("PRAGMA integrity_check", [], |row| row.get(0)).expect("integrity check");
    assert_eq!(integrity, "ok", "kill {kill}: integrity check");
    drop(raw);

    let store = Store::open(path, Options::default()).expect("the store opens after a kill");
    let id = execution_id();
    let sequences: Vec<i64> = store.get_events(&id).expect("events").iter().map(|e| e.sequence).collect();
    let latest = sequences.len() as i64;
    assert_eq!(sequences, (1..=latest).collect::<Vec<_>>(), "kill {kill}: sequences have a gap");
    assert!(latest >= acknowledged.max_sequence, "kill {kill}: acknowledged event {} lost", acknowledged.max_sequence);

    let mut status: HashMap<Uuid, WorkItemStatus> = HashMap::new();
    let mut offset = 0;
    loop {
        let page = store.list_work_items(None, 10_000, offset).expect("items");
        if page.is_empty() {
            break;
        }
        offset += page.len() as u32;
        for entry in page {
            assert!(status.insert(entry.item.id, entry.status).is_none(), "kill {kill}: an item listed twice");
        }
    }
    for id in &acknowledged.enqueued {
        assert!(status.contains_key(id), "kill {kill}: acknowledged item {id} lost");
    }
    for id in &acknowledged.completed {
        assert_eq!(status.get(id), Some(&WorkItemStatus::Completed), "kill {kill}: acknowledged completion lost");
    }
    for id in &acknowledged.claimed {
        assert!(
            matches!(status.get(id), Some(WorkItemStatus::Claimed | WorkItemStatus::Completed)),
            "kill {kill}: acknowledged claim of {id} lost"
        );
    }
    store.close().expect("close");
}

/// A small deterministic generator for the kill instants (no dependency needed for this).
struct Instants(u64);

impl Instants {
    fn next_delay(&mut self) -> Duration {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        Duration::from_micros(2_000 + (self.0 >> 33) % 40_000)
    }
}

fn main() {
    if let Ok(path) = std::env::var("JETSTATE_CRASH_CHILD") {
        child(&path);
        return;
    }
    let kills: usize = std::env::var("JETSTATE_CRASH_KILLS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("crash.db");
    {
        let store = Store::open(&path, Options::default()).expect("opens");
        let execution =
            WorkflowExecution { execution_id: execution_id(), ..WorkflowExecution::new("crash", "1", json!({})) };
        store.create_execution(&execution).expect("execution");
    }
    let started = Instant::now();
    let me = std::env::current_exe().expect("own path");
    let seed = Utc::now().timestamp_micros() as u64;
    let mut instants = Instants(seed);
    let mut acknowledged = Acknowledged::default();
    for kill in 1..=kills {
        let mut process = Command::new(&me)
            .env("JETSTATE_CRASH_CHILD", &path)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the child starts");
        std::thread::sleep(instants.next_delay());
        process.kill().expect("SIGKILL");
        let output = process.wait_with_output().expect("the child is reaped");
        assert!(
            output.stderr.is_empty() || !String::from_utf8_lossy(&output.stderr).contains("panicked"),
            "kill {kill}: the child failed before it was killed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        acknowledged.read(&output.stdout);
        check(&path, &acknowledged, kill);
    }
    println!(
        "test {kills} SIGKILLs at random instants (seed {seed}): file intact, {} acknowledged events, {} items, nothing lost ... ok ({:.1}s)",
        acknowledged.max_sequence,
        acknowledged.enqueued.len(),
        started.elapsed().as_secs_f64()
    );
    println!("\ncrash: 1 passed, 0 failed");
}
