//! The queue's store-wide rules across processes, on both engines: a concurrency limit is never
//! exceeded, a rate limit never grants more than its claims in a period (also when it is set on a
//! queue type a handle claimed without one), and a waiting claim in one process is woken by
//! another process's enqueue (not by its timeout).
//!
//! This test has its own `main` (`harness = false`): started with `JETSTATE_QUEUE_WORKER` set, the
//! binary is a worker process instead.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use jetstate::serde_json::json;
use jetstate::{
    Durability, ExecutionId, Options, QueueSettings, RateLimit, Store, WorkItem, WorkItemStatus, WorkflowExecution,
};

mod support;

const QUEUE: &str = "limited";
const LIMIT: u32 = 3;
const PROCESSES: usize = 4;
const THREADS: usize = 3;

fn options() -> Options {
    Options::default().durability(Durability::Normal).busy_timeout(Duration::from_secs(30))
}

fn execution(store: &Store) -> ExecutionId {
    let execution = WorkflowExecution::new("limits", "1", json!({}));
    store.create_execution(&execution).expect("the items' execution");
    execution.execution_id
}

fn spawn(location: &str, mode: &str, name: String) -> std::process::Child {
    Command::new(std::env::current_exe().expect("own path"))
        .env("JETSTATE_QUEUE_WORKER", location)
        .env("JETSTATE_QUEUE_MODE", mode)
        .env("JETSTATE_QUEUE_NAME", name)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("worker process starts")
}

fn lines(child: std::process::Child) -> Vec<String> {
    let output = child.wait_with_output().expect("worker process ends");
    assert!(output.status.success(), "a worker process failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("text").lines().map(str::to_string).collect()
}

/// Workers of the concurrency race: claim (one at a time in even threads, up to 2 in odd ones:
/// each engine may claim one item by a path of its own), hold each item a moment, complete.
/// Prints, per item, the instants (ns since the Unix epoch) just after its claim returned and just
/// before its completion was sent: an interval inside the one the item was really claimed in.
fn hold_and_complete(location: &str, name: &str) {
    let store = Store::open(location, options()).expect("worker opens");
    let out = std::sync::Mutex::new(std::io::stdout());
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let (store, out) = (store.clone(), &out);
            scope.spawn(move || loop {
                let worker = format!("{name}-{thread}");
                let max = 1 + thread % 2;
                let leases =
                    store.claim_wait(&worker, &[QUEUE], max, None, Duration::from_secs(2), None).expect("claim");
                if leases.is_empty() {
                    return; // the queue stayed empty for two seconds: done
                }
                let claimed = now_ns();
                std::thread::sleep(Duration::from_millis(15));
                let completing = now_ns();
                let settled = store
                    .complete_batch(&leases.iter().map(|l| (l.item.id, l.token)).collect::<Vec<_>>())
                    .expect("complete");
                assert!(settled.iter().all(|done| *done), "a lease was lost in a race without expiries");
                let mut out = out.lock().expect("stdout");
                for lease in &leases {
                    writeln!(out, "{} {claimed} {completing}", lease.item.id).expect("stdout");
                }
            });
        }
    });
}

fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("after 1970").as_nanos()
}

