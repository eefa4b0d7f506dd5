//! The async surface, as the engine uses it: everything through `Arc<dyn StateBackend>`, under
//! several executors, on real files.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use jetstate::backend::{StateBackend, StateBackendError, WorkItem, WorkflowDefinition};
use jetstate::chrono::Utc;
use jetstate::event::{Event, EventKind};
use jetstate::materialize;
use jetstate::serde_json::json;
use jetstate::snapshot::Snapshot;
use jetstate::tenant::{Tenant, TenantId, TenantStatus, DEFAULT_TENANT};
use jetstate::workflow::{ExecutionId, WorkflowExecution, WorkflowStatus};
use jetstate::{SqliteBackend, Store};

mod support;

fn execution(id: &ExecutionId) -> WorkflowExecution {
    WorkflowExecution {
        execution_id: id.clone(),
        workflow_id: "research".into(),
        workflow_version: "1".into(),
        status: WorkflowStatus::Pending,
        initial_input: json!({"topic": "durable state"}),
        current_state: json!({"topic": "durable state"}),
        started_at: Utc::now(),
        updated_at: Utc::now(),
        completed_at: None,
        session_type: None,
    }
}

fn work_item(execution_id: &ExecutionId, node: &str) -> WorkItem {
    WorkItem {
        id: jetstate::uuid::Uuid::new_v4(),
        execution_id: execution_id.clone(),
        node_id: node.into(),
        queue_type: "default".into(),
        payload: json!({"node": node}),
        attempt: 0,
        max_attempts: 3,
        created_at: Utc::now(),
        lease_expires_at: None,
        worker_id: None,
        tenant_id: DEFAULT_TENANT.into(),
    }
}

async fn open_file(dir: &tempfile::TempDir) -> Arc<dyn StateBackend> {
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("state.db").display());
    Arc::new(SqliteBackend::open(&url).await.expect("file opens"))
}

/// A workflow's life through the trait object: definition, execution, events, snapshot,
/// materialization, a queue cycle, tokens and tenants.
async fn whole_lifecycle(backend: Arc<dyn StateBackend>) {
    backend
        .store_workflow(WorkflowDefinition {
            workflow_id: "research".into(),
            version: "1".into(),
            ir: json!({"nodes": ["search", "write"]}),
            created_at: Utc::now(),
            tenant_id: DEFAULT_TENANT.into(),
        })
        .await
        .expect("definition stored");
    let def = backend.get_workflow("research", "1").await.expect("read").expect("found");
    assert_eq!(def.ir, json!({"nodes": ["search", "write"]}));

    let id = ExecutionId::new();
    backend.create_execution(execution(&id)).await.expect("created");
    let sequence = backend
        .append_event(Event::new(
            id.clone(),
            1,
            EventKind::WorkflowStarted {
                workflow_id: "research".into(),
                workflow_version: "1".into(),
                initial_input: json!({"topic": "durable state"}),
            },
        ))
        .await
        .expect("appended");
    assert_eq!(sequence, 1);
    backend.update_execution_status(&id, WorkflowStatus::Running).await.expect("running");

    backend.enqueue_work_item(work_item(&id, "search")).await.expect("enqueued");
    let claimed = backend.claim_work_item("worker-1", &["default"]).await.expect("claim").expect("an item");
    assert_eq!(claimed.node_id, "search");
    assert_eq!(claimed.worker_id.as_deref(), Some("worker-1"));
    backend.renew_lease(claimed.id, "worker-1").await.expect("renewed");
    let latest = backend.latest_sequence(&id).await.expect("latest");
    backend
        .append_event(Event::new(
            id.clone(),
            latest + 1,
            EventKind::NodeCompleted {
                node_id: "search".into(),
                output: json!({"hits": 3}),
                state_patch: json!({"hits": 3}),
                duration_ms: 12,
                gen_ai_system: None,
                gen_ai_model: None,
                input_tokens: None,
                output_tokens: None,
                finish_reason: None,
                cost_usd: None,
                provenance: None,
            },
        ))
        .await
        .expect("appended");
    backend.complete_work_item(claimed.id).await.expect("completed");
    assert!(backend.claim_work_item("worker-1", &["default"]).await.expect("claim").is_none());

    backend
        .write_snapshot(Snapshot::new(id.clone(), 2, json!({"topic": "durable state", "hits": 3})))
        .await
        .expect("snap");
    assert_eq!(backend.latest_snapshot(&id).await.expect("read").expect("found").at_sequence, 2);
    let state = materialize(backend.as_ref(), &id).await.expect("materialized");
    assert_eq!(state.status, WorkflowStatus::Running);
    assert_eq!(state.current_state, json!({"topic": "durable state", "hits": 3}));
    assert_eq!(state.completed_nodes["search"], json!({"hits": 3}));
    assert_eq!(state.last_sequence, 2);

    backend.patch_append_array(&id, "log", json!("searched")).await.expect("patched");
    let stored = backend.get_execution(&id).await.expect("read").expect("found");
    assert_eq!(stored.current_state["log"], json!(["searched"]));
    let listed = backend.list_executions(Some(WorkflowStatus::Running), 10, 0).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(backend.get_events(&id).await.expect("events").len(), 2);
    assert_eq!(backend.get_events_since(&id, 1).await.expect("events")[0].sequence, 2);

    let (plaintext, info) = backend.create_token("ci", "admin").await.expect("token");
    assert!(plaintext.starts_with("jst_") && plaintext.len() == 4 + 64);
    assert_eq!(backend.validate_token(&plaintext).await.expect("validate").expect("live").id, info.id);
    assert!(backend.validate_token("jst_wrong").await.expect("validate").is_none());

    // SqliteBackend implements tenant management (not the trait's "not supported" defaults).
    let now = Utc::now();
    let acme = Tenant {
        id: TenantId::from("acme"),
        name: "Acme".into(),
        status: TenantStatus::Active,
        policy: None,
        limits: None,
        created_at: now,
        updated_at: now,
    };
    backend.create_tenant(acme.clone()).await.expect("tenant created");
    assert_eq!(backend.get_tenant(&acme.id).await.expect("read").expect("found").name, "Acme");
    assert_eq!(backend.list_tenants().await.expect("list").len(), 2);
    backend.update_tenant(Tenant { status: TenantStatus::Suspended, ..acme.clone() }).await.expect("updated");
    assert_eq!(backend.get_tenant(&acme.id).await.expect("read").expect("found").status, TenantStatus::Suspended);
}

