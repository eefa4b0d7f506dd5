//! Code written as the native engine writes it against its own state crate, with only the crate
//! name changed. It compiles only if the module paths, the trait's signatures and the record
//! types are the engine's: a forwarding implementation of `StateBackend` spells out every
//! method signature of the seed (`shared/seed/backend.rs`).

use async_trait::async_trait;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use jetstate::backend::{
    ApiToken, BackendResult, ReclaimResult, StateBackend, StateBackendError, WorkItem, WorkItemId, WorkflowDefinition,
};
use jetstate::event::{ApprovalDecision, Event, EventKind, EventSequence, ProvenanceMetadata};
use jetstate::materializer::{apply_events, materialize, should_snapshot, MaterializedState};
use jetstate::snapshot::Snapshot;
use jetstate::tenant::{Tenant, TenantId, TenantLimits, TenantStatus, DEFAULT_TENANT};
use jetstate::workflow::{ExecutionId, SessionType, WorkflowExecution, WorkflowStatus};
use jetstate::SqliteBackend;

/// An engine-side decorator: counts calls and forwards them.
struct Counting {
    inner: Arc<dyn StateBackend>,
    calls: AtomicUsize,
}

impl Counting {
    fn tick(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }
}

#[async_trait]
impl StateBackend for Counting {
    async fn store_workflow(&self, def: WorkflowDefinition) -> BackendResult<()> {
        self.tick();
        self.inner.store_workflow(def).await
    }

    async fn get_workflow(&self, workflow_id: &str, version: &str) -> BackendResult<Option<WorkflowDefinition>> {
        self.tick();
        self.inner.get_workflow(workflow_id, version).await
    }

    async fn create_execution(&self, execution: WorkflowExecution) -> BackendResult<()> {
        self.tick();
        self.inner.create_execution(execution).await
    }

    async fn get_execution(&self, id: &ExecutionId) -> BackendResult<Option<WorkflowExecution>> {
        self.tick();
        self.inner.get_execution(id).await
    }

    async fn update_execution_status(&self, id: &ExecutionId, status: WorkflowStatus) -> BackendResult<()> {
        self.tick();
        self.inner.update_execution_status(id, status).await
    }

    async fn update_execution_current_state(
        &self,
        id: &ExecutionId,
        current_state: &serde_json::Value,
    ) -> BackendResult<()> {
        self.tick();
        self.inner.update_execution_current_state(id, current_state).await
    }

    async fn patch_append_array(
        &self,
        execution_id: &ExecutionId,
        key: &str,
        value: serde_json::Value,
    ) -> BackendResult<()> {
        self.tick();
        self.inner.patch_append_array(execution_id, key, value).await
    }

    async fn list_executions(
        &self,
        status: Option<WorkflowStatus>,
        limit: u32,
        offset: u32,
    ) -> BackendResult<Vec<WorkflowExecution>> {
        self.tick();
        self.inner.list_executions(status, limit, offset).await
    }

    async fn append_event(&self, event: Event) -> BackendResult<EventSequence> {
        self.tick();
        self.inner.append_event(event).await
    }

    async fn get_events(&self, execution_id: &ExecutionId) -> BackendResult<Vec<Event>> {
        self.tick();
        self.inner.get_events(execution_id).await
    }

    async fn get_events_since(
        &self,
        execution_id: &ExecutionId,
        since_sequence: EventSequence,
    ) -> BackendResult<Vec<Event>> {
        self.tick();
        self.inner.get_events_since(execution_id, since_sequence).await
    }

    async fn latest_sequence(&self, execution_id: &ExecutionId) -> BackendResult<EventSequence> {
        self.tick();
        self.inner.latest_sequence(execution_id).await
    }

    async fn write_snapshot(&self, snapshot: Snapshot) -> BackendResult<()> {
        self.tick();
        self.inner.write_snapshot(snapshot).await
    }

