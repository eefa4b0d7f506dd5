//! `jetstate`: inspect and operate a jetstate database from the terminal.
//!
//! Read commands open the file read-only (they never write to it); write commands open it as any
//! writer does and take the same locks, so both are safe while engines run on the file. A file
//! that does not exist is never created. Exit codes: 0 success, 1 failure, 2 bad usage, 3 not
//! found (an unknown execution, item, token or tenant).

mod demo;
mod output;
mod report;
mod ui;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use jetstate::{wire, Error, ErrorKind, Location, Options, Store, Tenant, TenantId, TenantStatus, WorkItemStatus};

use output::{field, or_dash, table, time, Bar};

#[derive(Parser)]
#[command(name = "jetstate", version, about = "Inspect and operate a jetstate database")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a small durable workflow on FILE (default ./jetstate-demo.db) with two worker
    /// processes, one of which dies holding a lease; then show the timeline, queue and state.
    Demo {
        #[arg(value_name = "FILE|URL")]
        file: Option<PathBuf>,
    },
    /// One worker process of the demo (started by `demo` itself).
    #[command(hide = true)]
    DemoWorker { name: String, file: PathBuf, execution_id: String },
    /// Executions by status, queue depth, expired leases, dead letters, the oldest pending item.
    Status {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Executions, newest first.
    Executions {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        tenant: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// One execution: its record, its materialized state and its event timeline.
    Show {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        execution_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Work items with their state, oldest first.
    Queue {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Queue types: their settings (paused, limits) and items by state; pause, resume, limit.
    Queues {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        action: Option<QueuesAction>,
    },
    /// Cancel a pending or claimed work item (its holder's next renew or complete is refused).
    Cancel {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        item_id: String,
    },
    /// Delete finished work items and finished executions (whole: events and snapshots) past an
    /// age or a count; nothing live. Durations as 500ms, 30s, 15m, 12h, 7d.
    Prune {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        /// Completed, failed and cancelled items this long after their last change.
        #[arg(long, value_parser = duration)]
        items_older_than: Option<std::time::Duration>,
        /// Dead-lettered items this long after they were dead-lettered.
        #[arg(long, value_parser = duration)]
        dead_older_than: Option<std::time::Duration>,
        /// Keep at most this many finished items (the newest).
        #[arg(long)]
        keep_items: Option<u64>,
        /// Finished executions this long after their last change.
        #[arg(long, value_parser = duration)]
        executions_older_than: Option<std::time::Duration>,
        /// Keep at most this many finished executions (the newest).
        #[arg(long)]
        keep_executions: Option<u64>,
        /// Count what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
    /// The dead-letter queue: list, requeue, purge.
    Dlq {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Run a reclaim pass now: expired leases are counted and retried or dead-lettered.
    Reclaim {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// API tokens: create, list, revoke.
    Tokens {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Tenants: list, create, suspend.
    Tenants {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[command(subcommand)]
        action: TenantAction,
    },
    /// Copy the database to DEST (SQLite online backup: consistent, safe while writers run).
    Backup {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        dest: PathBuf,
    },
    /// Write the store (or one execution, with its events, snapshots, work items and workflow
    /// definition) as JSON Lines, one consistent snapshot, to stdout or --output.
    Export {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long)]
        execution: Option<String>,
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Write the rows of an export (stdin, or INPUT) into FILE, created if it does not exist:
    /// all of them in one transaction, or on any error none.
    Import {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        input: Option<PathBuf>,
    },
    /// Serve a read-only web inspector of FILE on 127.0.0.1 (executions, timelines, queues,
    /// dead letters). Port 0 takes any free port; the address is printed on start.
    Ui {
        #[arg(value_name = "FILE|URL")]
        file: PathBuf,
        #[arg(long, default_value_t = 7070)]
        port: u16,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    List {
        #[arg(long)]
        json: bool,
    },
    /// Send one dead-lettered item (or, with --all, every one) back to the queue, afresh.
    Requeue {
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        id: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Delete every dead-lettered item.
    Purge,
}

#[derive(Subcommand)]
enum QueuesAction {
    /// Claims skip the queue type; its items wait.
    Pause { queue: String },
    /// Claims take the queue type's items again.
    Resume { queue: String },
    /// Set the queue type's limits (each left out is removed; its pause is kept).
    Limit {
        queue: String,
        /// At most N items claimed at once, across every worker.
        #[arg(long)]
        concurrency: Option<u32>,
        /// At most N claimed at once per partition key.
        #[arg(long)]
        partition_concurrency: Option<u32>,
        /// At most N claims per period, as N/PERIOD (10/1s, 600/1m).
        #[arg(long, value_parser = rate)]
        rate: Option<jetstate::RateLimit>,
    },
}

/// A duration as people write it: 500ms, 30s, 15m, 12h, 7d.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| format!("{text:?} is not a duration (500ms, 30s, 15m, 12h, 7d)"))?;
    let seconds = match unit {
        "ms" => return Ok(std::time::Duration::from_millis(n)),
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{text:?}: the unit is ms, s, m, h or d")),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(seconds)))
}

/// A rate limit as N/PERIOD.
fn rate(text: &str) -> Result<jetstate::RateLimit, String> {
    let (claims, period) = text.split_once('/').ok_or_else(|| format!("{text:?}: a rate is N/PERIOD, as 10/1s"))?;
    let claims = claims.parse().map_err(|_| format!("{text:?}: {claims:?} is not a count"))?;
    Ok(jetstate::RateLimit { claims, period: duration(period)? })
}

#[derive(Subcommand)]
enum TokenAction {
    /// Create a token; its plaintext is shown once, here.
    Create {
        name: String,
        role: String,
    },
    List {
        #[arg(long)]
        json: bool,
    },
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
enum TenantAction {
    List {
        #[arg(long)]
        json: bool,
    },
    Create {
        id: String,
        name: String,
    },
    Suspend {
        id: String,
    },
}

/// Where FILE|URL names, as it may be shown: a server's password never is.
fn shown(file: &Path) -> String {
    Location::from_path(file).to_string()
}

/// Opens an existing store (a file that exists, or a server's): read-only for read commands, as
/// a writer otherwise.
fn open(file: &Path, read_only: bool) -> jetstate::Result<Store> {
    if matches!(Location::from_path(file), Location::File(_)) && !file.exists() {
        return Err(Error::new(ErrorKind::Database, format!("no such file: {}", file.display())));
    }
    Store::open(file, Options::default().read_only(read_only))
}

fn run(command: Command) -> jetstate::Result<()> {
    match command {
        Command::Demo { file } => {
            demo::run(file).map_err(|err| Error::new(ErrorKind::Database, format!("demo: {err}")))
        }
        Command::DemoWorker { name, file, execution_id } => demo::run_worker(&name, &file, &execution_id)
            .map_err(|err| Error::new(ErrorKind::Database, format!("demo worker: {err}"))),
        Command::Status { file, json } => status(&file, json),
        Command::Executions { file, status, tenant, limit, json } => {
            let store = open(&file, true)?;
            let store = match tenant {
                Some(tenant) => store.for_tenant(TenantId(tenant)),
                None => store,
            };
            let status = status.map(|s| s.parse()).transpose()?;
            let executions = store.list_executions(status, limit, 0)?;
            if json {
                output::json(&wire::to_json(&executions)?);
            } else {
                let rows = executions
                    .iter()
                    .map(|e| {
                        vec![
                            e.execution_id.0.to_string(),
                            e.workflow_id.clone(),
                            e.workflow_version.clone(),
                            e.status.to_string(),
                            time(&e.updated_at),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["EXECUTION", "WORKFLOW", "VERSION", "STATUS", "UPDATED"], &rows);
            }
            Ok(())
        }
        Command::Show { file, execution_id, json } => show(&file, &execution_id, json),
        Command::Queue { file, status, limit, json } => {
            let store = open(&file, true)?;
            let status = status.map(|s| s.parse::<WorkItemStatus>()).transpose()?;
            items(&store.list_work_items(status, limit, 0)?, json)
        }
        Command::Queues { file, json, action } => queues(&file, json, action),
        Command::Cancel { file, item_id } => {
            let before = open(&file, false)?.cancel_work_item(&wire::uuid("work item id", &item_id)?)?;
            println!("cancelled {item_id} (it was {})", before.as_str());
            Ok(())
        }
        Command::Prune {
            file,
            items_older_than,
            dead_older_than,
            keep_items,
            executions_older_than,
            keep_executions,
            dry_run,
            json,
        } => {
            let policy = jetstate::RetentionPolicy {
                finished_items_after: items_older_than,
                dead_letters_after: dead_older_than,
                keep_finished_items: keep_items,
                finished_executions_after: executions_older_than,
                keep_finished_executions: keep_executions,
            };
            if policy == jetstate::RetentionPolicy::default() {
                return Err(Error::new(
                    ErrorKind::InvalidArgument,
                    "prune: say what to delete (--items-older-than, --dead-older-than, --keep-items, \
                     --executions-older-than, --keep-executions)",
                ));
            }
            let report = open(&file, dry_run)?.prune(&policy, dry_run)?;
            if json {
                output::json(&wire::to_json(&report)?);
            } else {
                println!(
                    "{} {} work item(s), {} execution(s) with {} event(s) and {} snapshot(s)",
                    if dry_run { "would delete" } else { "deleted" },
                    report.work_items,
                    report.executions,
                    report.events,
                    report.snapshots
                );
            }
            Ok(())
        }
        Command::Dlq { file, action } => match action {
            DlqAction::List { json } => {
                let store = open(&file, true)?;
                items(&store.list_work_items(Some(WorkItemStatus::DeadLetter), u32::MAX, 0)?, json)
            }
            DlqAction::Requeue { id: Some(id), .. } => {
                open(&file, false)?.requeue_dead_letter(&wire::uuid("work item id", &id)?)?;
                println!("requeued {id}");
                Ok(())
            }
            DlqAction::Requeue { id: None, .. } => {
                println!("requeued {} item(s)", open(&file, false)?.requeue_all_dead_letters()?);
                Ok(())
            }
            DlqAction::Purge => {
                println!("purged {} item(s)", open(&file, false)?.purge_dead_letters()?);
                Ok(())
            }
        },
        Command::Reclaim { file, json } => {
            let result = open(&file, false)?.reclaim_expired_leases()?;
            if json {
                output::json(&wire::to_json(&result)?);
            } else {
                println!(
                    "{} item(s) back to pending, {} dead-lettered",
                    result.retryable.len(),
                    result.exhausted.len()
                );
            }
            Ok(())
        }
        Command::Tokens { file, action } => tokens(&file, action),
        Command::Tenants { file, action } => tenants(&file, action),
        Command::Backup { file, dest } => {
            let store = open(&file, true)?;
            let bar = Bar::new("backup", "pages");
            let bytes = store.backup_with_progress(&dest, &mut |p| bar.update(p))?;
            bar.finish();
            println!("copied {} ({bytes} bytes) to {}", shown(&file), dest.display());
            Ok(())
        }
        Command::Export { file, execution, output } => export(&file, execution.as_deref(), output.as_deref()),
        Command::Import { file, input } => import(&file, input.as_deref()),
        Command::Ui { file, port } => ui::serve(open(&file, true)?, &file, port),
    }
}

/// Rows per table, as a line for people: "3 executions, 120 events, ...".
fn counted(counts: &jetstate::RowCounts) -> String {
    let total: u64 = counts.values().sum();
    let parts: Vec<String> = counts.iter().filter(|(_, n)| **n > 0).map(|(table, n)| format!("{n} {table}")).collect();
    format!("{total} row(s){}", if parts.is_empty() { String::new() } else { format!(": {}", parts.join(", ")) })
}

fn export(file: &Path, execution: Option<&str>, output: Option<&Path>) -> jetstate::Result<()> {
    let store = open(file, true)?;
    let execution = execution.map(wire::execution_id).transpose()?;
    let mut out: Box<dyn Write> = match output {
        Some(path) => Box::new(std::io::BufWriter::new(std::fs::File::create_new(path).map_err(|err| {
            Error::new(ErrorKind::InvalidArgument, format!("cannot create {}: {err}", path.display()))
        })?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let bar = Bar::new("export", "rows");
    let result = store.export(execution.as_ref(), &mut out, &mut |p| bar.update(p));
    bar.finish();
    drop(out);
    match result {
        Ok(counts) => {
            eprintln!("exported {}", counted(&counts));
            Ok(())
        }
        Err(err) => {
            if let Some(path) = output {
                let _ = std::fs::remove_file(path);
            }
            Err(err)
        }
    }
}

fn import(file: &Path, input: Option<&Path>) -> jetstate::Result<()> {
    let (mut reader, total): (Box<dyn BufRead>, u64) = match input {
        Some(path) => {
            let opened = std::fs::File::open(path).map_err(|err| {
                Error::new(ErrorKind::InvalidArgument, format!("cannot read {}: {err}", path.display()))
            })?;
            let total = opened.metadata().map(|m| m.len()).unwrap_or(0);
            (Box::new(std::io::BufReader::new(opened)), total)
        }
        None => (Box::new(std::io::stdin().lock()), 0),
    };
    // Restoring into a new file is import's main use, so it may create FILE; a failed import
    // then removes what it created, so that it leaves nothing behind.
    let created = matches!(Location::from_path(file), Location::File(_)) && !file.exists();
    let store = Store::open(file, Options::default())?;
    let bar = Bar::new("import", "bytes");
    let result = store.import(&mut reader, total, &mut |p| bar.update(p));
    bar.finish();
    store.close()?;
    match result {
        Ok(counts) => {
            println!("imported {}", counted(&counts));
            Ok(())
        }
        Err(err) => {
            if created {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", file.display()));
                }
            }
            Err(err)
        }
    }
}

fn status(file: &Path, json: bool) -> jetstate::Result<()> {
    let store = open(file, true)?;
    if json {
        output::json(&report::status(&store, file)?);
        return Ok(());
    }
    let summary = store.summary()?;
    field("schema version", summary.schema_version);
    match report::file_bytes(file) {
        Some(bytes) => field("file size", format!("{bytes} bytes")),
        None => field("server", shown(file)),
    }
    let executions: Vec<String> = summary.executions.iter().map(|(status, n)| format!("{status} {n}")).collect();
    field("executions", if executions.is_empty() { "none".into() } else { executions.join(", ") });
    field("expired leases", summary.expired_leases);
    field("dead letters", summary.dead_letter);
    let age = summary.oldest_pending.map(|at| {
        let seconds = (store.now() - at).num_seconds().max(0);
        format!("{} ({seconds} s ago)", time(&at))
    });
    field("oldest pending", or_dash(age));
    if !summary.queues.is_empty() {
        println!();
        let statuses = ["pending", "claimed", "completed", "failed", "dead_letter", "cancelled"];
        let rows = summary
            .queues
            .iter()
            .map(|(queue, counts)| {
                std::iter::once(queue.clone())
                    .chain(statuses.iter().map(|s| counts.get(*s).copied().unwrap_or(0).to_string()))
                    .collect()
            })
            .collect::<Vec<_>>();
        table(&["QUEUE", "PENDING", "CLAIMED", "COMPLETED", "FAILED", "DEAD_LETTER", "CANCELLED"], &rows);
    }
    Ok(())
}

fn show(file: &Path, execution_id: &str, json: bool) -> jetstate::Result<()> {
    let store = open(file, true)?;
    if json {
        output::json(&report::execution(&store, execution_id)?);
        return Ok(());
    }
    let id = wire::execution_id(execution_id)?;
    let execution = store
        .get_execution(&id)?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("execution not found: {execution_id}")))?;
    let state = store.materialize(&id)?;
    let events = store.get_events(&id)?;
    println!("execution   {}", execution.execution_id.0);
    println!("workflow    {} version {}", execution.workflow_id, execution.workflow_version);
    println!("status      {} (from events: {})", execution.status, state.status);
    println!("started     {}", time(&execution.started_at));
    println!("\nmaterialized state (after sequence {}):", state.last_sequence);
    output::json(&state.current_state);
    println!("\ntimeline:");
    let mut previous = events.first().map(|e| e.created_at);
    let rows = events
        .iter()
        .map(|event| {
            let since = previous.map_or(0, |p| (event.created_at - p).num_milliseconds());
            previous = Some(event.created_at);
            vec![
                event.sequence.to_string(),
                time(&event.created_at),
                format!("+{since} ms"),
                event.kind.type_name(),
                event.kind.node_id().unwrap_or("").to_string(),
            ]
        })
        .collect::<Vec<_>>();
    table(&["SEQ", "AT", "AFTER", "EVENT", "NODE"], &rows);
    Ok(())
}

fn items(entries: &[jetstate::QueueEntry], json: bool) -> jetstate::Result<()> {
    if json {
        output::json(&wire::to_json(entries)?);
        return Ok(());
    }
    let rows = entries
        .iter()
        .map(|e| {
            vec![
                e.item.id.to_string(),
                e.item.queue_type.clone(),
                e.item.node_id.clone(),
                e.status.as_str().to_string(),
                e.priority.to_string(),
                or_dash(e.retry_after.as_ref().map(time)),
                format!("{}/{}", e.item.attempt, e.item.max_attempts),
                or_dash(e.item.worker_id.clone()),
                or_dash(e.progress.as_ref().map(|p| p.to_string())),
                or_dash(e.last_error.clone()),
            ]
        })
        .collect::<Vec<_>>();
    table(
        &["ITEM", "QUEUE", "NODE", "STATUS", "PRIORITY", "NOT BEFORE", "ATTEMPT", "WORKER", "PROGRESS", "LAST ERROR"],
        &rows,
    );
    Ok(())
}

fn queues(file: &Path, json: bool, action: Option<QueuesAction>) -> jetstate::Result<()> {
    match action {
        None => {
            let queues = open(file, true)?.list_queues()?;
            if json {
                output::json(&wire::to_json(&queues)?);
                return Ok(());
            }
            let rows = queues
                .iter()
                .map(|q| {
                    let s = &q.settings;
                    vec![
                        q.queue_type.clone(),
                        if s.paused { "paused".into() } else { "open".into() },
                        or_dash(s.concurrency.map(|n| n.to_string())),
                        or_dash(s.partition_concurrency.map(|n| n.to_string())),
                        or_dash(s.rate_limit.map(|r| format!("{}/{:?}", r.claims, r.period))),
                        q.ready.to_string(),
                        q.scheduled.to_string(),
                        q.claimed.to_string(),
                        q.completed.to_string(),
                        q.failed.to_string(),
                        q.dead_letter.to_string(),
                        q.cancelled.to_string(),
                    ]
                })
                .collect::<Vec<_>>();
            table(
                &[
                    "QUEUE",
                    "STATE",
                    "LIMIT",
                    "PER PARTITION",
                    "RATE",
                    "READY",
                    "SCHEDULED",
                    "CLAIMED",
                    "COMPLETED",
                    "FAILED",
                    "DEAD",
                    "CANCELLED",
                ],
                &rows,
            );
            Ok(())
        }
        Some(QueuesAction::Pause { queue }) => {
            open(file, false)?.pause_queue(&queue)?;
            println!("paused {queue}");
            Ok(())
        }
        Some(QueuesAction::Resume { queue }) => {
            open(file, false)?.resume_queue(&queue)?;
            println!("resumed {queue}");
            Ok(())
        }
        Some(QueuesAction::Limit { queue, concurrency, partition_concurrency, rate }) => {
            let store = open(file, false)?;
            let paused = store.queue_settings(&queue)?.paused;
            let settings = jetstate::QueueSettings { paused, concurrency, partition_concurrency, rate_limit: rate };
            store.configure_queue(&queue, &settings)?;
            println!("{queue}: {}", wire::to_json(&settings)?);
            Ok(())
        }
    }
}

fn tokens(file: &Path, action: TokenAction) -> jetstate::Result<()> {
    match action {
        TokenAction::Create { name, role } => {
            let (plaintext, info) = open(file, false)?.create_token(&name, &role)?;
            println!("{plaintext}");
            eprintln!("token {} created for {name} ({role}); the plaintext above is shown only once", info.id);
        }
        TokenAction::List { json } => {
            let records = open(file, true)?.list_tokens()?;
            if json {
                output::json(&wire::to_json(&records)?);
            } else {
                let rows = records
                    .iter()
                    .map(|r| {
                        vec![
                            r.info.id.clone(),
                            r.info.name.clone(),
                            r.info.role.clone(),
                            r.info.tenant_id.clone(),
                            or_dash(r.info.expires_at.as_ref().map(time)),
                            or_dash(r.revoked_at.as_ref().map(time)),
                            or_dash(r.last_used_at.as_ref().map(time)),
                        ]
                    })
                    .collect::<Vec<_>>();
                table(&["TOKEN", "NAME", "ROLE", "TENANT", "EXPIRES", "REVOKED", "LAST USED"], &rows);
            }
        }
        TokenAction::Revoke { id } => {
            open(file, false)?.revoke_token(&id)?;
            println!("revoked {id}");
        }
    }
    Ok(())
}

fn tenants(file: &Path, action: TenantAction) -> jetstate::Result<()> {
    match action {
        TenantAction::List { json } => {
            let tenants = open(file, true)?.list_tenants()?;
            if json {
                output::json(&wire::to_json(&tenants)?);
            } else {
                let rows = tenants
                    .iter()
                    .map(|t| vec![t.id.to_string(), t.name.clone(), t.status.as_str().to_string(), time(&t.created_at)])
                    .collect::<Vec<_>>();
                table(&["TENANT", "NAME", "STATUS", "CREATED"], &rows);
            }
        }
        TenantAction::Create { id, name } => {
            let store = open(file, false)?;
            let now = store.now();
            let tenant = Tenant {
                id: TenantId(id.clone()),
                name,
                status: TenantStatus::Active,
                policy: None,
                limits: None,
                created_at: now,
                updated_at: now,
            };
            store.create_tenant(&tenant)?;
            println!("created tenant {id}");
        }
        TenantAction::Suspend { id } => {
            let store = open(file, false)?;
            let tenant = store
                .get_tenant(&TenantId(id.clone()))?
                .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("tenant not found: {id}")))?;
            store.update_tenant(&Tenant { status: TenantStatus::Suspended, ..tenant })?;
            println!("suspended tenant {id}");
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse().command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("jetstate: {err}");
            ExitCode::from(if err.kind() == ErrorKind::NotFound { 3 } else { 1 })
        }
    }
}
