//! A queue worker process for the cross-language races (`tests/races/`): claims from a store (a
//! file or a server's URL) with short leases, stalls past its lease now and then, reclaims every
//! so often, and prints one line per item it completed (`DONE <id> <token>`) or whose lease it
//! lost (`LOST <id>`). It ends when nothing is pending or claimed. Any other error ends it with a
//! non-zero status, unless it was started with `outages`: then a retryable error is waited out
//! and the call made again (the server restarting under it), a completion whose outcome is
//! unknown is printed as `UNKNOWN <id> <token>`, and each item takes 5 ms of work.
//!
//! `cargo run --example race_worker -- LOCATION NAME SEED [outages]` (the Python and Node workers
//! beside it in `tests/races/` follow the same steps, with the same options).

use std::io::Write;
use std::time::Duration;

use jetstate::{ErrorKind, Options, Store, WorkItemStatus};

fn main() -> Result<(), jetstate::Error> {
    let args: Vec<String> = std::env::args().collect();
    let (path, name, seed, outages) = match args.as_slice() {
        [_, path, name, seed] => (path, name, seed, false),
        [_, path, name, seed, mode] if mode == "outages" => (path, name, seed, true),
        _ => {
            eprintln!("usage: race_worker LOCATION NAME SEED [outages]");
            std::process::exit(2);
        }
    };
    let seed = seed.parse().unwrap_or(0);
    if outages {
        return through_outages(path, name, seed);
    }
    work(path, name, seed, &mut std::io::stdout().lock())
}

/// Makes `call` until it returns anything but a retryable error (the server is away).
fn patiently<T>(mut call: impl FnMut() -> Result<T, jetstate::Error>) -> Result<T, jetstate::Error> {
    loop {
        match call() {
            Err(err) if err.retryable() => std::thread::sleep(Duration::from_millis(20)),
            outcome => return outcome,
        }
    }
}

/// The loop of [`work`], going on through a server's restarts (see the module).
fn through_outages(path: &str, name: &str, seed: u64) -> Result<(), jetstate::Error> {
    let mut out = std::io::stdout().lock();
    let store = patiently(|| Store::open(path, options()))?;
    let mut turn = seed;
    loop {
        turn += 1;
        let claimed = match patiently(|| store.claim_fenced(name, &[QUEUE], None)) {
            // Claimed or not, the worker never learned its token: the lease expires and the item
            // is claimed again. (So with a reclaim whose outcome is unknown: the next one redoes it.)
            Err(err) if err.outcome_unknown() => continue,
            claimed => claimed?,
        };
        let Some(lease) = claimed else {
            let pending = patiently(|| store.list_work_items(Some(WorkItemStatus::Pending), 1, 0))?;
            let claimed = patiently(|| store.list_work_items(Some(WorkItemStatus::Claimed), 1, 0))?;
            if pending.is_empty() && claimed.is_empty() {
                return Ok(());
            }
            match patiently(|| store.reclaim_expired_leases()) {
                Err(err) if err.outcome_unknown() => {}
                reclaimed => drop(reclaimed?),
            }
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        std::thread::sleep(Duration::from_millis(if turn.is_multiple_of(97) { 80 } else { 5 }));
        match store.complete_fenced(&lease.item.id, lease.token) {
            Ok(()) => writeln!(out, "DONE {} {}", lease.item.id, lease.token).expect("stdout"),
            Err(err) if err.kind() == ErrorKind::LeaseLost => writeln!(out, "LOST {}", lease.item.id).expect("stdout"),
            Err(err) if err.outcome_unknown() => {
                writeln!(out, "UNKNOWN {} {}", lease.item.id, lease.token).expect("stdout")
            }
            // Not written: the lease expires and the item is claimed again.
            Err(err) if err.retryable() => {}
            Err(err) => return Err(err),
        }
        out.flush().expect("stdout");
    }
}

/// The queue every race worker claims from.
pub const QUEUE: &str = "race";

/// Leases short enough to expire mid-run (workers sometimes stall past them), quick retries.
pub fn options() -> Options {
    Options::default().lease(Duration::from_millis(50)).backoff(Duration::from_millis(1), Duration::from_millis(10))
}

/// The worker's loop (also run by `core/tests/races.rs`, which includes this file): claims with
/// short leases, stalls past its lease now and then, reclaims every so often, and writes to `out`
/// each item it completed (`DONE id token`) or whose lease it lost (`LOST id`). Ends when nothing
/// is pending or claimed; any error but a lost lease ends it.
pub fn work(path: &str, name: &str, seed: u64, out: &mut impl Write) -> Result<(), jetstate::Error> {
    let store = Store::open(path, options())?;
    let mut turn = seed;
    loop {
        turn += 1;
        if turn.is_multiple_of(40) {
            store.reclaim_expired_leases()?;
        }
        let Some(lease) = store.claim_fenced(name, &[QUEUE], None)? else {
            let pending = store.list_work_items(Some(WorkItemStatus::Pending), 1, 0)?;
            let claimed = store.list_work_items(Some(WorkItemStatus::Claimed), 1, 0)?;
            if pending.is_empty() && claimed.is_empty() {
                return Ok(());
            }
            store.reclaim_expired_leases()?;
            std::thread::sleep(Duration::from_millis(2));
            continue;
        };
        if turn.is_multiple_of(97) {
            std::thread::sleep(Duration::from_millis(80)); // a stall past the lease
        }
        match store.complete_fenced(&lease.item.id, lease.token) {
            Ok(()) => writeln!(out, "DONE {} {}", lease.item.id, lease.token).expect("stdout"),
            Err(err) if err.kind() == ErrorKind::LeaseLost => writeln!(out, "LOST {}", lease.item.id).expect("stdout"),
            Err(err) => return Err(err),
        }
    }
}
