//! JSON Schemas (2020-12) of the wire types whose serde form is written by hand: identifiers and
//! base64url hashes. Behind the `schema` feature, which only the server's OpenAPI document uses.

use std::borrow::Cow;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};

use crate::ids::{ChallengeId, DeviceId, EnrollmentId, MAX_ID_LEN};
use crate::wire::audit::AuditHash;

/// The pattern of every identifier: 1–[`MAX_ID_LEN`] base64url characters (as `ids` checks).
fn id_schema(description: &str) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": format!("^[A-Za-z0-9_-]{{1,{MAX_ID_LEN}}}$"),
        "description": description,
    })
}

macro_rules! id_schemas {
    ($($name:ident: $description:literal),* $(,)?) => {$(
        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                id_schema($description)
            }
        }
    )*};
}

id_schemas!(
    ChallengeId: "Identifies a challenge (push or QR): base64url, 1-64 characters.",
    DeviceId: "Identifies a registered device: base64url, 1-64 characters.",
    EnrollmentId: "Identifies a pending enrollment: base64url, 1-64 characters.",
);

impl JsonSchema for AuditHash {
    fn schema_name() -> Cow<'static, str> {
        "AuditHash".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // 32 bytes in base64url without padding are 43 characters.
        json_schema!({
            "type": "string",
            "pattern": "^[A-Za-z0-9_-]{43}$",
            "description": "A SHA-256 link of the audit chain, base64url without padding.",
        })
    }
}
