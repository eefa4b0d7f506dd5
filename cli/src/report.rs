//! What the read commands report, as JSON: the `--json` output of `status` and `show`, and the
//! answers of `jetstate ui`'s API are these same values, so a script and the page see one shape.

use std::path::Path;

use jetstate::serde_json::{json, Value};
use jetstate::{wire, Error, ErrorKind, Location, Store};

/// The store at a glance (`jetstate status --json`): the core's summary and the file's size
/// (null for a store on a server, which has no file).
pub fn status(store: &Store, file: &Path) -> jetstate::Result<Value> {
    let mut value = wire::to_json(&store.summary()?)?;
    value["file_bytes"] = json!(file_bytes(file));
    Ok(value)
}

/// The size of the store's file, or None when the location is not a file.
pub fn file_bytes(file: &Path) -> Option<u64> {
    match Location::from_path(file) {
        Location::File(path) => Some(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)),
        _ => None,
    }
}

/// One execution (`jetstate show --json`): its record, its materialized state, its events.
pub fn execution(store: &Store, execution_id: &str) -> jetstate::Result<Value> {
    let id = wire::execution_id(execution_id)?;
    let execution = store
        .get_execution(&id)?
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("execution not found: {execution_id}")))?;
    Ok(json!({
        "execution": wire::to_json(&execution)?,
        "materialized": store.materialize(&id)?.to_json(),
        "events": wire::to_json(&store.get_events(&id)?)?,
    }))
}
