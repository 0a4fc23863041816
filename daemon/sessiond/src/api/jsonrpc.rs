//! JSON-RPC 2.0 routing: one request line in, one response line out.
//!
//! Decodes the envelope, checks it, routes by [`Method::NAME`] to the handlers in
//! [`super::methods`], and encodes the answer. Malformed JSON, wrong envelopes, unknown methods
//! and wrong parameter types each get their JSON-RPC error; nothing here can take the
//! connection down. Batches (arrays of requests) are answered with an array.

use super::methods::{account, daemon, message, network};
use crate::service::Service;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sessiond_ipc::jsonrpc::Response;
use sessiond_ipc::methods::{self as m, Method};
use sessiond_ipc::{ApiError, ErrorCode};

/// Largest number of requests accepted in one batch.
const MAX_BATCH: usize = 100;

/// Handle one frame's bytes; returns the line to write back, if any (notifications get none).
pub async fn handle_line(svc: &Service, line: &[u8]) -> Option<Value> {
    let value: Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => {
            let err = ApiError::new(ErrorCode::ParseError, format!("invalid JSON: {e}"));
            return Some(to_value(Response::err(Value::Null, &err)));
        }
    };
    match value {
        Value::Array(items) if items.is_empty() => {
            Some(invalid_request(Value::Null, "empty batch"))
        }
        Value::Array(items) if items.len() > MAX_BATCH => Some(invalid_request(
            Value::Null,
            &format!(
                "batch of {} requests exceeds the limit of {MAX_BATCH}",
                items.len()
            ),
        )),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                if let Some(r) = handle_request(svc, item).await {
                    out.push(r);
                }
            }
            (!out.is_empty()).then_some(Value::Array(out))
        }
        other => handle_request(svc, other).await,
    }
}

fn to_value(r: Response) -> Value {
    serde_json::to_value(r).unwrap_or_else(|e| {
        serde_json::json!({"jsonrpc": "2.0", "id": null,
            "error": {"code": -32603, "message": format!("cannot encode response: {e}")}})
    })
}

fn invalid_request(id: Value, why: &str) -> Value {
    to_value(Response::err(
        id,
        &ApiError::new(ErrorCode::InvalidRequest, format!("invalid request: {why}")),
    ))
}

/// Handle one request object.
async fn handle_request(svc: &Service, value: Value) -> Option<Value> {
    let Value::Object(mut obj) = value else {
        return Some(invalid_request(Value::Null, "not an object"));
    };
    let id = obj.remove("id");
    let id_for_errors = match &id {
        Some(v @ (Value::Number(_) | Value::String(_) | Value::Null)) => v.clone(),
        Some(_) => {
            return Some(invalid_request(
                Value::Null,
                "id must be a number, string or null",
            ));
        }
        None => Value::Null,
    };
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Some(invalid_request(id_for_errors, "`jsonrpc` must be \"2.0\""));
    }
    let Some(method) = obj.get("method").and_then(Value::as_str).map(str::to_owned) else {
        return Some(invalid_request(id_for_errors, "`method` must be a string"));
    };
    let params = obj.remove("params").unwrap_or(Value::Null);
    let span = tracing::debug_span!("rpc", method = %method);
    let result = tracing::Instrument::instrument(dispatch(svc, &method, params), span).await;
    // A request without an id is a notification: executed, never answered.
    let id = id?;
    Some(to_value(match result {
        Ok(v) => Response::ok(id, v),
        Err(e) => Response::err(id, &e),
    }))
}

/// Route a method call to its handler.
pub async fn dispatch(svc: &Service, method: &str, params: Value) -> Result<Value, ApiError> {
    match method {
        m::AccountCreate::NAME => reply::<m::AccountCreate>(
            account::create(svc, params_of::<m::AccountCreate>(params)?).await,
        ),
        m::AccountRestore::NAME => reply::<m::AccountRestore>(
            account::restore(svc, params_of::<m::AccountRestore>(params)?).await,
        ),
        m::AccountList::NAME => {
            params_of::<m::AccountList>(params)?;
            reply::<m::AccountList>(account::list(svc).await)
        }
        m::AccountGet::NAME => {
            reply::<m::AccountGet>(account::get(svc, params_of::<m::AccountGet>(params)?).await)
        }
        m::AccountExportPhrase::NAME => reply::<m::AccountExportPhrase>(
            account::export_phrase(svc, params_of::<m::AccountExportPhrase>(params)?).await,
        ),
        m::AccountDelete::NAME => reply::<m::AccountDelete>(
            account::delete(svc, params_of::<m::AccountDelete>(params)?).await,
        ),
        m::MessageSend::NAME => {
            reply::<m::MessageSend>(message::send(svc, params_of::<m::MessageSend>(params)?).await)
        }
        m::MessageList::NAME => {
            reply::<m::MessageList>(message::list(svc, params_of::<m::MessageList>(params)?).await)
        }
        m::ConversationList::NAME => reply::<m::ConversationList>(
            message::conversations(svc, params_of::<m::ConversationList>(params)?).await,
        ),
        m::NetworkStatus::NAME => {
            params_of::<m::NetworkStatus>(params)?;
            reply::<m::NetworkStatus>(network::status(svc, svc.network_name()))
        }
        m::DaemonVersion::NAME => {
            params_of::<m::DaemonVersion>(params)?;
            reply::<m::DaemonVersion>(Ok(daemon::version(svc)))
        }
        other => Err(ApiError::new(
            ErrorCode::MethodNotFound,
            format!(
                "no method `{}`",
                other.chars().take(100).collect::<String>()
            ),
        )),
    }
}

/// Decode the params of `M`. Absent params, `null` and `[]` mean "no params".
fn params_of<M: Method>(params: Value) -> Result<M::Params, ApiError> {
    let params = match params {
        Value::Null => Value::Object(Default::default()),
        Value::Array(a) if a.is_empty() => Value::Object(Default::default()),
        Value::Array(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidParams,
                format!("{}: params must be an object (by-name)", M::NAME),
            ));
        }
        other => other,
    };
    decode::<M::Params>(params).map_err(|e| {
        ApiError::new(
            ErrorCode::InvalidParams,
            format!("{}: invalid params: {e}", M::NAME),
        )
    })
}

fn decode<T: DeserializeOwned>(v: Value) -> Result<T, serde_json::Error> {
    serde_json::from_value(v)
}

fn reply<M: Method>(r: Result<M::Result, ApiError>) -> Result<Value, ApiError> {
    let r = r?;
    serde_json::to_value(&r).map_err(|e| {
        ApiError::new(
            ErrorCode::Internal,
            format!("{}: cannot encode result: {e}", M::NAME),
        )
    })
}
