//! A fault-injecting SQLite VFS for tests, over the platform's default one ("unix").
//!
//! Every file a store opens through it (the database, its WAL, a journal; not the shared-memory
//! index, which the default VFS maps itself) is the default VFS's file, with its reads, writes,
//! syncs and truncates counted as *steps*. A [`Plan`] armed on the VFS fails one step (the Nth of
//! a kind, or of any kind), or every step from the Nth on, with `SQLITE_FULL` or an
//! `SQLITE_IOERR_*` code, without doing it. A quota fails the writes that would grow the files
//! past a size, as a full disk does.
//!
//! **Power cuts.** The VFS keeps, for each file, its *durable* image (its bytes as of the last
//! sync that succeeded) and the writes and truncates made since, in order. A [`Plan`] with
//! [`Fault::PowerCut`] stops the machine at its step: that step and every later one fails, and
//! [`FaultVfs::reboot`] then rewrites each file as the disk would hold it (its durable image,
//! plus what [`Keep`] says of the unsynced writes: none, all, the first n, or the first n with
//! the next one torn in half) and removes the shared-memory files, whose contents do not
//! survive. A deleted file stays deleted (SQLite syncs the directory where it matters).
//!
//! A real `fsync` is never made: durability is what the images model, and the sweeps stay fast.
//! Each [`FaultVfs::register`] makes a VFS of its own (its own name, counters and plan), so that
//! tests running in parallel do not share faults.

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::ffi;

/// The kinds of step the VFS counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Read,
    Write,
    Sync,
    Truncate,
}

/// What a faulted step returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `SQLITE_FULL`: the disk is full.
    Full,
    /// `SQLITE_IOERR_READ`, `_WRITE`, `_FSYNC` or `_TRUNCATE`, after the step's kind.
    IoErr,
    /// The power goes: this step and every later one fail (with the `SQLITE_IOERR_*` code of
    /// its kind), until [`FaultVfs::reboot`].
    PowerCut,
}

/// Which unsynced writes a power cut leaves on the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// None: every file as of its last sync.
    Nothing,
    /// All of them (the kernel had written everything back).
    All,
    /// The first n, in the order they were made.
    First(usize),
    /// The first n whole, and the next one torn: only its first half reached the disk.
    Torn(usize),
    /// All but the last whole, and the last one torn.
    TornLast,
}

/// A fault to inject: at the `at`th step (1-based, counted from [`FaultVfs::arm`]) among the
/// steps of kind `on` (of any kind when `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Plan {
    pub at: u64,
    pub on: Option<Op>,
    pub fault: Fault,
    /// Fail every later step of that kind too (a disk that stays full, a device that stays
    /// broken), until [`FaultVfs::disarm`]. A power cut is always persistent.
    pub persistent: bool,
}

/// Steps counted since the VFS was armed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Steps {
    pub reads: u64,
    pub writes: u64,
    pub syncs: u64,
    pub truncates: u64,
}

impl Steps {
    pub fn total(&self) -> u64 {
        self.reads + self.writes + self.syncs + self.truncates
    }
}

enum Change {
    Write { offset: usize, data: Vec<u8> },
    Truncate(usize),
}

/// What the disk holds of one file.
#[derive(Default)]
struct Shadow {
    /// The bytes as of the last successful sync (`None`: the file is not on the disk).
    durable: Option<Vec<u8>>,
    /// Changes since, with their place in the order of all changes of the VFS.
    pending: Vec<(u64, Change)>,
}

fn apply(image: &mut Vec<u8>, change: &Change, torn: bool) {
    match change {
        Change::Write { offset, data } => {
            let data = if torn { &data[..data.len() / 2] } else { &data[..] };
            let end = offset + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[*offset..end].copy_from_slice(data);
        }
        Change::Truncate(size) => image.resize(*size, 0),
    }
}

#[derive(Default)]
struct Control {
    plan: Option<Plan>,
    /// Set once the plan's fault was injected.
    fired: bool,
    /// The power is off: every step fails.
    dead: bool,
    quota: Option<u64>,
}

