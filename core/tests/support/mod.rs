//! What several integration tests share.

#![allow(dead_code)]

pub mod fault_vfs;
#[cfg(feature = "postgres")]
pub mod server;
