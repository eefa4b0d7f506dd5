//! A store call split at its thread boundaries, and the two ways the package runs one.
//!
//! Every operation is built as a [`Call`] with the GIL held (its arguments converted from Python),
//! then its `work` runs with no GIL, then its `finish` converts the outcome back with the GIL:
//! - [`Call::now`], for `Store`: runs `work` on the caller's thread with the GIL released.
//! - [`Call::submit`], for `AsyncStore`: runs `work` on the core's call pool and returns an asyncio
//!   future at once. The pool thread never takes the GIL: it queues the finished call on the
//!   loop's [`Port`] and wakes the loop through a socket the loop watches (`add_reader`); the
//!   loop's thread then finishes the call and settles the future. So a call in flight costs two
//!   thread wake-ups, as in the Rust async surface, and never contends for the GIL.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use pyo3::exceptions::PyRuntimeError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;

use crate::errors::to_py_err;

/// What is left of a call once its work is done: turning the outcome into Python.
type Finish = Box<dyn FnOnce(Python<'_>) -> PyResult<Py<PyAny>> + Send>;

/// One store operation, its arguments already converted.
pub struct Call {
    work: Box<dyn FnOnce() -> Finish + Send>,
    /// A call that waits (a waiting claim): its cancel handle. It runs on the core's threads for
    /// waiting calls, and is cancelled when the caller stops waiting (a signal such as Ctrl-C in
    /// `Store`, the awaiting task's cancellation in `AsyncStore`).
    waiting: Option<jetstate::Cancel>,
}

impl Call {
    /// A call that runs `work` (no GIL) and converts its value with `finish` (GIL held).
    pub fn new<T: Send + 'static>(
        work: impl FnOnce() -> jetstate::Result<T> + Send + 'static,
        finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> Call {
        Call {
            work: Box::new(move || -> Finish {
                let outcome = work();
                Box::new(move |py| match outcome {
                    Ok(value) => finish(py, value),
                    Err(err) => Err(to_py_err(py, err)),
                })
            }),
            waiting: None,
        }
    }

    /// A call that waits until `work` returns, which it must do at once when its cancel handle
    /// (the argument) is cancelled.
    pub fn waiting<T: Send + 'static>(
        work: impl FnOnce(&jetstate::Cancel) -> jetstate::Result<T> + Send + 'static,
        finish: impl FnOnce(Python<'_>, T) -> PyResult<Py<PyAny>> + Send + 'static,
    ) -> Call {
        let cancel = jetstate::Cancel::new();
        let mut call = Call::new(
            {
                let cancel = cancel.clone();
                move || work(&cancel)
            },
            finish,
        );
        call.waiting = Some(cancel);
        call
    }

    /// Runs the call on this thread with the GIL released (`Store`). A waiting call runs on a
    /// thread of its own while this one checks for signals every tenth of a second, so that
    /// Ctrl-C interrupts it (the wait is cancelled and the signal's exception raised).
    pub fn now(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(cancel) = self.waiting else {
            let finish = py.detach(self.work);
            return finish(py);
        };
        let (done, outcome) = crossbeam_channel::bounded::<Finish>(1);
        let work = self.work;
        jetstate::backend::offload::spawn_waiting(move || {
            let _ = done.send(work());
        })
        .map_err(|err| to_py_err(py, err))?;
        loop {
            match py.detach(|| outcome.recv_timeout(std::time::Duration::from_millis(100))) {
                Ok(finish) => return finish(py),
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                    if let Err(interrupted) = py.check_signals() {
                        cancel.cancel();
                        // The wait returns at once once cancelled; its claim, if it took
                        // items first, is not undone (they stay claimed until their lease ends).
                        let _ = py.detach(|| outcome.recv());
                        return Err(interrupted);
                    }
                }
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                    return Err(PyRuntimeError::new_err("jetstate: the waiting call ended without an answer"))
                }
            }
        }
    }

    /// Runs the call on the core's pool and returns an asyncio future of its outcome
    /// (`AsyncStore`). Must be called on a thread running an event loop.
    pub fn submit(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let (event_loop, port) = Port::of_running_loop(py)?;
        let future = event_loop.call_method0("create_future")?.unbind();
        let settle = future.clone_ref(py);
        let work = self.work;
        let job = move || {
            let finish = catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| -> Finish {
                Box::new(|_| Err(PyRuntimeError::new_err("jetstate: the call panicked in the core")))
            });
            port.deliver(settle, finish);
        };
        match self.waiting {
            None => jetstate::backend::offload::spawn(job),
            Some(cancel) => {
                // A cancelled task cancels its future: the wait ends at once.
                future.bind(py).call_method1("add_done_callback", (CancelWhenDone(cancel),))?;
                jetstate::backend::offload::spawn_waiting(job)
            }
        }
        .map_err(|err| to_py_err(py, err))?;
        Ok(future)
    }
}

