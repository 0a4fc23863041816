//! The storage RPC (`POST /storage_rpc/v1`, and the final hop of onion requests): the request
//! envelope, method dispatch, and the meta-requests `batch`, `sequence` and `ifelse`
//! (protocol.md §3.3–§3.6).
//!
//! Every request is parsed completely before anything runs (a malformed sub-request fails the
//! whole batch with 400), then executed against one node. Answers are an HTTP status with a
//! JSON body, or a plain-text body for errors, exactly as the storage server sends them.

pub(crate) mod auth;
pub(crate) mod methods;
pub(crate) mod params;
pub(crate) mod swarm;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Value, json};
use tracing::Instrument as _;

use crate::http::Reply;
use crate::node::Node;
use params::{Params, ParseError, Parsed, opt_int};

/// The hardfork version nodes report (`hf`).
pub(crate) const HARDFORK: [u16; 2] = [19, 4];
/// The storage-server version nodes report.
pub(crate) const VERSION: [u16; 3] = [2, 8, 0];
/// Most sub-requests in one `batch`/`sequence`.
const BATCH_REQUEST_MAX: usize = 20;

/// A storage-RPC answer body.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    /// Success bodies and 421 swarm descriptions.
    Json(Value),
    /// Error texts.
    Text(String),
}

/// A storage-RPC answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RpcResponse {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Body,
}

impl RpcResponse {
    pub fn json(status: u16, body: Value) -> RpcResponse {
        RpcResponse {
            status,
            body: Body::Json(body),
        }
    }

    pub fn text(status: u16, text: impl Into<String>) -> RpcResponse {
        RpcResponse {
            status,
            body: Body::Text(text.into()),
        }
    }

    /// The JSON body, if it is one.
    pub fn json_body(&self) -> Option<&Value> {
        match &self.body {
            Body::Json(value) => Some(value),
            Body::Text(_) => None,
        }
    }

    /// As a direct HTTP answer.
    pub fn to_reply(&self) -> Reply {
        match &self.body {
            Body::Json(value) => Reply::json(self.status, value),
            Body::Text(text) => Reply::text(self.status, text.clone()),
        }
    }

    /// The body as batch results and onion replies carry it: the JSON itself or the text.
    pub fn body_value(&self) -> Value {
        match &self.body {
            Body::Json(value) => value.clone(),
            Body::Text(text) => Value::String(text.clone()),
        }
    }
}

/// A parsed request: one variant per method (aliases share one).
#[derive(Debug)]
pub(crate) enum Request {
    Store(methods::Store),
    Retrieve(methods::Retrieve),
    Delete(methods::Delete),
    DeleteAll(methods::DeleteAll),
    DeleteBefore(methods::DeleteBefore),
    Expire(methods::Expire),
    ExpireAll(methods::ExpireAll),
    GetExpiries(methods::GetExpiries),
    /// `get_swarm` / `get_snodes_for_pubkey`.
    GetSwarm(params::Owner),
    Info,
    /// `oxend_request`.
    Oxend(methods::Oxend),
    /// `revoke_subaccount` / `unrevoke_subaccount`.
    Revocation(methods::Revocation),
    /// Sub-requests run in parallel.
    Batch(Vec<Request>),
    /// Sub-requests run in order until one fails.
    Sequence(Vec<Request>),
    IfElse(Box<IfElse>),
}

impl Request {
    /// Applied by every swarm member (may arrive as a forwarded copy).
    fn is_recursive(&self) -> bool {
        matches!(
            self,
            Request::Store(_)
                | Request::Delete(_)
                | Request::DeleteAll(_)
                | Request::DeleteBefore(_)
                | Request::Expire(_)
                | Request::ExpireAll(_)
                | Request::Revocation(_)
        )
    }

    fn is_meta(&self) -> bool {
        matches!(
            self,
            Request::Batch(_) | Request::Sequence(_) | Request::IfElse(_)
        )
    }
}

