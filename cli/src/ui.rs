//! `jetstate ui`: a read-only web inspector, served on 127.0.0.1 only.
//!
//! The page (`ui/index.html`, `ui/app.js`, `ui/app.css`, compiled into the binary) draws what a
//! small JSON API answers; the API's values are the `--json` output of the read commands
//! (`report.rs`, the core's wire forms). Why it is safe to leave running beside an engine:
//! * the store is opened read-only: no request can write to the file;
//! * the socket listens on the loopback address only, and a request whose Host is not that
//!   address (a page elsewhere resolving its own name to 127.0.0.1, "DNS rebinding") is refused;
//! * the page sets text with `textContent` only, under a Content-Security-Policy that allows
//!   nothing but this server's own files, so a node id or an error message cannot run script.
//!
//! Requests are served one at a time: an inspector has one person behind it, and every answer
//! is a short read.

use std::path::Path;

use jetstate::serde_json::{json, Value};
use jetstate::{wire, Error, ErrorKind, Location, Store, WorkItemStatus};
use tiny_http::{Header, Method, Request, Response, Server};

use crate::report;

const INDEX: &str = include_str!("ui/index.html");
const APP_JS: &str = include_str!("ui/app.js");
const APP_CSS: &str = include_str!("ui/app.css");

/// Serves the inspector until the process is stopped.
pub fn serve(store: Store, file: &Path, port: u16) -> jetstate::Result<()> {
    let server = Server::http(("127.0.0.1", port))
        .map_err(|err| Error::new(ErrorKind::Database, format!("cannot listen on 127.0.0.1:{port}: {err}")))?;
    let address =
        server.server_addr().to_ip().ok_or_else(|| Error::new(ErrorKind::Database, "the server has no IP address"))?;
    println!("jetstate ui: serving {} read-only at http://{address}/ (Ctrl-C stops)", Location::from_path(file));
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let hosts = [format!("127.0.0.1:{}", address.port()), format!("localhost:{}", address.port())];
    for request in server.incoming_requests() {
        let response = answer(&store, file, &request, &hosts);
        let _ = request.respond(response);
    }
    Ok(())
}

type Answer = Response<std::io::Cursor<Vec<u8>>>;

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid static header")
}

fn body(status: u16, content_type: &str, text: impl Into<Vec<u8>>) -> Answer {
    Response::from_data(text.into())
        .with_status_code(status)
        .with_header(header("Content-Type", content_type))
        .with_header(header("Cache-Control", "no-store"))
        .with_header(header("X-Content-Type-Options", "nosniff"))
        .with_header(header(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ))
}

fn json_body(status: u16, value: &Value) -> Answer {
    body(status, "application/json", value.to_string())
}

fn error_body(err: &Error) -> Answer {
    let status = match err.kind() {
        ErrorKind::NotFound => 404,
        ErrorKind::InvalidArgument => 400,
        _ => 500,
    };
    json_body(status, &json!({"code": err.code(), "message": err.message()}))
}

fn answer(store: &Store, file: &Path, request: &Request, hosts: &[String]) -> Answer {
    let host = request.headers().iter().find(|h| h.field.equiv("Host")).map(|h| h.value.as_str().to_string());
    if !host.is_some_and(|host| hosts.contains(&host)) {
        return body(
            421,
            "text/plain",
            "this inspector answers only to http://127.0.0.1 (its Host header was another name)",
        );
    }
    if *request.method() != Method::Get {
        return body(405, "text/plain", "the inspector is read-only: GET only");
    }
    let (path, query) = request.url().split_once('?').unwrap_or((request.url(), ""));
    let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes()).into_owned().collect();
    match path {
        "/" | "/index.html" => body(200, "text/html; charset=utf-8", INDEX),
        "/app.js" => body(200, "text/javascript; charset=utf-8", APP_JS),
        "/app.css" => body(200, "text/css; charset=utf-8", APP_CSS),
        _ => match api(store, file, path, &params) {
            Ok(Some(value)) => json_body(200, &value),
            Ok(None) => json_body(404, &json!({"code": "NOT_FOUND", "message": format!("no such page: {path}")})),
            Err(err) => error_body(&err),
        },
    }
}

/// The API: `None` for a path it does not have.
fn api(store: &Store, file: &Path, path: &str, params: &[(String, String)]) -> jetstate::Result<Option<Value>> {
    let param = |name: &str| params.iter().find(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.as_str());
    let limit = |default: u32| -> jetstate::Result<u32> {
        param("limit").map_or(Ok(default), |text| {
            text.parse()
                .map_err(|_| Error::new(ErrorKind::InvalidArgument, format!("limit must be a count, got {text:?}")))
        })
    };
    Ok(Some(match path {
        "/api/status" => {
            let mut value = report::status(store, file)?;
            value["file"] = json!(Location::from_path(file).to_string());
            value
        }
        "/api/executions" => {
            let view = match param("tenant") {
                Some(tenant) => store.for_tenant(tenant),
                None => store.clone(),
            };
            let status = param("status").map(str::parse).transpose()?;
            wire::to_json(&view.list_executions(status, limit(100)?, 0)?)?
        }
        "/api/queue" => {
            let status = param("status").map(str::parse::<WorkItemStatus>).transpose()?;
            wire::to_json(&store.list_work_items(status, limit(200)?, 0)?)?
        }
        "/api/queues" => wire::to_json(&store.list_queues()?)?,
        "/api/dlq" => wire::to_json(&store.list_work_items(Some(WorkItemStatus::DeadLetter), limit(200)?, 0)?)?,
        _ => match path.strip_prefix("/api/executions/") {
            Some(id) => report::execution(store, id)?,
            None => return Ok(None),
        },
    }))
}
