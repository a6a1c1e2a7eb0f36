//! The OpenAPI 3.1 document, generated from the route table and the request and response types, so
//! it describes exactly the routes, policies and bodies the server has.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::{Value, json};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::Schema;

use crate::api::error::Problem;
use crate::api::routes::{Policy, RouteSpec, table};

type Schemas = Vec<(String, RefOr<Schema>)>;

/// A request or response body type, erased so the route table can hold it.
#[derive(Clone, Copy)]
pub struct Body {
    name: fn() -> Cow<'static, str>,
    schema: fn() -> RefOr<Schema>,
    dependencies: fn(&mut Schemas),
}

impl Body {
    pub fn of<T: ToSchema>() -> Body {
        Body { name: T::name, schema: T::schema, dependencies: T::schemas }
    }

    fn reference(&self, components: &mut BTreeMap<String, Value>) -> Value {
        let name = (self.name)().into_owned();
        let mut found: Schemas = vec![(name.clone(), (self.schema)())];
        (self.dependencies)(&mut found);
        for (n, schema) in found {
            components.entry(n).or_insert_with(|| serde_json::to_value(schema).expect("schemas serialize"));
        }
        json!({ "$ref": format!("#/components/schemas/{name}") })
    }
}

#[derive(Clone, Copy)]
pub struct Query {
    name: &'static str,
    description: &'static str,
    schema: &'static str,
    format: Option<&'static str>,
    required: bool,
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

pub fn document() -> Value {
    let mut components = BTreeMap::new();
    let problem = Body::of::<Problem>().reference(&mut components);
    let mut paths: BTreeMap<&str, serde_json::Map<String, Value>> = BTreeMap::new();
    for route in table() {
        let operation = operation(&route, &problem, &mut components);
        paths.entry(route.path).or_default().insert(route.method.as_str().to_ascii_lowercase(), operation);
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "CertAutoPilot API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Certificate lifecycle management. Errors are application/problem+json with a stable `code`."
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer", "description": "a session token from login, or an API token (cap_…)" },
                "session": { "type": "apiKey", "in": "cookie", "name": crate::api::auth::SESSION_COOKIE }
            }
        }
    })
}

fn operation(route: &RouteSpec, problem: &Value, components: &mut BTreeMap<String, Value>) -> Value {
    let mut parameters: Vec<Value> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| json!({ "name": name, "in": "path", "required": true, "schema": { "type": "string", "format": "uuid" } }))
        .collect();
    for q in route.query {
        let mut schema = json!({ "type": q.schema });
        if let Some(format) = q.format {
            schema["format"] = json!(format);
        }
        if q.name == "limit" {
            schema["minimum"] = json!(1);
            schema["maximum"] = json!(1000);
        }
        parameters.push(json!({ "name": q.name, "in": "query", "required": q.required, "description": q.description, "schema": schema }));
    }
    let mut op = json!({
        "operationId": route.operation_id,
        "summary": route.summary,
        "description": format!("Access: {}.", describe(route.policy)),
        "parameters": parameters,
        "responses": {
            "default": { "description": "an error", "content": { "application/problem+json": { "schema": problem } } }
        }
    });
    let success = match (&route.response, route.path) {
        (Some(body), _) => {
            json!({ "description": "success", "content": { "application/json": { "schema": body.reference(components) } } })
        }
        (None, "/api/v1/openapi.json") => {
            json!({ "description": "this document", "content": { "application/json": { "schema": { "type": "object" } } } })
        }
        (None, _) => json!({ "description": "done" }),
    };
    op["responses"][route.status.to_string()] = success;
    if let Some(body) = &route.request {
        op["requestBody"] =
            json!({ "required": true, "content": { "application/json": { "schema": body.reference(components) } } });
    }
    op["security"] =
        if route.policy == Policy::Public { json!([]) } else { json!([{ "bearer": [] }, { "session": [] }]) };
    op
}

fn describe(policy: Policy) -> String {
    match policy {
        Policy::Public => "anyone".into(),
        Policy::Authenticated => "any signed-in user".into(),
        Policy::Owner => "organization owners".into(),
        Policy::Project(role) => {
            format!("project members with the {} role or higher", crate::api::auth::role_name(role))
        }
    }
}
