//! A VFS over the OPFS pool that writes each transaction's WAL frames to OPFS in one call.
//!
//! Why: SQLite writes a WAL frame as two calls (its 24-byte header, then the page), and on OPFS
//! every `FileSystemSyncAccessHandle.write` costs far more than its bytes: measured in Chromium
//! here, two calls per frame took about twice as long as one call of both. A queue cycle (three
//! commits, about seven frames) made fourteen calls; through this layer it makes three.
//!
//! What it does: the WAL file's writes that follow each other in the file are gathered in memory
//! and written as one call when the transaction's last frame is complete, or sooner when SQLite
//! does anything else with the file. Every other file (the database itself) is written as the
//! pool writes it.
//!
//! It also tells SQLite that every file has powersafe overwrite (`SQLITE_IOCAP_POWERSAFE_OVERWRITE`,
//! which the pool does not claim): writing a range of a file changes no byte outside it, even if
//! the machine stops mid-write. SQLite assumes the same of native files by default (its unix and
//! windows VFSes claim it; jetstate's native surfaces run on them). An OPFS file is a file of the
//! browser's profile on such a file system, so the browser is given the native build's
//! assumption. Without it, a commit at `synchronous=FULL` repeats its last frame up to the next
//! 4 KiB boundary of the WAL, so that a torn sector could only hit a copy: one more frame, and one
//! more OPFS write call, per commit.
//!
//! Invariants kept here:
//! * nothing stays gathered after a commit: a frame header with a non-zero "database size" field
//!   marks the commit frame (SQLite's WAL format); once its page is written, everything gathered
//!   is written to OPFS, before SQLite returns from the commit. So what `synchronous` promises is
//!   unchanged: a call that returned is in the OPFS file as it was without this layer;
//! * SQLite never sees the gathering: before a read, a size, a truncate, a sync, a file control
//!   or a close of the WAL file, the gathered bytes are written first, so the file it reads is
//!   the file it wrote;
//! * bytes reach the file in the order SQLite wrote them (a write that does not follow the
//!   gathered ones writes those first), so a crash mid-way leaves what it would have left
//!   without this layer: a WAL whose last transaction is incomplete, which SQLite ignores.
use std::ffi::{c_char, c_int, c_void, CString};
use std::mem::offset_of;
use std::ptr;

use sqlite_wasm_rs::{
    sqlite3_file, sqlite3_int64, sqlite3_io_methods, sqlite3_vfs, sqlite3_vfs_find, sqlite3_vfs_register, SQLITE_ERROR,
    SQLITE_IOCAP_POWERSAFE_OVERWRITE, SQLITE_OK, SQLITE_OPEN_WAL,
};

/// A transaction's frames are gathered up to this many bytes (a large import writes as it goes).
const MOST_GATHERED: usize = 4 << 20;
/// The WAL frame header's size, and where its "database size after commit" field lies.
const FRAME_HEADER: usize = 24;
const COMMIT_SIZE_FIELD: std::ops::Range<usize> = 4..8;

/// A file of this VFS: the pool's file, and (for a WAL file) the bytes gathered for it.
#[repr(C)]
struct File {
    base: sqlite3_file,
    /// Whether this is a WAL file, whose writes are gathered; any other file's go straight through.
    wal: bool,
    gathered: Gathered,
    /// The pool's file; SQLite allocates `szOsFile` bytes, so its whole size follows.
    inner: InnerFile,
}

/// The pool's file, at the alignment SQLite gives a file it allocates.
#[repr(C, align(8))]
struct InnerFile(sqlite3_file);

struct Gathered {
    bytes: Vec<u8>,
    /// Where `bytes` start in the file.
    at: i64,
    /// The last write was a commit frame's header: its page ends the transaction.
    commit_page_next: bool,
}