    async fn latest_snapshot(&self, execution_id: &ExecutionId) -> BackendResult<Option<Snapshot>> {
        self.tick();
        self.inner.latest_snapshot(execution_id).await
    }

    async fn enqueue_work_item(&self, item: WorkItem) -> BackendResult<WorkItemId> {
        self.tick();
        self.inner.enqueue_work_item(item).await
    }

    async fn claim_work_item(&self, worker_id: &str, queue_types: &[&str]) -> BackendResult<Option<WorkItem>> {
        self.tick();
        self.inner.claim_work_item(worker_id, queue_types).await
    }

    async fn renew_lease(&self, item_id: WorkItemId, worker_id: &str) -> BackendResult<()> {
        self.tick();
        self.inner.renew_lease(item_id, worker_id).await
    }

    async fn complete_work_item(&self, item_id: WorkItemId) -> BackendResult<()> {
        self.tick();
        self.inner.complete_work_item(item_id).await
    }

    async fn fail_work_item(&self, item_id: WorkItemId, error: &str) -> BackendResult<()> {
        self.tick();
        self.inner.fail_work_item(item_id, error).await
    }

    async fn reclaim_expired_leases(&self) -> BackendResult<ReclaimResult> {
        self.tick();
        self.inner.reclaim_expired_leases().await
    }

    async fn move_to_dead_letter(&self, item_id: WorkItemId, last_error: &str) -> BackendResult<()> {
        self.tick();
        self.inner.move_to_dead_letter(item_id, last_error).await
    }

    async fn create_token(&self, name: &str, role: &str) -> BackendResult<(String, ApiToken)> {
        self.tick();
        self.inner.create_token(name, role).await
    }

    async fn validate_token(&self, token: &str) -> BackendResult<Option<ApiToken>> {
        self.tick();
        self.inner.validate_token(token).await
    }

    async fn create_tenant(&self, tenant: Tenant) -> BackendResult<()> {
        self.tick();
        self.inner.create_tenant(tenant).await
    }

    async fn get_tenant(&self, id: &TenantId) -> BackendResult<Option<Tenant>> {
        self.tick();
        self.inner.get_tenant(id).await
    }

    async fn list_tenants(&self) -> BackendResult<Vec<Tenant>> {
        self.tick();
        self.inner.list_tenants().await
    }

    async fn update_tenant(&self, tenant: Tenant) -> BackendResult<()> {
        self.tick();
        self.inner.update_tenant(tenant).await
    }
}

/// A backend that keeps the trait's defaults for tenants, as a third-party backend would.
struct NoTenants;

