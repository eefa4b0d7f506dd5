//! The queue cycle (enqueue, claim, complete) as the JavaScript surfaces run it: through
//! `wire::call_text`, JSON text in and out, on a file at `synchronous=NORMAL`. A measuring device
//! for instruction counts, which this shared, noisy machine cannot blur:
//!
//!   cargo build --release -p jetstate-bench --example wire_cycle
//!   valgrind --tool=callgrind target/release/examples/wire_cycle "$(mktemp -d)" 1000
//!
//! It prints the wall time per cycle too, for what that is worth here.

use jetstate::{serde_json, wire, Durability, Options, Store};

const EXECUTION: &str = "6f1c2d3e-1111-4222-8333-944445555666";

fn call(store: &Store, op: &str, args: &str) -> String {
    let answer = wire::call_text(store, op, args);
    assert!(!answer.starts_with('!'), "{op}: {answer}");
    answer
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(cycles)) = (args.next(), args.next().and_then(|n| n.parse::<usize>().ok())) else {
        eprintln!("usage: wire_cycle DIR CYCLES");
        std::process::exit(2);
    };
    let store = Store::open(format!("{dir}/wire_cycle.db"), Options::default().durability(Durability::Normal))
        .expect("the store opens");
    call(
        &store,
        "create_execution",
        &format!(
            r#"{{"execution":{{"execution_id":"{EXECUTION}","workflow_id":"w","workflow_version":"1","status":"running",
            "initial_input":{{}},"current_state":{{}},"started_at":"2026-11-27T00:00:00Z",
            "updated_at":"2026-11-27T00:00:00Z","completed_at":null}}}}"#
        ),
    );
    let started = std::time::Instant::now();
    for i in 0..cycles {
        call(
            &store,
            "enqueue_work_item",
            &format!(
                r#"{{"item":{{"id":"{}","execution_id":"{EXECUTION}","node_id":"n","queue_type":"loop",
                "payload":{{"i":{i}}},"attempt":0,"max_attempts":3,"created_at":"2026-11-27T00:00:00.123Z",
                "lease_expires_at":null,"worker_id":null,"tenant_id":"default"}}}}"#,
                jetstate::uuid::Uuid::new_v4()
            ),
        );
        let lease: serde_json::Value =
            serde_json::from_str(&call(&store, "claim_fenced", r#"{"worker_id":"w","queue_types":["loop"]}"#))
                .expect("a lease is JSON");
        let item = lease["item"]["id"].as_str().expect("the lease names its item");
        call(&store, "complete_fenced", &format!(r#"{{"item_id":"{item}","token":{}}}"#, lease["token"]));
    }
    eprintln!("{:.1} us per cycle", started.elapsed().as_secs_f64() * 1e6 / cycles.max(1) as f64);
}
