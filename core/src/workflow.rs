//! Workflow executions: the record types (at the module path the engine's own crates use, so its
//! code ports by renaming the crate) and their string forms.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

/// Identifier of a workflow definition.
pub type WorkflowId = String;

/// Identifier of one execution. Displays as `exec_<32 hex digits>`; parses from that form or from
/// any UUID form (`FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExecutionId(pub Uuid);

impl ExecutionId {
    pub fn new() -> Self {
        ExecutionId(Uuid::new_v4())
    }
}

impl Default for ExecutionId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for ExecutionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "exec_{}", self.0.simple())
    }
}

impl FromStr for ExecutionId {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        let uuid_text = text.strip_prefix("exec_").unwrap_or(text);
        Uuid::parse_str(uuid_text).map(ExecutionId).map_err(|_| {
            crate::Error::invalid(format!("malformed execution id {text:?}: expected a UUID or exec_<32 hex digits>"))
        })
    }
}

/// The lifecycle status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkflowStatus {
    /// Created, not yet started.
    Pending,
    /// One or more nodes are active or queued.
    Running,
    /// Waiting for a human approval, an external event or a timer.
    Paused,
    /// Finished successfully.
    Completed,
    /// A node failed beyond its retry policy.
    Failed,
    /// Explicitly cancelled.
    Cancelled,
    /// A strategy limit (iterations, cost, time) was exceeded.
    LimitExceeded,
}

impl WorkflowStatus {
    pub const ALL: [WorkflowStatus; 7] = [
        WorkflowStatus::Pending,
        WorkflowStatus::Running,
        WorkflowStatus::Paused,
        WorkflowStatus::Completed,
        WorkflowStatus::Failed,
        WorkflowStatus::Cancelled,
        WorkflowStatus::LimitExceeded,
    ];

    /// Terminal statuses admit no further transition; reaching one sets `completed_at`.
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            WorkflowStatus::Completed
                | WorkflowStatus::Failed
                | WorkflowStatus::Cancelled
                | WorkflowStatus::LimitExceeded
        )
    }

    /// True while the execution can still accept work.
    pub fn is_active(&self) -> bool {
        !self.is_terminal()
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            WorkflowStatus::Pending => "pending",
            WorkflowStatus::Running => "running",
            WorkflowStatus::Paused => "paused",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Cancelled => "cancelled",
            WorkflowStatus::LimitExceeded => "limit_exceeded",
        }
    }
}

impl fmt::Display for WorkflowStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for WorkflowStatus {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        WorkflowStatus::ALL
            .into_iter()
            .find(|status| status.as_str() == text)
            .ok_or_else(|| crate::Error::invalid(format!("unknown workflow status {text:?}")))
    }
}

/// The governance and durability model of an execution session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionType {
    Stateless,
    Resumable,
    PersistentGoverned,
    Ephemeral,
    ApprovalGated,
}

impl SessionType {
    pub const ALL: [SessionType; 5] = [
        SessionType::Stateless,
        SessionType::Resumable,
        SessionType::PersistentGoverned,
        SessionType::Ephemeral,
        SessionType::ApprovalGated,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            SessionType::Stateless => "stateless",
            SessionType::Resumable => "resumable",
            SessionType::PersistentGoverned => "persistent_governed",
            SessionType::Ephemeral => "ephemeral",
            SessionType::ApprovalGated => "approval_gated",
        }
    }
}

impl FromStr for SessionType {
    type Err = crate::Error;

    fn from_str(text: &str) -> crate::Result<Self> {
        SessionType::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| crate::Error::invalid(format!("unknown session type {text:?}")))
    }
}

/// One execution of a workflow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowExecution {
    pub execution_id: ExecutionId,
    pub workflow_id: WorkflowId,
    pub workflow_version: String,
    pub status: WorkflowStatus,
    pub initial_input: serde_json::Value,
    pub current_state: serde_json::Value,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub started_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::clock::serialize_time")]
    pub updated_at: DateTime<Utc>,
    #[serde(serialize_with = "crate::clock::serialize_optional_time")]
    pub completed_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_type: Option<SessionType>,
}

impl WorkflowExecution {
    /// A new pending execution of `workflow_id` at `version`: a fresh id, its state the input,
    /// started now (system time).
    pub fn new(workflow_id: impl Into<String>, version: impl Into<String>, initial_input: serde_json::Value) -> Self {
        let now = crate::clock::system_now();
        WorkflowExecution {
            execution_id: ExecutionId::new(),
            workflow_id: workflow_id.into(),
            workflow_version: version.into(),
            status: WorkflowStatus::Pending,
            current_state: initial_input.clone(),
            initial_input,
            started_at: now,
            updated_at: now,
            completed_at: None,
            session_type: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn execution_id_displays_and_parses_both_forms() {
        let id = ExecutionId::new();
        let shown = id.to_string();
        assert!(shown.starts_with("exec_") && shown.len() == 37, "{shown}");
        assert_eq!(shown.parse::<ExecutionId>().expect("exec_ form parses"), id);
        assert_eq!(id.0.to_string().parse::<ExecutionId>().expect("uuid form parses"), id);
        let err = "exec_nothex".parse::<ExecutionId>().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument);
    }

    #[test]
    fn statuses_round_trip_their_names() {
        for status in WorkflowStatus::ALL {
            assert_eq!(status.as_str().parse::<WorkflowStatus>().expect("parses"), status);
            let json = serde_json::to_value(status).expect("serializes");
            assert_eq!(json, serde_json::json!(status.as_str()));
        }
        for kind in SessionType::ALL {
            assert_eq!(kind.as_str().parse::<SessionType>().expect("parses"), kind);
            assert_eq!(serde_json::to_value(kind).expect("serializes"), serde_json::json!(kind.as_str()));
        }
    }
}
