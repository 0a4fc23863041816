#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod clock;
pub mod config;
pub mod control;
pub mod echo;
pub mod error;
pub mod faults;
pub mod fileserver;
pub(crate) mod fsutil;
pub(crate) mod http;
pub mod keys;
pub mod network;
pub(crate) mod node;
pub(crate) mod onion;
pub(crate) mod rng;
pub(crate) mod rpc;
pub(crate) mod seed;
pub(crate) mod store;
pub mod tls;
pub mod topology;

pub use client::{ClientError, HttpAnswer, HttpsClient};
pub use clock::Clock;
pub use config::{DevnetConfig, FileServerConfig, Timeouts};
pub use control::{Command, serve_control};
pub use echo::Echo;
pub use error::DevnetError;
pub use faults::FaultState;
pub use http::MAX_BODY_LEN;
pub use network::{Devnet, FileServerInfo};
pub use topology::NodeInfo;