/// At most LIMIT items claimed at once across 4 processes of 3 threads each, as the workers saw
/// it and as a watcher reading the store saw it; and the limit was reached (the test can fail).
fn concurrency_limit_across_processes(location: &str) {
    let store = Store::open(location, options()).expect("opens");
    store.configure_queue(QUEUE, &QueueSettings { concurrency: Some(LIMIT), ..QueueSettings::default() }).unwrap();
    let execution = execution(&store);
    let items: Vec<WorkItem> =
        (0..240).map(|n| WorkItem::new(execution.clone(), format!("n{n}"), QUEUE, json!({"n": n}))).collect();
    store.enqueue_work_items(&items).expect("enqueued");
    let watching = std::sync::atomic::AtomicBool::new(true);
    let (children, watched) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let mut most = 0;
            while watching.load(std::sync::atomic::Ordering::SeqCst) {
                let claimed = store.list_queues().expect("queues").into_iter().find(|q| q.queue_type == QUEUE);
                most = most.max(claimed.map_or(0, |q| q.claimed));
            }
            most
        });
        let children: Vec<_> = (0..PROCESSES).map(|n| spawn(location, "limit", format!("p{n}"))).collect();
        let outputs: Vec<Vec<String>> = children.into_iter().map(lines).collect();
        watching.store(false, std::sync::atomic::Ordering::SeqCst);
        (outputs, watcher.join().expect("watcher"))
    });
    let mut spans: Vec<(u128, u128)> = Vec::new();
    let mut done: HashMap<String, usize> = HashMap::new();
    for line in children.into_iter().flatten() {
        let parts: Vec<&str> = line.split(' ').collect();
        *done.entry(parts[0].to_string()).or_default() += 1;
        spans.push((parts[1].parse().unwrap(), parts[2].parse().unwrap()));
    }
    assert_eq!(done.len(), items.len(), "every item completed");
    assert!(done.values().all(|n| *n == 1), "each item completed once");
    // The most intervals open at one instant.
    let mut edges: Vec<(u128, i32)> = spans.iter().flat_map(|(a, b)| [(*a, 1), (*b, -1)]).collect();
    edges.sort_by_key(|(at, step)| (*at, *step));
    let (mut open, mut most) = (0, 0);
    for (_, step) in edges {
        open += step;
        most = most.max(open);
    }
    assert!(watched <= u64::from(LIMIT), "the store held {watched} claimed items at once, past the limit {LIMIT}");
    assert_eq!(most, LIMIT as i32, "the workers held {most} items at once (limit {LIMIT})");
    println!(
        "  (at most {most} held at once by {} workers; the store never showed more than {watched})",
        PROCESSES * THREADS
    );
}

/// Claims for a while, in every process, from a queue limited to 5 claims a second; then no
/// window of a second holds more than 5 of the claims (by the store's own claim times).
fn rate_limit_across_processes(location: &str) {
    const RATE: u32 = 5;
    let store = Store::open(location, options()).expect("opens");
    let period = Duration::from_millis(500);
    store
        .configure_queue(
            "rated",
            &QueueSettings { rate_limit: Some(RateLimit { claims: RATE, period }), ..Default::default() },
        )
        .unwrap();
    let execution = execution(&store);
    let items: Vec<WorkItem> =
        (0..60).map(|n| WorkItem::new(execution.clone(), format!("n{n}"), "rated", json!({}))).collect();
    store.enqueue_work_items(&items).expect("enqueued");
    let children: Vec<_> = (0..PROCESSES).map(|n| spawn(location, "rate", format!("p{n}"))).collect();
    let claimed: usize = children.into_iter().map(|child| lines(child).len()).sum();
    let mut times: Vec<i64> = items
        .iter()
        .filter_map(|item| store.get_work_item(&item.id).expect("read").expect("there").claimed_at)
        .map(|at| at.timestamp_micros())
        .collect();
    assert_eq!(times.len(), claimed, "the workers' claims are the store's");
    assert!(claimed > RATE as usize * 2, "too few claims ({claimed}) for the test to say anything");
    times.sort();
    let window = period.as_micros() as i64;
    for (i, start) in times.iter().enumerate() {
        let inside = times[i..].iter().take_while(|at| **at < start + window).count();
        assert!(inside <= RATE as usize, "{inside} claims within {period:?} of {start}: the limit is {RATE}");
    }
    println!("  ({claimed} claims, never more than {RATE} in {period:?})");
}

