//! The API's errors as GraphQL errors: the problem document's `code` and `field` become
//! `extensions.code` and `extensions.field`, its detail the message.
//! Invariant: an internal error says only "internal error" (its detail is logged where it arose,
//! `ApiError::internal`), and no message carries more than the REST problem's detail would.

use async_graphql::ErrorExtensions;
use certautopilot_core::StoreError;

use crate::api::error::{ApiError, ErrorCode};

/// An `ApiError` on its way to the client. Not `Display`, so it cannot fall into async-graphql's
/// catch-all conversion (which would keep the text and drop the code).
#[derive(Clone)]
pub struct GqlError(pub ApiError);

pub type GqlResult<T> = Result<T, GqlError>;

impl From<ApiError> for GqlError {
    fn from(e: ApiError) -> Self {
        GqlError(e)
    }
}

impl From<StoreError> for GqlError {
    fn from(e: StoreError) -> Self {
        GqlError(ApiError::from(e))
    }
}

/// The stable problem code (`not_found`, `validation_failed`, …), as REST spells it.
pub fn code_name(code: ErrorCode) -> String {
    serde_json::to_value(code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_else(|| "internal".into())
}

impl From<GqlError> for async_graphql::Error {
    fn from(GqlError(e): GqlError) -> Self {
        let message = if e.code == ErrorCode::Internal { "internal error".to_owned() } else { e.detail };
        let code = code_name(e.code);
        let field = e.field;
        async_graphql::Error::new(message).extend_with(|_, ext| {
            ext.set("code", code.as_str());
            if let Some(field) = &field {
                ext.set("field", field.as_str());
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A validation error keeps its code and field; an internal one says nothing of its cause.
    #[test]
    fn codes_and_fields_carry_over_and_internals_stay_inside() {
        let invalid: async_graphql::Error = GqlError(ApiError::invalid("first", "must be 1 to 100")).into();
        assert_eq!(invalid.message, "must be 1 to 100");
        let ext = serde_json::to_value(invalid.extensions.unwrap()).unwrap();
        assert_eq!(ext, serde_json::json!({ "code": "validation_failed", "field": "first" }));
        let internal: async_graphql::Error =
            GqlError(ApiError::internal("test", &"secret-db-password leaked in a driver message")).into();
        assert_eq!(internal.message, "internal error");
        let ext = serde_json::to_value(internal.extensions.unwrap()).unwrap();
        assert_eq!(ext, serde_json::json!({ "code": "internal" }));
    }
}