/// `ifelse`: a condition on the node's versions and height, and what to run either way.
#[derive(Debug)]
pub(crate) struct IfElse {
    /// Hardfork `[major, minor]` at least this.
    hf_at_least: Option<Vec<i64>>,
    /// Hardfork below this.
    hf_before: Option<Vec<i64>>,
    /// Storage-server version at least this.
    v_at_least: Option<Vec<i64>>,
    /// Storage-server version below this.
    v_before: Option<Vec<i64>>,
    /// Block height at least this.
    height_at_least: Option<i64>,
    /// Block height below this.
    height_before: Option<i64>,
    /// Run when the condition holds.
    then: Option<Request>,
    /// Run otherwise (`else`).
    otherwise: Option<Request>,
}

/// Why a request could not be parsed.
enum Unparsed {
    /// `no method <name>`.
    NoMethod(String),
    /// `invalid request: <why>`.
    Invalid(ParseError),
}

impl From<ParseError> for Unparsed {
    fn from(e: ParseError) -> Unparsed {
        Unparsed::Invalid(e)
    }
}

/// Parses `params` for `method`.
fn parse(method: &str, params: Params) -> Result<Request, Unparsed> {
    Ok(match method {
        "store" => Request::Store(methods::parse_store(params)?),
        "retrieve" => Request::Retrieve(methods::parse_retrieve(params)?),
        "delete" => Request::Delete(methods::parse_delete(params)?),
        "delete_all" => Request::DeleteAll(methods::parse_delete_all(params)?),
        "delete_before" => Request::DeleteBefore(methods::parse_delete_before(params)?),
        "expire" => Request::Expire(methods::parse_expire(params)?),
        "expire_all" => Request::ExpireAll(methods::parse_expire_all(params)?),
        "get_expiries" => Request::GetExpiries(methods::parse_get_expiries(params)?),
        "get_swarm" | "get_snodes_for_pubkey" => {
            Request::GetSwarm(methods::parse_get_swarm(params)?)
        }
        "info" => Request::Info,
        "oxend_request" => Request::Oxend(methods::parse_oxend(params)?),
        "revoke_subaccount" => Request::Revocation(methods::parse_revocation(params, true)?),
        "unrevoke_subaccount" => Request::Revocation(methods::parse_revocation(params, false)?),
        "batch" => Request::Batch(parse_subrequests(&params)?),
        "sequence" => Request::Sequence(parse_subrequests(&params)?),
        "ifelse" => Request::IfElse(Box::new(parse_ifelse(params)?)),
        other => return Err(Unparsed::NoMethod(other.to_owned())),
    })
}

/// The `requests` of a batch or sequence, all parsed up front.
fn parse_subrequests(params: &Params) -> Parsed<Vec<Request>> {
    let Some(Value::Array(requests)) = params
        .get("requests")
        .filter(|r| r.as_array().is_some_and(|a| !a.is_empty()))
    else {
        return Err(ParseError::new(
            "Invalid batch request: no valid \"requests\" field",
        ));
    };
    if requests.len() > BATCH_REQUEST_MAX {
        return Err(ParseError::new(
            "Invalid batch request: subrequest limit exceeded",
        ));
    }
    let mut parsed = Vec::with_capacity(requests.len());
    for request in requests {
        let Value::Object(request) = request else {
            return Err(ParseError::new(
                "Invalid batch request: requests must be objects",
            ));
        };
        let (Some(Value::String(method)), Some(Value::Object(sub_params))) =
            (request.get("method"), request.get("params"))
        else {
            return Err(ParseError::new(
                "Invalid batch request: subrequests must have method/params keys",
            ));
        };
        let sub = match parse(method, sub_params.clone()) {
            Ok(sub) => sub,
            Err(Unparsed::NoMethod(name)) => {
                return Err(ParseError(format!(
                    "Invalid batch subrequest: invalid method \"{name}\""
                )));
            }
            Err(Unparsed::Invalid(e)) => return Err(e),
        };
        if sub.is_meta() {
            return Err(ParseError::new(
                "Invalid batch subrequest: subrequests may not contain meta-requests",
            ));
        }
        parsed.push(sub);
    }
    Ok(parsed)
}

