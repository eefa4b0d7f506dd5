//! One benchmark run: `jetstate-bench <jetstate|core|floor> <workload> <full|normal> <dir|url> <n>`:
//! on SQLite files in `dir`, or, given a `postgresql://...?schema=NAME` URL, on that schema of a
//! PostgreSQL server (`pg.rs`; `bench/postgres.py` drives those runs).
//! `core` runs jetstate's workload code with each call on the caller's thread (`inline.rs`): the
//! difference from `jetstate` is the async surface's hand-off.
//!
//! Prints one JSON line `{implementation, workload, durability, ops, seconds}` for the timed part
//! only. `bench/run.py` runs every workload on every implementation, each in its own process (so
//! that peak memory is measured per run), and writes BENCHMARKS.md. The anchor (the engine's own
//! backend) is the same program in `bench/anchor`, built in a workspace of its own.

mod floor;
mod inline;
mod jetstate_side;
mod pg;
#[path = "../../workload_data.rs"]
mod workload_data;

pub use workload_data::{event_kind, initial_input, payload, Measured, EXPIRED_LEASES, HISTORY};

use std::path::PathBuf;
use std::time::Instant;

use serde_json::json;

/// The workloads; each takes `n`, its size, from the driver.
pub const WORKLOADS: [&str; 10] = [
    "create_executions",
    "append_one_writer",
    "append_8_writers",
    "read_history",
    "queue_1_worker",
    "queue_4_workers",
    "reclaim_1000",
    "claim_1k_pending",
    "claim_1m_pending",
    // PostgreSQL only: queue cycles, then the dead tuples and sizes they left.
    "churn",
];

/// Write calls per commit during the whole run (jetstate only; the others commit once per call).
pub static CALLS_PER_COMMIT: std::sync::Mutex<Option<f64>> = std::sync::Mutex::new(None);

/// Times `work`, which returns the number of operations it did.
pub fn timed(work: impl FnOnce() -> usize) -> Measured {
    let started = Instant::now();
    let ops = work();
    Measured { ops, seconds: started.elapsed().as_secs_f64() }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: jetstate-bench <jetstate|core|floor> <workload> <full|normal> <dir> <n>");
        std::process::exit(2);
    }
    let (implementation, workload, durability) = (args[1].as_str(), args[2].as_str(), args[3].as_str());
    let dir = PathBuf::from(&args[4]);
    let n: usize = args[5].parse().expect("n is a number");
    assert!(WORKLOADS.contains(&workload), "unknown workload {workload}");
    let full = match durability {
        "full" => true,
        "normal" => false,
        other => panic!("unknown durability {other}"),
    };
    let measured = match implementation {
        _ if args[4].starts_with("postgres") => pg::run(implementation, workload, full, &args[4], n),
        "jetstate" => jetstate_side::run(workload, full, &dir, n, false),
        "core" => jetstate_side::run(workload, full, &dir, n, true),
        "floor" => floor::run(workload, full, &dir, n),
        other => panic!("unknown implementation {other}"),
    };
    println!(
        "{}",
        json!({
            "implementation": implementation,
            "workload": workload,
            "durability": durability,
            "ops": measured.ops,
            "seconds": measured.seconds,
            "peak_rss_kib": peak_rss_kib(),
            "calls_per_commit": *CALLS_PER_COMMIT.lock().expect("not poisoned"),
        })
    );
}

/// This process's peak resident memory in KiB (`VmHWM`, which, unlike `ru_maxrss`, starts afresh
/// at exec: a child forked from a big parent does not inherit the parent's mark).
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
