//! REST and GraphQL give the same answers for the same operations, on one seeded store: every read
//! operation's REST JSON and GraphQL answer are compared field by field, lists page by page, and
//! creates done through each on twin inputs leave records whose REST views are equal.
//! The comparison is generic: GraphQL's selection is every field of the type (from introspection,
//! relations to other records aside), and each field name maps to REST's by `snake_case`, so a
//! field either side lacks fails the test without anyone listing it.

use std::collections::{BTreeMap, BTreeSet};

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::Method;
use certautopilot_core::Timestamp;
use certautopilot_core::model::{Deployment, DeploymentStatus};
use certautopilot_core::store::RecordStore;
use serde_json::{Value, json};

use super::{data, gql, snake_case, snake_case_keys};
use crate::api::tests::harness::*;
use crate::api::tests::victims::*;
use crate::graphql::FIELD_OPERATIONS;

/// Fields that are relations to other records (`Certificate.account`, …): listed in
/// `FIELD_OPERATIONS` under a type other than Query and Mutation. REST has ids for them, and each
/// is compared as the read operation it is.
fn is_relation(type_name: &str, field: &str) -> bool {
    FIELD_OPERATIONS.iter().any(|(f, _)| *f == format!("{type_name}.{field}"))
}

/// The named type under any list and non-null wrappers.
fn named_type(t: &Value) -> &Value {
    if t["ofType"].is_null() { t } else { named_type(&t["ofType"]) }
}

/// A selection of every field of `type_name` (objects expanded, relations and fields with
/// required arguments left out), from the schema's introspection.
fn selection(types: &BTreeMap<String, Value>, type_name: &str) -> String {
    let mut fields = Vec::new();
    let fields_of = types.get(type_name).unwrap_or_else(|| panic!("the schema has no type {type_name}"));
    for field in fields_of["fields"].as_array().unwrap() {
        let name = field["name"].as_str().unwrap();
        let needs_args = field["args"].as_array().unwrap().iter().any(|a| a["type"]["kind"] == json!("NON_NULL"));
        if is_relation(type_name, name) || needs_args {
            continue;
        }
        let t = named_type(&field["type"]);
        match t["kind"].as_str().unwrap() {
            "OBJECT" => fields.push(format!("{name} {{ {} }}", selection(types, t["name"].as_str().unwrap()))),
            _ => fields.push(name.to_owned()),
        }
    }
    fields.join(" ")
}

/// A value as both APIs are compared: timestamps as Unix milliseconds (the two spell the instant
/// their own way), objects with REST's key names.
fn normalized(value: &Value) -> Value {
    match value {
        Value::String(s) => match serde_json::from_value::<Timestamp>(value.clone()) {
            Ok(t) if s.len() >= 20 => json!({ "instant_ms": t.as_unix_millis() }),
            _ => value.clone(),
        },
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (snake_case(k), normalized(v))).collect()),
        Value::Array(items) => Value::Array(items.iter().map(normalized).collect()),
        other => other.clone(),
    }
}

/// The differences between REST's `rest` and GraphQL's `graphql` for one object (or list of
/// them), field by field: a field one side lacks, or a value that differs.
fn differences(what: &str, rest: &Value, graphql: &Value, ignored: &[&str], out: &mut Vec<String>) {
    match (rest, graphql) {
        (Value::Object(r), Value::Object(g)) => {
            let g: BTreeMap<String, &Value> = g.iter().map(|(k, v)| (snake_case(k), v)).collect();
            let keys: BTreeSet<&String> = r.keys().chain(g.keys()).collect();
            for key in keys {
                if ignored.contains(&key.as_str()) {
                    continue;
                }
                let here = format!("{what}.{key}");
                match (r.get(key), g.get(key)) {
                    (Some(rv), Some(gv)) => differences(&here, rv, gv, ignored, out),
                    (Some(_), None) => out.push(format!("{here}: only REST has it")),
                    (None, _) => out.push(format!("{here}: only GraphQL has it")),
                }
            }
        }
        (Value::Array(r), Value::Array(g)) if r.len() == g.len() => {
            for (i, (rv, gv)) in r.iter().zip(g).enumerate() {
                differences(&format!("{what}[{i}]"), rv, gv, ignored, out);
            }
        }
        _ if normalized(rest) == normalized(graphql) => {}
        _ => out.push(format!("{what}: REST {rest} ≠ GraphQL {graphql}")),
    }
}