/// A rate limit over many periods (one process, the store's manual clock): claims of one item and
/// of several, some refused, some granted; no window of the period ever holds more than the
/// limit's claims, a claim made once a period has passed is granted, and the log of grants stays
/// bounded (it is trimmed to the last grants the limit looks back on).
fn rate_limit_over_many_periods(location: &str) {
    const RATE: u32 = 3;
    let clock = jetstate::Clock::manual(jetstate::chrono::Utc::now());
    let store = Store::open(location, options().clock(clock.clone())).expect("opens");
    let period = Duration::from_secs(1);
    let settings = QueueSettings { rate_limit: Some(RateLimit { claims: RATE, period }), ..Default::default() };
    store.configure_queue("rated", &settings).unwrap();
    let execution = execution(&store);
    let mut granted: Vec<i64> = Vec::new();
    for step in 0..400 {
        let items: Vec<WorkItem> =
            (0..2).map(|n| WorkItem::new(execution.clone(), format!("n{step}-{n}"), "rated", json!({}))).collect();
        store.enqueue_work_items(&items).expect("enqueued");
        let leases = match step % 3 {
            0 => store.claim_fenced("w", &["rated"], None).expect("claim").into_iter().collect(),
            _ => store.claim_batch("w", &["rated"], 2, None).expect("claim"),
        };
        let now = store.now().timestamp_micros();
        let in_window = granted.iter().filter(|at| **at > now - period.as_micros() as i64).count();
        // Items are always there: what the limit admits is what is claimed.
        let expected = (RATE as usize - in_window).min(if step % 3 == 0 { 1 } else { 2 });
        assert_eq!(leases.len(), expected, "step {step}: {in_window} grants in the last period");
        for lease in &leases {
            granted.push(now);
            store.complete_fenced(&lease.item.id, lease.token).expect("complete");
        }
        clock.advance(Duration::from_millis(150)).expect("advance");
    }
    assert!(granted.len() > 150, "too few grants ({}) to pass the log's trims", granted.len());
    let mut export = Vec::new();
    store.export(None, &mut export, &mut |_| {}).expect("export");
    let log = String::from_utf8(export).expect("text").lines().filter(|l| l.contains("\"queue_rate_grants\"")).count();
    assert!(log >= RATE as usize && log <= RATE as usize + 64, "the log holds {log} grants, not trimmed");
    println!("  ({} grants over 400 steps, the log {log} long)", granted.len());
}

/// A rate limit set on a queue type a handle has claimed as concurrency limited holds from the
/// handle's next claim: the handle's hint of what the type is (on PostgreSQL it picks a claim
/// statement that records no rate grant) is stale, and the claim made by it must neither take
/// an item without recording its grant nor give up.
fn rate_limit_set_on_a_type_claimed_without_one(location: &str) {
    let store = Store::open(location, options()).expect("opens");
    let limited = QueueSettings { concurrency: Some(10), ..QueueSettings::default() };
    store.configure_queue("stale", &limited).unwrap();
    let execution = execution(&store);
    let items: Vec<WorkItem> =
        (0..4).map(|n| WorkItem::new(execution.clone(), format!("n{n}"), "stale", json!({}))).collect();
    store.enqueue_work_items(&items).expect("enqueued");
    let first = store.claim_fenced("w", &["stale"], None).unwrap().expect("claimed under the concurrency limit");
    store.complete_fenced(&first.item.id, first.token).unwrap();
    let rate = RateLimit { claims: 1, period: Duration::from_secs(3600) };
    store.configure_queue("stale", &QueueSettings { rate_limit: Some(rate), ..limited }).unwrap();
    assert!(store.claim_fenced("w", &["stale"], None).unwrap().is_some(), "the rate's one claim is granted");
    assert!(store.claim_fenced("w", &["stale"], None).unwrap().is_none(), "a second claim within the period");
    assert!(store.claim_batch("w", &["stale"], 3, None).unwrap().is_empty(), "nor a batch");
    let claimed = store.list_queues().unwrap().into_iter().find(|q| q.queue_type == "stale").unwrap().claimed;
    assert_eq!(claimed, 1);
}