/// Registers `name`, a VFS over the already registered `pool`. Not the default VFS.
pub fn register(pool: &str, name: &str) -> Result<(), String> {
    let pool_name = CString::new(pool).map_err(|err| err.to_string())?;
    // SAFETY: a NUL-terminated name; the pool VFS, once registered, lives as long as the worker.
    let inner = unsafe { sqlite3_vfs_find(pool_name.as_ptr()) };
    if inner.is_null() {
        return Err(format!("the VFS {pool:?} is not registered"));
    }
    // SAFETY: `inner` is a registered VFS.
    let inner_size = unsafe { (*inner).szOsFile };
    let size = offset_of!(File, inner) + usize::try_from(inner_size).map_err(|err| err.to_string())?;
    let vfs = Box::new(sqlite3_vfs {
        iVersion: 2,
        szOsFile: c_int::try_from(size).map_err(|err| err.to_string())?,
        // SAFETY: as above.
        mxPathname: unsafe { (*inner).mxPathname },
        pNext: ptr::null_mut(),
        zName: CString::new(name).map_err(|err| err.to_string())?.into_raw(),
        pAppData: inner.cast(),
        xOpen: Some(open),
        xDelete: Some(delete),
        xAccess: Some(access),
        xFullPathname: Some(full_pathname),
        xDlOpen: None,
        xDlError: None,
        xDlSym: None,
        xDlClose: None,
        xRandomness: Some(randomness),
        xSleep: Some(sleep),
        xCurrentTime: Some(current_time),
        xGetLastError: Some(last_error),
        xCurrentTimeInt64: Some(current_time_int64),
        xSetSystemCall: None,
        xGetSystemCall: None,
        xNextSystemCall: None,
    });
    // SAFETY: the VFS is leaked: SQLite keeps the pointer for the worker's lifetime.
    match unsafe { sqlite3_vfs_register(Box::into_raw(vfs), 0) } {
        SQLITE_OK => Ok(()),
        code => Err(format!("registering the VFS {name:?} failed (SQLite code {code})")),
    }
}

/// A fault the sweep injects instead of the pool's write or sync (`faults` builds only).
#[inline(always)]
fn fault(_op: FaultOp) -> Option<c_int> {
    #[cfg(feature = "faults")]
    return crate::faults::step(match _op {
        FaultOp::Write => crate::faults::Op::Write,
        FaultOp::Sync => crate::faults::Op::Sync,
    });
    #[cfg(not(feature = "faults"))]
    None
}

#[derive(Clone, Copy)]
enum FaultOp {
    Write,
    Sync,
}

/// The pool's write of a file, unless a fault is injected there.
unsafe fn pool_write(file: *mut sqlite3_file, data: *const c_void, amount: c_int, offset: sqlite3_int64) -> c_int {
    if let Some(code) = fault(FaultOp::Write) {
        return code;
    }
    let (inner, methods) = inner(file);
    methods.xWrite.map_or(SQLITE_ERROR, |write| write(inner, data, amount, offset))
}

/// The pool VFS this one is over.
unsafe fn pool(vfs: *mut sqlite3_vfs) -> *mut sqlite3_vfs {
    (*vfs).pAppData.cast()
}

/// Calls the pool VFS's method `$method` with the same arguments, the VFS swapped for the pool's.
macro_rules! forward_vfs {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(vfs: *mut sqlite3_vfs, $($arg: $ty),*) -> $ret {
            let inner = pool(vfs);
            match (*inner).$method {
                Some(method) => method(inner, $($arg),*),
                None => $missing,
            }
        }
    };
}

forward_vfs!(delete, xDelete, (name: *const c_char, sync_dir: c_int) -> c_int, SQLITE_ERROR);
forward_vfs!(access, xAccess, (name: *const c_char, flags: c_int, out: *mut c_int) -> c_int, SQLITE_ERROR);
forward_vfs!(full_pathname, xFullPathname, (name: *const c_char, n: c_int, out: *mut c_char) -> c_int, SQLITE_ERROR);
forward_vfs!(randomness, xRandomness, (n: c_int, out: *mut c_char) -> c_int, 0);
forward_vfs!(sleep, xSleep, (micros: c_int) -> c_int, 0);
forward_vfs!(current_time, xCurrentTime, (out: *mut f64) -> c_int, SQLITE_ERROR);
forward_vfs!(last_error, xGetLastError, (n: c_int, out: *mut c_char) -> c_int, 0);
forward_vfs!(current_time_int64, xCurrentTimeInt64, (out: *mut sqlite3_int64) -> c_int, SQLITE_ERROR);

