//! The `jetstate` command on real files prepared here: each command's output (its `--json` form
//! parsed), its exit code, and the bad cases: a missing file, a file that is not jetstate's, a
//! newer schema, an unknown id. Read commands must leave the file byte for byte as it was.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use jetstate::serde_json::{json, Value};
use jetstate::{EventKind, ExecutionId, Options, Store, WorkItem, WorkflowExecution};

fn jetstate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_jetstate")).args(args).output().expect("the command runs")
}

fn json_of(output: &Output) -> Value {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    jetstate::serde_json::from_slice(&output.stdout).expect("--json prints JSON")
}

/// A file with two executions (one with events), items in several states and a dead letter.
fn prepared(dir: &Path) -> (PathBuf, ExecutionId, WorkItem) {
    let path = dir.join("state.db");
    let (id, poison) = prepared_at(path.to_str().expect("utf-8 path"));
    (path, id, poison)
}

/// The same store as `prepared`'s, at `location` (a file or a server's URL).
fn prepared_at(location: &str) -> (ExecutionId, WorkItem) {
    let store = Store::open(location, Options::default().lease(Duration::from_millis(1))).expect("opens");
    let running = WorkflowExecution::new("triage", "2", json!({"ticket": 7}));
    store.create_execution(&running).expect("created");
    store.create_execution(&WorkflowExecution::new("digest", "1", json!({}))).expect("created");
    let started = EventKind::WorkflowStarted {
        workflow_id: "triage".into(),
        workflow_version: "2".into(),
        initial_input: json!({}),
    };
    store.append_next_event(&running.execution_id, started).expect("event");
    store
        .append_next_event(
            &running.execution_id,
            EventKind::NodeScheduled { node_id: "classify".into(), queue_type: "llm".into() },
        )
        .expect("event");
    let poison = WorkItem::new(running.execution_id.clone(), "classify", "llm", json!({"n": 1}));
    store
        .enqueue_work_items(&[poison.clone(), WorkItem::new(running.execution_id.clone(), "mail", "mail", json!({}))])
        .expect("items");
    store.move_to_dead_letter(&poison.id, "poison").expect("dead-lettered");
    store.close().expect("close");
    (running.execution_id, poison)
}

/// A URL naming a fresh store on the test server (a schema of its own), with a password in it that
/// the server does not need (it trusts local connections), so that its absence from every output
/// can be checked. The test command starts the server; nothing skips without one.
fn server_url() -> String {
    let url = std::env::var("JETSTATE_TEST_POSTGRES_URL").unwrap_or_default();
    assert!(!url.is_empty(), "JETSTATE_TEST_POSTGRES_URL names no server: run ./test.sh, which starts one");
    let url = url.replacen("postgresql://postgres@", "postgresql://postgres:s3cret@", 1);
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}schema=cli_{}", jetstate::uuid::Uuid::new_v4().simple())
}

/// Asserts that `output` succeeded and shows no password.
fn no_password(output: Output) -> Output {
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!text.contains("s3cret"), "a password shown: {text}");
    output
}

#[test]
fn a_server_url_works_wherever_a_file_does() {
    let url = server_url();
    let (id, poison) = prepared_at(&url);
    let run = |args: &[&str]| no_password(jetstate(args));

    let status = json_of(&run(&["status", &url, "--json"]));
    assert_eq!(status["executions"]["pending"], json!(2));
    assert_eq!(status["dead_letter"], json!(1));
    assert_eq!(status["file_bytes"], Value::Null, "a server has no file");
    let human = run(&["status", &url]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("postgres:***@"), "{human:?}");
    assert_eq!(json_of(&run(&["executions", &url, "--json"])).as_array().expect("list").len(), 2);
    let shown = json_of(&run(&["show", &url, &id.to_string(), "--json"]));
    assert_eq!(shown["materialized"]["active_nodes"], json!(["classify"]));
    assert_eq!(json_of(&run(&["queue", &url, "--json"])).as_array().expect("items").len(), 2);
    assert_eq!(json_of(&run(&["dlq", &url, "list", "--json"]))[0]["item"]["id"], json!(poison.id.to_string()));
    assert!(run(&["dlq", &url, "requeue", &poison.id.to_string()]).status.success());
    assert_eq!(json_of(&run(&["dlq", &url, "list", "--json"])), json!([]));
    assert_eq!(json_of(&run(&["reclaim", &url, "--json"]))["retryable"], json!([]));
    assert!(run(&["tokens", &url, "create", "ci", "admin"]).status.success());
    assert_eq!(json_of(&run(&["tokens", &url, "list", "--json"])).as_array().expect("tokens").len(), 1);
    assert!(run(&["tenants", &url, "create", "acme", "Acme Corp"]).status.success());
    assert!(run(&["tenants", &url, "suspend", "acme"]).status.success());
    assert!(json_of(&run(&["tenants", &url, "list", "--json"])).to_string().contains("suspended"));

    // backup is SQLite's; on a server the command says what to use instead, and writes nothing.
    let dir = tempfile::tempdir().expect("tempdir");
    let copy = dir.path().join("copy.db");
    let backup = run(&["backup", &url, copy.to_str().expect("path")]);
    assert_eq!(backup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&backup.stderr).contains("pg_dump"), "{backup:?}");
    assert!(!copy.exists());

    let ui = Inspector::start(&url);
    let (code, body) = ui.get("/api/status");
    assert_eq!(code, 200);
    assert!(!body.contains("s3cret"), "{body}");
    let served: Value = jetstate::serde_json::from_str(&body).expect("JSON");
    assert_eq!(served["executions"], json_of(&run(&["status", &url, "--json"]))["executions"]);
}

