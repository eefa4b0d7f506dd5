//! Where a store's data lives, as the caller names it.

use std::path::{Path, PathBuf};

/// Where a store's data lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    /// A private in-memory database, gone when the store is dropped.
    Memory,
}

impl Location {
    /// `":memory:"` (or an empty path) means memory; anything else is a file path.
    pub fn from_path(path: impl AsRef<Path>) -> Location {
        let path = path.as_ref();
        if path.as_os_str().is_empty() || path.as_os_str() == ":memory:" {
            Location::Memory
        } else {
            Location::File(path.to_path_buf())
        }
    }
}
