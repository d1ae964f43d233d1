//! Shared machinery for Nyckel's end-to-end tests: the kill-durability campaign on the vault.

pub mod durability;
