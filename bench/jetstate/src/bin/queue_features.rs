//! The queue's features measured, one workload per run (`bench/queue_features.py` drives it and
//! writes the section of BENCHMARKS.md):
//!
//!   queue_features <workload> <full|normal> <dir|url> <n>
//!
//! On SQLite files in `dir`, or on a `postgresql://...?schema=NAME` URL. Each run prints one JSON
//! line of figures. Workloads:
//! * `drain_single` / `drain_batch`: a backlog of `n` items drained by one worker, a claim and a
//!   complete per item / claims and completes of 100 items: jobs per second;
//! * `claims`: `n` rounds of claim + complete cycles on four queue types in turn, one with no
//!   limit, one with a concurrency limit, one with a partition limit, one with a rate limit (none
//!   refusing): the time of the claims alone, and the limited ones' over the open one's;
//! * `claim_priorities`: claims with `n` pending items spread over 100 priorities: the time per claim;
//! * `wait_pickup`: a worker thread waiting for work (`claim_wait`) and `n` enqueues, one at a
//!   time, from another: from the enqueue call to the claim's return, p50 and p99;
//! * `soak`: `n` enqueue / claim / complete cycles (in batches of 100) with a retention policy
//!   that keeps the last 10,000 finished items, a reclaim (which applies it) after every batch;
//!   the store's size at a tenth of the way and at the end.

use std::time::{Duration, Instant};

use jetstate::serde_json::json;
use jetstate::{
    Durability, EnqueueOptions, Options, QueueSettings, RateLimit, RetentionPolicy, Store, WorkItem, WorkflowExecution,
};

fn open(durability: &str, place: &str, name: &str) -> Store {
    let durability = if durability == "full" { Durability::Full } else { Durability::Normal };
    let options = Options::default().durability(durability).busy_timeout(Duration::from_secs(30));
    let location = if place.starts_with("postgres") {
        // The harness names the schema (and drops it after the run); alone, a fresh one.
        if place.contains("schema=") {
            place.to_string()
        } else {
            let separator = if place.contains('?') { '&' } else { '?' };
            format!("{place}{separator}schema=qf_{name}_{}", uuid::Uuid::new_v4().simple())
        }
    } else {
        format!("{place}/{name}-{}.db", uuid::Uuid::new_v4().simple())
    };
    Store::open(&location, options).expect("opens")
}

fn execution(store: &Store) -> jetstate::ExecutionId {
    let execution = WorkflowExecution::new("bench", "1", json!({}));
    store.create_execution(&execution).expect("execution");
    execution.execution_id
}

fn items(execution: &jetstate::ExecutionId, queue: &str, n: usize) -> Vec<WorkItem> {
    (0..n).map(|i| WorkItem::new(execution.clone(), "node", queue, json!({"i": i}))).collect()
}

/// Enqueues `n` items in batches of 1,000 (the setup of a workload, not timed). Each batch is
/// made as it goes: a million items made up front and freed before the timed part would leave
/// the allocator a million free chunks to consolidate inside the first timed call.
fn fill(store: &Store, execution: &jetstate::ExecutionId, n: usize, options: impl Fn(usize) -> EnqueueOptions) {
    for start in (0..n).step_by(1_000) {
        let jobs: Vec<(WorkItem, EnqueueOptions)> = (start..n.min(start + 1_000))
            .map(|i| (WorkItem::new(execution.clone(), "node", "q", json!({"i": i})), options(i)))
            .collect();
        store.enqueue_batch(&jobs).expect("enqueued");
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize - 1]
}

