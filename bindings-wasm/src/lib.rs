//! jetstate-web: the core compiled to WebAssembly, run inside a dedicated worker, its SQLite file
//! in the Origin Private File System through the sync-access-handle pool VFS.
//!
//! This is the translation layer between the worker script (`js/worker.js`) and the core; every
//! rule is the core's. Calls arrive by operation name with JSON arguments and leave as JSON text
//! (`jetstate::wire::call_json`, the same table the Node addon uses), a refused call as
//! `!CODE message`: a JSON text never starts with `!`.
//!
//! Storage choices (what each promises is written in the package README):
//! * the pool VFS gives one connection per file and no shared memory, so the store is opened
//!   `exclusive` (one connection, `locking_mode=EXCLUSIVE`), which lets SQLite keep the WAL index
//!   in that connection's memory: WAL works, and one commit is one append to the WAL file
//!   instead of the rollback journal's write, sync, delete;
//! * the files are opened through `coalescing_vfs`, a VFS over the pool that writes each
//!   transaction's WAL frames to OPFS in one call instead of two per frame (an OPFS write call
//!   costs far more than its bytes); the bytes, their order and the moment they are in the file
//!   are what they were without it;
//! * durability `full` flushes the WAL to OPFS at every commit (a call that returned survives the
//!   tab, the browser and the machine stopping); `normal` flushes at checkpoints only (a call
//!   that returned is in the OPFS file, so it survives the tab closing and the browser being
//!   killed; the last ones may be lost if the machine or its system stops first).
#![cfg(target_arch = "wasm32")]

use std::cell::RefCell;

use jetstate::{wire, Error, ErrorKind, Options, Store};
use sqlite_wasm_vfs::sahpool::{install, OpfsSAHError, OpfsSAHPoolCfgBuilder};
use wasm_bindgen::prelude::*;

mod coalescing_vfs;
#[cfg(feature = "faults")]
mod faults;

/// The names the pool VFS, and the VFS over it that jetstate opens its files with, are
/// registered under in this worker.
const POOL_VFS: &str = "jetstate-opfs-pool";
const VFS: &str = "jetstate-opfs";

thread_local! {
    /// The OPFS directory the pool was installed on in this worker, once it is.
    static INSTALLED: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Installs the OPFS pool VFS on `directory`, once per worker. Rejects with `!CODE message`:
/// DATABASE naming the cause when OPFS is unavailable, or when another tab holds the directory.
#[wasm_bindgen(js_name = installOpfs)]
pub async fn install_opfs(directory: String) -> Result<(), JsValue> {
    if let Some(installed) = INSTALLED.with(|i| i.borrow().clone()) {
        if installed == directory {
            return Ok(());
        }
        let err = Error::new(
            ErrorKind::InvalidArgument,
            format!("this worker already keeps its databases in OPFS directory {installed:?}"),
        );
        return Err(JsValue::from_str(&wire::refusal(&err)));
    }
    let config = OpfsSAHPoolCfgBuilder::new().vfs_name(POOL_VFS).directory(&directory).build();
    match install::<sqlite_wasm_rs::WasmOsCallback>(&config, false).await {
        Ok(_) => {
            coalescing_vfs::register(POOL_VFS, VFS)
                .map_err(|message| JsValue::from_str(&wire::refusal(&Error::new(ErrorKind::Database, message))))?;
            INSTALLED.with(|i| *i.borrow_mut() = Some(directory));
            Ok(())
        }
        Err(err) => Err(JsValue::from_str(&wire::refusal(&install_error(&err)))),
    }
}

/// Why the pool could not be installed, in words a person can act on.
fn install_error(err: &OpfsSAHError) -> Error {
    let detail = err.to_string();
    let message = if detail.contains("NoModificationAllowed") || detail.contains("InvalidState") {
        format!("the database is open in another tab or worker of this origin (OPFS access handles are exclusive): {detail}")
    } else {
        format!(
            "OPFS is unavailable here ({detail}); open the store with {{ memory: true }} for a store that is not kept"
        )
    };
    Error::new(ErrorKind::Database, message)
}

/// One open store (or a tenant view of one), owned by the worker.
#[wasm_bindgen]
pub struct NativeStore {
    store: Store,
}

#[wasm_bindgen]
impl NativeStore {
    /// Opens `name` in the installed OPFS pool, or a private in-memory store when `memory`.
    /// `options` is the options' JSON text (`wire::options`). Throws `!CODE message`.
    pub fn open(name: &str, options: &str, memory: bool) -> Result<NativeStore, JsValue> {
        Self::opened(name, options, memory).map_err(|err| JsValue::from_str(&wire::refusal(&err)))
    }

    fn opened(name: &str, options: &str, memory: bool) -> jetstate::Result<NativeStore> {
        let options: Options = wire::options(&wire::parse(options, 0)?)?;
        if memory {
            return Ok(NativeStore { store: Store::open_in_memory(options)? });
        }
        // A server's URL goes to the core, whose browser build has no server engine and says why.
        if jetstate::ServerUrl::is_server_url(name) {
            return Ok(NativeStore { store: Store::open(name, options)? });
        }
        if INSTALLED.with(|i| i.borrow().is_none()) {
            return Err(Error::new(ErrorKind::Database, "OPFS is not installed in this worker"));
        }
        if name.is_empty() || name.contains('/') || name == ":memory:" {
            return Err(Error::new(
                ErrorKind::InvalidArgument,
                format!("a database name is a non-empty file name without '/', got {name:?}"),
            ));
        }
        // The pool VFS keys files by absolute path.
        let path = format!("/{name}");
        Ok(NativeStore { store: Store::open(path, options.exclusive(true).vfs(VFS))? })
    }

    /// The view of one tenant.
    #[wasm_bindgen(js_name = forTenant)]
    pub fn for_tenant(&self, tenant: &str) -> NativeStore {
        NativeStore { store: self.store.for_tenant(tenant) }
    }

    /// Runs operation `op` with `args` (JSON text): the result's JSON text, or `!CODE message`.
    pub fn call(&self, op: &str, args: &str) -> String {
        if op == "backup" {
            // A destination path would name a file of SQLite's memory VFS here, gone with the
            // worker: a copy that looks made and is not kept.
            let err = Error::new(
                ErrorKind::InvalidArgument,
                "backup is not available in the browser: there is no file system path to copy to",
            );
            return wire::refusal(&err);
        }
        #[cfg(feature = "faults")]
        if let Some(answer) = faults::call(&self.store, op, args) {
            return answer;
        }
        wire::call_text(&self.store, op, args)
    }

    /// Runs `calls` (a function that makes calls of this store and its views, one after the
    /// other) as one group (`Store::group`): their writes share one transaction and one commit,
    /// each still atomic on its own. Returns nothing once the group is committed, or the refusal
    /// (`!CODE message`) that undid all of it: then no answer of the group may be given as is.
    pub fn group(&self, calls: &js_sys::Function) -> Option<String> {
        let outcome = self.store.group(|| {
            calls.call0(&JsValue::NULL).map(drop).map_err(|thrown| {
                Error::new(ErrorKind::Database, format!("the worker failed inside a group of calls: {thrown:?}"))
            })
        });
        outcome.err().map(|err| wire::refusal(&err))
    }

    #[wasm_bindgen(getter)]
    pub fn durability(&self) -> String {
        self.store.durability().as_str().to_string()
    }
}
