#![doc = include_str!("../README.md")]

pub mod bins;
pub mod bus;
pub mod child;
pub mod daemon;
pub mod dbus;
pub mod deadline;
pub mod gnome_keyring;
pub mod keyutils;
pub mod process;

pub use bins::bin_path;
pub use bus::PrivateBus;
pub use child::{SelfTest, is_child, skip};
pub use deadline::Deadline;
pub use gnome_keyring::GnomeKeyring;
pub use process::{Finished, run_with_input, run_with_timeout, wait_until};
