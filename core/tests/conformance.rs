//! Replays every scenario of `tests/conformance/*.json` through the sync `Store`, by way of
//! `wire::call_json`, the operations-by-name entry point the JavaScript surfaces use, results as
//! JSON text (the format is described in `tests/conformance/README.md`). Every failing step of
//! every file is reported, then the test fails.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jetstate::chrono::DateTime;
use jetstate::serde_json::{self, json, Value};
use jetstate::{wire, Store};

mod support;

fn scenario_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
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

/// The engines a scenario runs on, by the names its `not_on` uses.
#[derive(Clone, Copy)]
enum Engine {
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgresql,
}

impl Engine {
    fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgresql => "postgresql",
        }
    }
}

/// A fresh store for one scenario: in memory, or on the test server in a schema of its own.
fn open(options: &Value, engine: Engine) -> Store {
    for name in ["clock", "lease_ms", "backoff_base_ms", "backoff_cap_ms"] {
        assert!(options.get(name).is_some(), "options.{name} is required");
    }
    let options = wire::options(options).expect("valid options");
    match engine {
        Engine::Sqlite => Store::open_in_memory(options).expect("a fresh in-memory store opens"),
        #[cfg(feature = "postgres")]
        Engine::Postgresql => {
            Store::open(support::server::fresh_url("conformance"), options).expect("a fresh server store opens")
        }
        #[cfg(not(feature = "postgres"))]
        Engine::Postgresql => unreachable!("only builds with the server engine replay on it"),
    }
}

/// Why the scenario cannot apply to `engine` (its `not_on`), if it says so.
fn not_on(scenario: &Value, engine: Engine, place: &Path) -> Option<String> {
    let reasons = scenario.get("not_on")?.as_object().expect("not_on maps engine names to reasons");
    for (name, reason) in reasons {
        assert!(
            ["sqlite", "postgresql"].contains(&name.as_str()),
            "{}: not_on names no engine: {name}",
            place.display()
        );
        assert!(reason.as_str().is_some_and(|r| r.len() > 20), "{}: not_on.{name} must say why", place.display());
    }
    reasons.get(engine.name()).map(|reason| reason.as_str().unwrap_or_default().to_string())
}

fn replay(path: &Path, engine: Engine) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("scenario readable");
    let scenario: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: not JSON: {e}", path.display()));
    if let Some(reason) = not_on(&scenario, engine, path) {
        eprintln!("{}: not on {}: {reason}", path.display(), engine.name());
        return Vec::new();
    }
    let store = open(&scenario["options"], engine);
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
        let outcome = wire::call_json(&target, op, &substitute(args.clone(), &vars))
            .map(|text| serde_json::from_str::<Value>(&text).expect("a result is JSON text"));
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

fn replay_all(engine: Engine) {
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario_dir())
        .expect("tests/conformance exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "expected the conformance scenarios, found {}", files.len());
    let failures: Vec<String> = files.iter().flat_map(|file| replay(file, engine)).collect();
    assert!(failures.is_empty(), "{} failing step(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_scenario_holds_on_sqlite() {
    replay_all(Engine::Sqlite);
}

/// Builds with the server engine replay the corpus on it too; the test command starts the server.
#[cfg(feature = "postgres")]
#[test]
fn every_scenario_holds_on_postgresql() {
    replay_all(Engine::Postgresql);
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

/// `positional/parameters.json` (the argument order of the JavaScript surfaces) lists exactly the
/// arguments of the README's table of operations, in its order.
#[test]
fn the_positional_parameters_follow_the_readme_table() {
    let readme = std::fs::read_to_string(scenario_dir().join("README.md")).expect("README");
    let mut table = serde_json::Map::new();
    for line in readme.lines().filter(|line| line.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let names = |cell: &str| -> Vec<Value> {
            cell.split('`').skip(1).step_by(2).map(|name| Value::String(name.to_string())).collect()
        };
        let op = cells[1].trim_matches('`').to_string();
        table.insert(op, Value::Array(names(cells[2])));
    }
    let text = std::fs::read_to_string(scenario_dir().join("positional/parameters.json")).expect("parameters.json");
    let parameters: serde_json::Map<String, Value> = serde_json::from_str(&text).expect("JSON");
    assert!(table.len() >= 39, "the README's table was read: {} operations", table.len());
    assert_eq!(Value::Object(parameters), Value::Object(table));
}
