//! Stable error codes of the API, with their JSON-RPC numbers and D-Bus error names.
//!
//! The daemon maps its internal error kinds to these codes in one place; adapters never
//! invent error text or numbers of their own.

use serde::{Deserialize, Serialize};

/// Every error the API can return. The numbers and names are part of the API contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request line was not valid JSON (JSON-RPC parse error).
    ParseError,
    /// The JSON was not a valid JSON-RPC 2.0 request object.
    InvalidRequest,
    /// No method of that name exists.
    MethodNotFound,
    /// The parameters did not match the method's schema.
    InvalidParams,
    /// A bug in the daemon; the message says where.
    Internal,
    /// The request line exceeded [`crate::MAX_LINE_BYTES`].
    RequestTooLarge,
    /// No account with that Account ID is known to this daemon.
    AccountNotFound,
    /// An account with that Account ID exists already.
    AccountExists,
    /// The string is not a valid Account ID (`05` followed by 64 hex digits).
    InvalidAccountId,
    /// The recovery phrase could not be decoded; the message says which word and why.
    InvalidPhrase,
    /// The operation is destructive or reveals a secret and needs `confirm: true`.
    ConfirmationRequired,
    /// The OS keyring is locked; unlock it and retry.
    KeyringLocked,
    /// No usable keyring backend is available.
    KeyringUnavailable,
    /// The account's database could not be opened (wrong key or corrupt).
    StorageCorrupt,
    /// A disk or database operation failed.
    StorageFailure,
    /// The feature is not implemented in this build.
    Unsupported,
    /// The daemon is shutting down.
    ShuttingDown,
    /// Some other parameter was invalid (the message says which).
    InvalidInput,
    /// Something the request names does not exist (the message says what).
    NotFound,
    /// The Session network cannot be reached right now.
    NetworkUnavailable,
}

impl ErrorCode {
    /// Every code, for documentation and schema generation.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::ParseError,
        ErrorCode::InvalidRequest,
        ErrorCode::MethodNotFound,
        ErrorCode::InvalidParams,
        ErrorCode::Internal,
        ErrorCode::RequestTooLarge,
        ErrorCode::AccountNotFound,
        ErrorCode::AccountExists,
        ErrorCode::InvalidAccountId,
        ErrorCode::InvalidPhrase,
        ErrorCode::ConfirmationRequired,
        ErrorCode::KeyringLocked,
        ErrorCode::KeyringUnavailable,
        ErrorCode::StorageCorrupt,
        ErrorCode::StorageFailure,
        ErrorCode::Unsupported,
        ErrorCode::ShuttingDown,
        ErrorCode::InvalidInput,
        ErrorCode::NotFound,
        ErrorCode::NetworkUnavailable,
    ];

    /// The JSON-RPC 2.0 `error.code` number.
    pub fn jsonrpc_code(self) -> i64 {
        match self {
            ErrorCode::ParseError => -32700,
            ErrorCode::InvalidRequest => -32600,
            ErrorCode::MethodNotFound => -32601,
            ErrorCode::InvalidParams => -32602,
            ErrorCode::Internal => -32603,
            ErrorCode::RequestTooLarge => -32000,
            ErrorCode::AccountNotFound => 1001,
            ErrorCode::AccountExists => 1002,
            ErrorCode::InvalidAccountId => 1003,
            ErrorCode::InvalidPhrase => 1004,
            ErrorCode::ConfirmationRequired => 1005,
            ErrorCode::KeyringLocked => 1100,
            ErrorCode::KeyringUnavailable => 1101,
            ErrorCode::StorageCorrupt => 1200,
            ErrorCode::StorageFailure => 1201,
            ErrorCode::Unsupported => 1900,
            ErrorCode::ShuttingDown => 1901,
            ErrorCode::InvalidInput => 1902,
            ErrorCode::NotFound => 1006,
            ErrorCode::NetworkUnavailable => 1300,
        }
    }

    /// The short name, also the last element of the D-Bus error name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::ParseError => "ParseError",
            ErrorCode::InvalidRequest => "InvalidRequest",
            ErrorCode::MethodNotFound => "MethodNotFound",
            ErrorCode::InvalidParams => "InvalidParams",
            ErrorCode::Internal => "Internal",
            ErrorCode::RequestTooLarge => "RequestTooLarge",
            ErrorCode::AccountNotFound => "AccountNotFound",
            ErrorCode::AccountExists => "AccountExists",
            ErrorCode::InvalidAccountId => "InvalidAccountId",
            ErrorCode::InvalidPhrase => "InvalidPhrase",
            ErrorCode::ConfirmationRequired => "ConfirmationRequired",
            ErrorCode::KeyringLocked => "KeyringLocked",
            ErrorCode::KeyringUnavailable => "KeyringUnavailable",
            ErrorCode::StorageCorrupt => "StorageCorrupt",
            ErrorCode::StorageFailure => "StorageFailure",
            ErrorCode::Unsupported => "Unsupported",
            ErrorCode::ShuttingDown => "ShuttingDown",
            ErrorCode::InvalidInput => "InvalidInput",
            ErrorCode::NotFound => "NotFound",
            ErrorCode::NetworkUnavailable => "NetworkUnavailable",
        }
    }

    /// The full D-Bus error name, `org.sessiond.Sessiond1.Error.<name>`.
    pub fn dbus_name(self) -> String {
        format!("{}.{}", crate::dbus::ERROR_PREFIX, self.name())
    }

    /// The code with this JSON-RPC number, if any.
    pub fn from_jsonrpc_code(code: i64) -> Option<ErrorCode> {
        Self::ALL.iter().copied().find(|c| c.jsonrpc_code() == code)
    }

    /// The code with this short or full D-Bus name, if any.
    pub fn from_name(name: &str) -> Option<ErrorCode> {
        let short = name
            .strip_prefix(crate::dbus::ERROR_PREFIX)
            .and_then(|s| s.strip_prefix('.'))
            .unwrap_or(name);
        Self::ALL.iter().copied().find(|c| c.name() == short)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// An error as the API returns it: a stable code and a human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    /// The stable code.
    pub code: ErrorCode,
    /// What went wrong, for people. Never contains secrets.
    pub message: String,
}

impl ApiError {
    /// An error with this code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn every_code_has_a_distinct_number_and_name() {
        let numbers: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.jsonrpc_code()).collect();
        let names: HashSet<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        assert_eq!(numbers.len(), ErrorCode::ALL.len());
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }

    #[test]
    fn codes_round_trip_through_number_and_dbus_name() {
        for &code in ErrorCode::ALL {
            assert_eq!(
                ErrorCode::from_jsonrpc_code(code.jsonrpc_code()),
                Some(code)
            );
            assert_eq!(ErrorCode::from_name(&code.dbus_name()), Some(code));
            assert_eq!(ErrorCode::from_name(code.name()), Some(code));
        }
    }
}
