//! The `jetstate` Python package's native module: a translation layer over the sync core, and
//! nothing more. Every rule lives in the core; this crate converts arguments (with the GIL held),
//! runs the core's call without the GIL, and converts the answer back.
//!
//! - `store.rs`: `Store` and `AsyncStore`, from one list of operations.
//! - `call.rs`: how a call runs: now with the GIL released (`Store`), or on the core's pool with
//!   an asyncio future settled on the loop's thread (`AsyncStore`).
//! - `records.rs`: the record classes; `convert.rs`: JSON, times, durations, ids;
//!   `errors.rs`: core errors as the exception classes of `jetstate/_errors.py`.
//!
//! Invariants kept here: SQLite never runs with the GIL held, and never on an event loop's
//! thread; no input panics (conversions return Python exceptions, and a panic in the core is
//! caught at the call's boundary).

mod call;
mod convert;
mod errors;
mod records;
mod store;

use pyo3::prelude::*;

/// mimalloc for this module's own (Rust) allocations. A record's values are built on the thread
/// that ran the call (the core's pool, for `AsyncStore`) and freed on whichever thread drops the
/// Python object, often while the pool builds the next result: glibc's arenas then contend on a
/// lock and consolidate on every free, which made an async history read cost twice the sync one.
/// mimalloc frees across threads without that lock (reading a 1,000-event history: about 2x less
/// CPU through `AsyncStore`, 1.5x through `Store`; `bench/`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[pymodule]
fn _native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    module.add_class::<store::Store>()?;
    module.add_class::<store::AsyncStore>()?;
    records::register(module)?;
    module.add("MAX_JSON_DEPTH", jetstate::MAX_JSON_DEPTH)?;
    Ok(())
}
