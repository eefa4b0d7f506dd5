//! `import` of JSON Lines: an input is an export, possibly broken. Nothing may panic; an import
//! that fails leaves the store as it was; one that succeeds exports to lines that import again
//! into a fresh store, whose export is the same.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::import_jsonl(data));