/// `jetstate export state.db | jetstate import postgresql://...` and back: not a bit lost.
#[test]
fn export_and_import_move_a_store_to_a_server_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _, _) = prepared(dir.path());
    let file = path.to_str().expect("path");
    let dump = dir.path().join("dump.jsonl");
    assert!(jetstate(&["export", file, "--output", dump.to_str().expect("path")]).status.success());
    let original = export_rows(&jetstate(&["export", file]));

    let url = server_url();
    let imported = no_password(jetstate_with(&["import", &url], &[], Some(&dump)));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert_eq!(export_rows(&no_password(jetstate(&["export", &url]))), original);

    // A second import is refused whole, as on a file.
    let again = no_password(jetstate_with(&["import", &url], &[], Some(&dump)));
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    assert_eq!(export_rows(&jetstate(&["export", &url])), original);

    let back = dir.path().join("back.jsonl");
    assert!(jetstate(&["export", &url, "--output", back.to_str().expect("path")]).status.success());
    let returned = dir.path().join("returned.db");
    assert!(jetstate(&["import", returned.to_str().expect("path"), back.to_str().expect("path")]).status.success());
    assert_eq!(export_rows(&jetstate(&["export", returned.to_str().expect("path")])), original);
}

#[test]
fn read_commands_report_what_is_stored_and_never_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, id, poison) = prepared(dir.path());
    let file = path.to_str().expect("utf-8 path");
    let before = std::fs::read(&path).expect("bytes");

    let status = json_of(&jetstate(&["status", file, "--json"]));
    assert_eq!(status["executions"]["pending"], json!(2));
    assert_eq!(status["dead_letter"], json!(1));
    assert_eq!(status["queues"]["mail"]["pending"], json!(1));
    assert!(status["file_bytes"].as_u64().expect("size") > 0);
    assert!(jetstate(&["status", file]).status.success());

    let executions = json_of(&jetstate(&["executions", file, "--json"]));
    assert_eq!(executions.as_array().expect("a list").len(), 2);
    let none = json_of(&jetstate(&["executions", file, "--status", "completed", "--json"]));
    assert_eq!(none, json!([]));
    let other_tenant = json_of(&jetstate(&["executions", file, "--tenant", "acme", "--json"]));
    assert_eq!(other_tenant, json!([]));

    let shown = json_of(&jetstate(&["show", file, &id.to_string(), "--json"]));
    assert_eq!(shown["execution"]["workflow_id"], json!("triage"));
    assert_eq!(shown["materialized"]["status"], json!("running"));
    assert_eq!(shown["materialized"]["active_nodes"], json!(["classify"]));
    assert_eq!(shown["events"].as_array().expect("events").len(), 2);
    let human = jetstate(&["show", file, &id.0.to_string()]);
    assert!(String::from_utf8_lossy(&human.stdout).contains("node_scheduled"));

    let queue = json_of(&jetstate(&["queue", file, "--json"]));
    assert_eq!(queue.as_array().expect("items").len(), 2);
    let dead = json_of(&jetstate(&["dlq", file, "list", "--json"]));
    assert_eq!(dead[0]["item"]["id"], json!(poison.id.to_string()));
    assert_eq!(dead[0]["last_error"], json!("poison"));
    assert!(jetstate(&["tokens", file, "list"]).status.success());
    assert!(jetstate(&["tenants", file, "list"]).status.success());

    assert_eq!(std::fs::read(&path).expect("bytes"), before, "a read command changed the file");
}

