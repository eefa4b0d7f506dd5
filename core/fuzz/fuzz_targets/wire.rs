//! The JSON wire protocol the Node and browser surfaces speak (`wire::call_text`): an input is
//! calls, one per line (`op<TAB>arguments as JSON text`), run in turn on a fresh in-memory store.
//! Nothing may panic; every answer is JSON text or a refusal with one of the contract's codes.
#![no_main]

#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::wire(data));