/// REST's answer to a GET of `path` as `who`, which must succeed.
async fn rest_get<S, B>(app: &S, who: &Who, path: &str) -> Value
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let resp = send(app, Req::get(path).acting_as(who)).await;
    assert_eq!(resp.status.as_u16(), 200, "GET {path}: {resp:?}");
    resp.json
}

/// The types of the schema, by name.
async fn schema_types<S, B>(app: &S, who: &Who) -> BTreeMap<String, Value>
where
    S: Service<actix_http::Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let query = "{ __schema { types { name kind fields { name args { type { kind } }
        type { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } }";
    let resp = gql(app, who, query, json!({})).await;
    data(&resp)["__schema"]["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["name"].as_str().unwrap().to_owned(), t.clone()))
        .collect()
}

/// Seeds a store worth comparing on: two projects with several of every record, an issued
/// certificate with a target and a deployment, jobs, audit events from REST writes.
async fn seeded() -> (Harness, World) {
    let h = Harness::new().await;
    let w = world(&h).await;
    for _ in 0..2 {
        fresh_in_a(&h, &w).await;
        resources(&h, w.b.scope.clone(), "more-b").await;
    }
    let issued = issued_certificate_in_a(&h, &w).await;
    let mut deployment = Deployment::new(w.a.scope.project_id(), issued.id, w.a.target.id, Timestamp::now());
    deployment.status = DeploymentStatus::Deployed;
    deployment.serial = issued.serial.clone();
    deployment.deployed_at = Some(Timestamp::now());
    h.store.insert(&w.a.scope, &deployment).await.unwrap();
    fresh_member_of_a(&h, &w).await;
    empty_project_with_a_members(&h, &w).await;
    (h, w)
}