#[test]
fn write_commands_act_and_report() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _, poison) = prepared(dir.path());
    let file = path.to_str().expect("utf-8 path");

    assert!(jetstate(&["dlq", file, "requeue", &poison.id.to_string()]).status.success());
    assert_eq!(json_of(&jetstate(&["dlq", file, "list", "--json"])), json!([]));
    let missing = jetstate(&["dlq", file, "requeue", &poison.id.to_string()]);
    assert_eq!(missing.status.code(), Some(3), "no longer dead-lettered: not found");
    assert_eq!(jetstate(&["dlq", file, "requeue"]).status.code(), Some(2), "an id or --all is required");
    assert!(jetstate(&["dlq", file, "requeue", "--all"]).status.success());
    assert!(jetstate(&["dlq", file, "purge"]).status.success());

    let reclaimed = json_of(&jetstate(&["reclaim", file, "--json"]));
    assert_eq!(reclaimed["retryable"], json!([]));

    let created = jetstate(&["tokens", file, "create", "ci", "admin"]);
    assert!(created.status.success());
    let plaintext = String::from_utf8(created.stdout).expect("text").trim().to_string();
    assert!(plaintext.starts_with("jst_"));
    let tokens = json_of(&jetstate(&["tokens", file, "list", "--json"]));
    let token_id = tokens[0]["info"]["id"].as_str().expect("an id").to_string();
    assert!(jetstate(&["tokens", file, "revoke", &token_id]).status.success());
    let store = Store::open(&path, Options::default()).expect("opens");
    assert!(store.validate_token(&plaintext).expect("validate").is_none(), "revoked from the command line");
    store.close().expect("close");

    assert!(jetstate(&["tenants", file, "create", "acme", "Acme Corp"]).status.success());
    assert!(jetstate(&["tenants", file, "suspend", "acme"]).status.success());
    let tenants = json_of(&jetstate(&["tenants", file, "list", "--json"]));
    let acme = tenants.as_array().expect("tenants").iter().find(|t| t["id"] == json!("acme")).expect("acme");
    assert_eq!(acme["status"], json!("suspended"));
    assert_eq!(jetstate(&["tenants", file, "suspend", "ghost"]).status.code(), Some(3));

    let copy = dir.path().join("copy.db");
    assert!(jetstate(&["backup", file, copy.to_str().expect("path")]).status.success());
    let copied = json_of(&jetstate(&["status", copy.to_str().expect("path"), "--json"]));
    assert_eq!(copied["executions"]["pending"], json!(2));
    assert_eq!(jetstate(&["backup", file, copy.to_str().expect("path")]).status.code(), Some(1), "no overwrite");
}

#[test]
fn bad_files_and_unknown_ids_give_clear_messages_and_exit_codes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    let absent = missing.to_str().expect("path");
    let every = [
        vec!["status", absent],
        vec!["reclaim", absent],
        vec!["tenants", absent, "create", "x", "y"],
        vec!["export", absent],
        vec!["ui", absent, "--port", "0"],
    ];
    for args in every {
        let output = jetstate(&args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains("no such file"), "{args:?}");
        assert!(!missing.exists(), "{args:?} created the file");
    }

    let notes = dir.path().join("notes.db");
    std::fs::write(&notes, "not a database at all\n".repeat(100)).expect("write");
    let before = std::fs::read(&notes).expect("bytes");
    for command in ["status", "reclaim"] {
        let output = jetstate(&[command, notes.to_str().expect("path")]);
        assert_eq!(output.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&output.stderr).contains("not a SQLite database"));
    }
    assert_eq!(std::fs::read(&notes).expect("bytes"), before);

    let (path, _, _) = prepared(dir.path());
    {
        let raw = rusqlite::Connection::open(&path).expect("raw");
        raw.pragma_update(None, "user_version", jetstate::schema::SCHEMA_VERSION + 1).expect("bump");
    }
    let before = std::fs::read(&path).expect("bytes");
    let output = jetstate(&["reclaim", path.to_str().expect("path")]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("newer"));
    assert_eq!(std::fs::read(&path).expect("bytes"), before);

    let again = dir.path().join("again");
    std::fs::create_dir_all(&again).expect("directory");
    let (path, _, _) = prepared(&again);
    let file = path.to_str().expect("path");
    let unknown = jetstate(&["show", file, &ExecutionId::new().to_string()]);
    assert_eq!(unknown.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("not found"));
    let malformed = jetstate(&["show", file, "not-an-id"]);
    assert_eq!(malformed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&malformed.stderr).contains("malformed execution id"));
}