#[async_trait]
impl StateBackend for NoTenants {
    async fn store_workflow(&self, _def: WorkflowDefinition) -> BackendResult<()> {
        Ok(())
    }
    async fn get_workflow(&self, _workflow_id: &str, _version: &str) -> BackendResult<Option<WorkflowDefinition>> {
        Ok(None)
    }
    async fn create_execution(&self, _execution: WorkflowExecution) -> BackendResult<()> {
        Ok(())
    }
    async fn get_execution(&self, _id: &ExecutionId) -> BackendResult<Option<WorkflowExecution>> {
        Ok(None)
    }
    async fn update_execution_status(&self, _id: &ExecutionId, _status: WorkflowStatus) -> BackendResult<()> {
        Ok(())
    }
    async fn update_execution_current_state(&self, _id: &ExecutionId, _state: &serde_json::Value) -> BackendResult<()> {
        Ok(())
    }
    async fn patch_append_array(&self, _id: &ExecutionId, _key: &str, _value: serde_json::Value) -> BackendResult<()> {
        Ok(())
    }
    async fn list_executions(
        &self,
        _status: Option<WorkflowStatus>,
        _limit: u32,
        _offset: u32,
    ) -> BackendResult<Vec<WorkflowExecution>> {
        Ok(vec![])
    }
    async fn append_event(&self, event: Event) -> BackendResult<EventSequence> {
        Ok(event.sequence)
    }
    async fn get_events(&self, _id: &ExecutionId) -> BackendResult<Vec<Event>> {
        Ok(vec![])
    }
    async fn get_events_since(&self, _id: &ExecutionId, _since: EventSequence) -> BackendResult<Vec<Event>> {
        Ok(vec![])
    }
    async fn latest_sequence(&self, _id: &ExecutionId) -> BackendResult<EventSequence> {
        Ok(0)
    }
    async fn write_snapshot(&self, _snapshot: Snapshot) -> BackendResult<()> {
        Ok(())
    }
    async fn latest_snapshot(&self, _id: &ExecutionId) -> BackendResult<Option<Snapshot>> {
        Ok(None)
    }
    async fn enqueue_work_item(&self, item: WorkItem) -> BackendResult<WorkItemId> {
        Ok(item.id)
    }
    async fn claim_work_item(&self, _worker_id: &str, _queue_types: &[&str]) -> BackendResult<Option<WorkItem>> {
        Ok(None)
    }
    async fn renew_lease(&self, _item_id: WorkItemId, _worker_id: &str) -> BackendResult<()> {
        Ok(())
    }
    async fn complete_work_item(&self, _item_id: WorkItemId) -> BackendResult<()> {
        Ok(())
    }
    async fn fail_work_item(&self, _item_id: WorkItemId, _error: &str) -> BackendResult<()> {
        Ok(())
    }
    async fn reclaim_expired_leases(&self) -> BackendResult<ReclaimResult> {
        Ok(ReclaimResult::default())
    }
    async fn move_to_dead_letter(&self, _item_id: WorkItemId, _last_error: &str) -> BackendResult<()> {
        Ok(())
    }
    async fn create_token(&self, _name: &str, _role: &str) -> BackendResult<(String, ApiToken)> {
        Err(StateBackendError::Database("no tokens here".into()))
    }
    async fn validate_token(&self, _token: &str) -> BackendResult<Option<ApiToken>> {
        Ok(None)
    }
}

fn engine_serde_error() -> BackendResult<()> {
    // The engine converts serde errors with `?`: the Serialization variant is `#[from]`.
    let _: serde_json::Value = serde_json::from_str("{not json")?;
    Ok(())
}