struct State {
    base: *mut ffi::sqlite3_vfs,
    control: Mutex<Control>,
    counts: [AtomicU64; 4],
    /// Steps of any kind, for plans with `on: None`.
    any: AtomicU64,
    changes: AtomicU64,
    shadows: Mutex<HashMap<PathBuf, Shadow>>,
    /// Bytes the tracked files hold now (for the quota).
    sizes: Mutex<HashMap<PathBuf, u64>>,
}

// SAFETY: `base` points to SQLite's registered default VFS, which lives as long as the process
// and is itself safe to use from any thread; everything else is behind locks or atomic.
unsafe impl Send for State {}
unsafe impl Sync for State {}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn index(op: Op) -> usize {
    match op {
        Op::Read => 0,
        Op::Write => 1,
        Op::Sync => 2,
        Op::Truncate => 3,
    }
}

fn io_error(op: Op) -> c_int {
    match op {
        Op::Read => ffi::SQLITE_IOERR_READ,
        Op::Write => ffi::SQLITE_IOERR_WRITE,
        Op::Sync => ffi::SQLITE_IOERR_FSYNC,
        Op::Truncate => ffi::SQLITE_IOERR_TRUNCATE,
    }
}

impl State {
    /// Counts a step of kind `op`; the error code to return instead of doing it, if any.
    fn step(&self, op: Op) -> Option<c_int> {
        let nth = self.counts[index(op)].fetch_add(1, Ordering::SeqCst) + 1;
        let any = self.any.fetch_add(1, Ordering::SeqCst) + 1;
        let mut control = lock(&self.control);
        if control.dead {
            return Some(io_error(op));
        }
        let plan = control.plan?;
        if plan.on.is_some_and(|on| on != op) {
            return None;
        }
        let count = if plan.on.is_some() { nth } else { any };
        let hit = count == plan.at || (count > plan.at && (plan.persistent || plan.fault == Fault::PowerCut));
        if !hit {
            return None;
        }
        control.fired = true;
        Some(match plan.fault {
            Fault::Full => ffi::SQLITE_FULL,
            Fault::IoErr => io_error(op),
            Fault::PowerCut => {
                control.dead = true;
                io_error(op)
            }
        })
    }

    fn record(&self, path: &Path, change: Change) {
        let order = self.changes.fetch_add(1, Ordering::SeqCst);
        lock(&self.shadows).entry(path.to_path_buf()).or_default().pending.push((order, change));
    }

    fn synced(&self, path: &Path) {
        let mut shadows = lock(&self.shadows);
        let shadow = shadows.entry(path.to_path_buf()).or_default();
        let mut image = shadow.durable.take().unwrap_or_default();
        for (_, change) in shadow.pending.drain(..) {
            apply(&mut image, &change, false);
        }
        shadow.durable = Some(image);
    }
}

/// A registered fault-injecting VFS. Open a store on it with `Options::vfs(vfs.name())`.
#[derive(Clone)]
pub struct FaultVfs {
    name: String,
    state: Arc<State>,
}

static REGISTERED: AtomicU64 = AtomicU64::new(0);