fn jetstate_with(args: &[&str], env: &[(&str, &str)], stdin: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jetstate"));
    command.args(args).envs(env.iter().copied());
    if let Some(path) = stdin {
        command.stdin(std::fs::File::open(path).expect("stdin file"));
    }
    command.output().expect("the command runs")
}

/// The lines of an export after its header (which carries the time of the export).
fn export_rows(output: &Output) -> Vec<String> {
    assert!(output.status.success(), "export failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).lines().skip(1).map(str::to_string).collect()
}

#[test]
fn export_and_import_round_trip_and_refuse_what_would_change_a_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, id, _) = prepared(dir.path());
    let file = path.to_str().expect("path");
    let before = std::fs::read(&path).expect("bytes");

    let dump = dir.path().join("dump.jsonl");
    let written = jetstate(&["export", file, "--output", dump.to_str().expect("path")]);
    assert!(written.status.success(), "{}", String::from_utf8_lossy(&written.stderr));
    assert!(String::from_utf8_lossy(&written.stderr).contains("exported"));
    assert_eq!(std::fs::read(&path).expect("bytes"), before, "export is a read command");
    let original = export_rows(&jetstate(&["export", file]));
    assert_eq!(original.len(), 7, "a tenant, two executions, two events, two items: {original:?}");

    // Into a new file, from a path and from stdin: the same rows come out.
    let restored = dir.path().join("restored.db");
    let imported = jetstate(&["import", restored.to_str().expect("path"), dump.to_str().expect("path")]);
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert!(String::from_utf8_lossy(&imported.stdout).starts_with("imported"));
    assert_eq!(export_rows(&jetstate(&["export", restored.to_str().expect("path")])), original);
    let piped = dir.path().join("piped.db");
    let imported = jetstate_with(&["import", piped.to_str().expect("path")], &[], Some(&dump));
    assert!(imported.status.success(), "{}", String::from_utf8_lossy(&imported.stderr));
    assert_eq!(export_rows(&jetstate(&["export", piped.to_str().expect("path")])), original);

    // A second import of the same rows: refused whole, the store as it was.
    let again = jetstate(&["import", restored.to_str().expect("path"), dump.to_str().expect("path")]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"), "{again:?}");
    assert_eq!(export_rows(&jetstate(&["export", restored.to_str().expect("path")])), original);

    // One execution.
    let one = export_rows(&jetstate(&["export", file, "--execution", &id.to_string()]));
    assert!(one.iter().all(|line| !line.contains("\"table\":\"tenants\"")));
    assert_eq!(one.iter().filter(|line| line.contains("\"table\":\"events\"")).count(), 2);
    let unknown = jetstate(&["export", file, "--execution", &ExecutionId::new().to_string()]);
    assert_eq!(unknown.status.code(), Some(3));

    // Not an export: refused, and the file it would have created is not left behind.
    let garbage = dir.path().join("garbage.jsonl");
    std::fs::write(&garbage, "{\"hello\": 1}\n").expect("write");
    let target = dir.path().join("never.db");
    let refused = jetstate(&["import", target.to_str().expect("path"), garbage.to_str().expect("path")]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not a jetstate export"), "{refused:?}");
    assert!(!target.exists());
    assert_eq!(
        jetstate(&["export", file, "--output", dump.to_str().expect("path")]).status.code(),
        Some(1),
        "an existing output file is not overwritten"
    );
}

#[test]
fn colour_and_progress_bars_only_on_a_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, _, _) = prepared(dir.path());
    let file = path.to_str().expect("path");
    for args in [vec!["status", file], vec!["queue", file], vec!["executions", file]] {
        let piped = jetstate(&args);
        assert!(piped.status.success());
        assert!(!piped.stdout.contains(&0x1b), "{args:?}: no escape codes into a pipe");
        let forced = jetstate_with(&args, &[("CLICOLOR_FORCE", "1")], None);
        assert!(forced.stdout.contains(&0x1b), "{args:?}: colour when asked for");
        let plain = jetstate_with(&args, &[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")], None);
        assert!(!plain.stdout.contains(&0x1b), "{args:?}: NO_COLOR wins");
    }
    let exported = jetstate(&["export", file]);
    assert!(!exported.stderr.contains(&b'\r') && !exported.stderr.contains(&0x1b), "no progress bar into a pipe");
    let copy = dir.path().join("copy.db");
    let copied = jetstate(&["backup", file, copy.to_str().expect("path")]);
    assert!(copied.status.success());
    assert!(!copied.stderr.contains(&b'\r') && !copied.stderr.contains(&0x1b));
}

/// `jetstate ui` started on a free port; killed when dropped.
struct Inspector {
    child: std::process::Child,
    port: u16,
}

impl Inspector {
    fn start(file: &str) -> Inspector {
        use std::io::BufRead as _;
        let mut child = Command::new(env!("CARGO_BIN_EXE_jetstate"))
            .args(["ui", file, "--port", "0"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("starts");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("a first line");
        let port = line
            .split("http://127.0.0.1:")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Inspector { child, port }
    }

    /// One HTTP/1.0 request; the status code and the body.
    fn request(&self, method: &str, path: &str, host: &str) -> (u16, String) {
        use std::io::{Read as _, Write as _};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connects");
        write!(stream, "{method} {path} HTTP/1.0\r\nHost: {host}\r\n\r\n").expect("sends");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("reads");
        let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).expect("a status line");
        let body = response.split_once("\r\n\r\n").map(|(_, body)| body.to_string()).unwrap_or_default();
        (status, body)
    }

    fn get(&self, path: &str) -> (u16, String) {
        self.request("GET", path, &format!("127.0.0.1:{}", self.port))
    }
}

impl Drop for Inspector {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn the_inspector_serves_the_read_commands_json_on_loopback_only_and_never_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, id, poison) = prepared(dir.path());
    let file = path.to_str().expect("path");
    let before = std::fs::read(&path).expect("bytes");
    let ui = Inspector::start(file);

    let (code, page) = ui.get("/");
    assert_eq!(code, 200);
    assert!(page.contains("<title>jetstate inspector</title>"));
    assert_eq!(ui.get("/app.js").0, 200);
    assert_eq!(ui.get("/app.css").0, 200);

    let (code, body) = ui.get("/api/status");
    assert_eq!(code, 200);
    let status: Value = jetstate::serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["executions"], json_of(&jetstate(&["status", file, "--json"]))["executions"]);
    let (_, body) = ui.get(&format!("/api/executions/{id}"));
    let shown: Value = jetstate::serde_json::from_str(&body).expect("JSON");
    assert_eq!(shown, json_of(&jetstate(&["show", file, &id.to_string(), "--json"])), "the same JSON as show --json");
    let (_, body) = ui.get("/api/executions?status=pending&tenant=default&limit=1");
    assert_eq!(jetstate::serde_json::from_str::<Value>(&body).expect("JSON").as_array().expect("list").len(), 1);
    let (_, body) = ui.get("/api/executions?tenant=acme%20corp");
    assert_eq!(body, "[]");
    let (_, body) = ui.get("/api/dlq");
    assert_eq!(
        jetstate::serde_json::from_str::<Value>(&body).expect("JSON")[0]["item"]["id"],
        json!(poison.id.to_string())
    );
    let (_, body) = ui.get("/api/queue?status=pending");
    assert_eq!(jetstate::serde_json::from_str::<Value>(&body).expect("JSON").as_array().expect("list").len(), 1);

    let (code, body) = ui.get(&format!("/api/executions/{}", ExecutionId::new()));
    assert_eq!(code, 404);
    assert!(body.contains("\"code\":\"NOT_FOUND\""), "{body}");
    assert_eq!(ui.get("/api/executions/not-an-id").0, 400);
    assert_eq!(ui.get("/api/executions?status=sleepy").0, 400);
    assert_eq!(ui.get("/api/executions?limit=lots").0, 400);
    assert_eq!(ui.get("/nowhere").0, 404);

    // Read-only, and only for a page that addressed it by the loopback address.
    assert_eq!(ui.request("POST", "/api/status", &format!("127.0.0.1:{}", ui.port)).0, 405);
    assert_eq!(ui.request("DELETE", "/api/dlq", &format!("localhost:{}", ui.port)).0, 405);
    assert_eq!(ui.request("GET", "/api/status", "attacker.example").0, 421, "DNS rebinding refused");
    assert_eq!(ui.request("GET", "/api/status", &format!("localhost:{}", ui.port)).0, 200);
    drop(ui);
    assert_eq!(std::fs::read(&path).expect("bytes"), before, "the inspector changed the file");
}
