//! A queue worker process for the cross-language races (`tests/races/`): claims from FILE with
//! short leases, stalls past its lease now and then, reclaims every so often, and prints one line
//! per item it completed (`DONE <id> <token>`) or whose lease it lost (`LOST <id>`). It ends when
//! nothing is pending or claimed. Any other error ends it with a non-zero status.
//!
//! `cargo run --example race_worker -- FILE NAME SEED` (the Python and Node workers beside it in
//! `tests/races/` follow the same steps, with the same options).

use std::io::Write;
use std::time::Duration;

use jetstate::{ErrorKind, Options, Store, WorkItemStatus};

fn main() -> Result<(), jetstate::Error> {
    let args: Vec<String> = std::env::args().collect();
    let [_, path, name, seed] = args.as_slice() else {
        eprintln!("usage: race_worker FILE NAME SEED");
        std::process::exit(2);
    };
    work(path, name, seed.parse().unwrap_or(0), &mut std::io::stdout().lock())
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
