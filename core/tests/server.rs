//! What only the PostgreSQL engine has to show, on the test server (`tests/postgres/cluster.sh`):
//! TLS as libpq's sslmode means it, passwords kept out of every message, claims from many
//! connections at once, stores migrated by several openers at once, connections killed under a
//! store, and hosts whose clocks are wrong (`faketime`).
#![cfg(feature = "postgres")]

use std::collections::HashSet;
use std::process::Command;
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use jetstate::serde_json::json;
use jetstate::{ErrorKind, Event, EventKind, Options, Store, WorkItem, WorkItemStatus, WorkflowExecution};

mod support;
use support::server::fresh_url;

/// Runs `sql` with psql (a real client beside the store) and returns what it printed.
fn psql(sql: &str) -> String {
    let url = std::env::var("JETSTATE_TEST_POSTGRES_URL").expect("the test server");
    let output = Command::new("psql").args([&url, "-XAtqc", sql]).output().expect("psql runs");
    assert!(output.status.success(), "psql: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn with(url: &str, param: &str) -> String {
    format!("{url}&{param}")
}

fn execution() -> WorkflowExecution {
    WorkflowExecution::new("wf", "1", json!({}))
}

// ── TLS ──────────────────────────────────────────────────────────────────────────────────────

/// Whether the store's open connections, named by `application_name`, are encrypted.
fn encrypted(application: &str) -> String {
    psql(&format!(
        "SELECT coalesce(string_agg(s.ssl::text, ','), 'none') FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid)
         WHERE a.application_name = '{application}'"
    ))
}

#[test]
fn tls_modes_mean_what_libpq_means() {
    let ca = std::env::var("JETSTATE_TEST_POSTGRES_CA").expect("the test server's CA (cluster.sh)");
    let cases = [
        ("sslmode=disable", "false"),
        ("sslmode=prefer", "true"),
        ("sslmode=require", "true"),
        (&*format!("sslmode=verify-ca&sslrootcert={ca}"), "true"),
        (&*format!("sslmode=verify-full&sslrootcert={ca}"), "true"),
    ];
    for (n, (params, ssl)) in cases.iter().enumerate() {
        let application = format!("tls_{n}_{}", std::process::id());
        let url = with(&with(&fresh_url("tls"), params), &format!("application_name={application}"));
        let store = Store::open(&url, Options::default()).unwrap_or_else(|e| panic!("{params}: {e}"));
        store.create_execution(&execution()).expect("a write over the connection");
        assert_eq!(encrypted(&application), *ssl, "{params}");
    }

    // A CA that did not sign the server's certificate: verify-ca and verify-full refuse to connect.
    let dir = tempfile::tempdir().expect("tempdir");
    let other = dir.path().join("other.crt");
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=someone else"])
        .arg("-keyout")
        .arg(dir.path().join("other.key"))
        .arg("-out")
        .arg(&other)
        .output()
        .expect("openssl runs");
    assert!(made.status.success());
    for mode in ["verify-ca", "verify-full"] {
        let url = with(&fresh_url("tls"), &format!("sslmode={mode}&sslrootcert={}", other.display()));
        let err = Store::open(&url, Options::default()).expect_err("an unknown CA is refused");
        assert_eq!(err.kind(), ErrorKind::Database, "{err}");
        assert!(err.message().contains("cannot connect"), "{err}");
    }
    // A CA file that is not there, and a mode libpq does not have: refused before connecting.
    let missing = with(&fresh_url("tls"), "sslmode=verify-full&sslrootcert=/nonexistent/ca.crt");
    let err = Store::open(&missing, Options::default()).expect_err("no CA file");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("/nonexistent/ca.crt"), "{err}");
    let err = Store::open(with(&fresh_url("tls"), "sslmode=sometimes"), Options::default()).expect_err("bad mode");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
}

