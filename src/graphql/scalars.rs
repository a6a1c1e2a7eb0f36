//! The scalars the schema adds to GraphQL's own: `DateTime` (RFC 3339, as REST writes instants) and
//! the text of the core's enums (status names exactly as REST spells them).
//! Invariant: a value reads the same in GraphQL as in the REST body of the same record.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use certautopilot_core::Timestamp;
use serde::Serialize;

/// An instant, as RFC 3339 text in UTC (`2026-01-31T12:00:00.000Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime(pub Timestamp);

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(text) => serde_json::from_value(serde_json::Value::String(text.clone()))
                .map(DateTime)
                .map_err(|_| InputValueError::custom("must be an RFC 3339 timestamp")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        match serde_json::to_value(self.0) {
            Ok(serde_json::Value::String(text)) => Value::String(text),
            _ => Value::Null,
        }
    }
}

pub fn at(t: Timestamp) -> DateTime {
    DateTime(t)
}

pub fn at_opt(t: Option<Timestamp>) -> Option<DateTime> {
    t.map(DateTime)
}

/// The serde name of an enum value (`issued`, `ecdsa-p256`, `viewer`): what REST shows.
pub fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

/// A JSON value (a target's settings, an audit entry's details) as GraphQL's `JSON` scalar.
pub type Json = async_graphql::Json<serde_json::Value>;