impl FaultVfs {
    /// Registers a new VFS (not the default) named `fault-<n>`.
    pub fn register() -> FaultVfs {
        // SAFETY: plain calls into SQLite; the VFS structure registered is leaked, so it lives
        // as long as SQLite may use it.
        unsafe {
            assert_eq!(ffi::sqlite3_initialize(), ffi::SQLITE_OK);
            let base = ffi::sqlite3_vfs_find(std::ptr::null());
            assert!(!base.is_null(), "SQLite has a default VFS");
            let name = format!("fault-{}", REGISTERED.fetch_add(1, Ordering::SeqCst));
            let state = Arc::new(State {
                base,
                control: Mutex::new(Control::default()),
                counts: Default::default(),
                any: AtomicU64::new(0),
                changes: AtomicU64::new(0),
                shadows: Mutex::new(HashMap::new()),
                sizes: Mutex::new(HashMap::new()),
            });
            let vfs = Box::new(ffi::sqlite3_vfs {
                iVersion: 2,
                szOsFile: std::mem::size_of::<FaultFile>() as c_int,
                mxPathname: (*base).mxPathname,
                pNext: std::ptr::null_mut(),
                zName: CString::new(name.clone()).expect("no NUL").into_raw(),
                pAppData: Arc::into_raw(Arc::clone(&state)) as *mut c_void,
                xOpen: Some(vfs_open),
                xDelete: Some(vfs_delete),
                xAccess: Some(vfs_access),
                xFullPathname: Some(vfs_full_pathname),
                xDlOpen: None,
                xDlError: None,
                xDlSym: None,
                xDlClose: None,
                xRandomness: Some(vfs_randomness),
                xSleep: Some(vfs_sleep),
                xCurrentTime: Some(vfs_current_time),
                xGetLastError: Some(vfs_get_last_error),
                xCurrentTimeInt64: Some(vfs_current_time_int64),
                xSetSystemCall: None,
                xGetSystemCall: None,
                xNextSystemCall: None,
            });
            assert_eq!(ffi::sqlite3_vfs_register(Box::into_raw(vfs), 0), ffi::SQLITE_OK);
            FaultVfs { name, state }
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Starts counting steps from zero and injects `plan` (none: count only).
    pub fn arm(&self, plan: Option<Plan>) {
        let mut control = lock(&self.state.control);
        for count in &self.state.counts {
            count.store(0, Ordering::SeqCst);
        }
        self.state.any.store(0, Ordering::SeqCst);
        *control = Control { plan, fired: false, dead: false, quota: control.quota };
    }

    /// Forgets every file and plan: for a VFS reused for another store, once the last one's
    /// connections are closed.
    pub fn reset(&self) {
        lock(&self.state.shadows).clear();
        lock(&self.state.sizes).clear();
        let quota = lock(&self.state.control).quota;
        *lock(&self.state.control) = Control { quota, ..Control::default() };
    }

    /// Stops injecting (the steps go on being counted). The power stays off until `reboot`.
    pub fn disarm(&self) {
        lock(&self.state.control).plan = None;
    }

    /// Whether the armed plan's fault was injected.
    pub fn fired(&self) -> bool {
        lock(&self.state.control).fired
    }

    /// A disk of `bytes`: a write that would make the VFS's files hold more fails with
    /// `SQLITE_FULL`. `None`: no limit.
    pub fn set_quota(&self, bytes: Option<u64>) {
        lock(&self.state.control).quota = bytes;
    }

    pub fn steps(&self) -> Steps {
        let count = |op| self.state.counts[index(op)].load(Ordering::SeqCst);
        Steps {
            reads: count(Op::Read),
            writes: count(Op::Write),
            syncs: count(Op::Sync),
            truncates: count(Op::Truncate),
        }
    }

    /// After a power cut, with every connection of the VFS closed: writes each file as the disk
    /// holds it (see the module's comment), removes the shared-memory files, turns the power back
    /// on and disarms. The files then open as they would after the machine restarted.
    pub fn reboot(&self, keep: Keep) {
        let mut shadows = lock(&self.state.shadows);
        let mut order: Vec<u64> = shadows.values().flat_map(|s| s.pending.iter().map(|(n, _)| *n)).collect();
        order.sort_unstable();
        let (whole, torn) = match keep {
            Keep::Nothing => (0, None),
            Keep::All => (order.len(), None),
            Keep::First(n) => (n.min(order.len()), None),
            Keep::Torn(n) => (n.min(order.len()), order.get(n).copied()),
            Keep::TornLast => (order.len().saturating_sub(1), order.last().copied()),
        };
        let kept: std::collections::HashSet<u64> = order[..whole].iter().copied().collect();
        for (path, shadow) in shadows.iter_mut() {
            let mut image = shadow.durable.clone();
            for (n, change) in &shadow.pending {
                if kept.contains(n) || torn == Some(*n) {
                    apply(image.get_or_insert_with(Vec::new), change, torn == Some(*n));
                }
            }
            match &image {
                Some(bytes) => std::fs::write(path, bytes).expect("the image is written"),
                None => {
                    let _ = std::fs::remove_file(path);
                }
            }
            shadow.durable = image;
            shadow.pending.clear();
            let mut shm = path.as_os_str().to_owned();
            shm.push("-shm");
            let _ = std::fs::remove_file(PathBuf::from(shm));
        }
        drop(shadows);
        lock(&self.state.sizes).clear();
        *lock(&self.state.control) = Control::default();
    }

    /// Unsynced changes waiting at this moment (what [`Keep`] chooses from at a power cut).
    pub fn unsynced(&self) -> usize {
        lock(&self.state.shadows).values().map(|shadow| shadow.pending.len()).sum()
    }
}

// ── The VFS's functions ──────────────────────────────────────────────────────────────────────

#[repr(C)]
struct FaultFile {
    /// Must come first: SQLite reads `pMethods` through a `sqlite3_file` pointer.
    base: ffi::sqlite3_file,
    /// The default VFS's file, in memory of its own.
    real: *mut ffi::sqlite3_file,
    real_layout: std::alloc::Layout,
    state: *const State,
    /// `None` for files without a name (temporary files): neither counted nor tracked.
    path: Option<PathBuf>,
}

unsafe fn state_of(vfs: *mut ffi::sqlite3_vfs) -> &'static State {
    &*((*vfs).pAppData as *const State)
}

unsafe fn base_of(vfs: *mut ffi::sqlite3_vfs) -> *mut ffi::sqlite3_vfs {
    state_of(vfs).base
}

unsafe extern "C" fn vfs_open(
    vfs: *mut ffi::sqlite3_vfs,
    name: ffi::sqlite3_filename,
    file: *mut ffi::sqlite3_file,
    flags: c_int,
    out_flags: *mut c_int,
) -> c_int {
    let state = state_of(vfs);
    let base = state.base;
    let layout = std::alloc::Layout::from_size_align((*base).szOsFile.max(8) as usize, 16).expect("layout");
    let real = std::alloc::alloc_zeroed(layout) as *mut ffi::sqlite3_file;
    if real.is_null() {
        return ffi::SQLITE_NOMEM;
    }
    let rc = ((*base).xOpen.expect("xOpen"))(base, name, real, flags, out_flags);
    if rc != ffi::SQLITE_OK {
        if !(*real).pMethods.is_null() {
            ((*(*real).pMethods).xClose.expect("xClose"))(real);
        }
        std::alloc::dealloc(real as *mut u8, layout);
        return rc;
    }
    let path = (!name.is_null()).then(|| PathBuf::from(CStr::from_ptr(name).to_string_lossy().into_owned()));
    if let Some(path) = &path {
        let mut shadows = lock(&state.shadows);
        shadows
            .entry(path.clone())
            .or_insert_with(|| Shadow { durable: std::fs::read(path).ok(), pending: Vec::new() });
        let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        lock(&state.sizes).insert(path.clone(), size);
    }
    std::ptr::write(
        file as *mut FaultFile,
        FaultFile { base: ffi::sqlite3_file { pMethods: &IO_METHODS }, real, real_layout: layout, state, path },
    );
    ffi::SQLITE_OK
}

unsafe extern "C" fn vfs_delete(vfs: *mut ffi::sqlite3_vfs, name: *const c_char, sync_dir: c_int) -> c_int {
    let state = state_of(vfs);
    if lock(&state.control).dead {
        return ffi::SQLITE_IOERR_DELETE;
    }
    let base = state.base;
    let rc = ((*base).xDelete.expect("xDelete"))(base, name, sync_dir);
    if rc == ffi::SQLITE_OK && !name.is_null() {
        let path = PathBuf::from(CStr::from_ptr(name).to_string_lossy().into_owned());
        lock(&state.shadows).insert(path.clone(), Shadow::default());
        lock(&state.sizes).remove(&path);
    }
    rc
}

unsafe extern "C" fn vfs_access(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    flags: c_int,
    out: *mut c_int,
) -> c_int {
    let base = base_of(vfs);
    ((*base).xAccess.expect("xAccess"))(base, name, flags, out)
}

unsafe extern "C" fn vfs_full_pathname(
    vfs: *mut ffi::sqlite3_vfs,
    name: *const c_char,
    n_out: c_int,
    out: *mut c_char,
) -> c_int {
    let base = base_of(vfs);
    ((*base).xFullPathname.expect("xFullPathname"))(base, name, n_out, out)
}

unsafe extern "C" fn vfs_randomness(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let base = base_of(vfs);
    ((*base).xRandomness.expect("xRandomness"))(base, n, out)
}

unsafe extern "C" fn vfs_sleep(vfs: *mut ffi::sqlite3_vfs, micros: c_int) -> c_int {
    let base = base_of(vfs);
    ((*base).xSleep.expect("xSleep"))(base, micros)
}

unsafe extern "C" fn vfs_current_time(vfs: *mut ffi::sqlite3_vfs, out: *mut f64) -> c_int {
    let base = base_of(vfs);
    ((*base).xCurrentTime.expect("xCurrentTime"))(base, out)
}

unsafe extern "C" fn vfs_get_last_error(vfs: *mut ffi::sqlite3_vfs, n: c_int, out: *mut c_char) -> c_int {
    let base = base_of(vfs);
    match (*base).xGetLastError {
        Some(get) => get(base, n, out),
        None => 0,
    }
}

unsafe extern "C" fn vfs_current_time_int64(vfs: *mut ffi::sqlite3_vfs, out: *mut ffi::sqlite3_int64) -> c_int {
    let base = base_of(vfs);
    match (*base).xCurrentTimeInt64 {
        Some(now) => now(base, out),
        None => ffi::SQLITE_ERROR,
    }
}

// ── The files' methods: counted and faulted where they touch the disk, forwarded otherwise ──

static IO_METHODS: ffi::sqlite3_io_methods = ffi::sqlite3_io_methods {
    iVersion: 2,
    xClose: Some(file_close),
    xRead: Some(file_read),
    xWrite: Some(file_write),
    xTruncate: Some(file_truncate),
    xSync: Some(file_sync),
    xFileSize: Some(file_size),
    xLock: Some(file_lock),
    xUnlock: Some(file_unlock),
    xCheckReservedLock: Some(file_check_reserved_lock),
    xFileControl: Some(file_control),
    xSectorSize: Some(file_sector_size),
    xDeviceCharacteristics: Some(file_device_characteristics),
    xShmMap: Some(file_shm_map),
    xShmLock: Some(file_shm_lock),
    xShmBarrier: Some(file_shm_barrier),
    xShmUnmap: Some(file_shm_unmap),
    xFetch: None,
    xUnfetch: None,
};

unsafe fn parts(
    file: *mut ffi::sqlite3_file,
) -> (&'static FaultFile, *mut ffi::sqlite3_file, &'static ffi::sqlite3_io_methods) {
    let file = &*(file as *const FaultFile);
    (file, file.real, &*(*file.real).pMethods)
}

unsafe extern "C" fn file_close(file: *mut ffi::sqlite3_file) -> c_int {
    let (_, real, methods) = parts(file);
    let rc = (methods.xClose.expect("xClose"))(real);
    let owned = std::ptr::read(file as *mut FaultFile);
    std::alloc::dealloc(owned.real as *mut u8, owned.real_layout);
    rc
}

unsafe extern "C" fn file_read(file: *mut ffi::sqlite3_file, buf: *mut c_void, amount: c_int, offset: i64) -> c_int {
    let (this, real, methods) = parts(file);
    if this.path.is_some() {
        if let Some(rc) = (*this.state).step(Op::Read) {
            return rc;
        }
    }
    (methods.xRead.expect("xRead"))(real, buf, amount, offset)
}

unsafe extern "C" fn file_write(file: *mut ffi::sqlite3_file, buf: *const c_void, amount: c_int, offset: i64) -> c_int {
    let (this, real, methods) = parts(file);
    let Some(path) = &this.path else { return (methods.xWrite.expect("xWrite"))(real, buf, amount, offset) };
    let state = &*this.state;
    if let Some(rc) = state.step(Op::Write) {
        return rc;
    }
    let end = offset as u64 + amount as u64;
    {
        let quota = lock(&state.control).quota;
        let mut sizes = lock(&state.sizes);
        let current = sizes.get(path).copied().unwrap_or(0);
        if let Some(quota) = quota {
            let total: u64 = sizes.values().sum();
            if end > current && total + (end - current) > quota {
                return ffi::SQLITE_FULL;
            }
        }
        if end > current {
            sizes.insert(path.clone(), end);
        }
    }
    let rc = (methods.xWrite.expect("xWrite"))(real, buf, amount, offset);
    if rc == ffi::SQLITE_OK {
        let data = std::slice::from_raw_parts(buf as *const u8, amount as usize).to_vec();
        state.record(path, Change::Write { offset: offset as usize, data });
    }
    rc
}

unsafe extern "C" fn file_truncate(file: *mut ffi::sqlite3_file, size: i64) -> c_int {
    let (this, real, methods) = parts(file);
    let Some(path) = &this.path else { return (methods.xTruncate.expect("xTruncate"))(real, size) };
    let state = &*this.state;
    if let Some(rc) = state.step(Op::Truncate) {
        return rc;
    }
    let rc = (methods.xTruncate.expect("xTruncate"))(real, size);
    if rc == ffi::SQLITE_OK {
        lock(&state.sizes).insert(path.clone(), size as u64);
        state.record(path, Change::Truncate(size as usize));
    }
    rc
}

unsafe extern "C" fn file_sync(file: *mut ffi::sqlite3_file, _flags: c_int) -> c_int {
    let (this, _, _) = parts(file);
    let Some(path) = &this.path else { return ffi::SQLITE_OK };
    let state = &*this.state;
    if let Some(rc) = state.step(Op::Sync) {
        return rc;
    }
    // No real fsync: the durable image is what a power cut keeps.
    state.synced(path);
    ffi::SQLITE_OK
}

unsafe extern "C" fn file_size(file: *mut ffi::sqlite3_file, out: *mut i64) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xFileSize.expect("xFileSize"))(real, out)
}

