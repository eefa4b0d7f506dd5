//! Replays every scenario of `tests/conformance/*.json` through the sync `Store` (the format is
//! described in `tests/conformance/README.md`). Every failing step of every file is reported,
//! then the test fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jetstate::chrono::{DateTime, Utc};
use jetstate::serde_json::{self, json, Value};
use jetstate::{wire, Clock, Error, Options, Store, TenantId};

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

struct Step<'a> {
    args: &'a Value,
    vars: &'a HashMap<String, Value>,
}

impl Step<'_> {
    fn value(&self, name: &str) -> Value {
        substitute(self.args.get(name).cloned().unwrap_or(Value::Null), self.vars)
    }

    fn str(&self, name: &str) -> String {
        match self.value(name) {
            Value::String(text) => text,
            other => panic!("argument {name} must be a string, got {other}"),
        }
    }

    fn i64(&self, name: &str) -> i64 {
        self.value(name).as_i64().unwrap_or_else(|| panic!("argument {name} must be an integer"))
    }

    fn record<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T, Error> {
        wire::from_json(name, self.value(name))
    }

    fn execution_id(&self) -> Result<jetstate::ExecutionId, Error> {
        wire::execution_id(&self.str("execution_id"))
    }

    fn item_id(&self) -> Result<jetstate::uuid::Uuid, Error> {
        wire::uuid("work item id", &self.str("item_id"))
    }

    fn lease(&self) -> Option<Duration> {
        self.args.get("lease_ms").and_then(Value::as_u64).map(Duration::from_millis)
    }

    fn queue_types(&self) -> Vec<String> {
        serde_json::from_value(self.value("queue_types")).expect("queue_types is a list of strings")
    }
}

/// Replaces `"$name"` / `"$name.path"` strings by saved values.
fn substitute(value: Value, vars: &HashMap<String, Value>) -> Value {
    match value {
        Value::String(text) if text.starts_with('$') && text != "$any" => {
            let (name, path) = text[1..].split_once('.').unwrap_or((&text[1..], ""));
            let saved = vars.get(name).unwrap_or_else(|| panic!("no saved variable {name}"));
            pick(saved, path).unwrap_or_else(|| panic!("saved {name} has no {path}"))
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| substitute(v, vars)).collect()),
        Value::Object(fields) => Value::Object(fields.into_iter().map(|(k, v)| (k, substitute(v, vars))).collect()),
        other => other,
    }
}

fn pick(value: &Value, path: &str) -> Option<Value> {
    path.split('.').filter(|part| !part.is_empty()).try_fold(value.clone(), |at, part| match at {
        Value::Object(mut fields) => fields.remove(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.into_iter().nth(i)),
        _ => None,
    })
}

fn json_of<T: serde::Serialize>(value: T) -> Result<Value, Error> {
    wire::to_json(&value)
}