#[test]
fn a_password_appears_in_no_error_and_no_debug_output() {
    let base = std::env::var("JETSTATE_TEST_POSTGRES_URL").expect("the test server");
    let with_password = base.replacen("postgresql://postgres@", "postgresql://postgres:s3cret@", 1);
    // A port nothing listens on: the connection error names the server, not the password.
    let unreachable = with_password.replacen("127.0.0.1:", "127.0.0.1:1", 1);
    let err = Store::open(format!("{unreachable}?connect_timeout=2"), Options::default()).expect_err("no server there");
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cret") && shown.contains("***"), "{shown}");
    let store = Store::open(format!("{with_password}?schema=pw"), Options::default())
        .expect("trusted: the password is not needed");
    let shown = format!("{store:?} {:?}", store.location());
    assert!(!shown.contains("s3cret"), "{shown}");
    let err = Store::open(format!("{with_password}?schema=pw&nonsense=1"), Options::default()).expect_err("bad option");
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(!err.to_string().contains("s3cret"), "{err}");
}

// ── Concurrency across connections ───────────────────────────────────────────────────────────

/// Eight workers, each a store of its own (its own connections), claim 400 items as fast as they
/// can: every item is claimed exactly once, and the claims were spread over the workers.
#[test]
fn claims_from_many_connections_never_take_an_item_twice() {
    let url = fresh_url("claims");
    let setup = Store::open(&url, Options::default()).expect("opens");
    let run = execution();
    setup.create_execution(&run).expect("execution");
    let items: Vec<WorkItem> =
        (0..400).map(|n| WorkItem::new(run.execution_id.clone(), "n", "q", json!({ "n": n }))).collect();
    setup.enqueue_work_items(&items).expect("enqueued");

    let claimed = Arc::new(Mutex::new(Vec::new()));
    let start = Arc::new(Barrier::new(8));
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let (url, claimed, start) = (url.clone(), Arc::clone(&claimed), Arc::clone(&start));
            std::thread::spawn(move || {
                let store = Store::open(&url, Options::default()).expect("worker opens");
                start.wait();
                let mut mine = 0;
                while let Some(lease) = store.claim_fenced(&format!("w{w}"), &["q"], None).expect("claim") {
                    store.complete_fenced(&lease.item.id, lease.token).expect("its holder completes it");
                    claimed.lock().unwrap().push(lease.item.id);
                    mine += 1;
                }
                mine
            })
        })
        .collect();
    let per_worker: Vec<usize> = workers.into_iter().map(|w| w.join().expect("worker")).collect();
    let claimed = claimed.lock().unwrap();
    let distinct: HashSet<_> = claimed.iter().collect();
    assert_eq!(claimed.len(), 400, "every item claimed");
    assert_eq!(distinct.len(), 400, "no item claimed twice");
    assert!(per_worker.iter().filter(|n| **n > 0).count() >= 4, "claims were spread: {per_worker:?}");
    assert_eq!(setup.summary().expect("summary").queues["q"]["completed"], 400);
}