#[test]
fn the_whole_trait_works_under_tokio() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        whole_lifecycle(open_file(&dir).await).await;
    });
}

#[test]
fn the_whole_trait_works_under_smol() {
    smol::block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        whole_lifecycle(open_file(&dir).await).await;
    });
}

#[test]
fn the_whole_trait_works_under_a_plain_block_on_in_memory() {
    futures::executor::block_on(async {
        let backend: Arc<dyn StateBackend> = Arc::new(SqliteBackend::open("sqlite::memory:").await.expect("opens"));
        whole_lifecycle(backend).await;
    });
}

#[test]
fn every_url_form_opens_and_a_reopened_file_keeps_its_data() {
    futures::executor::block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("kept.db");
        let id = ExecutionId::new();
        for (n, url) in [
            format!("sqlite://{}?mode=rwc", path.display()),
            format!("sqlite:{}", path.display()),
            format!("{}", path.display()),
        ]
        .iter()
        .enumerate()
        {
            let backend = SqliteBackend::open(url).await.unwrap_or_else(|e| panic!("{url}: {e}"));
            if n == 0 {
                backend.create_execution(execution(&id)).await.expect("created");
            }
            assert!(backend.get_execution(&id).await.expect("read").is_some(), "{url} sees the data");
        }
        let err = SqliteBackend::open("sqlite://x.db?journal=off").await.unwrap_err();
        assert_eq!(err.kind(), jetstate::ErrorKind::InvalidArgument);
    });
}

