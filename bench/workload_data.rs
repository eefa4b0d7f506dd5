//! The data every benchmark program writes, and what a timed part reports: one file, included by
//! `bench/jetstate` and `bench/anchor` (two workspaces), so that both write the same events and
//! items. Only serde_json is needed.

use serde_json::{json, Value};

/// What a timed part did.
pub struct Measured {
    pub ops: usize,
    pub seconds: f64,
}

/// Events in the history that `read_history` reads, and leases per `reclaim_1000` round.
pub const HISTORY: usize = 1_000;
pub const EXPIRED_LEASES: usize = 1_000;

/// The kind of every benchmark event: a model node's completion, as the engine writes it.
pub fn event_kind(n: usize) -> Value {
    json!({
        "type": "node_completed",
        "node_id": format!("node-{}", n % 10),
        "output": {"answer": format!("result {n}"), "tokens": n},
        "state_patch": {"last": n},
        "duration_ms": 12,
        "gen_ai_system": "anthropic",
        "gen_ai_model": "claude",
        "input_tokens": 120,
        "output_tokens": 40
    })
}

pub fn initial_input() -> Value {
    json!({"topic": "benchmarks", "budget": 10})
}

pub fn payload(n: usize) -> Value {
    json!({"step": n, "prompt": "summarize the findings"})
}
