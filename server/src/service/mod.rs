//! The rules of the server (enrollment, challenges, PIN failures, devices, administration):
//! no HTTP, no storage engine. They read and write through [`crate::store`]'s traits and wake
//! waiters through [`crate::live`]; the HTTP layer maps their [`ServiceError`] to responses.
//! Modules here depend downward only (error, app, pin, then the rules that use them).

pub mod admin;
pub mod admins;
pub mod app;
pub mod challenges;
pub mod enrollments;
pub mod error;
pub mod housekeeping;
pub mod instances;
pub mod new_device;
pub mod phone;
pub mod pin;
pub mod relying_parties;
pub mod tenants;
pub mod users;

pub use error::ServiceError;