fn parse_ifelse(params: Params) -> Parsed<IfElse> {
    let Some(Value::Object(condition)) = params.get("if") else {
        return Err(ParseError::new(
            "Invalid ifelse request: no valid \"if\" field",
        ));
    };
    let list = |name: &str| -> Parsed<Option<Vec<i64>>> {
        match condition.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| {
                    i.as_i64().ok_or_else(|| {
                        ParseError(format!(
                            "Invalid value given for '{name}': expected integer array"
                        ))
                    })
                })
                .collect::<Parsed<Vec<i64>>>()
                .map(|v| Some(v).filter(|v| !v.is_empty())),
            Some(v) => v.as_i64().map(|n| Some(vec![n])).ok_or_else(|| {
                ParseError(format!(
                    "Invalid value given for '{name}': expected integer array"
                ))
            }),
        }
    };
    let mut out = IfElse {
        height_at_least: opt_int(condition, "height_at_least")?,
        height_before: opt_int(condition, "height_before")?,
        hf_at_least: list("hf_at_least")?,
        hf_before: list("hf_before")?,
        v_at_least: list("v_at_least")?,
        v_before: list("v_before")?,
        then: None,
        otherwise: None,
    };
    if out.height_at_least.is_none()
        && out.height_before.is_none()
        && out.hf_at_least.is_none()
        && out.hf_before.is_none()
        && out.v_at_least.is_none()
        && out.v_before.is_none()
    {
        return Err(ParseError::new(
            "Invalid ifelse request: must specify at least one \"if\" condition",
        ));
    }
    let branch = |key: &str| -> Parsed<Option<Request>> {
        let Some(value) = params.get(key) else {
            return Ok(None);
        };
        let Value::Object(branch) = value else {
            return Err(ParseError(format!(
                "Invalid ifelse request: {key} must be an object"
            )));
        };
        let (Some(Value::String(method)), Some(Value::Object(sub_params))) =
            (branch.get("method"), branch.get("params"))
        else {
            return Err(ParseError(format!(
                "Invalid ifelse request: {key} must have method/params keys"
            )));
        };
        match parse(method, sub_params.clone()) {
            Ok(request) => Ok(Some(request)),
            Err(Unparsed::NoMethod(_)) => Err(ParseError(format!(
                "Invalid ifelse request method \"{key}\""
            ))),
            Err(Unparsed::Invalid(e)) => Err(e),
        }
    };
    out.then = branch("then")?;
    out.otherwise = branch("else")?;
    if out.then.is_none() && out.otherwise.is_none() {
        return Err(ParseError::new(
            "Invalid ifelse request: at least one of \"then\"/\"else\" required",
        ));
    }
    Ok(out)
}

/// Compares `actual` with `wanted` padded with zeros to the same length.
fn version_cmp(actual: &[i64], wanted: &[i64]) -> std::cmp::Ordering {
    let padded: Vec<i64> = (0..actual.len())
        .map(|i| wanted.get(i).copied().unwrap_or(0))
        .collect();
    actual.cmp(&padded)
}

/// Handles a whole `/storage_rpc/v1` body (also the body of an onion request's final hop).
/// `recurse`: this node was reached by the client (false for copies from swarm peers).
pub(crate) async fn process_body(node: Arc<Node>, body: &[u8], recurse: bool) -> RpcResponse {
    let Ok(json) = serde_json::from_slice::<Value>(body) else {
        return RpcResponse::text(400, "invalid json");
    };
    let Some(method) = json.get("method").and_then(Value::as_str) else {
        return RpcResponse::text(400, "invalid json: no `method` field");
    };
    let Some(Value::Object(params)) = json.get("params") else {
        return RpcResponse::text(400, "invalid json: no `params` field");
    };
    let span = tracing::debug_span!("rpc", node = node.index, method);
    match parse(method, params.clone()) {
        Err(Unparsed::NoMethod(name)) => RpcResponse::text(400, format!("no method {name}")),
        Err(Unparsed::Invalid(e)) => RpcResponse::text(400, format!("invalid request: {}", e.0)),
        Ok(request) if !recurse && !request.is_recursive() => RpcResponse::text(
            400,
            "invalid request: received invalid forwarded non-forwardable request",
        ),
        Ok(request) => execute(node, request, recurse).instrument(span).await,
    }
}

