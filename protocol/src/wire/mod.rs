//! JSON bodies of the HTTP API, grouped by who calls it, and the error format.

pub mod audit;
pub mod devices;
pub mod error;
pub mod phone;
pub mod relying_party;
