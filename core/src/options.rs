//! Options given when a store is opened.

use std::str::FromStr;
use std::time::Duration;

use crate::clock::Clock;
use crate::error::{Error, Result};

/// What a call that returned success is promised to survive (core/DESIGN.md, "Durability").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Durability {
    /// `synchronous=FULL`: the WAL is synced at every commit; a call that returned survives
    /// power loss.
    #[default]
    Full,
    /// `synchronous=NORMAL`: the WAL is synced at checkpoints; a call that returned survives a
    /// crash of the process, but the last commits may be lost if the machine loses power.
    Normal,
}

impl Durability {
    pub fn as_str(&self) -> &'static str {
        match self {
            Durability::Full => "full",
            Durability::Normal => "normal",
        }
    }
}

impl FromStr for Durability {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        match text {
            "full" => Ok(Durability::Full),
            "normal" => Ok(Durability::Normal),
            _ => Err(Error::invalid(format!("unknown durability {text:?}: expected \"full\" or \"normal\""))),
        }
    }
}

/// How a store behaves. `Options::default()` is what a store opened without options gets.
#[derive(Debug, Clone)]
pub struct Options {
    pub durability: Durability,
    /// Length of a lease taken by a claim (default 30 s); a claim may ask for another.
    pub lease: Duration,
    /// Delay before the first retry of a reclaimed item (default 1 s); it doubles per attempt.
    pub backoff_base: Duration,
    /// Longest retry delay (default 64 s).
    pub backoff_cap: Duration,
    /// Spread each retry delay uniformly over [delay/2, delay] (default off, so that tests and
    /// replays see exact delays).
    pub backoff_jitter: bool,
    /// How long a writer waits for another connection's lock before failing (default 5 s).
    pub busy_timeout: Duration,
    /// The clock every time-based rule reads (default: the system clock).
    pub clock: Clock,
    /// Open an existing file without ever writing to it (default off): no creation, no
    /// migration, no journal switch; every write call fails with a Database error. For
    /// inspectors and read commands that must leave the file as it is.
    pub read_only: bool,
    /// Hold the file's lock for as long as the store is open (`locking_mode=EXCLUSIVE`; default
    /// off). No other connection, of this process or another, can then read or write the file;
    /// in return the store works through one connection, and WAL keeps its index in that
    /// connection's memory instead of a shared-memory file: what a VFS without shared memory
    /// (the browser's OPFS pool) needs for WAL. Ignored in memory.
    pub exclusive: bool,
    /// The SQLite VFS that opens the file (default: SQLite's own for the platform). The browser
    /// build names its OPFS pool here.
    pub vfs: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Full,
            lease: Duration::from_secs(30),
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(64),
            backoff_jitter: false,
            busy_timeout: Duration::from_secs(5),
            clock: Clock::system(),
            read_only: false,
            exclusive: false,
            vfs: None,
        }
    }
}

impl Options {
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff_base = base;
        self.backoff_cap = cap;
        self
    }

    pub fn backoff_jitter(mut self, jitter: bool) -> Self {
        self.backoff_jitter = jitter;
        self
    }

    pub fn busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    pub fn read_only(mut self, read_only: bool) -> Self {
        self.read_only = read_only;
        self
    }

    pub fn exclusive(mut self, exclusive: bool) -> Self {
        self.exclusive = exclusive;
        self
    }

    pub fn vfs(mut self, vfs: impl Into<String>) -> Self {
        self.vfs = Some(vfs.into());
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Refuses options no store can honour.
    pub(crate) fn validate(&self) -> Result<()> {
        if self.lease.is_zero() {
            return Err(Error::invalid("lease must be longer than zero"));
        }
        validate_lease(self.lease)?;
        if self.backoff_base > self.backoff_cap {
            return Err(Error::invalid(format!(
                "backoff base ({:?}) must not exceed the backoff cap ({:?})",
                self.backoff_base, self.backoff_cap
            )));
        }
        if self.busy_timeout > Duration::from_secs(24 * 3600) {
            return Err(Error::invalid("busy timeout must be at most one day"));
        }
        Ok(())
    }
}

/// A lease must be positive and fit the stored microsecond times with room to spare.
pub(crate) fn validate_lease(lease: Duration) -> Result<()> {
    const LONGEST: Duration = Duration::from_secs(366 * 24 * 3600);
    if lease.is_zero() || lease > LONGEST {
        return Err(Error::invalid(format!("lease {lease:?} must be longer than zero and at most a year")));
    }
    Ok(())
}
