//! Merge patches of materialization: an input is a JSON array `[state, patch, patch, ...]`. The
//! store's materialization (snapshot-free, from its stored log) must equal the pure fold over the
//! same events, and applying a patch a second time changes nothing (RFC 7396 is idempotent).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::merge_patch(data));
