//! Events: the immutable records of the event log, and the catalogue of their kinds
//! (`docs/EVENTS.md`), at the module path the engine's own crate uses.
//!
//! A kind is an internally tagged JSON object (`{"type": "node_started", ...}`). A kind outside
//! the catalogue, or one whose fields do not fit it exactly (a field missing or mistyped, or one
//! the catalogue does not name, as a newer engine may write), is read back as
//! [`EventKind::Unknown`] holding the JSON exactly as stored: reading never fails on it and
//! writing it back changes nothing. (Unknown fields are refused by the typed variants for this
//! reason: accepting them would silently drop them on the next write.)

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::workflow::ExecutionId;

/// Identifier of a node of a workflow graph.
pub type NodeId = String;

/// Position of an event in its execution's log: unique per execution, starting at 1.
pub type EventSequence = i64;

/// A durable, immutable record of one state transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub id: Uuid,
    pub execution_id: ExecutionId,
    pub sequence: EventSequence,
    pub kind: EventKind,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub created_at: DateTime<Utc>,
}

impl Event {
    /// A new event with a fresh id, stamped with the system time.
    pub fn new(execution_id: ExecutionId, sequence: EventSequence, kind: EventKind) -> Self {
        Event { id: Uuid::new_v4(), execution_id, sequence, kind, created_at: crate::clock::system_now() }
    }
}

/// Provenance of a node's output, for research traceability.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvenanceMetadata {
    pub model_id: Option<String>,
    pub model_version: Option<String>,
    /// Confidence in 0.0..=1.0, if known.
    pub confidence: Option<f64>,
    #[serde(default)]
    pub verified: bool,
    pub source: Option<String>,
    pub trust_domain: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence_refs: Vec<String>,
}

/// A human's answer to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalDecision {
    Approved,
    Rejected,
}

