//! The fault switch of the browser's fault sweep (`test/faults.test.cjs`), built only with the
//! `faults` feature. It fails the Nth write or sync that the OPFS layer (`coalescing_vfs`) hands
//! to the pool, as a failed `write()` or `flush()` of an access handle reaches SQLite: an
//! `SQLITE_IOERR_WRITE` or `SQLITE_IOERR_FSYNC`, with nothing written. Driven through
//! `NativeStore::call` by the operations `faults_arm`, `faults_disarm`, `faults_fired` and
//! `faults_integrity`.

use std::cell::Cell;
use std::ffi::c_int;

use sqlite_wasm_rs::{SQLITE_IOERR_FSYNC, SQLITE_IOERR_WRITE};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Write,
    Sync,
}

#[derive(Clone, Copy)]
struct Plan {
    at: u32,
    /// `None`: steps of either kind.
    on: Option<Op>,
    persistent: bool,
}

thread_local! {
    static PLAN: Cell<Option<Plan>> = const { Cell::new(None) };
    static COUNT: Cell<u32> = const { Cell::new(0) };
    static FIRED: Cell<bool> = const { Cell::new(false) };
}

/// Counts a step of kind `op`; the error code to return instead of doing it, if any.
pub fn step(op: Op) -> Option<c_int> {
    let plan = PLAN.get()?;
    if plan.on.is_some_and(|on| on != op) {
        return None;
    }
    let count = COUNT.get() + 1;
    COUNT.set(count);
    if count == plan.at || (plan.persistent && count > plan.at) {
        FIRED.set(true);
        return Some(match op {
            Op::Write => SQLITE_IOERR_WRITE,
            Op::Sync => SQLITE_IOERR_FSYNC,
        });
    }
    None
}

/// The answer (JSON text, or a refusal) to one of the sweep's operations; `None` for any other.
pub fn call(store: &jetstate::Store, op: &str, args: &str) -> Option<String> {
    let answer = match op {
        "faults_arm" => {
            let args: serde_json::Value = serde_json::from_str(args).unwrap_or_default();
            let on = match args["on"].as_str() {
                Some("write") => Some(Op::Write),
                Some("sync") => Some(Op::Sync),
                _ => None,
            };
            let at = args["at"].as_u64().and_then(|at| u32::try_from(at).ok()).unwrap_or(1);
            PLAN.set(Some(Plan { at, on, persistent: args["persistent"].as_bool().unwrap_or(false) }));
            COUNT.set(0);
            FIRED.set(false);
            "null".to_string()
        }
        "faults_disarm" => {
            PLAN.set(None);
            "null".to_string()
        }
        "faults_fired" => FIRED.get().to_string(),
        "faults_integrity" => match store.integrity_check() {
            Ok(found) => serde_json::Value::from(found).to_string(),
            Err(err) => jetstate::wire::refusal(&err),
        },
        _ => return None,
    };
    Some(answer)
}