#[test]
fn errors_map_onto_the_four_variants_and_name_the_kind() {
    futures::executor::block_on(async {
        let backend = SqliteBackend::open("sqlite::memory:").await.expect("opens");
        let id = ExecutionId::new();
        backend.create_execution(execution(&id)).await.expect("created");
        match backend.create_execution(execution(&id)).await {
            Err(StateBackendError::Database(message)) => assert!(message.starts_with("CONFLICT"), "{message}"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        let kind = EventKind::WorkflowFailed { error: "x".into() };
        backend.append_event(Event::new(id.clone(), 1, kind.clone())).await.expect("first");
        assert!(matches!(
            backend.append_event(Event::new(id.clone(), 1, kind.clone())).await,
            Err(StateBackendError::SequenceConflict(_))
        ));
        assert!(matches!(
            backend.update_execution_status(&ExecutionId::new(), WorkflowStatus::Failed).await,
            Err(StateBackendError::NotFound(_))
        ));
        let item = work_item(&id, "n");
        backend.enqueue_work_item(item.clone()).await.expect("enqueued");
        match backend.complete_work_item(item.id).await {
            Err(StateBackendError::NotFound(message)) => assert!(message.starts_with("LEASE_LOST"), "{message}"),
            other => panic!("expected lease lost, got {other:?}"),
        }
    });
}

#[test]
fn a_tenant_view_is_a_state_backend_confined_to_its_tenant() {
    futures::executor::block_on(async {
        let backend = SqliteBackend::open("sqlite::memory:").await.expect("opens");
        let now = Utc::now();
        for name in ["acme", "globex"] {
            let tenant = Tenant {
                id: name.into(),
                name: name.into(),
                status: TenantStatus::Active,
                policy: None,
                limits: None,
                created_at: now,
                updated_at: now,
            };
            backend.create_tenant(tenant).await.expect("tenant");
        }
        let acme: Arc<dyn StateBackend> = Arc::new(backend.for_tenant(TenantId::from("acme")));
        let globex: Arc<dyn StateBackend> = Arc::new(backend.for_tenant(TenantId::from("globex")));
        let id = ExecutionId::new();
        acme.create_execution(execution(&id)).await.expect("created through acme");
        assert!(globex.get_execution(&id).await.expect("read").is_none());
        assert!(matches!(
            globex.update_execution_status(&id, WorkflowStatus::Failed).await,
            Err(StateBackendError::NotFound(_))
        ));
        assert!(globex.list_executions(None, 10, 0).await.expect("list").is_empty());
        assert!(materialize(globex.as_ref(), &id).await.is_err());
        // Work for acme's execution cannot be queued through globex: it is not there for it.
        assert!(matches!(
            globex.enqueue_work_item(work_item(&id, "theirs")).await,
            Err(StateBackendError::NotFound(_))
        ));
        let globex_id = ExecutionId::new();
        globex.create_execution(execution(&globex_id)).await.expect("created through globex");
        globex.enqueue_work_item(work_item(&globex_id, "theirs")).await.expect("enqueued through globex");
        assert!(acme.claim_work_item("w", &["default"]).await.expect("claim").is_none());
        assert_eq!(backend.list_executions(None, 10, 0).await.expect("unscoped list").len(), 2);
        let claimed = backend.claim_work_item("engine", &["default"]).await.expect("claim").expect("spans tenants");
        assert_eq!(claimed.tenant_id, "globex");
    });
}

/// A call awaited on a current-thread runtime must not stall the runtime's other tasks while
/// SQLite works: here SQLite waits for a lock another connection holds, and a ticking task on
/// the same runtime keeps running meanwhile.
#[test]
fn a_blocked_call_does_not_stall_a_current_thread_runtime() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("locked.db");
    let store = Store::open(&path, jetstate::Options::default()).expect("opens");
    let backend = SqliteBackend::from_store(store);

    // Another connection takes SQLite's write lock and holds it for a while.
    let hold = Duration::from_millis(400);
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let locker = {
        let path = path.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).expect("raw connection");
            conn.execute_batch("BEGIN IMMEDIATE").expect("write lock");
            locked_tx.send(()).expect("signal");
            std::thread::sleep(hold);
            conn.execute_batch("COMMIT").expect("release");
        })
    };
    locked_rx.recv().expect("lock taken");

    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let ticks = Arc::new(AtomicUsize::new(0));
    let (ticks_during_call, waited) = runtime.block_on(async {
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    ticks.fetch_add(1, Ordering::SeqCst);
                }
            })
        };
        tokio::task::yield_now().await;
        let started = Instant::now();
        let before = ticks.load(Ordering::SeqCst);
        backend.create_execution(execution(&ExecutionId::new())).await.expect("write after the lock is released");
        let during = ticks.load(Ordering::SeqCst) - before;
        ticker.abort();
        (during, started.elapsed())
    });
    locker.join().expect("locker thread");
    assert!(waited >= Duration::from_millis(200), "the call should have waited for the lock ({waited:?})");
    assert!(ticks_during_call >= 5, "the runtime stalled: {ticks_during_call} ticks in {waited:?}");
}