/// Appends racing on one execution from many connections: `append_next_event` takes the next
/// sequence without gaps or duplicates, an explicit sequence already taken is SEQUENCE_CONFLICT,
/// and `patch_append_array` loses no element.
#[test]
fn appends_and_array_patches_race_without_losing_or_duplicating() {
    let url = fresh_url("appends");
    let setup = Store::open(&url, Options::default()).expect("opens");
    let run = execution();
    setup.create_execution(&run).expect("execution");
    let start = Arc::new(Barrier::new(6));
    let workers: Vec<_> = (0..6)
        .map(|w| {
            let (url, id, start) = (url.clone(), run.execution_id.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                let store = Store::open(&url, Options::default()).expect("worker opens");
                start.wait();
                let mut conflicts = 0;
                for n in 0..25 {
                    let node = format!("w{w}-{n}");
                    store
                        .append_next_event(
                            &id,
                            EventKind::NodeStarted { node_id: node.clone(), worker_id: "w".into(), attempt: 0 },
                        )
                        .expect("next");
                    store.patch_append_array(&id, "seen", json!(node)).expect("patch");
                    let taken = Event::new(id.clone(), 1, EventKind::WorkflowFailed { error: "x".into() });
                    match store.append_event(taken) {
                        Err(err) if err.kind() == ErrorKind::SequenceConflict => conflicts += 1,
                        other => panic!("sequence 1 is taken: {other:?}"),
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();
    assert_eq!(conflicts, 150);
    let events = setup.get_events(&run.execution_id).expect("events");
    let sequences: Vec<i64> = events.iter().map(|e| e.sequence).collect();
    assert_eq!(sequences, (1..=150).collect::<Vec<i64>>(), "gap-free, no duplicate");
    let state = setup.get_execution(&run.execution_id).expect("read").expect("there").current_state;
    let seen = state["seen"].as_array().expect("an array");
    assert_eq!(seen.len(), 150, "no element lost");
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 150);
}

/// A store of schema version 4 (its rate limit a ring of slots, the position in the queue's row)
/// is migrated on open: the ring becomes the log in grant order, as on SQLite (the slot at the
/// ring's position is grant 1), the position column goes, and the limit holds on: three grants
/// in the last 10 seconds refuse a fourth.
#[test]
fn a_version_4_store_brings_its_rate_ring_into_the_log() {
    let url = fresh_url("v4");
    let schema = url.rsplit("schema=").next().expect("schema").to_string();
    let ago = |seconds: i64| format!("(extract(epoch FROM clock_timestamp()) * 1000000)::bigint - {seconds}000000");
    psql(&format!(
        "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\";
         {}
         {}
         INSERT INTO jetstate_schema (version, applied_at) VALUES (3, 0), (4, 0);
         INSERT INTO queues (queue_type, rate_limit, rate_period, rate_granted, updated_at)
             VALUES ('rated', 3, 10000000, 4, 0);
         INSERT INTO queue_rate_slots (queue_type, slot, claimed_at)
             VALUES ('rated', 0, {}), ('rated', 1, {}), ('rated', 2, {});",
        include_str!("../migrations/postgres/0003_initial.sql"),
        include_str!("../migrations/postgres/0004_queue_options.sql"),
        ago(1),
        ago(3),
        ago(2),
    ));
    let store = Store::open(&url, Options::default()).expect("a version 4 store opens, migrated");
    let table = |name: &str| format!("\"{schema}\".{name}");
    assert_eq!(
        psql(&format!("SELECT string_agg(seq::text, ',' ORDER BY claimed_at) FROM {}", table("queue_rate_grants"))),
        "1,2,3",
        "the oldest grant is 1, the latest 3"
    );
    assert_eq!(
        psql(&format!(
            "SELECT count(*) FROM information_schema.columns
             WHERE table_schema = '{schema}' AND table_name = 'queues' AND column_name = 'rate_granted'"
        )),
        "0"
    );
    let execution = execution();
    store.create_execution(&execution).expect("created");
    let item = WorkItem::new(execution.execution_id.clone(), "n", "rated", json!({}));
    store.enqueue_work_items(std::slice::from_ref(&item)).expect("enqueued");
    assert!(store.claim_fenced("w", &["rated"], None).expect("claim").is_none(), "3 grants in the last 10 s");
}

/// Eight openers of one fresh schema at once (each its own connection): one schema results, each
/// opener sees a working store, and the migration ran once.
#[test]
fn openers_racing_on_a_fresh_schema_end_with_one_schema() {
    let url = fresh_url("migrate");
    let start = Arc::new(Barrier::new(8));
    let openers: Vec<_> = (0..8)
        .map(|_| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            std::thread::spawn(move || {
                start.wait();
                let store = Store::open(&url, Options::default()).expect("every opener succeeds");
                store.create_execution(&execution()).expect("and can write");
            })
        })
        .collect();
    openers.into_iter().for_each(|o| o.join().expect("opener"));
    let schema = url.rsplit("schema=").next().expect("schema");
    assert_eq!(
        psql(&format!("SELECT string_agg(version::text, ',' ORDER BY version) FROM \"{schema}\".jetstate_schema")),
        "3,4,5",
        "each migration applied once"
    );
    assert_eq!(psql(&format!("SELECT count(*) FROM \"{schema}\".executions")), "8");
}

#[test]
fn a_newer_schema_and_another_applications_tables_are_refused_untouched() {
    let url = fresh_url("newer");
    Store::open(&url, Options::default()).expect("opens").close().expect("closes");
    let schema = url.rsplit("schema=").next().expect("schema").to_string();
    psql(&format!("INSERT INTO \"{schema}\".jetstate_schema (version, applied_at) VALUES (99, 0)"));
    let err = Store::open(&url, Options::default()).expect_err("newer");
    assert!(err.message().contains("newer"), "{err}");
    assert_eq!(psql(&format!("SELECT max(version) FROM \"{schema}\".jetstate_schema")), "99");

    let theirs = fresh_url("theirs");
    let other = theirs.rsplit("schema=").next().expect("schema").to_string();
    psql(&format!("CREATE SCHEMA \"{other}\"; CREATE TABLE \"{other}\".events (x int)"));
    let err = Store::open(&theirs, Options::default()).expect_err("another application's");
    assert!(err.message().contains("another application"), "{err}");
    assert_eq!(psql(&format!("SELECT count(*) FROM pg_tables WHERE schemaname = '{other}'")), "1");
}

// ── Connections killed under a store ─────────────────────────────────────────────────────────

/// A store's calls made inside a tokio task (the caller's executor, not the store's) read long
/// results to the end, call after call: the wait for each batch of rows is not counted against
/// that task's cooperative budget, which it never gets back while it is blocked in the call. (A
/// tokio channel polled under a spent budget answered "not yet" for ever: the calls spun.)
#[test]
fn long_reads_inside_a_tokio_task_do_not_spin() {
    let store = Store::open(fresh_url("in_tokio"), Options::default()).expect("opens");
    let run = execution();
    let id = run.execution_id.clone();
    store.create_execution(&run).expect("created");
    let kinds =
        (0..1_000).map(|i| EventKind::NodeStarted { node_id: format!("n{i}"), worker_id: "w".into(), attempt: 0 });
    store.append_next_events(&id, kinds.collect()).expect("appended");
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        let read = runtime.block_on(async {
            // Each read hands its rows over in several batches; 200 reads spend any budget.
            (0..200).map(|_| store.get_events(&id).map(|events| events.len())).collect::<Result<Vec<_>, _>>()
        });
        drop(done.send(read));
    });
    let read = finished.recv_timeout(Duration::from_secs(120)).expect("the reads ended (they spun before)");
    assert!(read.expect("read").iter().all(|&events| events == 1_000));
}

/// The server ends every connection of the store (`pg_terminate_backend`) while it is idle: the
/// next calls go on by themselves on new connections.
#[test]
fn connections_killed_while_idle_are_replaced_without_reopening() {
    let application = format!("killed_idle_{}", std::process::id());
    let url = with(&fresh_url("killed"), &format!("application_name={application}"));
    let store = Store::open(&url, Options::default()).expect("opens");
    let run = execution();
    let id = run.execution_id.clone();
    store.create_execution(&run).expect("created");
    for _ in 0..3 {
        let killed = psql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '{application}'"
        ));
        assert_ne!(killed, "0", "the store had a connection to kill");
        std::thread::sleep(Duration::from_millis(100));
        store.update_execution_current_state(&id, &json!({"after": "kill"})).expect("a write after the kill");
        assert!(store.get_execution(&id).expect("a read after the kill").is_some());
    }
}