unsafe extern "C" fn open(
    vfs: *mut sqlite3_vfs,
    name: *const c_char,
    file: *mut sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let inner = pool(vfs);
    let Some(inner_open) = (*inner).xOpen else { return SQLITE_ERROR };
    let wrapped = file.cast::<File>();
    (*wrapped).base.pMethods = ptr::null();
    let inner_file = ptr::addr_of_mut!((*wrapped).inner.0);
    let code = inner_open(inner, name, inner_file, flags, out_flags);
    if code != SQLITE_OK {
        return code;
    }
    // Only a pool file of plain file methods is wrapped (no shared memory, no memory mapping:
    // the methods below forward exactly those); anything else is closed and refused.
    let methods = (*inner_file).pMethods;
    if methods.is_null() || (*methods).iVersion != 1 {
        if let Some(close) = methods.as_ref().and_then(|m| m.xClose) {
            close(inner_file);
        }
        return SQLITE_ERROR;
    }
    ptr::write(ptr::addr_of_mut!((*wrapped).wal), flags & SQLITE_OPEN_WAL != 0);
    ptr::write(ptr::addr_of_mut!((*wrapped).gathered), Gathered { bytes: Vec::new(), at: 0, commit_page_next: false });
    (*wrapped).base.pMethods = &METHODS;
    SQLITE_OK
}

static METHODS: sqlite3_io_methods = sqlite3_io_methods {
    iVersion: 1,
    xClose: Some(close),
    xRead: Some(read),
    xWrite: Some(write),
    xTruncate: Some(truncate),
    xSync: Some(sync),
    xFileSize: Some(file_size),
    xLock: Some(lock),
    xUnlock: Some(unlock),
    xCheckReservedLock: Some(check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(sector_size),
    xDeviceCharacteristics: Some(device_characteristics),
    xShmMap: None,
    xShmLock: None,
    xShmBarrier: None,
    xShmUnmap: None,
    xFetch: None,
    xUnfetch: None,
};

/// The pool's methods of a wrapped file.
unsafe fn inner(file: *mut sqlite3_file) -> (*mut sqlite3_file, &'static sqlite3_io_methods) {
    let inner = ptr::addr_of_mut!((*file.cast::<File>()).inner.0);
    (inner, &*(*inner).pMethods)
}

/// Writes what is gathered for `file` to the pool's file, in one call.
unsafe fn write_gathered(file: *mut sqlite3_file) -> c_int {
    let gathered = &mut (*file.cast::<File>()).gathered;
    if gathered.bytes.is_empty() {
        return SQLITE_OK;
    }
    let Ok(length) = c_int::try_from(gathered.bytes.len()) else { return SQLITE_ERROR };
    let code = pool_write(file, gathered.bytes.as_ptr().cast(), length, gathered.at);
    let gathered = &mut (*file.cast::<File>()).gathered;
    // Written or not, the bytes are SQLite's to write again: an error reaches it either way.
    gathered.bytes.clear();
    code
}

/// Calls the pool's method `$method` of the file after writing what is gathered.
macro_rules! forward_file {
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, gathered first) => {
        unsafe extern "C" fn $name(file: *mut sqlite3_file, $($arg: $ty),*) -> $ret {
            let code = write_gathered(file);
            if code != SQLITE_OK {
                return code;
            }
            let (inner, methods) = inner(file);
            match methods.$method {
                Some(method) => method(inner, $($arg),*),
                None => SQLITE_ERROR,
            }
        }
    };
    ($name:ident, $method:ident, ($($arg:ident: $ty:ty),*) -> $ret:ty, $missing:expr) => {
        unsafe extern "C" fn $name(file: *mut sqlite3_file, $($arg: $ty),*) -> $ret {
            let (inner, methods) = inner(file);
            match methods.$method {
                Some(method) => method(inner, $($arg),*),
                None => $missing,
            }
        }
    };
}