/// Every kind of event the engine writes (EVENTS.md), plus [`EventKind::Unknown`] for the rest.
///
/// The derived (de)serializers below are the catalogue's wire shapes; the `Serialize` and
/// `Deserialize` impls after the enum wrap them (`remote = "Self"`), so that only an object with
/// a string `type` is ever read as a catalogued kind. (Serde alone would also read a variant
/// index as a tag: `[1, 2]` as `workflow_completed`.)
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(remote = "Self", tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    WorkflowStarted {
        workflow_id: String,
        workflow_version: String,
        initial_input: serde_json::Value,
    },
    WorkflowCompleted {
        final_state: serde_json::Value,
    },
    WorkflowFailed {
        error: String,
    },
    WorkflowCancelled {
        reason: Option<String>,
    },
    NodeScheduled {
        node_id: NodeId,
        queue_type: String,
    },
    NodeStarted {
        node_id: NodeId,
        worker_id: String,
        attempt: u32,
    },
    NodeCompleted {
        node_id: NodeId,
        output: serde_json::Value,
        state_patch: serde_json::Value,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gen_ai_system: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        gen_ai_model: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        input_tokens: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_tokens: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        finish_reason: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cost_usd: Option<f64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        provenance: Option<Box<ProvenanceMetadata>>,
    },
    NodeFailed {
        node_id: NodeId,
        error: String,
        attempt: u32,
        retryable: bool,
    },
    NodeSkipped {
        node_id: NodeId,
        reason: String,
    },
    NodeCancelled {
        node_id: NodeId,
    },
    RetryScheduled {
        node_id: NodeId,
        attempt: u32,
        delay_ms: u64,
    },
    InterruptRaised {
        node_id: NodeId,
        reason: String,
        state_for_review: serde_json::Value,
    },
    ApprovalReceived {
        node_id: NodeId,
        user_id: String,
        decision: ApprovalDecision,
        comment: Option<String>,
        state_patch: Option<serde_json::Value>,
    },
    TimerCreated {
        node_id: NodeId,
        fire_at: DateTime<Utc>,
        correlation_key: Option<String>,
    },
    TimerFired {
        node_id: NodeId,
        correlation_key: Option<String>,
    },
    ExternalEventReceived {
        correlation_key: String,
        payload: serde_json::Value,
    },
    ChildWorkflowStarted {
        node_id: NodeId,
        child_execution_id: String,
        child_workflow_id: String,
    },
    ChildWorkflowCompleted {
        node_id: NodeId,
        child_execution_id: String,
        result: serde_json::Value,
    },
    ChildWorkflowFailed {
        node_id: NodeId,
        child_execution_id: String,
        error: String,
    },
    BudgetExceeded {
        node_id: NodeId,
        kind: String,
        limit: u64,
        current: u64,
    },
    TokenBudgetExceeded {
        node_id: NodeId,
        kind: String,
        limit: u64,
        current: u64,
    },
    CostBudgetExceeded {
        node_id: NodeId,
        limit_usd: f64,
        current_usd: f64,
    },
    AutonomyLimitReached {
        node_id: NodeId,
        agent_ref: String,
        limit_type: String,
        limit_value: serde_json::Value,
        actual_value: serde_json::Value,
    },
    CircuitBreakerTripped {
        node_id: NodeId,
        agent_ref: String,
        consecutive_errors: u32,
        threshold: u32,
    },
    EscalationRequired {
        node_id: NodeId,
        agent_ref: String,
        reason: String,
        escalation_target: String,
    },
    PolicyViolation {
        node_id: NodeId,
        rule: String,
        decision: String,
        policy_scope: String,
    },
    ToolApprovalRequired {
        node_id: NodeId,
        tool_name: String,
        approver: String,
        context: serde_json::Value,
    },
    StrategyStarted {
        strategy: String,
        config: serde_json::Value,
    },
    PlanGenerated {
        steps: Vec<String>,
    },
    IterationStarted {
        iteration: u32,
    },
    ToolCalled {
        node_id: NodeId,
        tool: String,
    },
    CriticVerdict {
        node_id: NodeId,
        score: f64,
        passed: bool,
        feedback: Option<String>,
    },
    IterationCompleted {
        iteration: u32,
        cost_delta_usd: Option<f64>,
        input_tokens: u64,
        output_tokens: u64,
    },
    StrategyLimitHit {
        limit_type: String,
        limit_value: serde_json::Value,
        actual_value: serde_json::Value,
    },
    StrategyCompleted {
        iterations: u32,
        total_cost_usd: Option<f64>,
    },
    CoordinatorDiscovery {
        node_id: NodeId,
        query_skills: Vec<String>,
        query_trust_domain: Option<String>,
        candidates: Vec<serde_json::Value>,
        filtered_out: Vec<serde_json::Value>,
    },
    CoordinatorScoring {
        node_id: NodeId,
        rankings: Vec<serde_json::Value>,
        spread: f64,
        weights: serde_json::Value,
    },
    CoordinatorDecision {
        node_id: NodeId,
        selected: Option<String>,
        method: String,
        reasoning: Option<String>,
        confidence: f64,
        rejected: Vec<serde_json::Value>,
        tiebreaker_tokens: Option<serde_json::Value>,
        tiebreaker_cost: Option<f64>,
    },
    AgentToolInvoked {
        node_id: NodeId,
        agent_uri: String,
        mode: String,
        protocol: String,
        input_hash: String,
    },
    AgentToolProgress {
        node_id: NodeId,
        chunk_index: u32,
        partial_output_summary: String,
    },
    AgentToolTurn {
        node_id: NodeId,
        turn_number: u32,
        direction: String,
        content_summary: String,
        tokens: u32,
        cost: f64,
    },
    AgentToolCompleted {
        node_id: NodeId,
        output: serde_json::Value,
        provenance: Option<serde_json::Value>,
        total_cost: f64,
        latency_ms: u64,
        total_turns: Option<u32>,
    },
    AgentToolTerminated {
        node_id: NodeId,
        reason: String,
        chunks_received: u32,
        partial_output: Option<serde_json::Value>,
        cost: f64,
    },
    AgentToolFailed {
        node_id: NodeId,
        failure_type: String,
        message: String,
        retryable: bool,
    },
    /// A kind outside the catalogue, or one whose fields do not match it exactly, kept as
    /// stored (the whole object, `type` included) so that it round-trips unchanged.
    #[serde(skip)]
    Unknown(serde_json::Value),
}

impl Serialize for EventKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            EventKind::Unknown(raw) => raw.serialize(serializer),
            catalogued => EventKind::serialize(catalogued, serializer),
        }
    }
}

impl<'de> Deserialize<'de> for EventKind {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = serde_json::Value::deserialize(deserializer)?;
        Ok(EventKind::from_json(raw))
    }
}

impl EventKind {
    /// Reads a kind from JSON: a catalogued kind when `raw` is an object with a string `type`
    /// whose fields fit that kind exactly, [`EventKind::Unknown`] holding `raw` otherwise. Never
    /// fails.
    pub fn from_json(raw: serde_json::Value) -> EventKind {
        if !raw.get("type").is_some_and(serde_json::Value::is_string) {
            return EventKind::Unknown(raw);
        }
        EventKind::deserialize(&raw).unwrap_or(EventKind::Unknown(raw))
    }

