//! The adapters: the service API as JSON-RPC over a Unix socket and as objects on D-Bus.
//!
//! Why it exists: frontends talk to the daemon only through these two surfaces, and both are
//! thin. [`methods`] turns each schema method into one service call (one module per method
//! group); [`socket`] and [`dbus`] only frame, route and translate. Errors are mapped to API
//! codes in exactly one place, [`api_error`].

pub mod dbus;
pub mod framing;
pub mod jsonrpc;
pub mod methods;
pub mod socket;

use crate::service::ServiceError;
use sessiond_ipc::{ApiError, ErrorCode};
use sessiond_protocol::{ErrorKind, HasKind};

/// Map a service error to the API's stable code and message.
pub fn api_error(e: &ServiceError) -> ApiError {
    let code = match e {
        ServiceError::AccountNotFound { .. } => ErrorCode::AccountNotFound,
        ServiceError::AccountExists { .. } => ErrorCode::AccountExists,
        ServiceError::InvalidAccountId { .. } => ErrorCode::InvalidAccountId,
        ServiceError::InvalidPhrase { .. } => ErrorCode::InvalidPhrase,
        other => match other.kind() {
            ErrorKind::InvalidInput | ErrorKind::Malformed | ErrorKind::BadSignature => {
                ErrorCode::InvalidInput
            }
            ErrorKind::NotFound => ErrorCode::NotFound,
            ErrorKind::AlreadyExists => ErrorCode::AccountExists,
            ErrorKind::ConfirmationRequired => ErrorCode::ConfirmationRequired,
            ErrorKind::KeyringLocked => ErrorCode::KeyringLocked,
            ErrorKind::KeyringUnavailable => ErrorCode::KeyringUnavailable,
            ErrorKind::StorageCorrupt => ErrorCode::StorageCorrupt,
            ErrorKind::StorageFailure => ErrorCode::StorageFailure,
            ErrorKind::Unsupported => ErrorCode::Unsupported,
            ErrorKind::ShuttingDown => ErrorCode::ShuttingDown,
            ErrorKind::NetworkUnreachable | ErrorKind::ClockSkew => ErrorCode::NetworkUnavailable,
            _ => ErrorCode::Internal,
        },
    };
    if code == ErrorCode::Internal {
        tracing::error!(error = %e, "internal error");
    }
    ApiError::new(code, e.to_string())
}