/// A call waiting on a row lock when its connection is killed: it is made again on a new
/// connection (nothing was committed), and its effect is there exactly once.
#[test]
fn a_connection_killed_mid_transaction_leaves_nothing_half_done() {
    let application = format!("killed_busy_{}", std::process::id());
    let url = with(&fresh_url("busy"), &format!("application_name={application}"));
    let store = Store::open(&url, Options::default().busy_timeout(Duration::from_secs(20))).expect("opens");
    let run = execution();
    store.create_execution(&run).expect("created");
    let schema = url.split("schema=").nth(1).and_then(|s| s.split('&').next()).expect("schema").to_string();
    let id = run.execution_id.clone();
    // psql holds the execution's row lock for 1.5 s; the store's append waits on it.
    let holder = {
        let url = std::env::var("JETSTATE_TEST_POSTGRES_URL").expect("server");
        let sql = format!(
            "BEGIN; SELECT 1 FROM \"{schema}\".executions WHERE id = '{}' FOR UPDATE; SELECT pg_sleep(1.5); COMMIT;",
            id.0
        );
        std::thread::spawn(move || Command::new("psql").args([&url, "-XAtqc", &sql]).output().expect("psql"))
    };
    std::thread::sleep(Duration::from_millis(300));
    let appender = {
        let store = store.clone();
        let id = id.clone();
        std::thread::spawn(move || {
            store.append_next_event(
                &id,
                EventKind::NodeStarted { node_id: "n".into(), worker_id: "w".into(), attempt: 0 },
            )
        })
    };
    std::thread::sleep(Duration::from_millis(400));
    let killed = psql(&format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE application_name = '{application}' AND wait_event_type = 'Lock'"
    ));
    assert_eq!(killed, "1", "the append was waiting on the lock");
    let appended = appender.join().expect("appender").expect("made again on a new connection");
    assert!(holder.join().expect("holder").status.success());
    assert_eq!(appended.sequence, 1);
    assert_eq!(store.get_events(&id).expect("events").len(), 1, "exactly once");
}

