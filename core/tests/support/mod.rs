//! What several integration tests share.

#![allow(dead_code)]

pub mod fault_vfs;
