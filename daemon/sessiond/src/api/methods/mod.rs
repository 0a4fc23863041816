//! One service call per schema method, grouped like the schema (`account.*`, `daemon.*`).
//!
//! Each handler takes the method's typed params and returns its typed result; both surfaces
//! call these, so they cannot disagree.

pub mod account;
pub mod daemon;
pub mod message;
pub mod network;