fn drain(store: &Store, n: usize, batch: usize) -> serde_json::Value {
    let execution = execution(store);
    fill(store, &execution, n, |_| EnqueueOptions::default());
    let started = Instant::now();
    let (mut done, mut claiming) = (0, Duration::ZERO);
    while done < n {
        if batch == 1 {
            let at = Instant::now();
            let lease = store.claim_fenced("w", &["q"], None).expect("claim").expect("an item");
            claiming += at.elapsed();
            store.complete_fenced(&lease.item.id, lease.token).expect("complete");
            done += 1;
        } else {
            let at = Instant::now();
            let leases = store.claim_batch("w", &["q"], batch, None).expect("claim");
            claiming += at.elapsed();
            let settled =
                store.complete_batch(&leases.iter().map(|l| (l.item.id, l.token)).collect::<Vec<_>>()).unwrap();
            assert!(settled.iter().all(|s| *s));
            done += leases.len();
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    json!({"jobs_per_s": n as f64 / seconds, "seconds": seconds, "claiming_share": claiming.as_secs_f64() / seconds})
}

/// `n` rounds, each a cycle of enqueue (untimed), claim (timed) and complete (untimed) on each of
/// four queue types in turn: open, concurrency limited, partition limited (8 partitions), rate
/// limited (limits that never refuse). Side by side in one process, so that the machine's noise
/// falls on all four alike: the ratios are what the limits cost.
fn claims(store: &Store, n: usize) -> serde_json::Value {
    let queues = [
        ("open", QueueSettings::default()),
        ("limited", QueueSettings { concurrency: Some(1_000), ..QueueSettings::default() }),
        ("partitioned", QueueSettings { partition_concurrency: Some(1_000), ..QueueSettings::default() }),
        (
            "rated",
            QueueSettings {
                rate_limit: Some(RateLimit { claims: 100_000, period: Duration::from_secs(1) }),
                ..QueueSettings::default()
            },
        ),
    ];
    for (queue, settings) in &queues {
        store.configure_queue(queue, settings).expect("settings");
    }
    let execution = execution(store);
    let mut spent = [Duration::ZERO; 4];
    for round in 0..n {
        for (index, (queue, _)) in queues.iter().enumerate() {
            let options = EnqueueOptions {
                partition_key: (*queue == "partitioned").then(|| format!("user-{}", round % 8)),
                ..EnqueueOptions::default()
            };
            let item = WorkItem::new(execution.clone(), "node", *queue, json!({"i": round}));
            store.enqueue(&item, &options).expect("enqueued");
            let started = Instant::now();
            let lease = store.claim_fenced("w", &[*queue], None).expect("claim").expect("admitted");
            spent[index] += started.elapsed();
            store.complete_fenced(&lease.item.id, lease.token).expect("complete");
        }
    }
    let us = |index: usize| spent[index].as_secs_f64() * 1e6 / n as f64;
    json!({
        "open_us": us(0),
        "limited_us": us(1),
        "partitioned_us": us(2),
        "rated_us": us(3),
        "limited_ratio": us(1) / us(0),
        "partitioned_ratio": us(2) / us(0),
        "rated_ratio": us(3) / us(0),
    })
}

fn priorities(store: &Store, n: usize) -> serde_json::Value {
    let execution = execution(store);
    fill(store, &execution, n, |i| EnqueueOptions {
        priority: ((i * 7919) % 100) as i32 - 50,
        ..EnqueueOptions::default()
    });
    // Ten rounds of 30 claims, the median round reported: a filled server (a million rows
    // written) vacuums, analyzes and checkpoints in the background for a while, and a burst of
    // that work should not pass for the claim's cost.
    const ROUNDS: usize = 10;
    const CLAIMS: usize = 30;
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..CLAIMS {
                store.claim_fenced("w", &["q"], None).expect("claim").expect("an item");
            }
            started.elapsed().as_secs_f64() * 1e6 / CLAIMS as f64
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    json!({"us_per_claim": (rounds[ROUNDS / 2 - 1] + rounds[ROUNDS / 2]) / 2.0, "pending": n})
}

fn wait_pickup(store: &Store, n: usize) -> serde_json::Value {
    let execution = execution(store);
    let (sent, picked) = std::sync::mpsc::channel::<Instant>();
    let waiter = {
        let store = store.clone();
        std::thread::spawn(move || {
            let mut latencies = Vec::with_capacity(n);
            while latencies.len() < n {
                let leases = store.claim_wait("w", &["q"], 1, None, Duration::from_secs(30), None).expect("claim");
                for lease in leases {
                    let at = Instant::now();
                    let enqueued: Instant = picked.recv().expect("the enqueue's instant");
                    latencies.push(at.duration_since(enqueued).as_secs_f64() * 1000.0);
                    store.complete_fenced(&lease.item.id, lease.token).expect("complete");
                }
            }
            latencies
        })
    };
    for item in items(&execution, "q", n) {
        // The waiter is idle (waiting) when each enqueue begins.
        std::thread::sleep(Duration::from_millis(5));
        let at = Instant::now();
        store.enqueue_work_item(&item).expect("enqueued");
        sent.send(at).expect("to the waiter");
    }
    let mut latencies = waiter.join().expect("waiter");
    latencies.sort_by(f64::total_cmp);
    json!({"p50_ms": percentile(&latencies, 50.0), "p99_ms": percentile(&latencies, 99.0), "samples": latencies.len()})
}

fn soak(store: &Store, n: usize, place: &str) -> serde_json::Value {
    let execution = execution(store);
    store
        .set_retention(Some(&RetentionPolicy { keep_finished_items: Some(10_000), ..RetentionPolicy::default() }))
        .expect("retention");
    let size = |store: &Store| store.summary().expect("summary").database_bytes;
    // The store's size after each tenth of the cycles: flat once retention has caught up.
    let mut by_tenth = Vec::with_capacity(10);
    let started = Instant::now();
    let batches = n / 100;
    for batch in 0..batches {
        store.enqueue_work_items(&items(&execution, "q", 100)).expect("enqueued");
        let leases = store.claim_batch("w", &["q"], 100, None).expect("claim");
        store.complete_batch(&leases.iter().map(|l| (l.item.id, l.token)).collect::<Vec<_>>()).expect("complete");
        store.reclaim_expired_leases().expect("reclaim, which prunes");
        if (batch + 1) % (batches / 10).max(1) == 0 {
            by_tenth.push(size(store));
        }
    }
    let _ = place;
    let items_kept = store.list_queues().expect("queues").iter().map(|q| q.completed).sum::<u64>();
    json!({
        "cycles": batches * 100,
        "bytes_at_tenth": by_tenth.first().copied().unwrap_or(0),
        "bytes_at_half": by_tenth.get(4).copied().unwrap_or(0),
        "bytes_at_end": size(store),
        "bytes_by_tenth": by_tenth,
        "completed_items_kept": items_kept,
        "cycles_per_s": (batches * 100) as f64 / started.elapsed().as_secs_f64(),
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, workload, durability, place, n] = &args[..] else {
        eprintln!("usage: queue_features <workload> <full|normal> <dir|url> <n>");
        std::process::exit(2);
    };
    let n: usize = n.parse().expect("n");
    let store = open(durability, place, workload);
    let figures = match workload.as_str() {
        "drain_single" => drain(&store, n, 1),
        "drain_batch" => drain(&store, n, 100),
        "claims" => claims(&store, n),
        "claim_priorities" => priorities(&store, n),
        "wait_pickup" => wait_pickup(&store, n),
        "soak" => soak(&store, n, place),
        other => panic!("unknown workload {other}"),
    };
    println!("{}", json!({"workload": workload, "durability": durability, "n": n, "figures": figures}));
}
