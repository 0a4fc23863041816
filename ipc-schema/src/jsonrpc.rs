//! JSON-RPC 2.0 framing on the socket: one JSON object per line.
//!
//! Only the envelope lives here; the method bodies are typed by [`crate::methods`].

use crate::error::{ApiError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A request as a client writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Request {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// Method name.
    pub method: String,
    /// Parameters (an object), omitted for methods without any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Request id; absent for notifications (which get no response).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Value>,
}

/// The `error` member of a failed response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// JSON-RPC error number ([`ErrorCode::jsonrpc_code`]).
    pub code: i64,
    /// Human-readable message.
    pub message: String,
    /// Structured detail: `{"name": "<ErrorCode name>"}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

impl From<&ApiError> for ErrorObject {
    fn from(e: &ApiError) -> Self {
        ErrorObject {
            code: e.code.jsonrpc_code(),
            message: e.message.clone(),
            data: Some(serde_json::json!({ "name": e.code.name() })),
        }
    }
}

impl ErrorObject {
    /// Back to an [`ApiError`]; an unknown number becomes [`ErrorCode::Internal`].
    pub fn to_api_error(&self) -> ApiError {
        let by_name = self
            .data
            .as_ref()
            .and_then(|d| d.get("name"))
            .and_then(Value::as_str)
            .and_then(ErrorCode::from_name);
        let code = by_name
            .or_else(|| ErrorCode::from_jsonrpc_code(self.code))
            .unwrap_or(ErrorCode::Internal);
        ApiError::new(code, self.message.clone())
    }
}

/// A response as the daemon writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Response {
    /// Always `"2.0"`.
    pub jsonrpc: String,
    /// The result, on success.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
    /// The error, on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorObject>,
    /// The id of the request answered (`null` when it could not be read).
    pub id: Value,
}

impl Response {
    /// A success response.
    pub fn ok(id: Value, result: Value) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            result: Some(result),
            error: None,
            id,
        }
    }

    /// An error response.
    pub fn err(id: Value, error: &ApiError) -> Self {
        Response {
            jsonrpc: "2.0".into(),
            result: None,
            error: Some(error.into()),
            id,
        }
    }
}
