#![doc = include_str!("../README.md")]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod account_id;
pub mod error_kind;
pub mod identity;
pub mod mnemonic;

#[cfg(test)]
mod test_rng;

pub use account_id::{AccountId, AccountIdError, IdPrefix};
pub use error_kind::{ErrorKind, HasKind};
pub use identity::{Identity, IdentityError, Seed, ed25519_public_to_x25519};
pub use mnemonic::MnemonicError;