fn run_op(store: &Store, op: &str, step: &Step<'_>) -> Result<Value, Error> {
    let none = || Ok(Value::Null);
    match op {
        "advance_clock" => {
            store.clock().advance(Duration::from_millis(step.i64("ms") as u64))?;
            none()
        }
        "store_workflow" => store.store_workflow(&step.record("definition")?).and_then(|_| none()),
        "get_workflow" => json_of(store.get_workflow(&step.str("workflow_id"), &step.str("version"))?),
        "create_execution" => store.create_execution(&step.record("execution")?).and_then(|_| none()),
        "get_execution" => json_of(store.get_execution(&step.execution_id()?)?),
        "update_execution_status" => {
            let status = step.record("status")?;
            store.update_execution_status(&step.execution_id()?, status).and_then(|_| none())
        }
        "update_execution_current_state" => store
            .update_execution_current_state(&step.execution_id()?, &step.value("current_state"))
            .and_then(|_| none()),
        "patch_append_array" => {
            store.patch_append_array(&step.execution_id()?, &step.str("key"), step.value("value")).and_then(|_| none())
        }
        "list_executions" => {
            let status = step.record("status")?;
            json_of(store.list_executions(status, step.i64("limit") as u32, step.i64("offset") as u32)?)
        }
        "append_event" => json_of(store.append_event(step.record("event")?)?),
        "append_events" => store.append_events(step.record("events")?).and_then(|_| none()),
        "append_next_event" => json_of(store.append_next_event(&step.execution_id()?, step.record("kind")?)?),
        "get_events" => json_of(store.get_events(&step.execution_id()?)?),
        "get_events_since" => json_of(store.get_events_since(&step.execution_id()?, step.i64("since"))?),
        "latest_sequence" => json_of(store.latest_sequence(&step.execution_id()?)?),
        "write_snapshot" => store.write_snapshot(&step.record("snapshot")?).and_then(|_| none()),
        "latest_snapshot" => json_of(store.latest_snapshot(&step.execution_id()?)?),
        "materialize" => Ok(store.materialize(&step.execution_id()?)?.to_json()),
        "enqueue_work_item" => json_of(store.enqueue_work_item(&step.record("item")?)?),
        "get_work_item" => json_of(store.get_work_item(&step.item_id()?)?),
        "list_work_items" => {
            let status = step.record("status")?;
            json_of(store.list_work_items(status, step.i64("limit") as u32, step.i64("offset") as u32)?)
        }
        "claim_work_item" => {
            let types = step.queue_types();
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            json_of(store.claim_work_item(&step.str("worker_id"), &types)?)
        }
        "claim_fenced" => {
            let types = step.queue_types();
            let types: Vec<&str> = types.iter().map(String::as_str).collect();
            json_of(store.claim_fenced(&step.str("worker_id"), &types, step.lease())?)
        }
        "renew_lease" => store.renew_lease(&step.item_id()?, &step.str("worker_id")).and_then(|_| none()),
        "renew_fenced" => json_of(store.renew_fenced(&step.item_id()?, step.i64("token"), step.lease())?),
        "complete_work_item" => store.complete_work_item(&step.item_id()?).and_then(|_| none()),
        "complete_fenced" => store.complete_fenced(&step.item_id()?, step.i64("token")).and_then(|_| none()),
        "fail_work_item" => store.fail_work_item(&step.item_id()?, &step.str("error")).and_then(|_| none()),
        "fail_fenced" => {
            store.fail_fenced(&step.item_id()?, step.i64("token"), &step.str("error")).and_then(|_| none())
        }
        "reclaim_expired_leases" => json_of(store.reclaim_expired_leases()?),
        "move_to_dead_letter" => store.move_to_dead_letter(&step.item_id()?, &step.str("error")).and_then(|_| none()),
        "create_token" => {
            let (token, info) = match step.args.get("expires_at") {
                Some(_) => {
                    store.create_token_expiring(&step.str("name"), &step.str("role"), step.record("expires_at")?)?
                }
                None => store.create_token(&step.str("name"), &step.str("role"))?,
            };
            Ok(json!({"token": token, "info": json_of(info)?}))
        }
        "validate_token" => json_of(store.validate_token(&step.str("token"))?),
        "revoke_token" => store.revoke_token(&step.str("id")).and_then(|_| none()),
        "list_tokens" => json_of(store.list_tokens()?),
        "create_tenant" => store.create_tenant(&step.record("tenant")?).and_then(|_| none()),
        "get_tenant" => json_of(store.get_tenant(&TenantId(step.str("id")))?),
        "list_tenants" => json_of(store.list_tenants()?),
        "update_tenant" => store.update_tenant(&step.record("tenant")?).and_then(|_| none()),
        other => panic!("unknown op {other:?}"),
    }
}

/// Whether `actual` matches `expected` (README.md, "Matching"); on a mismatch, where.
/// `exact`: objects must also have no keys beyond the expected ones (null counts as absent).
fn mismatch(expected: &Value, actual: Option<&Value>, at: &str, exact: bool) -> Option<String> {
    match (expected, actual) {
        (Value::String(any), Some(found)) if any == "$any" && !found.is_null() => None,
        (Value::Null, None | Some(Value::Null)) => None,
        (Value::Object(want), Some(Value::Object(got))) => want
            .iter()
            .find_map(|(key, value)| mismatch(value, got.get(key), &format!("{at}.{key}"), exact))
            .or_else(|| {
                let extra = got.iter().find(|(key, value)| exact && !value.is_null() && !want.contains_key(*key));
                extra.map(|(key, value)| format!("at {at}.{key}: unexpected {value}"))
            }),
        (Value::Array(want), Some(Value::Array(got))) if want.len() == got.len() => {
            want.iter().zip(got).enumerate().find_map(|(i, (w, g))| mismatch(w, Some(g), &format!("{at}[{i}]"), exact))
        }
        (Value::Number(want), Some(Value::Number(got))) if want.as_f64() == got.as_f64() => None,
        (want, Some(got)) if want == got => None,
        (Value::String(want), Some(Value::String(got))) if same_instant(want, got) => None,
        (want, got) => {
            Some(format!("at {at}: expected {want}, got {}", got.map_or("nothing".into(), |g| g.to_string())))
        }
    }
}