// ── Clocks ───────────────────────────────────────────────────────────────────────────────────

/// With the system clock, a lease is judged by the server's clock: a host whose clock is an hour
/// ahead (faketime) cannot reclaim a live lease, and one an hour behind cannot keep an expired
/// one. The skewed hosts are real processes: the `jetstate` command under Debian's faketime.
#[test]
fn hosts_with_wrong_clocks_neither_steal_nor_keep_a_lease() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let cli = target.join("debug/jetstate");
    assert!(cli.exists(), "the jetstate command is built first (cargo build -p jetstate-cli): {}", cli.display());
    let url = fresh_url("clocks");
    let store = Store::open(&url, Options::default().lease(Duration::from_secs(2))).expect("opens");
    let run = execution();
    store.create_execution(&run).expect("created");
    let item = WorkItem::new(run.execution_id.clone(), "n", "q", json!({}));
    store.enqueue_work_item(&item).expect("enqueued");
    let lease = store.claim_fenced("here", &["q"], None).expect("claim").expect("claimed");

    let skewed = |offset: &str, args: &[&str]| {
        let output = Command::new("faketime").arg(offset).arg(&cli).args(args).output().expect("faketime runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        jetstate::serde_json::from_slice::<jetstate::serde_json::Value>(&output.stdout).expect("JSON")
    };
    // Under faketime the host's own clock is indeed an hour off.
    let date = Command::new("faketime").args(["+1 hour", "date", "+%s"]).output().expect("date");
    let host: i64 = String::from_utf8_lossy(&date.stdout).trim().parse().expect("seconds");
    assert!(host - jetstate::chrono::Utc::now().timestamp() > 3000, "faketime moves the host's clock");

    let ahead = skewed("+1 hour", &["reclaim", &url, "--json"]);
    assert_eq!(ahead["retryable"], json!([]), "a live lease is not stolen by a host an hour ahead");
    assert_eq!(store.get_work_item(&item.id).expect("read").expect("there").status, WorkItemStatus::Claimed);
    store.renew_fenced(&item.id, lease.token, None).expect("the holder still holds it");

    std::thread::sleep(Duration::from_millis(2500));
    let behind = skewed("-1 hour", &["reclaim", &url, "--json"]);
    assert_eq!(behind["retryable"][0]["id"], json!(item.id.to_string()), "an expired lease is reclaimed");
    let err = store.complete_fenced(&item.id, lease.token).expect_err("the lease was lost");
    assert_eq!(err.kind(), ErrorKind::LeaseLost);
}