/// Every read operation: REST's JSON and GraphQL's answer for the same object are equal field by
/// field; lists are compared page by page (two items a page) until both say there is no more.
#[actix_rt::test]
async fn reads_answer_the_same_through_rest_and_graphql() {
    let (h, w) = seeded().await;
    let app = app!(h);
    let owner = &w.owner;
    let pa = w.a.scope.project_id();
    let issued = issued_certificate_in_a(&h, &w).await;
    let mut deployment = Deployment::new(pa, issued.id, w.a.target.id, Timestamp::now());
    deployment.status = DeploymentStatus::Failed;
    deployment.last_error = Some("connection refused".into());
    h.store.insert(&w.a.scope, &deployment).await.unwrap();
    // REST writes, so the chain and the timeline have entries with details.
    let renew =
        send(&app, Req::new(Method::POST, format!("/api/v1/certificates/{}/renew", issued.id)).acting_as(owner)).await;
    assert_eq!(renew.status.as_u16(), 202, "{renew:?}");
    let distribute = Req::new(Method::POST, format!("/api/v1/certificates/{}/distribute", issued.id)).acting_as(owner);
    assert_eq!(send(&app, distribute).await.status.as_u16(), 202);
    let scan = Req::new(Method::POST, format!("/api/v1/targets/{}/scan", w.a.target.id)).acting_as(owner);
    assert_eq!(send(&app, scan).await.status.as_u16(), 202);
    let types = schema_types(&app, owner).await;
    let mut failures = Vec::new();

    // One object: (operation, REST path, GraphQL field with arguments, its type, the answer's path).
    let viewer = w.viewer_a.user.as_ref().unwrap().id;
    let ones: Vec<(&str, String, String, &str)> = vec![
        ("me", "/api/v1/auth/me".into(), "me".into(), "Me"),
        ("getProject", format!("/api/v1/projects/{pa}"), format!("project(id: \"{pa}\")"), "Project"),
        (
            "getAcmeAccount",
            format!("/api/v1/acme-accounts/{}", w.a.account.id),
            format!("acmeAccount(id: \"{}\")", w.a.account.id),
            "AcmeAccount",
        ),
        (
            "getDnsCredential",
            format!("/api/v1/dns-credentials/{}", w.a.credential.id),
            format!("dnsCredential(id: \"{}\")", w.a.credential.id),
            "DnsCredential",
        ),
        ("getZone", format!("/api/v1/zones/{}", w.a.zone.id), format!("zone(id: \"{}\")", w.a.zone.id), "Zone"),
        (
            "getTarget",
            format!("/api/v1/targets/{}", w.a.target.id),
            format!("target(id: \"{}\")", w.a.target.id),
            "Target",
        ),
        (
            "getCertificate",
            format!("/api/v1/certificates/{}", issued.id),
            format!("certificate(id: \"{}\")", issued.id),
            "Certificate",
        ),
        ("getJob", format!("/api/v1/jobs/{}", w.a.job.id), format!("job(id: \"{}\")", w.a.job.id), "JobDetail"),
    ];
    for (operation, path, field, type_name) in &ones {
        let rest = rest_get(&app, owner, path).await;
        let resp = gql(&app, owner, &format!("{{ {field} {{ {} }} }}", selection(&types, type_name)), json!({})).await;
        let root = field.split('(').next().unwrap();
        differences(operation, &rest, &data(&resp)[root], &[], &mut failures);
    }

    // Lists of a record's own (no paging in GraphQL): REST's `items` against the field's list.
    let nested: Vec<(&str, String, String, &str, &str)> = vec![
        (
            "getCertificateTimeline",
            format!("/api/v1/certificates/{}/timeline", issued.id),
            format!("certificate(id: \"{}\") {{ timeline {{ {{}} }} }}", issued.id),
            "TimelineEvent",
            "timeline",
        ),
        (
            "getCertificateDeployments",
            format!("/api/v1/certificates/{}/deployments", issued.id),
            format!("certificate(id: \"{}\") {{ deployments {{ {{}} }} }}", issued.id),
            "Deployment",
            "deployments",
        ),
        (
            "listMembers",
            format!("/api/v1/projects/{pa}/members?limit=100"),
            format!("project(id: \"{pa}\") {{ members(first: 20) {{ nodes {{ {{}} }} }} }}"),
            "Member",
            "members",
        ),
        (
            "listUserApiTokens",
            format!("/api/v1/users/{viewer}/tokens?limit=100"),
            String::new(),
            "ApiToken",
            "apiTokens",
        ),
    ];
    for (operation, path, query, type_name, list) in &nested {
        let rest = rest_get(&app, owner, path).await;
        let sel = selection(&types, type_name);
        let graphql = if *operation == "listUserApiTokens" {
            let q = format!("{{ users(first: 10) {{ nodes {{ id apiTokens(first: 10) {{ nodes {{ {sel} }} }} }} }} }}");
            let resp = gql(&app, owner, &q, json!({})).await;
            let users = data(&resp)["users"]["nodes"].as_array().unwrap().clone();
            users.into_iter().find(|u| u["id"] == json!(viewer)).unwrap()["apiTokens"]["nodes"].clone()
        } else {
            let resp = gql(&app, owner, &format!("{{ {} }}", query.replace("{}", &sel)), json!({})).await;
            let root = data(&resp).as_object().unwrap().values().next().unwrap().clone();
            let items = &root[*list];
            if items["nodes"].is_array() { items["nodes"].clone() } else { items.clone() }
        };
        // GraphQL's `Deployment` also answers `Target.deployments`, so it names its certificate;
        // REST's list is the certificate's own. Checked here instead of compared.
        let only_graphql: &[&str] = if *operation == "getCertificateDeployments" {
            assert!(graphql.as_array().unwrap().iter().all(|d| d["certificateId"] == json!(issued.id)));
            &["certificate_id"]
        } else {
            &[]
        };
        differences(operation, &rest["items"], &graphql, only_graphql, &mut failures);
        assert!(!graphql.as_array().unwrap().is_empty(), "{operation}: nothing to compare");
    }

    // Pages: (operation, REST path, GraphQL field, its arguments, node type).
    let in_a = format!("projectId: \"{pa}\"");
    let pages: Vec<(&str, String, &str, String, &str)> = vec![
        ("listApiTokens", "/api/v1/auth/tokens".into(), "apiTokens", String::new(), "ApiToken"),
        ("listUsers", "/api/v1/users".into(), "users", String::new(), "User"),
        ("listProjects", "/api/v1/projects".into(), "projects", String::new(), "Project"),
        (
            "listAcmeAccounts",
            format!("/api/v1/acme-accounts?project_id={pa}"),
            "acmeAccounts",
            in_a.clone(),
            "AcmeAccount",
        ),
        (
            "listDnsCredentials",
            format!("/api/v1/dns-credentials?project_id={pa}"),
            "dnsCredentials",
            in_a.clone(),
            "DnsCredential",
        ),
        ("listZones", format!("/api/v1/zones?project_id={pa}"), "zones", in_a.clone(), "Zone"),
        ("listTargets", format!("/api/v1/targets?project_id={pa}"), "targets", in_a.clone(), "Target"),
        (
            "listCertificates",
            format!("/api/v1/certificates?project_id={pa}"),
            "certificates",
            in_a.clone(),
            "Certificate",
        ),
        ("listJobs", format!("/api/v1/jobs?project_id={pa}"), "jobs", in_a.clone(), "Job"),
        ("listAuditEvents", format!("/api/v1/audit/events?project_id={pa}"), "auditEvents", in_a.clone(), "AuditEvent"),
    ];
    for (operation, path, field, args, type_name) in &pages {
        let sel = selection(&types, type_name);
        let (mut rest_cursor, mut after, mut page) = (None::<String>, None::<String>, 0);
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let cursor = rest_cursor.as_ref().map(|c| format!("&cursor={c}")).unwrap_or_default();
            let rest = rest_get(&app, owner, &format!("{path}{sep}limit=2{cursor}")).await;
            let comma = if args.is_empty() { "" } else { ", " };
            let q = format!(
                "query($after: String) {{ {field}({args}{comma}first: 2, after: $after) {{ pageInfo {{ hasNextPage endCursor }} nodes {{ {sel} }} }} }}"
            );
            let resp = gql(&app, owner, &q, json!({ "after": after })).await;
            let connection = &data(&resp)[*field];
            differences(&format!("{operation} page {page}"), &rest["items"], &connection["nodes"], &[], &mut failures);
            let (rest_more, gql_more) =
                (!rest["next_cursor"].is_null(), connection["pageInfo"]["hasNextPage"] == json!(true));
            if rest_more != gql_more {
                failures.push(format!("{operation} page {page}: REST has more: {rest_more}, GraphQL: {gql_more}"));
            }
            if !(rest_more && gql_more) {
                break;
            }
            assert!(page < 50, "{operation}: no end of pages");
            rest_cursor = rest["next_cursor"].as_str().map(str::to_owned);
            after = connection["pageInfo"]["endCursor"].as_str().map(str::to_owned);
            page += 1;
        }
        assert!(page > 0 || *operation == "listApiTokens", "{operation}: one page only, paging not compared");
    }
    assert!(failures.is_empty(), "REST and GraphQL differ:\n{}", failures.join("\n"));
}