/// Times match by the instant they name, whatever their spelling (`.5Z` and `.500Z`).
fn same_instant(want: &str, got: &str) -> bool {
    match (DateTime::parse_from_rfc3339(want), DateTime::parse_from_rfc3339(got)) {
        (Ok(want), Ok(got)) => want == got,
        _ => false,
    }
}

fn open(options: &Value) -> Store {
    let required = |name: &str| options.get(name).unwrap_or_else(|| panic!("options.{name} is required"));
    let start: DateTime<Utc> = serde_json::from_value(required("clock").clone()).expect("options.clock is RFC 3339");
    let ms = |name: &str| Duration::from_millis(required(name).as_u64().expect("a number of milliseconds"));
    let options = Options::default()
        .clock(Clock::manual(start))
        .lease(ms("lease_ms"))
        .backoff(ms("backoff_base_ms"), ms("backoff_cap_ms"));
    Store::open_in_memory(options).expect("a fresh in-memory store opens")
}

fn replay(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("scenario readable");
    let scenario: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    let store = open(&scenario["options"]);
    let mut vars = HashMap::new();
    let mut failures = Vec::new();
    let steps = scenario["steps"].as_array().expect("steps is a list");
    for (index, spec) in steps.iter().enumerate() {
        let op = spec["op"].as_str().expect("op is a string");
        let empty = json!({});
        let args = spec.get("args").unwrap_or(&empty);
        let target = match spec.get("tenant").and_then(Value::as_str) {
            Some(tenant) => store.for_tenant(tenant),
            None => store.clone(),
        };
        let outcome = run_op(&target, op, &Step { args, vars: &vars });
        let place = format!("{} step {} ({op})", path.file_name().unwrap().to_string_lossy(), index + 1);
        match (outcome, spec.get("error").and_then(Value::as_str)) {
            (Ok(result), None) => {
                if let Some(expected) = spec.get("expect") {
                    let expected = substitute(expected.clone(), &vars);
                    let exact = spec.get("exact").and_then(Value::as_bool).unwrap_or(false);
                    if let Some(why) = mismatch(&expected, Some(&result), "result", exact) {
                        failures.push(format!("{place}: {why}"));
                    }
                }
                if let Some(Value::Object(saves)) = spec.get("save") {
                    for (name, path) in saves {
                        let value = pick(&result, path.as_str().unwrap_or("")).unwrap_or(Value::Null);
                        vars.insert(name.clone(), value);
                    }
                }
            }
            (Ok(result), Some(code)) => failures.push(format!("{place}: expected error {code}, got {result}")),
            (Err(err), Some(code)) if err.code() == code => {}
            (Err(err), want) => failures.push(format!(
                "{place}: expected {}, got error {} ({err})",
                want.unwrap_or("success"),
                err.code()
            )),
        }
    }
    failures
}

#[test]
fn every_scenario_holds_on_the_rust_core() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/conformance exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the conformance scenarios, found {}", files.len());
    let failures: Vec<String> = files.iter().flat_map(|file| replay(file)).collect();
    assert!(failures.is_empty(), "{} failing step(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn the_matcher_rejects_what_it_should() {
    assert!(mismatch(&json!({"a": 1}), Some(&json!({"a": 1, "b": 2})), "r", false).is_none());
    assert!(mismatch(&json!({"a": 1}), Some(&json!({"a": 1, "b": 2})), "r", true).is_some());
    assert!(mismatch(&json!({"a": 1}), Some(&json!({"a": 1, "b": null})), "r", true).is_none());
    assert!(mismatch(&json!({"a": 1}), Some(&json!({"a": 2})), "r", false).is_some());
    assert!(mismatch(&json!([1]), Some(&json!([1, 2])), "r", false).is_some());
    assert!(mismatch(&json!("$any"), None, "r", false).is_some());
    assert!(mismatch(&json!("$any"), Some(&Value::Null), "r", false).is_some());
    assert!(mismatch(&json!({"gone": null}), Some(&json!({})), "r", false).is_none());
    assert!(mismatch(&json!(1), Some(&json!(1.0)), "r", false).is_none());
}