#[test]
fn each_backend_refuses_the_other_engines_location() {
    futures::executor::block_on(async {
        let err = SqliteBackend::open("postgresql://ann:s3cret@db.example/app").await.unwrap_err();
        assert_eq!(err.kind(), jetstate::ErrorKind::InvalidArgument);
        assert!(err.message().contains("PostgresBackend") && !err.message().contains("s3cret"), "{err}");
    });
}

/// The same trait on the server engine: `PostgresBackend`, under the same executors.
#[cfg(feature = "postgres")]
mod on_postgresql {
    use super::*;
    use jetstate::PostgresBackend;

    async fn open() -> PostgresBackend {
        PostgresBackend::open(&support::server::fresh_url("backend")).await.expect("server opens")
    }

    #[test]
    fn the_whole_trait_works_under_tokio() {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("rt");
        runtime.block_on(async { whole_lifecycle(Arc::new(open().await)).await });
    }

    #[test]
    fn the_whole_trait_works_under_smol() {
        smol::block_on(async { whole_lifecycle(Arc::new(open().await)).await });
    }

    #[test]
    fn the_whole_trait_works_under_a_plain_block_on() {
        futures::executor::block_on(async { whole_lifecycle(Arc::new(open().await)).await });
    }

    /// The sync store's calls, made straight from inside an executor's task (tokio's, whose
    /// runtime may not be entered twice, and a plain `block_on`), neither panic nor hang.
    #[test]
    fn the_sync_store_may_be_called_from_inside_any_executor() {
        let url = support::server::fresh_url("inside");
        let id = ExecutionId::new();
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let store = Store::open(&url, jetstate::Options::default()).expect("opens inside tokio");
            store.create_execution(&execution(&id)).expect("writes inside tokio");
            drop(store);
        });
        futures::executor::block_on(async {
            let store = Store::open(&url, jetstate::Options::default()).expect("opens inside block_on");
            assert!(store.get_execution(&id).expect("reads inside block_on").is_some());
        });
    }

    #[test]
    fn a_file_is_refused_and_a_reopened_schema_keeps_its_data() {
        futures::executor::block_on(async {
            let err = PostgresBackend::open("state.db").await.unwrap_err();
            assert_eq!(err.kind(), jetstate::ErrorKind::InvalidArgument);
            let url = support::server::fresh_url("reopened");
            let id = ExecutionId::new();
            PostgresBackend::open(&url).await.expect("opens").create_execution(execution(&id)).await.expect("created");
            let again = PostgresBackend::open(&url).await.expect("opens again");
            assert!(again.get_execution(&id).await.expect("read").is_some());
        });
    }

    #[test]
    fn errors_map_onto_the_same_variants() {
        futures::executor::block_on(async {
            let backend = open().await;
            let id = ExecutionId::new();
            backend.create_execution(execution(&id)).await.expect("created");
            assert!(matches!(
                backend.create_execution(execution(&id)).await,
                Err(StateBackendError::Database(message)) if message.starts_with("CONFLICT")
            ));
            let kind = EventKind::WorkflowFailed { error: "x".into() };
            backend.append_event(Event::new(id.clone(), 1, kind.clone())).await.expect("first");
            assert!(matches!(
                backend.append_event(Event::new(id.clone(), 1, kind)).await,
                Err(StateBackendError::SequenceConflict(_))
            ));
            let item = work_item(&id, "n");
            backend.enqueue_work_item(item.clone()).await.expect("enqueued");
            assert!(matches!(
                backend.complete_work_item(item.id).await,
                Err(StateBackendError::NotFound(message)) if message.starts_with("LEASE_LOST")
            ));
        });
    }

    #[test]
    fn a_tenant_view_is_confined_to_its_tenant() {
        futures::executor::block_on(async {
            let backend = open().await;
            let now = Utc::now();
            let tenant = Tenant {
                id: "acme".into(),
                name: "Acme".into(),
                status: TenantStatus::Active,
                policy: None,
                limits: None,
                created_at: now,
                updated_at: now,
            };
            backend.create_tenant(tenant).await.expect("tenant");
            let acme: Arc<dyn StateBackend> = Arc::new(backend.for_tenant(TenantId::from("acme")));
            let id = ExecutionId::new();
            acme.create_execution(execution(&id)).await.expect("created through acme");
            assert!(backend.for_tenant(TenantId::from("default")).get_execution(&id).await.expect("read").is_none());
            assert_eq!(backend.list_executions(None, 10, 0).await.expect("unscoped").len(), 1);
        });
    }
}
