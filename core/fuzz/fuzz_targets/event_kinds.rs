//! Event kinds as strangers write them: any JSON text. Reading a kind from its text takes a fast
//! path that must agree with reading it from a parsed value; a kind appended as JSON is stored
//! and read back exactly as given (or refused, and nothing is written).
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::event_kinds(data));