/// A future's done-callback that cancels its waiting call (a no-op once it has answered).
#[pyclass(frozen)]
struct CancelWhenDone(jetstate::Cancel);

#[pymethods]
impl CancelWhenDone {
    fn __call__(&self, _future: &Bound<'_, PyAny>) {
        self.0.cancel();
    }
}

/// Where finished calls wait for their event loop: a queue, and a socket pair whose reading end
/// the loop watches. One per event loop, made on the loop's first call.
#[pyclass(frozen)]
pub struct Port {
    done: Mutex<Vec<(Py<PyAny>, Finish)>>,
    /// Set while a wake-up byte is on its way, so that a burst of completions writes one byte.
    signalled: AtomicBool,
    wake: UnixStream,
    woken: UnixStream,
}

impl Port {
    /// The running loop and its port (created and registered with `add_reader` the first time).
    fn of_running_loop(py: Python<'_>) -> PyResult<(Bound<'_, PyAny>, Arc<PortHandle>)> {
        static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        static PORTS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let event_loop = GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?.call0()?;
        let ports = PORTS.get_or_try_init(py, || -> PyResult<_> {
            Ok(py.import("weakref")?.getattr("WeakKeyDictionary")?.call0()?.unbind())
        })?;
        let ports = ports.bind(py);
        if let Some(handle) = ports.call_method1("get", (&event_loop,))?.extract::<Option<Py<PortRef>>>()? {
            return Ok((event_loop, Arc::clone(&handle.get().0)));
        }
        let (woken, wake) = UnixStream::pair().map_err(|err| PyRuntimeError::new_err(format!("socketpair: {err}")))?;
        woken
            .set_nonblocking(true)
            .and_then(|_| wake.set_nonblocking(true))
            .map_err(|err| PyRuntimeError::new_err(format!("socketpair: {err}")))?;
        let handle = Arc::new(PortHandle(Py::new(
            py,
            Port { done: Mutex::new(Vec::new()), signalled: AtomicBool::new(false), wake, woken },
        )?));
        let port = handle.0.bind(py);
        event_loop.call_method1("add_reader", (port.get().woken.as_raw_fd(), port.getattr("drain")?))?;
        ports.set_item(&event_loop, Py::new(py, PortRef(Arc::clone(&handle)))?)?;
        Ok((event_loop, handle))
    }
}

/// A port shared with pool threads. They only ever touch its Rust fields (no GIL), through
/// [`PortHandle::deliver`].
pub struct PortHandle(Py<Port>);

impl PortHandle {
    fn deliver(&self, future: Py<PyAny>, finish: Finish) {
        let port = self.0.get();
        port.done.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).push((future, finish));
        if !port.signalled.swap(true, Ordering::SeqCst) {
            // A full socket means a wake-up is pending already; the loop drains everything.
            let _ = (&port.wake).write(&[1]);
        }
    }
}

/// The port as the weak dictionary holds it.
#[pyclass(frozen)]
struct PortRef(Arc<PortHandle>);

#[pymethods]
impl Port {
    /// Called by the event loop when woken: finishes every delivered call and settles its future
    /// (unless the awaiting task was cancelled meanwhile).
    fn drain(&self, py: Python<'_>) -> PyResult<()> {
        // Order matters: consume the wake-up bytes, then clear the flag, then take the queue. A
        // call delivered after the flag is cleared writes a new byte, so none is left waiting.
        let mut bytes = [0u8; 64];
        while matches!((&self.woken).read(&mut bytes), Ok(n) if n > 0) {}
        self.signalled.store(false, Ordering::SeqCst);
        let done = std::mem::take(&mut *self.done.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
        for (future, finish) in done {
            if let Err(err) = settle(py, future.bind(py), finish) {
                err.write_unraisable(py, None);
            }
        }
        Ok(())
    }
}

fn settle(py: Python<'_>, future: &Bound<'_, PyAny>, finish: Finish) -> PyResult<()> {
    let outcome = finish(py);
    if future.call_method0("done")?.is_truthy()? {
        return Ok(()); // the awaiting task was cancelled; the call's effect stands
    }
    match outcome {
        Ok(value) => future.call_method1("set_result", (value,))?,
        Err(err) => future.call_method1("set_exception", (err.into_value(py),))?,
    };
    Ok(())
}
