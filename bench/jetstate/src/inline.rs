//! A measuring device, not a product: `StateBackend` over the sync `Store` with each call run on
//! the caller's own thread. It blocks its executor while SQLite works, which the real surface
//! (`SqliteBackend`) must never do; the benchmark runs the same workload code on both, so that
//! the difference between the two columns is exactly the cost of handing each call to a thread.

use async_trait::async_trait;
use jetstate::backend::{to_backend_error, ApiToken, BackendResult, ReclaimResult, WorkItem, WorkItemId};
use jetstate::{Event, EventSequence, ExecutionId, Snapshot, StateBackend, Store, WorkflowDefinition};
use jetstate::{WorkflowExecution, WorkflowStatus};
use serde_json::Value;

pub struct InlineBackend(pub Store);

#[async_trait]
impl StateBackend for InlineBackend {
    async fn store_workflow(&self, def: WorkflowDefinition) -> BackendResult<()> {
        self.0.store_workflow(&def).map_err(to_backend_error)
    }
    async fn get_workflow(&self, workflow_id: &str, version: &str) -> BackendResult<Option<WorkflowDefinition>> {
        self.0.get_workflow(workflow_id, version).map_err(to_backend_error)
    }
    async fn create_execution(&self, execution: WorkflowExecution) -> BackendResult<()> {
        self.0.create_execution(&execution).map_err(to_backend_error)
    }
    async fn get_execution(&self, id: &ExecutionId) -> BackendResult<Option<WorkflowExecution>> {
        self.0.get_execution(id).map_err(to_backend_error)
    }
    async fn update_execution_status(&self, id: &ExecutionId, status: WorkflowStatus) -> BackendResult<()> {
        self.0.update_execution_status(id, status).map_err(to_backend_error)
    }
    async fn update_execution_current_state(&self, id: &ExecutionId, state: &Value) -> BackendResult<()> {
        self.0.update_execution_current_state(id, state).map_err(to_backend_error)
    }
    async fn patch_append_array(&self, id: &ExecutionId, key: &str, value: Value) -> BackendResult<()> {
        self.0.patch_append_array(id, key, value).map_err(to_backend_error)
    }
    async fn list_executions(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
        offset: u32,
    ) -> BackendResult<Vec<WorkflowExecution>> {
        self.0.list_executions(status, limit, offset).map_err(to_backend_error)
    }
    async fn append_event(&self, event: Event) -> BackendResult<EventSequence> {
        self.0.append_event(event).map_err(to_backend_error)
    }
    async fn get_events(&self, id: &ExecutionId) -> BackendResult<Vec<Event>> {
        self.0.get_events(id).map_err(to_backend_error)
    }
    async fn get_events_since(&self, id: &ExecutionId, since: EventSequence) -> BackendResult<Vec<Event>> {
        self.0.get_events_since(id, since).map_err(to_backend_error)
    }
    async fn latest_sequence(&self, id: &ExecutionId) -> BackendResult<EventSequence> {
        self.0.latest_sequence(id).map_err(to_backend_error)
    }
    async fn write_snapshot(&self, snapshot: Snapshot) -> BackendResult<()> {
        self.0.write_snapshot(&snapshot).map_err(to_backend_error)
    }
    async fn latest_snapshot(&self, id: &ExecutionId) -> BackendResult<Option<Snapshot>> {
        self.0.latest_snapshot(id).map_err(to_backend_error)
    }
    async fn enqueue_work_item(&self, item: WorkItem) -> BackendResult<WorkItemId> {
        self.0.enqueue_work_item(&item).map_err(to_backend_error)
    }
    async fn claim_work_item(&self, worker_id: &str, queue_types: &[&str]) -> BackendResult<Option<WorkItem>> {
        self.0.claim_work_item(worker_id, queue_types).map_err(to_backend_error)
    }
    async fn renew_lease(&self, item_id: WorkItemId, worker_id: &str) -> BackendResult<()> {
        self.0.renew_lease(&item_id, worker_id).map_err(to_backend_error)
    }
    async fn complete_work_item(&self, item_id: WorkItemId) -> BackendResult<()> {
        self.0.complete_work_item(&item_id).map_err(to_backend_error)
    }
    async fn fail_work_item(&self, item_id: WorkItemId, error: &str) -> BackendResult<()> {
        self.0.fail_work_item(&item_id, error).map_err(to_backend_error)
    }
    async fn reclaim_expired_leases(&self) -> BackendResult<ReclaimResult> {
        self.0.reclaim_expired_leases().map_err(to_backend_error)
    }
    async fn move_to_dead_letter(&self, item_id: WorkItemId, last_error: &str) -> BackendResult<()> {
        self.0.move_to_dead_letter(&item_id, last_error).map_err(to_backend_error)
    }
    async fn create_token(&self, name: &str, role: &str) -> BackendResult<(String, ApiToken)> {
        self.0.create_token(name, role).map_err(to_backend_error)
    }
    async fn validate_token(&self, token: &str) -> BackendResult<Option<ApiToken>> {
        self.0.validate_token(token).map_err(to_backend_error)
    }
}
