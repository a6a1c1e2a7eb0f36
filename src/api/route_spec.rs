//! What the route table says about each route, and nothing else: who may call it (`Policy`), its
//! request and response bodies (`Body`), its query parameters (`Query`), all held by `RouteSpec`.
//! Invariant: a leaf of `api` (it imports only the service's `Policy`, serde_json and utoipa), so
//! the route table, the `Authorized` extractor and the OpenAPI generator can all read it without a
//! circle.

use std::borrow::Cow;
use std::collections::BTreeMap;

use actix_web::http::Method;
use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

/// Who may call a route: the service layer's type, declared here per route.
pub use crate::service::Policy;

/// One route of the table: what it is, who may call it, what it takes and answers.
pub struct RouteSpec {
    pub method: Method,
    pub path: &'static str,
    pub policy: Policy,
    pub operation_id: &'static str,
    pub summary: &'static str,
    pub request: Option<Body>,
    pub status: u16,
    pub response: Option<Body>,
    pub query: &'static [Query],
}

type Schemas = Vec<(String, RefOr<Schema>)>;

/// A request or response body type, erased so the route table can hold it.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> Cow<'static, str>,
    schema: fn() -> RefOr<Schema>,
    dependencies: fn(&mut Schemas),
    /// A request body the route also takes absent (`OptionalApiJson`).
    pub optional: bool,
}

impl Body {
    pub fn of<T: ToSchema>() -> Body {
        Body { name: T::name, schema: T::schema, dependencies: T::schemas, optional: false }
    }

    /// A request body that may be left out (its type's default is used then).
    pub fn optional<T: ToSchema>() -> Body {
        Body { optional: true, ..Body::of::<T>() }
    }

    /// A `$ref` to this body's schema, adding it and the schemas it uses to `components`.
    pub fn reference(&self, components: &mut BTreeMap<String, Value>) -> Value {
        let name = (self.name)().into_owned();
        let mut found: Schemas = vec![(name.clone(), (self.schema)())];
        (self.dependencies)(&mut found);
        for (n, schema) in found {
            components.entry(n).or_insert_with(|| serde_json::to_value(schema).expect("schemas serialize"));
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

/// A query parameter of a route, as the OpenAPI document lists it.
#[derive(Clone, Copy)]
pub struct Query {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: &'static str,
    pub format: Option<&'static str>,
    pub required: bool,
}

impl Query {
    #[cfg(test)]
    pub fn is_project_id(&self) -> bool {
        self.name == "project_id" && self.required
    }

    pub const PROJECT_ID: Query = Query {
        name: "project_id",
        description: "the project to list",
        schema: "string",
        format: Some("uuid"),
        required: true,
    };
    pub const OPTIONAL_PROJECT_ID: Query = Query {
        name: "project_id",
        description: "only this project's events",
        schema: "string",
        format: Some("uuid"),
        required: false,
    };
    pub const HEALTH: Query = Query {
        name: "health",
        description: "only certificates with this health: ok, pending, renewal_due, renewal_failing, overdue, expired, revoked, unmanaged or drifted",
        schema: "string",
        format: None,
        required: false,
    };
    pub const APPROVAL_STATUS: Query = Query {
        name: "status",
        description: "only requests with this status: pending_approval, granted, rejected or expired",
        schema: "string",
        format: None,
        required: false,
    };
    pub const FULL: Query = Query {
        name: "full",
        description: "`true`: walk the chain from its first entry instead of from the verified-up-to mark",
        schema: "boolean",
        format: None,
        required: false,
    };
    pub const ACTOR_KIND: Query = Query {
        name: "kind",
        description: "only actors of this kind (`kek`, `job_pump`, `certificate`, …)",
        schema: "string",
        format: None,
        required: false,
    };
    pub const ACTION: Query = Query {
        name: "action",
        description: "only this action (`cert.requested`, …)",
        schema: "string",
        format: None,
        required: false,
    };
    pub const FROM: Query = Query {
        name: "from",
        description: "from this instant (RFC 3339, inclusive)",
        schema: "string",
        format: Some("date-time"),
        required: false,
    };
    pub const UNTIL: Query = Query {
        name: "until",
        description: "until this instant (RFC 3339, exclusive)",
        schema: "string",
        format: Some("date-time"),
        required: false,
    };
    pub const CURSOR: Query = Query {
        name: "cursor",
        description: "`next_cursor` of the previous page",
        schema: "string",
        format: None,
        required: false,
    };
    pub const LIMIT: Query = Query {
        name: "limit",
        description: "page size, 1 to 1000 (default 50)",
        schema: "integer",
        format: None,
        required: false,
    };
}
