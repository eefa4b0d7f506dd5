//! Materialization: an execution's current state rebuilt from its snapshot and event log.
//!
//! Rule (CONTRACT.md section 6): state = the latest snapshot's state (or `initial_input` when
//! there is none) with the events after the snapshot applied in order:
//! `node_completed.state_patch` and `approval_received.state_patch` are JSON merge patches
//! (RFC 7396), `workflow_completed.final_state` replaces the state. A top-level `null` patch is
//! "no patch" (as the engine writes it), not "replace the state by null".
//! Status, completed nodes and active nodes are derived from all of the execution's events,
//! those before the snapshot included, starting from `pending`.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

use crate::event::{Event, EventKind, EventSequence};
use crate::snapshot::DEFAULT_SNAPSHOT_INTERVAL;
use crate::workflow::WorkflowStatus;

/// The materialization through the engine's trait lives with the trait (`backend/`); the engine's
/// own crate names it here, so it is named here too.
pub use crate::backend::materialize;

/// The materialized state of an execution.
#[derive(Debug, Clone, PartialEq)]
pub struct MaterializedState {
    pub current_state: Value,
    /// Status derived from the events.
    pub status: WorkflowStatus,
    /// Nodes that completed, with their outputs.
    pub completed_nodes: HashMap<String, Value>,
    /// Nodes scheduled or started and not yet completed, failed, skipped or cancelled.
    pub active_nodes: HashSet<String>,
    /// The highest sequence seen.
    pub last_sequence: EventSequence,
}

impl MaterializedState {
    /// A deterministic JSON form (active nodes sorted), for surfaces and conformance vectors.
    pub fn to_json(&self) -> Value {
        let mut active: Vec<&String> = self.active_nodes.iter().collect();
        active.sort();
        serde_json::json!({
            "current_state": self.current_state,
            "status": self.status.as_str(),
            "completed_nodes": self.completed_nodes,
            "active_nodes": active,
            "last_sequence": self.last_sequence,
        })
    }
}

/// Whether a snapshot is due after `events_since_snapshot` events.
pub fn should_snapshot(events_since_snapshot: i64) -> bool {
    events_since_snapshot >= DEFAULT_SNAPSHOT_INTERVAL
}

/// Applies `events` (ascending) to `current_state`, deriving status from `initial_status`.
pub fn apply_events(current_state: Value, events: &[Event], initial_status: &WorkflowStatus) -> MaterializedState {
    fold(current_state, 0, events, *initial_status)
}

/// Applies to `state` the patches of events after `base_sequence`, and derives status and nodes
/// from every event given.
pub(crate) fn fold(
    mut state: Value,
    base_sequence: EventSequence,
    events: &[Event],
    initial: WorkflowStatus,
) -> MaterializedState {
    let mut status = initial;
    let mut completed_nodes = HashMap::new();
    let mut active_nodes = HashSet::new();
    let mut last_sequence = base_sequence;
    for event in events {
        let patches_state = event.sequence > base_sequence;
        last_sequence = last_sequence.max(event.sequence);
        match &event.kind {
            EventKind::WorkflowStarted { .. } => status = WorkflowStatus::Running,
            EventKind::WorkflowCompleted { final_state } => {
                status = WorkflowStatus::Completed;
                if patches_state {
                    state = final_state.clone();
                }
            }
            EventKind::WorkflowFailed { .. } => status = WorkflowStatus::Failed,
            EventKind::WorkflowCancelled { .. } => status = WorkflowStatus::Cancelled,
            EventKind::StrategyLimitHit { .. } => status = WorkflowStatus::LimitExceeded,
            EventKind::InterruptRaised { .. } if status == WorkflowStatus::Running => {
                status = WorkflowStatus::Paused;
            }
            EventKind::ApprovalReceived { state_patch, .. } => {
                status = WorkflowStatus::Running;
                if let (true, Some(patch)) = (patches_state, state_patch) {
                    merge_patch(&mut state, patch);
                }
            }
            EventKind::NodeScheduled { node_id, .. } | EventKind::NodeStarted { node_id, .. } => {
                active_nodes.insert(node_id.clone());
            }
            EventKind::NodeCompleted { node_id, output, state_patch, .. } => {
                active_nodes.remove(node_id);
                completed_nodes.insert(node_id.clone(), output.clone());
                if patches_state {
                    merge_patch(&mut state, state_patch);
                }
            }
            EventKind::NodeFailed { node_id, .. }
            | EventKind::NodeSkipped { node_id, .. }
            | EventKind::NodeCancelled { node_id } => {
                active_nodes.remove(node_id);
            }
            _ => {}
        }
    }
    MaterializedState { current_state: state, status, completed_nodes, active_nodes, last_sequence }
}

/// RFC 7396 merge, except that a top-level `null` patch leaves the state alone.
fn merge_patch(state: &mut Value, patch: &Value) {
    if !patch.is_null() {
        json_patch::merge(state, patch);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::ExecutionId;
    use serde_json::json;

    fn event(sequence: i64, kind: Value) -> Event {
        let kind = serde_json::from_value(kind).expect("kind parses");
        Event::new(ExecutionId::new(), sequence, kind)
    }

    #[test]
    fn merge_patches_follow_rfc_7396() {
        let events = [
            event(
                1,
                json!({"type": "workflow_started", "workflow_id": "w", "workflow_version": "1", "initial_input": {}}),
            ),
            event(
                2,
                json!({"type": "node_completed", "node_id": "a", "output": 1, "duration_ms": 1,
                            "state_patch": {"keep": 1, "drop": null, "nested": {"x": 1}}}),
            ),
            event(
                3,
                json!({"type": "node_completed", "node_id": "b", "output": 2, "duration_ms": 1,
                            "state_patch": {"nested": {"y": 2}, "gone": null}}),
            ),
            event(
                4,
                json!({"type": "node_completed", "node_id": "c", "output": 3, "duration_ms": 1,
                            "state_patch": null}),
            ),
        ];
        let state = apply_events(json!({"drop": true, "gone": 1}), &events, &WorkflowStatus::Pending);
        assert_eq!(state.current_state, json!({"keep": 1, "nested": {"x": 1, "y": 2}}));
        assert_eq!(state.status, WorkflowStatus::Running);
        assert_eq!(state.last_sequence, 4);
        assert_eq!(state.completed_nodes.len(), 3);
    }

    #[test]
    fn status_comes_from_events_before_the_snapshot_too() {
        let events = [
            event(
                1,
                json!({"type": "workflow_started", "workflow_id": "w", "workflow_version": "1", "initial_input": {}}),
            ),
            event(2, json!({"type": "node_scheduled", "node_id": "a", "queue_type": "q"})),
            event(3, json!({"type": "interrupt_raised", "node_id": "a", "reason": "r", "state_for_review": {}})),
            event(
                4,
                json!({"type": "node_completed", "node_id": "a", "output": 1, "duration_ms": 1, "state_patch": {"late": true}}),
            ),
        ];
        // The snapshot at 3 already holds what events 1..=3 did to the state.
        let state = fold(json!({"from": "snapshot"}), 3, &events, WorkflowStatus::Pending);
        assert_eq!(state.status, WorkflowStatus::Paused);
        assert_eq!(state.current_state, json!({"from": "snapshot", "late": true}));
        assert!(state.active_nodes.is_empty());
    }

    #[test]
    fn snapshot_due_every_fifty_events() {
        assert!(!should_snapshot(49));
        assert!(should_snapshot(50));
    }
}
