#![doc = include_str!("../README.md")]

pub mod api;
pub mod clock;
pub mod config;
pub mod daemon;
pub mod fsutil;
pub mod instance_lock;
pub mod keystore;
pub mod netclient;
pub mod service;
pub mod store;
