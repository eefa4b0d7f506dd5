//! A small durable workflow on an embedded database file, with real processes.
//!
//! The orchestrator (this process) registers a three-step workflow (plan -> research -> write),
//! starts an execution and two worker processes, and schedules each step as a queue item. The
//! worker that first takes the `research` step crashes while holding its lease. The orchestrator
//! reclaims the expired lease (the attempt is counted, a backoff applies), the surviving worker
//! retries the step, and the workflow completes. Everything lives in one SQLite file that all
//! three processes open at once.
//!
//! Run: `jetstate demo [DB_FILE]` (from a checkout: `cargo run -p jetstate-cli -- demo`). The
//! workers are this same program, started as `jetstate demo-worker NAME DB_FILE EXECUTION_ID`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use jetstate::chrono::Utc;
use jetstate::serde_json::{json, Value};
use jetstate::{
    EventKind, ExecutionId, Location, Options, Store, WorkItem, WorkflowDefinition, WorkflowExecution, WorkflowStatus,
    DEFAULT_TENANT,
};

const STEPS: [&str; 3] = ["plan", "research", "write"];
const QUEUE: &str = "agents";

fn options() -> Options {
    // Short leases and backoff keep the demo quick; the defaults are 30 s and 1 s.
    Options::default().lease(Duration::from_millis(1200)).backoff(Duration::from_millis(250), Duration::from_secs(4))
}

/// `jetstate demo [FILE]`: runs the workflow on `file` (default `jetstate-demo.db` in the current
/// directory; an earlier demo file there is replaced).
pub fn run(file: Option<PathBuf>) -> Result<(), Box<dyn std::error::Error>> {
    let path = file.unwrap_or_else(|| PathBuf::from("jetstate-demo.db"));
    if let Location::File(file) = Location::from_path(&path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
        }
    }
    orchestrate(&path)
}

/// `jetstate demo-worker NAME FILE EXECUTION_ID`: one worker process of the demo.
pub fn run_worker(name: &str, file: &Path, execution_id: &str) -> Result<(), Box<dyn std::error::Error>> {
    worker(name, file, &execution_id.parse::<ExecutionId>()?)
}

// ── The orchestrator ─────────────────────────────────────────────────────────────────────────