forward_file!(read, xRead, (buffer: *mut c_void, amount: c_int, offset: sqlite3_int64) -> c_int, gathered first);
forward_file!(truncate, xTruncate, (size: sqlite3_int64) -> c_int, gathered first);
/// The pool's sync (an access handle's `flush()`), after writing what is gathered.
unsafe extern "C" fn sync(file: *mut sqlite3_file, flags: c_int) -> c_int {
    let code = write_gathered(file);
    if code != SQLITE_OK {
        return code;
    }
    if let Some(code) = fault(FaultOp::Sync) {
        return code;
    }
    let (inner, methods) = inner(file);
    methods.xSync.map_or(SQLITE_ERROR, |sync| sync(inner, flags))
}
forward_file!(file_size, xFileSize, (size: *mut sqlite3_int64) -> c_int, gathered first);
forward_file!(file_control, xFileControl, (op: c_int, arg: *mut c_void) -> c_int, gathered first);
forward_file!(lock, xLock, (level: c_int) -> c_int, SQLITE_OK);
forward_file!(unlock, xUnlock, (level: c_int) -> c_int, SQLITE_OK);
forward_file!(check_reserved_lock, xCheckReservedLock, (out: *mut c_int) -> c_int, SQLITE_ERROR);
forward_file!(sector_size, xSectorSize, () -> c_int, 4096);

/// The pool's characteristics of the file, and powersafe overwrite (see the module's comment).
unsafe extern "C" fn device_characteristics(file: *mut sqlite3_file) -> c_int {
    let (inner, methods) = inner(file);
    methods.xDeviceCharacteristics.map_or(0, |characteristics| characteristics(inner))
        | SQLITE_IOCAP_POWERSAFE_OVERWRITE
}

unsafe extern "C" fn write(
    file: *mut sqlite3_file,
    data: *const c_void,
    amount: c_int,
    offset: sqlite3_int64,
) -> c_int {
    if !(*file.cast::<File>()).wal {
        return pool_write(file, data, amount, offset);
    }
    let Ok(length) = usize::try_from(amount) else { return SQLITE_ERROR };
    let gathered = &mut (*file.cast::<File>()).gathered;
    // Taken before anything is written: the page of a commit frame ends its transaction however
    // the bytes before it were written.
    let ends_transaction = std::mem::take(&mut gathered.commit_page_next);
    let follows = gathered.at.checked_add(gathered.bytes.len() as i64) == Some(offset);
    if !gathered.bytes.is_empty() && (!follows || gathered.bytes.len() + length > MOST_GATHERED) {
        let code = write_gathered(file);
        if code != SQLITE_OK {
            return code;
        }
    }
    let gathered = &mut (*file.cast::<File>()).gathered;
    if length > MOST_GATHERED {
        return pool_write(file, data, amount, offset);
    }
    if gathered.bytes.is_empty() {
        gathered.at = offset;
    }
    let bytes = std::slice::from_raw_parts(data.cast::<u8>(), length);
    gathered.bytes.extend_from_slice(bytes);
    if ends_transaction {
        return write_gathered(file);
    }
    gathered.commit_page_next = length == FRAME_HEADER && bytes[COMMIT_SIZE_FIELD].iter().any(|&b| b != 0);
    SQLITE_OK
}

unsafe extern "C" fn close(file: *mut sqlite3_file) -> c_int {
    let written = write_gathered(file);
    ptr::drop_in_place(ptr::addr_of_mut!((*file.cast::<File>()).gathered));
    let (inner, methods) = inner(file);
    let closed = methods.xClose.map_or(SQLITE_OK, |close| close(inner));
    (*file).pMethods = ptr::null();
    if written != SQLITE_OK {
        written
    } else {
        closed
    }
}