#[test]
fn engine_code_runs_against_jetstate_with_only_the_crate_renamed() {
    futures::executor::block_on(async {
        let sqlite = SqliteBackend::open("sqlite::memory:").await.expect("opens");
        let counting = Counting { inner: Arc::new(sqlite.clone()), calls: AtomicUsize::new(0) };
        let backend: Arc<dyn StateBackend> = Arc::new(counting);

        let id = ExecutionId::new();
        let now = chrono::Utc::now();
        backend
            .create_execution(WorkflowExecution {
                execution_id: id.clone(),
                workflow_id: "triage".into(),
                workflow_version: "2".into(),
                status: WorkflowStatus::Pending,
                initial_input: serde_json::json!({"ticket": 7}),
                current_state: serde_json::json!({"ticket": 7}),
                started_at: now,
                updated_at: now,
                completed_at: None,
                session_type: Some(SessionType::ApprovalGated),
            })
            .await
            .expect("created");
        let provenance = ProvenanceMetadata { model_id: Some("m".into()), verified: true, ..Default::default() };
        let kinds = vec![
            EventKind::WorkflowStarted {
                workflow_id: "triage".into(),
                workflow_version: "2".into(),
                initial_input: serde_json::json!({"ticket": 7}),
            },
            EventKind::NodeCompleted {
                node_id: "classify".into(),
                output: serde_json::json!("urgent"),
                state_patch: serde_json::json!({"class": "urgent"}),
                duration_ms: 40,
                gen_ai_system: Some("anthropic".into()),
                gen_ai_model: Some("claude".into()),
                input_tokens: Some(120),
                output_tokens: Some(8),
                finish_reason: Some("stop".into()),
                cost_usd: Some(0.0004),
                provenance: Some(Box::new(provenance.clone())),
            },
            EventKind::InterruptRaised {
                node_id: "approve".into(),
                reason: "refund".into(),
                state_for_review: serde_json::json!({}),
            },
            EventKind::ApprovalReceived {
                node_id: "approve".into(),
                user_id: "ann".into(),
                decision: ApprovalDecision::Approved,
                comment: None,
                state_patch: Some(serde_json::json!({"approved": true})),
            },
        ];
        for (sequence, kind) in (1..).zip(kinds) {
            let latest = backend.latest_sequence(&id).await.expect("latest");
            assert_eq!(latest + 1, sequence);
            backend.append_event(Event::new(id.clone(), sequence, kind)).await.expect("appended");
        }
        let events = backend.get_events(&id).await.expect("events");
        assert_eq!(events[1].kind.node_id(), Some("classify"));
        match &events[1].kind {
            EventKind::NodeCompleted { provenance: Some(p), cost_usd, .. } => {
                assert_eq!(**p, provenance);
                assert_eq!(*cost_usd, Some(0.0004));
            }
            other => panic!("typed kind expected, got {other:?}"),
        }
        let state: MaterializedState = materialize(backend.as_ref(), &id).await.expect("materialized");
        assert_eq!(state.status, WorkflowStatus::Running);
        assert_eq!(state.current_state, serde_json::json!({"ticket": 7, "class": "urgent", "approved": true}));
        let replayed = apply_events(serde_json::json!({"ticket": 7}), &events, &WorkflowStatus::Pending);
        assert_eq!(replayed.current_state, state.current_state);
        assert!(!should_snapshot(events.len() as i64));
        backend.write_snapshot(Snapshot::new(id.clone(), 4, state.current_state.clone())).await.expect("snapshot");

        let tenant = Tenant {
            id: TenantId::from("acme"),
            name: "Acme".into(),
            status: TenantStatus::parse("active"),
            policy: Some(serde_json::json!({"block_tool": ["payments.*"]})),
            limits: Some(TenantLimits {
                max_concurrent_executions: Some(4),
                max_workflows: None,
                max_tokens_per_month: Some(1_000_000),
                max_cost_per_month_usd: Some(50.0),
            }),
            created_at: now,
            updated_at: now,
        };
        backend.create_tenant(tenant).await.expect("tenant");
        assert_eq!(TenantId::default_tenant().as_str(), DEFAULT_TENANT);
        let scoped: Arc<dyn StateBackend> = Arc::new(sqlite.for_tenant(TenantId::from("acme")));
        assert!(scoped.get_execution(&id).await.expect("read").is_none());

        let (plaintext, token): (String, ApiToken) = backend.create_token("deploy", "operator").await.expect("token");
        assert_eq!(backend.validate_token(&plaintext).await.expect("validate").map(|t| t.id), Some(token.id));
        let reclaimed: ReclaimResult = backend.reclaim_expired_leases().await.expect("reclaim");
        assert!(reclaimed.retryable.is_empty() && reclaimed.exhausted.is_empty());

        // A backend that keeps the trait's tenant defaults says so, as the seed does.
        let bare: Arc<dyn StateBackend> = Arc::new(NoTenants);
        assert!(matches!(
            bare.create_tenant(Tenant {
                id: "x".into(),
                name: "x".into(),
                status: TenantStatus::Active,
                policy: None,
                limits: None,
                created_at: now,
                updated_at: now
            })
            .await,
            Err(StateBackendError::Database(_))
        ));
        assert!(bare.list_tenants().await.expect("default").is_empty());
        assert!(matches!(engine_serde_error(), Err(StateBackendError::Serialization(_))));
        assert_eq!(format!("{id}").len(), "exec_".len() + 32);
    });
}
