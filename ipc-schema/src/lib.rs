#![doc = include_str!("../README.md")]

pub mod client;
pub mod dbus;
pub mod error;
pub mod jsonrpc;
pub mod methods;
pub mod types;

pub use error::{ApiError, ErrorCode};
pub use methods::Method;

/// Version of the API schema (semver). A breaking change to any method, type or event bumps
/// the major number.
pub const SCHEMA_VERSION: &str = "0.1.0";

/// Largest request or response line accepted on the socket, in bytes (newline excluded).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
