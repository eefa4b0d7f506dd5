'use strict';
// The benchmarks' data, as the Rust benchmark writes it (bench/jetstate/src/main.rs): an event's
// kind and a work item's payload. Shared by bench.js and js-layer.js.
const eventKind = (n) => ({
  type: 'node_completed', node_id: `node-${n % 10}`, output: { answer: `result ${n}`, tokens: n }, state_patch: { last: n },
  duration_ms: 12, gen_ai_system: 'anthropic', gen_ai_model: 'claude', input_tokens: 120, output_tokens: 40,
});
const payload = (n) => ({ step: n, prompt: 'summarize the findings' });

module.exports = { eventKind, payload };