    /// Reads a kind from its JSON text, with the same outcome as [`EventKind::from_json`] but
    /// without building a `Value` first when the text is a catalogued kind.
    pub fn from_json_text(text: &str) -> EventKind {
        if !tag_is_string_everywhere(text) {
            // A `"type"` key followed by something other than a string: let the careful path
            // decide (serde would take a number as a variant index).
            return match serde_json::from_str(text) {
                Ok(raw) => EventKind::from_json(raw),
                Err(_) => EventKind::Unknown(serde_json::Value::String(text.to_string())),
            };
        }
        let mut deserializer = serde_json::Deserializer::from_str(text);
        match EventKind::deserialize(&mut deserializer).and_then(|kind| deserializer.end().map(|()| kind)) {
            Ok(kind) => kind,
            // Not a catalogued kind read straight from the text; the value decides, as in
            // `from_json` (a key given twice, for one, fails here but keeps its last value there:
            // found by fuzzing, core/fuzz/regressions/event_kinds/).
            Err(_) => match serde_json::from_str(text) {
                Ok(raw) => EventKind::from_json(raw),
                Err(_) => EventKind::Unknown(serde_json::Value::String(text.to_string())),
            },
        }
    }

    /// The kind's JSON text and its `type` tag, for storage. A catalogued kind serializes with its
    /// tag first (serde writes an internally tagged enum's tag before its fields), so the tag is
    /// read off the text without a second pass. An `Unknown` kind must be an object with a
    /// non-empty string `type`, else InvalidArgument.
    pub(crate) fn encode(&self) -> crate::Result<(String, String)> {
        match self {
            EventKind::Unknown(raw) => {
                let tag = kind_type(raw)?.to_string();
                Ok((tag, crate::sql::json_text(raw)?))
            }
            catalogued => {
                let text = crate::sql::json_text(catalogued)?;
                let tag = text
                    .strip_prefix("{\"type\":\"")
                    .and_then(|rest| rest.split_once('"'))
                    .map(|(tag, _)| tag.to_string())
                    .ok_or_else(|| crate::Error::internal("a catalogued kind serialized without its tag first"))?;
                Ok((tag, text))
            }
        }
    }

    /// The `type` tag of this kind (`"node_started"`, ...); for [`EventKind::Unknown`], the tag
    /// it was stored with.
    pub fn type_name(&self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(fields)) => match fields.get("type") {
                Some(serde_json::Value::String(tag)) => tag.clone(),
                _ => String::new(),
            },
            _ => String::new(),
        }
    }

    /// The node this event is about, if it is about one.
    pub fn node_id(&self) -> Option<&str> {
        use EventKind::*;
        match self {
            NodeScheduled { node_id, .. }
            | NodeStarted { node_id, .. }
            | NodeCompleted { node_id, .. }
            | NodeFailed { node_id, .. }
            | NodeSkipped { node_id, .. }
            | NodeCancelled { node_id }
            | RetryScheduled { node_id, .. }
            | InterruptRaised { node_id, .. }
            | ApprovalReceived { node_id, .. }
            | TimerCreated { node_id, .. }
            | TimerFired { node_id, .. }
            | ChildWorkflowStarted { node_id, .. }
            | ChildWorkflowCompleted { node_id, .. }
            | ChildWorkflowFailed { node_id, .. }
            | BudgetExceeded { node_id, .. }
            | TokenBudgetExceeded { node_id, .. }
            | CostBudgetExceeded { node_id, .. }
            | AutonomyLimitReached { node_id, .. }
            | CircuitBreakerTripped { node_id, .. }
            | EscalationRequired { node_id, .. }
            | PolicyViolation { node_id, .. }
            | ToolApprovalRequired { node_id, .. }
            | ToolCalled { node_id, .. }
            | CriticVerdict { node_id, .. }
            | CoordinatorDiscovery { node_id, .. }
            | CoordinatorScoring { node_id, .. }
            | CoordinatorDecision { node_id, .. }
            | AgentToolInvoked { node_id, .. }
            | AgentToolProgress { node_id, .. }
            | AgentToolTurn { node_id, .. }
            | AgentToolCompleted { node_id, .. }
            | AgentToolTerminated { node_id, .. }
            | AgentToolFailed { node_id, .. } => Some(node_id.as_str()),
            Unknown(raw) => raw.get("node_id").and_then(|id| id.as_str()),
            _ => None,
        }
    }
}

