//! The published schema: `docs/schema.graphql` is what `/api/graphql/schema.graphql` serves, and
//! every query field names an operation of the REST route table (whose policy it takes).

use crate::api::routes::policy_of;
use crate::api::tests::harness::*;
use crate::graphql::FIELD_OPERATIONS;
use crate::graphql::schema::sdl;

const COMMITTED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema.graphql");

/// The served SDL equals the committed file. To regenerate it after a schema change:
/// `CERTAUTOPILOT_WRITE_SCHEMA=1 cargo nextest run -p certautopilot --bin certautopilot graphql::tests::schema_file`.
#[actix_rt::test]
async fn committed_schema_is_the_served_one() {
    let h = Harness::new().await;
    let app = app!(h);
    let served = send(&app, Req::get("/api/graphql/schema.graphql")).await;
    assert_eq!(served.status.as_u16(), 200);
    assert_eq!(served.text, sdl());
    if std::env::var_os("CERTAUTOPILOT_WRITE_SCHEMA").is_some() {
        std::fs::write(COMMITTED, &served.text).unwrap();
    }
    let committed = std::fs::read_to_string(COMMITTED).unwrap_or_default();
    assert!(
        committed == served.text,
        "docs/schema.graphql differs from the served schema; regenerate it with\n  \
         CERTAUTOPILOT_WRITE_SCHEMA=1 cargo nextest run -p certautopilot --bin certautopilot graphql::tests::schema_file\n\
         and commit the result"
    );
}

/// Every field of `Query` is in `FIELD_OPERATIONS`, and every operation listed there exists in the
/// route table: a field cannot be added without saying whose policy it takes.
#[test]
fn every_query_field_names_a_rest_operation() {
    let schema = sdl();
    let body = schema.split("type Query {").nth(1).and_then(|rest| rest.split("\n}").next()).expect("a Query type");
    let fields: Vec<&str> = body
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('"') && !l.starts_with('#'))
        .filter_map(|l| l.split(['(', ':']).next())
        .filter(|name| !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()))
        .collect();
    assert!(fields.len() >= 15, "{fields:?}");
    for field in fields {
        let key = format!("Query.{field}");
        assert!(FIELD_OPERATIONS.iter().any(|(f, _)| *f == key), "{key} is not in FIELD_OPERATIONS");
    }
    for (field, operation) in FIELD_OPERATIONS {
        assert!(policy_of(operation).is_some(), "{field}: {operation} is not an operation of the route table");
    }
}

/// Every operation of the REST route table has a GraphQL field (`FIELD_OPERATIONS`) or is listed in
/// `REST_ONLY` with its reason, never both: a REST route added without GraphQL fails here until one
/// of the two says what GraphQL does about it.
#[test]
fn every_rest_operation_has_a_field_or_a_reason_to_stay_rest_only() {
    use crate::api::routes::table;
    use crate::graphql::REST_ONLY;
    let mut missing = Vec::new();
    for route in table() {
        let op = route.operation_id;
        let mirrored = FIELD_OPERATIONS.iter().any(|(_, o)| *o == op);
        let rest_only = REST_ONLY.iter().any(|(o, _)| *o == op);
        assert!(!(mirrored && rest_only), "{op} is both in FIELD_OPERATIONS and REST_ONLY");
        if !mirrored && !rest_only {
            missing.push(format!("{} {} ({op})", route.method, route.path));
        }
    }
    assert!(missing.is_empty(), "REST operations without GraphQL field or REST_ONLY reason:\n{}", missing.join("\n"));
    for (op, reason) in REST_ONLY {
        assert!(policy_of(op).is_some(), "REST_ONLY names {op}, which is not in the route table");
        assert!(!reason.trim().is_empty(), "REST_ONLY {op} has no reason");
    }
}