/// A boxed future (requests recurse through batch/sequence/ifelse).
type BoxFuture = Pin<Box<dyn Future<Output = RpcResponse> + Send>>;

/// Runs a parsed request on `node`.
fn execute(node: Arc<Node>, request: Request, recurse: bool) -> BoxFuture {
    Box::pin(async move {
        match request {
            Request::Store(r) => methods::store(node, r, recurse).await,
            Request::Retrieve(r) => methods::retrieve(node, r).await,
            Request::Delete(r) => methods::delete(node, r, recurse).await,
            Request::DeleteAll(r) => methods::delete_all(node, r, recurse).await,
            Request::DeleteBefore(r) => methods::delete_before(node, r, recurse).await,
            Request::Expire(r) => methods::expire(node, r, recurse).await,
            Request::ExpireAll(r) => methods::expire_all(node, r, recurse).await,
            Request::GetExpiries(r) => methods::get_expiries(node, r).await,
            Request::GetSwarm(owner) => methods::get_swarm(&node, &owner),
            Request::Info => methods::info(&node),
            Request::Oxend(r) => methods::oxend(&node, r),
            Request::Revocation(r) => methods::revocation(node, r, recurse).await,
            Request::Batch(requests) => {
                let mut tasks = Vec::with_capacity(requests.len());
                for request in requests {
                    tasks.push(tokio::spawn(execute(node.clone(), request, recurse)));
                }
                let mut results = Vec::with_capacity(tasks.len());
                for task in tasks {
                    let response = task
                        .await
                        .unwrap_or_else(|_| RpcResponse::text(500, "request failed"));
                    results.push(sub_result(&response));
                }
                RpcResponse::json(200, json!({ "results": results }))
            }
            Request::Sequence(requests) => {
                let mut results = Vec::with_capacity(requests.len());
                for request in requests {
                    let response = execute(node.clone(), request, recurse).await;
                    let ok = (200..300).contains(&response.status);
                    results.push(sub_result(&response));
                    if !ok {
                        break;
                    }
                }
                RpcResponse::json(200, json!({ "results": results }))
            }
            Request::IfElse(ifelse) => {
                let IfElse {
                    hf_at_least,
                    hf_before,
                    v_at_least,
                    v_before,
                    height_at_least,
                    height_before,
                    then,
                    otherwise,
                } = *ifelse;
                let hf: Vec<i64> = HARDFORK.iter().map(|&n| i64::from(n)).collect();
                let version: Vec<i64> = VERSION.iter().map(|&n| i64::from(n)).collect();
                let height = i64::try_from(node.net.height).unwrap_or(i64::MAX);
                let mut condition = true;
                if let Some(w) = &hf_at_least {
                    condition &= version_cmp(&hf, w).is_ge();
                }
                if let Some(w) = &hf_before {
                    condition &= version_cmp(&hf, w).is_lt();
                }
                if let Some(w) = &v_at_least {
                    condition &= version_cmp(&version, w).is_ge();
                }
                if let Some(w) = &v_before {
                    condition &= version_cmp(&version, w).is_lt();
                }
                if let Some(h) = height_at_least {
                    condition &= height >= h;
                }
                if let Some(h) = height_before {
                    condition &= height < h;
                }
                let mut body = json!({
                    "hf": HARDFORK,
                    "v": VERSION,
                    "height": node.net.height,
                    "condition": condition,
                });
                if let Some(branch) = if condition { then } else { otherwise } {
                    let response = execute(node.clone(), branch, recurse).await;
                    body["result"] = sub_result(&response);
                }
                RpcResponse::json(200, body)
            }
        }
    })
}

/// `{"code": status, "body": …}` of a batch/sequence/ifelse entry.
fn sub_result(response: &RpcResponse) -> Value {
    json!({"code": response.status, "body": response.body_value()})
}