/// Whether every `"type"` key in `text` is followed by a string value. Serde reads a number as
/// a variant index; a kind whose tag is not a string must not be typed.
fn tag_is_string_everywhere(text: &str) -> bool {
    let mut rest = text;
    while let Some(at) = rest.find("\"type\"") {
        rest = &rest[at + 6..];
        let after = rest.trim_start();
        if let Some(value) = after.strip_prefix(':') {
            if !value.trim_start().starts_with('"') {
                return false;
            }
        }
    }
    true
}

/// The `type` tag of a kind about to be written; a kind that is not an object with a non-empty
/// string `type` is refused (InvalidArgument). The rule of what a kind is, for every path that
/// writes one (typed or raw, appended or imported).
pub(crate) fn kind_type(kind: &serde_json::Value) -> crate::Result<&str> {
    match kind.get("type") {
        Some(serde_json::Value::String(tag)) if kind.is_object() && !tag.is_empty() => Ok(tag),
        _ => Err(crate::Error::invalid("an event kind must be a JSON object with a non-empty string field \"type\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn catalogued_kinds_keep_their_wire_shape() {
        let kind: EventKind = serde_json::from_value(json!({
            "type": "node_completed", "node_id": "n1", "output": {"a": 1},
            "state_patch": {"b": 2}, "duration_ms": 12
        }))
        .expect("node_completed parses");
        assert!(matches!(kind, EventKind::NodeCompleted { ref node_id, .. } if node_id == "n1"));
        // Absent telemetry stays absent on the way out.
        assert_eq!(
            serde_json::to_value(&kind).expect("serializes"),
            json!({"type": "node_completed", "node_id": "n1", "output": {"a": 1},
                   "state_patch": {"b": 2}, "duration_ms": 12})
        );
        assert_eq!(kind.type_name(), "node_completed");
    }

    #[test]
    fn every_catalogued_kind_encodes_with_its_tag_first() {
        let catalogue = include_str!("../../tests/conformance/event_kinds.json");
        let scenario: serde_json::Value = serde_json::from_str(catalogue).expect("vector");
        let events = scenario["steps"][1]["args"]["events"].as_array().expect("events");
        let mut typed = 0;
        for event in events {
            let raw = event["kind"].clone();
            let kind = EventKind::from_json(raw.clone());
            if matches!(kind, EventKind::Unknown(_)) {
                continue;
            }
            typed += 1;
            let (tag, text) = kind.encode().expect("encodes");
            assert_eq!(tag, raw["type"].as_str().expect("tag"));
            assert_eq!(EventKind::from_json_text(&text), kind);
        }
        assert!(typed >= 44, "only {typed} kinds were typed");
    }

    #[test]
    fn reading_text_decides_as_reading_a_value_does() {
        for raw in [
            json!({"type": "node_started", "node_id": "n", "worker_id": "w", "attempt": 1}),
            json!({"attempt": 1, "node_id": "n", "type": "node_started", "worker_id": "w"}),
            json!({"type": 1, "final_state": 2}),
            json!({"type": "workflow_completed", "final_state": {"type": 3}}),
            json!([1, 2]),
            json!({"type": "later", "x": 1}),
            json!(null),
        ] {
            assert_eq!(EventKind::from_json_text(&raw.to_string()), EventKind::from_json(raw.clone()), "{raw}");
        }
    }

    #[test]
    fn unknown_and_malformed_kinds_round_trip_unchanged() {
        for raw in [
            json!({"type": "from_a_newer_engine", "x": [1, 2, {"y": null}]}),
            json!({"type": "node_started", "node_id": "n1"}),
            json!({"type": "node_started", "node_id": "n1", "worker_id": "w", "attempt": 1, "host": "newer"}),
            json!({"no_type_at_all": true}),
            json!([1, 2]),
            json!({"type": 1, "final_state": 2}),
            json!(null),
        ] {
            let kind: EventKind = serde_json::from_value(raw.clone()).expect("never fails");
            assert_eq!(kind, EventKind::Unknown(raw.clone()));
            assert_eq!(serde_json::to_value(&kind).expect("serializes"), raw);
        }
        let newer = EventKind::Unknown(json!({"type": "later_kind", "node_id": "n9"}));
        assert_eq!(newer.type_name(), "later_kind");
        assert_eq!(newer.node_id(), Some("n9"));
    }
}