unsafe extern "C" fn file_lock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xLock.expect("xLock"))(real, level)
}

unsafe extern "C" fn file_unlock(file: *mut ffi::sqlite3_file, level: c_int) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xUnlock.expect("xUnlock"))(real, level)
}

unsafe extern "C" fn file_check_reserved_lock(file: *mut ffi::sqlite3_file, out: *mut c_int) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xCheckReservedLock.expect("xCheckReservedLock"))(real, out)
}

unsafe extern "C" fn file_control(file: *mut ffi::sqlite3_file, op: c_int, arg: *mut c_void) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xFileControl.expect("xFileControl"))(real, op, arg)
}

unsafe extern "C" fn file_sector_size(file: *mut ffi::sqlite3_file) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xSectorSize.expect("xSectorSize"))(real)
}

unsafe extern "C" fn file_device_characteristics(file: *mut ffi::sqlite3_file) -> c_int {
    let (_, real, methods) = parts(file);
    (methods.xDeviceCharacteristics.expect("xDeviceCharacteristics"))(real)
}

unsafe extern "C" fn file_shm_map(
    file: *mut ffi::sqlite3_file,
    region: c_int,
    size: c_int,
    extend: c_int,
    out: *mut *mut c_void,
) -> c_int {
    let (_, real, methods) = parts(file);
    match methods.xShmMap {
        Some(map) => map(real, region, size, extend, out),
        None => ffi::SQLITE_IOERR_SHMMAP,
    }
}

unsafe extern "C" fn file_shm_lock(file: *mut ffi::sqlite3_file, offset: c_int, n: c_int, flags: c_int) -> c_int {
    let (_, real, methods) = parts(file);
    match methods.xShmLock {
        Some(shm_lock) => shm_lock(real, offset, n, flags),
        None => ffi::SQLITE_IOERR_SHMLOCK,
    }
}

unsafe extern "C" fn file_shm_barrier(file: *mut ffi::sqlite3_file) {
    let (_, real, methods) = parts(file);
    if let Some(barrier) = methods.xShmBarrier {
        barrier(real);
    }
}

unsafe extern "C" fn file_shm_unmap(file: *mut ffi::sqlite3_file, delete: c_int) -> c_int {
    let (_, real, methods) = parts(file);
    match methods.xShmUnmap {
        Some(unmap) => unmap(real, delete),
        None => ffi::SQLITE_OK,
    }
}