/// Twin creates: the same input (in each API's spelling) through REST and through GraphQL, one
/// after the other (the first deleted in between where names must be unique), leaves records whose
/// REST views are equal but for ids, timestamps and what the twins must differ in; and the
/// mutation answers what REST's create answered.
#[actix_rt::test]
async fn creates_through_either_leave_the_same_record() {
    let (h, w) = seeded().await;
    let app = app!(h);
    let owner = &w.owner;
    let (a, pa) = (&w.a, w.a.scope.project_id());
    let types = schema_types(&app, owner).await;
    let answer_type = |mutation: &str| {
        let fields = types["Mutation"]["fields"].as_array().unwrap();
        let field = fields.iter().find(|f| f["name"] == json!(mutation)).unwrap();
        named_type(&field["type"])["name"].as_str().unwrap().to_owned()
    };
    // (what, REST collection, mutation, input type, input in GraphQL's spelling, REST view path, what twins differ in)
    let cases: Vec<(&str, &str, &str, &str, Value, &str)> = vec![
        (
            "project",
            "/api/v1/projects",
            "createProject",
            "CreateProjectInput",
            json!({ "name": "twin" }),
            "/api/v1/projects",
        ),
        (
            "acme account",
            "/api/v1/acme-accounts",
            "createAcmeAccount",
            "CreateAcmeAccountInput",
            json!({ "projectId": pa, "name": "twin", "directoryUrl": "https://ca.test/dir", "contact": ["mailto:a@acme.test"],
                "tosAgreed": true, "eabKid": "kid", "eabHmacKey": "ZWFiLWtleQ" }),
            "/api/v1/acme-accounts",
        ),
        (
            "dns credential",
            "/api/v1/dns-credentials",
            "createDnsCredential",
            "CreateDnsCredentialInput",
            json!({ "projectId": pa, "name": "twin", "provider": "rfc2136", "config": { "server": "127.0.0.1:53",
                "key_name": "update.", "algorithm": "hmac-sha512", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "nameservers": ["127.0.0.1:53"] } }),
            "/api/v1/dns-credentials",
        ),
        (
            "zone",
            "/api/v1/zones",
            "createZone",
            "CreateZoneInput",
            json!({ "projectId": pa, "apex": "twin.example.net", "credentialId": a.credential.id }),
            "/api/v1/zones",
        ),
        (
            "target",
            "/api/v1/targets",
            "createTarget",
            "CreateTargetInput",
            json!({ "projectId": pa, "name": "twin", "type": "file", "config": { "cert_path": "/etc/ssl/twin.pem", "key_path": "/etc/ssl/twin.key" } }),
            "/api/v1/targets",
        ),
        (
            "certificate",
            "/api/v1/certificates",
            "createCertificate",
            "CreateCertificateInput",
            json!({ "projectId": pa, "commonName": format!("twin.{}", a.zone.apex), "sans": [format!("www.twin.{}", a.zone.apex)],
                "keyType": "rsa2048", "acmeAccountId": a.account.id, "renewBeforeDays": 15, "targetIds": [a.target.id] }),
            "/api/v1/certificates",
        ),
    ];
    let mut failures = Vec::new();
    for (what, collection, mutation, input_type, input, view) in cases {
        let rest = send(&app, Req::new(Method::POST, collection).acting_as(owner).json(snake_case_keys(&input))).await;
        assert!(rest.status.is_success(), "{what}: {rest:?}");
        let rest_id = rest.json["id"].as_str().or(rest.json["certificate"]["id"].as_str()).unwrap().to_owned();
        let rest_view = rest_get(&app, owner, &format!("{view}/{rest_id}")).await;
        let deleted = send(&app, Req::new(Method::DELETE, format!("{view}/{rest_id}")).acting_as(owner)).await;
        assert_eq!(deleted.status.as_u16(), 204, "{what}: {deleted:?}");
        let sel = selection(&types, &answer_type(mutation));
        let q = format!("mutation($i: {input_type}!) {{ {mutation}(input: $i) {{ {sel} }} }}");
        let resp = gql(&app, owner, &q, json!({ "i": input })).await;
        let answer = &data(&resp)[mutation];
        let gql_id = answer["id"].as_str().unwrap().to_owned();
        let gql_view = rest_get(&app, owner, &format!("{view}/{gql_id}")).await;
        let ignored = ["id", "created_at", "updated_at"];
        differences(what, &rest_view, &gql_view, &ignored, &mut failures);
        // The mutation's answer is the record as REST's create answered it (a certificate's job aside).
        let rest_answer = if rest.json["certificate"].is_object() { &rest.json["certificate"] } else { &rest.json };
        differences(&format!("{what} answer"), rest_answer, answer, &ignored, &mut failures);
    }
    // Users cannot be deleted: the twins differ in their email.
    let user = |email: &str| json!({ "email": email, "password": "a long enough password" });
    let rest =
        send(&app, Req::new(Method::POST, "/api/v1/users").acting_as(owner).json(user("rest-twin@acme.test"))).await;
    let resp = gql(
        &app,
        owner,
        "mutation($i: CreateUserInput!) { createUser(input: $i) { id } }",
        json!({ "i": user("gql-twin@acme.test") }),
    )
    .await;
    let gql_id = data(&resp)["createUser"]["id"].clone();
    let users = rest_get(&app, owner, "/api/v1/users?limit=100").await;
    let find = |id: &Value| users["items"].as_array().unwrap().iter().find(|u| &u["id"] == id).unwrap().clone();
    differences(
        "user",
        &find(&rest.json["id"]),
        &find(&gql_id),
        &["id", "created_at", "updated_at", "email"],
        &mut failures,
    );
    assert!(failures.is_empty(), "twin creates differ:\n{}", failures.join("\n"));
}

/// The comparison itself: a field either side lacks and a differing value are reported, names
/// map by `snake_case`, and the same instant spelled two ways is equal; so a pass above means the
/// answers agree, not that nothing was compared.
#[test]
fn differences_finds_missing_fields_and_changed_values() {
    let rest = json!({ "common_name": "a", "not_after": "2026-03-01T10:00:00Z", "only_rest": 1, "items": [1, 2] });
    let graphql =
        json!({ "commonName": "a", "notAfter": "2026-03-01T10:00:00.000Z", "onlyGraphql": 2, "items": [1, 3] });
    let mut out = Vec::new();
    differences("x", &rest, &graphql, &[], &mut out);
    out.sort();
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("x.items[1]: REST 2"), "{out:?}");
    assert_eq!(out[1], "x.only_graphql: only GraphQL has it");
    assert_eq!(out[2], "x.only_rest: only REST has it");
}
