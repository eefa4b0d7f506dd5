//! The `jetstate` npm package's native addon: the store's operations by name, run on libuv's
//! thread pool. Everything JavaScript-shaped (camelCase keys, `Date`s, the `Store` class, errors
//! with a `code`) is `index.js`'s work; everything else (every rule, the table of operations and
//! their JSON forms) is the core's (`jetstate::wire`). This file only moves JSON text across:
//!
//! - `call(op, args)` resolves to the result's JSON text, or to `!CODE message` when the store
//!   refused the call (`wire::call_text`; a result's JSON text never starts with `!`); index.js turns that into a
//!   rejected Promise with an `Error` whose `code` is CODE. Errors of the addon itself (a panic
//!   caught, an argument of the wrong JavaScript type) reject directly.
//! - The work runs on a thread of the core's pool for hosts with event loops
//!   (`backend::offload::spawn`), which resolves the call's Promise from there: the event loop's
//!   thread never waits on SQLite, and libuv's four threads stay free for the program's files,
//!   DNS and crypto. That pool's idle thread looks for the next call briefly before it sleeps, so
//!   that calls awaited one after another are not each two thread wake-ups (offload.rs).
//! - A waiting claim (`claim_wait`) runs on a thread of the core's pool for waiting claims instead
//!   (it sleeps most of its time), and resolves its Promise from there; its `NativeCancel` ends
//!   the wait at once (a JS `AbortSignal`).
//! - `open_blocking` and `call_blocking` run on the calling thread and return the answer itself:
//!   the `BlockingStore` of index.js (worker threads, scripts, tools, tests), and the clock's
//!   operations of the Promise store, which never touch SQLite. A panic is caught there and
//!   answered as a refusal: nothing unwinds into Node.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use jetstate::{wire, ErrorKind, Options};

/// `work`'s answer, or a refusal if it panicked (a bug of the core: the call is refused, the
/// host goes on).
fn unwound(work: impl FnOnce() -> String) -> String {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(work)).unwrap_or_else(|_| {
        wire::refusal(&jetstate::Error::new(ErrorKind::Database, "the call failed inside jetstate (a panic, caught)"))
    })
}

/// A store opened from `path` (None or ":memory:": in memory) with options in their wire form.
fn open_store(path: Option<String>, options: std::result::Result<Options, jetstate::Error>) -> Opened {
    options.and_then(|options| match path {
        Some(path) if path != ":memory:" => jetstate::Store::open(path, options),
        _ => jetstate::Store::open_in_memory(options),
    })
}

/// A store handle (a tenant view or the whole store) as JavaScript holds it.
#[napi]
pub struct NativeStore {
    inner: jetstate::Store,
}

type Opened = std::result::Result<jetstate::Store, jetstate::Error>;

/// The cancel handle of one waiting claim (`NativeStore::claim_wait`).
#[napi]
pub struct NativeCancel {
    inner: jetstate::Cancel,
}

#[napi]
impl NativeCancel {
    #[napi(constructor)]
    pub fn new() -> Self {
        NativeCancel { inner: jetstate::Cancel::new() }
    }

    /// Ends the wait at once: it resolves with what it has (nothing).
    #[napi]
    pub fn cancel(&self) {
        self.inner.cancel();
    }
}

impl Default for NativeCancel {
    fn default() -> Self {
        NativeCancel::new()
    }
}

/// Opens the store at `path` (None or ":memory:": in memory) with `options`, the JSON text of
/// their wire form (`wire::options`), off the event loop's thread, as a call runs. Resolves to
/// the store, or to `!CODE message`.
#[napi(ts_return_type = "Promise<NativeStore | string>")]
pub fn open<'env>(env: &'env Env, path: Option<String>, options: String) -> Result<Object<'env>> {
    let (deferred, promise) = env.create_deferred::<Either<NativeStore, String>, _>()?;
    let spawned = jetstate::backend::offload::spawn(move || {
        let opened = opened(path, &options);
        deferred.resolve(move |_| Ok(opened));
    });
    if let Err(err) = spawned {
        return Err(Error::from_reason(wire::refusal(&err)));
    }
    Ok(promise)
}

/// The store at `path` with `options` (their JSON text), or the refusal; a panic caught.
fn opened(path: Option<String>, options: &str) -> Either<NativeStore, String> {
    let options = wire::parse(options, 0).and_then(|options| wire::options(&options));
    let opened =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| open_store(path, options))).unwrap_or_else(|_| {
            Err(jetstate::Error::new(ErrorKind::Database, "opening failed inside jetstate (a panic, caught)"))
        });
    match opened {
        Ok(inner) => Either::A(NativeStore { inner }),
        Err(err) => Either::B(wire::refusal(&err)),
    }
}

/// [`open`] on the calling thread: the store, or `!CODE message`.
#[napi]
pub fn open_blocking(path: Option<String>, options: String) -> Either<NativeStore, String> {
    opened(path, &options)
}

#[napi]
impl NativeStore {
    /// Runs operation `op` with `args` (a JSON object of named arguments, in the wire form) off
    /// the event loop's thread. Resolves to the result's JSON text, or to `!CODE message`.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn call<'env>(&self, env: &'env Env, op: String, args: String) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<String, _>()?;
        let store = self.inner.clone();
        let spawned = jetstate::backend::offload::spawn(move || {
            let text = unwound(|| wire::call_text(&store, &op, &args));
            deferred.resolve(move |_| Ok(text));
        });
        if let Err(err) = spawned {
            return Err(Error::from_reason(wire::refusal(&err)));
        }
        Ok(promise)
    }

    /// Runs `claim_wait` with `args` (its wire form) on a thread for waiting claims; `cancel` ends
    /// the wait. Resolves to the result's JSON text, or to `!CODE message`.
    #[napi(ts_return_type = "Promise<string>")]
    pub fn claim_wait<'env>(&self, env: &'env Env, args: String, cancel: &NativeCancel) -> Result<Object<'env>> {
        let (deferred, promise) = env.create_deferred::<String, _>()?;
        let (store, cancel) = (self.inner.clone(), cancel.inner.clone());
        let spawned = jetstate::backend::offload::spawn_waiting(move || {
            let text = wire::call_text_cancellable(&store, "claim_wait", &args, &cancel);
            deferred.resolve(move |_| Ok(text));
        });
        if let Err(err) = spawned {
            return Err(Error::from_reason(wire::refusal(&err)));
        }
        Ok(promise)
    }

    /// The view of one tenant.
    #[napi]
    pub fn for_tenant(&self, tenant: String) -> NativeStore {
        NativeStore { inner: self.inner.for_tenant(tenant) }
    }

    /// The tenant of this view, or null.
    #[napi(getter)]
    pub fn tenant(&self) -> Option<String> {
        self.inner.tenant().map(|t| t.0.clone())
    }

    #[napi(getter)]
    pub fn durability(&self) -> String {
        self.inner.durability().as_str().to_string()
    }

    #[napi(getter)]
    pub fn closed(&self) -> bool {
        self.inner.is_closed()
    }

    /// [`NativeStore::call`] on the calling thread, which it blocks until the call is done (a
    /// waiting claim included): the result's JSON text, or `!CODE message`.
    #[napi]
    pub fn call_blocking(&self, op: String, args: String) -> String {
        unwound(|| wire::call_text(&self.inner, &op, &args))
    }
}
