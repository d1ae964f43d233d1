//! privacyIDEA's own token protocols on the phone: push tokens (poll-only) and tiqr.
//!
//! These registrations talk to an existing privacyIDEA 3.x server, not to a Nyckel server,
//! so their security is privacyIDEA's (see README, "privacyIDEA and tiqr"):
//!
//! - [`code`]: reading `otpauth://pipush/…` / `pia://pipush/…` enrollment codes;
//! - [`push`]: the push token — enrollment, signed polling, signature-checked challenges,
//!   accept / decline with reasons / presence (number matching) answers, and the phone-side
//!   expiry and replay refusals;
//! - [`tiqr`]: tiqr tokens — `tiqrenroll://` metadata and secret, `tiqrauth://` logins with
//!   the OCRA suite of the metadata, the offline response, the PIN-masked secret;
//! - [`http`]: the HTTP calls and privacyIDEA's JSON envelope;
//! - [`gate`]: the optional app PIN, which is a **local gate only**: privacyIDEA never sees
//!   it, unlike the PIN of Nyckel's own registrations (PROTOCOL.md §4).

pub mod code;
pub mod gate;
pub mod http;
pub mod push;
pub mod tiqr;

pub use code::{parse_push_code, PushEnrollmentCode};
pub use gate::{LocalPinGate, PinGateError};
pub use http::PiHttp;
pub use push::{
    DeclineReason, PushAnswer, PushChallenge, PushDecision, PushError, PushInbox, PushOutcome, PushPoll, PushToken,
};
pub use tiqr::{TiqrAuth, TiqrError, TiqrMetadata, TiqrToken};
