//! The `jetstate` npm package's native addon: the store's operations by name, run on libuv's
//! thread pool. Everything JavaScript-shaped (camelCase keys, `Date`s, the `Store` class, errors
//! with a `code`) is `index.js`'s work; everything else (every rule, the table of operations and
//! their JSON forms) is the core's (`jetstate::wire`). This file only moves JSON text across:
//!
//! - `call(op, args)` resolves to the result's JSON text (`wire::call_json`), or to `!CODE message` when the store
//!   refused the call (a result's JSON text never starts with `!`); index.js turns that into a
//!   rejected Promise with an `Error` whose `code` is CODE. Errors of the addon itself (a panic
//!   caught, an argument of the wrong JavaScript type) reject directly.
//! - The work runs in `compute`, on a libuv worker thread: the event loop's thread never waits on
//!   SQLite.

use napi::bindgen_prelude::*;
use napi_derive::napi;

use jetstate::{wire, Clock, Durability, ErrorKind, Options};

/// Arguments nest at most this many levels around a value (the arguments object, a record).
const WRAPPING: usize = 2;

fn invalid(message: impl Into<String>) -> jetstate::Error {
    jetstate::Error::new(ErrorKind::InvalidArgument, message)
}

/// `!CODE message`: how a refused call's error travels back to index.js.
fn refused(err: jetstate::Error) -> String {
    format!("!{} {}", err.code(), err.message())
}

/// A store handle (a tenant view or the whole store) as JavaScript holds it.
#[napi]
pub struct NativeStore {
    inner: jetstate::Store,
}

type Opened = std::result::Result<jetstate::Store, jetstate::Error>;

/// Opens a store off the event loop's thread: `store` holds the options until `compute` has
/// replaced them by the outcome.
pub struct Open {
    path: Option<String>,
    store: Option<std::result::Result<Options, jetstate::Error>>,
    opened: Option<Opened>,
}

impl Task for Open {
    type Output = ();
    type JsValue = Either<NativeStore, String>;

    fn compute(&mut self) -> Result<()> {
        let options = self.store.take().expect("compute runs once");
        self.opened = Some(options.and_then(|options| match self.path.take() {
            Some(path) if path != ":memory:" => jetstate::Store::open(path, options),
            _ => jetstate::Store::open_in_memory(options),
        }));
        Ok(())
    }

    fn resolve(&mut self, _env: Env, _: ()) -> Result<Self::JsValue> {
        match self.opened.take().expect("computed") {
            Ok(inner) => Ok(Either::A(NativeStore { inner })),
            Err(err) => Ok(Either::B(refused(err))),
        }
    }
}

/// One call of an operation, off the event loop's thread.
pub struct Call {
    store: jetstate::Store,
    op: String,
    args: String,
}

impl Task for Call {
    type Output = String;
    type JsValue = String;

    fn compute(&mut self) -> Result<String> {
        let outcome = wire::parse(&self.args, WRAPPING).and_then(|args| wire::call_json(&self.store, &self.op, &args));
        Ok(outcome.unwrap_or_else(refused))
    }

    fn resolve(&mut self, _env: Env, output: String) -> Result<String> {
        Ok(output)
    }
}

/// The options index.js passes, already checked for their JavaScript types there.
#[napi(object)]
pub struct NativeOptions {
    pub durability: Option<String>,
    pub lease_ms: Option<f64>,
    pub backoff_base_ms: Option<f64>,
    pub backoff_cap_ms: Option<f64>,
    pub backoff_jitter: Option<bool>,
    pub busy_timeout_ms: Option<f64>,
    /// Milliseconds since the epoch: a manual clock standing at that instant.
    pub clock_ms: Option<f64>,
    pub read_only: Option<bool>,
}

fn millis(value: f64, what: &str) -> std::result::Result<std::time::Duration, jetstate::Error> {
    std::time::Duration::try_from_secs_f64(value / 1000.0)
        .map_err(|_| invalid(format!("{what} must be a finite, non-negative number of milliseconds")))
}

fn options(given: NativeOptions) -> std::result::Result<Options, jetstate::Error> {
    let defaults = Options::default();
    let mut options = match given.durability.as_deref() {
        None | Some("full") => Options::default().durability(Durability::Full),
        Some("normal") => Options::default().durability(Durability::Normal),
        Some(other) => return Err(invalid(format!("durability must be 'full' or 'normal', got {other:?}"))),
    };
    if let Some(lease) = given.lease_ms {
        options = options.lease(millis(lease, "leaseMs")?);
    }
    let base = given.backoff_base_ms.map(|ms| millis(ms, "backoffBaseMs")).transpose()?;
    let cap = given.backoff_cap_ms.map(|ms| millis(ms, "backoffCapMs")).transpose()?;
    options = options.backoff(base.unwrap_or(defaults.backoff_base), cap.unwrap_or(defaults.backoff_cap));
    if let Some(timeout) = given.busy_timeout_ms {
        options = options.busy_timeout(millis(timeout, "busyTimeoutMs")?);
    }
    if let Some(at) = given.clock_ms {
        options = options.clock(Clock::manual(time(at)?));
    }
    Ok(options.backoff_jitter(given.backoff_jitter.unwrap_or(false)).read_only(given.read_only.unwrap_or(false)))
}

fn time(ms: f64) -> std::result::Result<chrono::DateTime<chrono::Utc>, jetstate::Error> {
    let micros = (ms * 1000.0).round();
    if !micros.is_finite() || micros.abs() > 8.64e18 {
        return Err(invalid("a time must be a valid Date"));
    }
    chrono::DateTime::from_timestamp_micros(micros as i64).ok_or_else(|| invalid("a time must be a valid Date"))
}

/// Opens the store at `path` (None or ":memory:": in memory). Resolves to the store, or to
/// `!CODE message`.
#[napi(ts_return_type = "Promise<NativeStore | string>")]
pub fn open(path: Option<String>, options: NativeOptions) -> AsyncTask<Open> {
    AsyncTask::new(Open { path, store: Some(self::options(options)), opened: None })
}

#[napi]
impl NativeStore {
    /// Runs operation `op` with `args` (a JSON object of named arguments, in the wire form).
    /// Resolves to the result's JSON text, or to `!CODE message`.
    #[napi]
    pub fn call(&self, op: String, args: String) -> AsyncTask<Call> {
        AsyncTask::new(Call { store: self.inner.clone(), op, args })
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

    /// The store's time (its manual clock's, if it has one), in milliseconds since the epoch.
    #[napi]
    pub fn now_ms(&self) -> f64 {
        self.inner.now().timestamp_micros() as f64 / 1000.0
    }

    /// Moves a manual clock; `""` when done, `!CODE message` when refused.
    #[napi]
    pub fn advance_clock(&self, ms: f64) -> String {
        millis(ms, "ms").and_then(|by| self.inner.clock().advance(by)).map_or_else(refused, |()| String::new())
    }

    /// Sets a manual clock; `""` when done, `!CODE message` when refused.
    #[napi]
    pub fn set_clock(&self, at_ms: f64) -> String {
        time(at_ms).and_then(|at| self.inner.clock().set(at)).map_or_else(refused, |()| String::new())
    }
}