/// Claims from the rate-limited queue for two seconds, one item and up to 3 in turn; prints one
/// line per item claimed.
fn claim_for_a_while(location: &str, name: &str) {
    let store = Store::open(location, options()).expect("worker opens");
    let started = Instant::now();
    let mut out = std::io::stdout().lock();
    for round in 0.. {
        if started.elapsed() >= Duration::from_secs(2) {
            break;
        }
        let max = if round % 2 == 0 { 1 } else { 3 };
        for lease in store.claim_batch(name, &["rated"], max, None).expect("claim") {
            writeln!(out, "{}", lease.item.id).expect("stdout");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A worker in another process waits for work (30 s at most); this one enqueues; the worker
/// returns with that item, woken by the enqueue, long before its timeout.
fn waiting_claim_woken_across_processes(location: &str) {
    let store = Store::open(location, options()).expect("opens");
    let execution = execution(&store);
    let waiter = spawn(location, "wait", "waiter".into());
    // The waiter says when it waits; give it the moment to start its wait.
    std::thread::sleep(Duration::from_millis(500));
    let item = WorkItem::new(execution, "n", "woken", json!({}));
    store.enqueue_work_item(&item).expect("enqueued");
    let output = lines(waiter);
    let (id, waited_ms): (&str, u128) = {
        let parts: Vec<&str> = output.last().expect("the waiter's answer").split(' ').collect();
        (parts[0], parts[1].parse().unwrap())
    };
    assert_eq!(id, item.id.to_string(), "the waiter claimed the enqueued item");
    assert!(waited_ms < 30_000, "woken by the enqueue, not the timeout");
    let entry = store.get_work_item(&item.id).unwrap().unwrap();
    assert_eq!(entry.status, WorkItemStatus::Claimed);
    println!("  (the waiter returned {waited_ms} ms after it began waiting)");
}

fn wait_for_one(location: &str) {
    let store = Store::open(location, options()).expect("worker opens");
    let started = Instant::now();
    let leases = store.claim_wait("waiter", &["woken"], 1, None, Duration::from_secs(30), None).expect("claim");
    let lease = leases.first().expect("woken with an item");
    println!("{} {}", lease.item.id, started.elapsed().as_millis());
}

#[cfg(feature = "postgres")]
fn server_url(n: usize) -> String {
    support::server::fresh_url(&format!("procs{n}"))
}

#[cfg(not(feature = "postgres"))]
fn server_url(_: usize) -> String {
    unreachable!("no PostgreSQL engine in this build")
}

fn main() {
    if let Ok(location) = std::env::var("JETSTATE_QUEUE_WORKER") {
        let name = std::env::var("JETSTATE_QUEUE_NAME").unwrap_or_default();
        match std::env::var("JETSTATE_QUEUE_MODE").as_deref() {
            Ok("limit") => hold_and_complete(&location, &name),
            Ok("rate") => claim_for_a_while(&location, &name),
            Ok("wait") => wait_for_one(&location),
            other => panic!("unknown mode {other:?}"),
        }
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    type Scenario = (&'static str, fn(&str));
    let scenarios: [Scenario; 5] = [
        ("a concurrency limit holds across processes", concurrency_limit_across_processes),
        ("a rate limit holds across processes", rate_limit_across_processes),
        ("a rate limit holds over many periods, its log trimmed", rate_limit_over_many_periods),
        ("a rate limit set on a type claimed without one holds at once", rate_limit_set_on_a_type_claimed_without_one),
        ("a waiting claim is woken by another process's enqueue", waiting_claim_woken_across_processes),
    ];
    let mut passed = 0;
    let engines: &[&str] = if cfg!(feature = "postgres") { &["sqlite", "postgresql"] } else { &["sqlite"] };
    for engine in engines {
        for (n, (name, scenario)) in scenarios.iter().enumerate() {
            let location = match *engine {
                "sqlite" => dir.path().join(format!("q{n}.db")).display().to_string(),
                _ => server_url(n),
            };
            let started = Instant::now();
            scenario(&location);
            println!("test {name} on {engine} ... ok ({:.1}s)", started.elapsed().as_secs_f64());
            passed += 1;
        }
    }
    println!("\nqueue processes: {passed} passed, 0 failed");
}