fn orchestrate(path: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(path, options())?;
    println!("jetstate demo: a durable workflow in {}\n", Location::from_path(path));

    store.store_workflow(&WorkflowDefinition {
        workflow_id: "research-brief".into(),
        version: "1".into(),
        ir: json!({"steps": STEPS, "queue": QUEUE}),
        created_at: Utc::now(),
        tenant_id: DEFAULT_TENANT.into(),
    })?;
    let input = json!({"topic": "durable state for AI agents"});
    let execution = WorkflowExecution::new("research-brief", "1", input.clone());
    let id = execution.execution_id.clone();
    store.create_execution(&execution)?;
    store.append_next_event(
        &id,
        EventKind::WorkflowStarted {
            workflow_id: "research-brief".into(),
            workflow_version: "1".into(),
            initial_input: input,
        },
    )?;
    store.update_execution_status(&id, WorkflowStatus::Running)?;
    schedule(&store, &id, STEPS[0])?;

    let mut workers: Vec<(String, Child)> = ["worker-a", "worker-b"]
        .into_iter()
        .map(|name| {
            let me = std::env::current_exe().expect("own path");
            let child =
                Command::new(me).args(["demo-worker", name, &path.display().to_string(), &id.to_string()]).spawn();
            (name.to_string(), child.expect("worker starts"))
        })
        .collect();

    let started = Instant::now();
    loop {
        // Leases of dead workers expire; reclaim counts the attempt and re-queues with a backoff.
        for item in store.reclaim_expired_leases()?.retryable {
            let entry = store.get_work_item(&item.id)?.ok_or("a reclaimed item vanished")?;
            let why = entry.last_error.unwrap_or_default();
            let delay = entry.retry_after.map_or(0, |at| (at - store.now()).num_milliseconds().max(0) as u64);
            println!("orchestrator: step {}: {why}", item.node_id);
            store.append_next_events(
                &id,
                vec![
                    EventKind::NodeFailed {
                        node_id: item.node_id.clone(),
                        error: why,
                        attempt: item.attempt - 1,
                        retryable: true,
                    },
                    EventKind::RetryScheduled { node_id: item.node_id.clone(), attempt: item.attempt, delay_ms: delay },
                ],
            )?;
        }
        let state = store.materialize(&id)?;
        let next = STEPS.iter().position(|step| !state.completed_nodes.contains_key(*step));
        match next {
            None => {
                store.append_next_event(
                    &id,
                    EventKind::WorkflowCompleted { final_state: state.current_state.clone() },
                )?;
                store.update_execution_current_state(&id, &state.current_state)?;
                store.update_execution_status(&id, WorkflowStatus::Completed)?;
                break;
            }
            Some(index) if !scheduled(&store, &id, STEPS[index])? => schedule(&store, &id, STEPS[index])?,
            Some(_) => {}
        }
        if started.elapsed() > Duration::from_secs(60) {
            return Err("the workflow did not finish within a minute".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for (name, child) in &mut workers {
        let status = child.wait()?;
        println!(
            "orchestrator: {name} exited ({})",
            if status.success() { "finished".to_string() } else { status.to_string() }
        );
    }
    report(&store, &id)
}

fn scheduled(store: &Store, id: &ExecutionId, step: &str) -> jetstate::Result<bool> {
    Ok(store
        .get_events(id)?
        .iter()
        .any(|e| matches!(&e.kind, EventKind::NodeScheduled { node_id, .. } if node_id == step)))
}

fn schedule(store: &Store, id: &ExecutionId, step: &str) -> jetstate::Result<()> {
    store.append_next_event(id, EventKind::NodeScheduled { node_id: step.into(), queue_type: QUEUE.into() })?;
    store.enqueue_work_item(&WorkItem::new(id.clone(), step, QUEUE, json!({"step": step})))?;
    Ok(())
}

// ── A worker process ─────────────────────────────────────────────────────────────────────────

fn worker(name: &str, path: &Path, id: &ExecutionId) -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::open(path, options())?;
    loop {
        let execution = store.get_execution(id)?.ok_or("the execution vanished")?;
        if execution.status.is_terminal() {
            return Ok(());
        }
        let Some(lease) = store.claim_fenced(name, &[QUEUE], None)? else {
            std::thread::sleep(Duration::from_millis(40));
            continue;
        };
        let step = lease.item.node_id.clone();
        let state = store.materialize(id)?;
        if state.completed_nodes.contains_key(&step) {
            // Done before a crash lost the lease: finish the item, do not redo the work.
            store.complete_fenced(&lease.item.id, lease.token)?;
            continue;
        }
        store.append_next_event(
            id,
            EventKind::NodeStarted { node_id: step.clone(), worker_id: name.into(), attempt: lease.item.attempt },
        )?;
        println!("{name}: took step {step} (attempt {}, lease token {})", lease.item.attempt, lease.token);
        if step == "research" && lease.item.attempt == 0 {
            println!("{name}: crashing while holding the lease on {step}");
            std::process::abort();
        }
        let began = Instant::now();
        let (output, patch) = run_step(&step, &state.current_state);
        std::thread::sleep(Duration::from_millis(150));
        store.append_next_event(
            id,
            EventKind::NodeCompleted {
                node_id: step.clone(),
                output,
                state_patch: patch,
                duration_ms: began.elapsed().as_millis() as u64,
                gen_ai_system: None,
                gen_ai_model: None,
                input_tokens: None,
                output_tokens: None,
                finish_reason: None,
                cost_usd: None,
                provenance: None,
            },
        )?;
        match store.complete_fenced(&lease.item.id, lease.token) {
            Ok(()) => println!("{name}: finished step {step}"),
            Err(err) if err.kind() == jetstate::ErrorKind::LeaseLost => {
                println!("{name}: lost the lease on {step}: {err}")
            }
            Err(err) => return Err(err.into()),
        }
    }
}

/// The work of each step: deterministic stand-ins for an agent's model and tool calls.
fn run_step(step: &str, state: &Value) -> (Value, Value) {
    let topic = state["topic"].as_str().unwrap_or("?");
    match step {
        "plan" => {
            let questions = vec![format!("What must {topic} survive?"), format!("Who reads {topic}?")];
            (json!({"questions": questions.len()}), json!({"questions": questions}))
        }
        "research" => {
            let findings: Vec<String> = state["questions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|q| format!("notes on: {}", q.as_str().unwrap_or("")))
                .collect();
            (json!({"findings": findings.len()}), json!({"findings": findings}))
        }
        _ => {
            let brief = format!("Brief on {topic}: {} findings.", state["findings"].as_array().map_or(0, Vec::len));
            (json!({"words": brief.split_whitespace().count()}), json!({"brief": brief}))
        }
    }
}

// ── The report ───────────────────────────────────────────────────────────────────────────────

fn report(store: &Store, id: &ExecutionId) -> Result<(), Box<dyn std::error::Error>> {
    let events = store.get_events(id)?;
    let first = events.first().map(|e| e.created_at).unwrap_or_else(Utc::now);
    println!("\nEvent timeline of {id}:");
    for event in &events {
        let offset = (event.created_at - first).num_milliseconds() as f64 / 1000.0;
        let detail = match &event.kind {
            EventKind::NodeStarted { worker_id, attempt, .. } => format!("by {worker_id}, attempt {attempt}"),
            EventKind::NodeCompleted { duration_ms, .. } => format!("in {duration_ms} ms"),
            EventKind::NodeFailed { error, .. } => error.clone(),
            EventKind::RetryScheduled { attempt, delay_ms, .. } => format!("attempt {attempt} after {delay_ms} ms"),
            _ => String::new(),
        };
        println!(
            "  +{offset:6.3}s  #{:<2} {:<20} {:<9} {detail}",
            event.sequence,
            event.kind.type_name(),
            event.kind.node_id().unwrap_or("")
        );
    }

    println!("\nQueue:");
    for entry in store.list_work_items(None, 100, 0)? {
        println!(
            "  {:<9} {:<10} attempt {}  lease token {}  {}",
            entry.item.node_id,
            entry.status.as_str(),
            entry.item.attempt,
            entry.lease_token,
            entry.last_error.unwrap_or_default()
        );
    }

    let state = store.materialize(id)?;
    println!("\nMaterialized final state ({}; {} events):", state.status, state.last_sequence);
    println!("{}", jetstate::serde_json::to_string_pretty(&state.current_state)?);
    Ok(())
}
