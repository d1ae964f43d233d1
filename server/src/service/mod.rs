//! The rules of the server (enrollment, challenges, PIN failures, devices, administration):
//! no HTTP, no storage engine. They read and write through [`crate::store`] and wake waiters
//! through [`crate::live`]; the HTTP layer maps their [`ServiceError`] to responses.

pub mod error;
pub mod pin;

pub use error::ServiceError;
