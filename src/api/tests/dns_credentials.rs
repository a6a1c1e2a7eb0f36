//! DNS credentials after creation: an update keeps the sealed secret when it is left out and
//! replaces it when given, refuses a moved destination without the secret (the rebinding rule),
//! another provider, a stale version and bad settings (changing nothing); the exec hook stays
//! owner-only; the test action writes and removes a probe record at a real BIND and through a
//! provider's API (the zone found there) and names the failing step; every accepted provider is creatable over REST and GraphQL.

use actix_web::http::Method;
use certautopilot_connectors::testsupport::{Bind, TestZone, TsigKey, cloudflare_standin};
use certautopilot_core::model::{DnsCredential, DnsProvider, example_request};
use certautopilot_core::store::RecordStore;
use serde_json::{Value, json};

use super::harness::*;
use crate::service::validate::serde_names;

/// A GraphQL request as `who`.
fn post(who: &Who, query: &str, variables: Value) -> Req {
    Req::new(Method::POST, "/api/graphql").acting_as(who).json(json!({ "query": query, "variables": variables }))
}

/// The `data` of a GraphQL answer without errors.
fn data(resp: &Resp) -> &Value {
    assert!(resp.status.as_u16() == 200 && resp.json.get("errors").is_none(), "{resp:?}");
    &resp.json["data"]
}

fn path(id: &Value) -> String {
    format!("/api/v1/dns-credentials/{}", id.as_str().unwrap())
}

/// The credential as stored in project A.
async fn stored(h: &Harness, w: &World, id: &Value) -> DnsCredential {
    let id: certautopilot_core::ids::DnsCredentialId = id.as_str().unwrap().parse().unwrap();
    h.store.get(&w.a.scope, &id).await.unwrap()
}

/// The sealed secret of a credential, opened (what issuance would send).
async fn opened_secret(h: &Harness, w: &World, id: &Value) -> String {
    let stored = stored(h, w, id).await;
    let id = stored.id;
    let opened = h.state.envelope.open(&id.to_string(), "secret", stored.secret.as_ref().unwrap()).unwrap();
    opened.expose_str().unwrap().to_owned()
}

/// A PATCH that leaves `api_key` out keeps it while the API stays where it was; moving `api_url`
/// without the key is refused naming `config.api_key`, with it the key is replaced; another
/// provider, a stale version and a bad URL are refused; none of the refusals changes anything.
#[actix_web::test]
async fn updates_keep_or_replace_the_secret_and_refuse_bad_input() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let body = json!({ "project_id": pa, "name": "pdns", "provider": "pdns",
        "config": { "api_url": "http://127.0.0.1:8081", "api_key": "first-key" } });
    let created = send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.admin_a).json(body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].clone();
    let patch = |body: Value| Req::new(Method::PATCH, path(&id)).acting_as(&w.admin_a).json(body);

    let kept = send(
        &app,
        patch(json!({ "name": "pdns-2", "config": { "api_url": "http://127.0.0.1:8081", "server_id": "ns1" }, "version": 1 })),
    )
    .await;
    assert_eq!(kept.status, 200, "{kept:?}");
    assert_eq!((kept.json["name"].as_str(), kept.json["version"].as_u64()), (Some("pdns-2"), Some(2)));
    assert_eq!(kept.json["config"], json!({ "api_url": "http://127.0.0.1:8081", "server_id": "ns1" }));
    assert_eq!(opened_secret(&h, &w, &id).await, r#"{"api_key":"first-key"}"#, "a secret left out is kept");

    let before = stored(&h, &w, &id).await;
    let refusals = [
        (json!({ "config": { "api_url": "http://127.0.0.2:8081" }, "version": 2 }), 422, "config.api_key"),
        (json!({ "provider": "cloudflare", "config": { "api_token": "t" }, "version": 2 }), 422, "provider"),
        (json!({ "config": { "api_url": "not a url", "api_key": "k" }, "version": 2 }), 422, "config.api_url"),
        (json!({ "config": { "api_url": "http://127.0.0.1:8081", "token": "x" }, "version": 2 }), 422, "config.token"),
        (json!({ "name": "", "version": 2 }), 422, "name"),
        (json!({ "config": "text", "version": 2 }), 422, "config"),
    ];
    for (body, status, field) in refusals {
        let refused = send(&app, patch(body.clone())).await;
        assert_eq!(
            (refused.status.as_u16(), refused.json["field"].as_str()),
            (status, Some(field)),
            "{body}: {refused:?}"
        );
    }
    let moved = send(&app, patch(json!({ "config": { "api_url": "http://127.0.0.2:8081" }, "version": 2 }))).await;
    assert!(moved.json["detail"].as_str().unwrap().contains("config.api_url"), "the moved field is named: {moved:?}");
    let stale = send(&app, patch(json!({ "name": "late", "version": 1 }))).await;
    assert_eq!((stale.status.as_u16(), stale.json["code"].as_str()), (409, Some("version_conflict")), "{stale:?}");
    assert_eq!(stored(&h, &w, &id).await, before, "refused updates change nothing");

    let replaced = send(
        &app,
        patch(json!({ "config": { "api_url": "http://127.0.0.2:8081", "api_key": "second-key" }, "version": 2 })),
    )
    .await;
    assert_eq!(replaced.status, 200, "{replaced:?}");
    assert_eq!(opened_secret(&h, &w, &id).await, r#"{"api_key":"second-key"}"#, "a given secret replaces it");
    assert!(!replaced.text.contains("second-key"));

    let events = send(
        &app,
        Req::get(format!("/api/v1/audit/events?project_id={pa}&action=credential.updated")).acting_as(&w.owner),
    )
    .await;
    assert_eq!(events.status, 200, "{events:?}");
    let items = events.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{events:?}");
    assert!(items.iter().any(|e| e["details"]["secret_replaced"] == json!(true)), "{events:?}");
    assert!(!events.text.contains("first-key") && !events.text.contains("second-key"));
}

/// Only an owner configures the exec hook: an admin of the project may not update one an owner
/// made, the owner may.
#[actix_web::test]
async fn exec_hooks_stay_owner_only_on_update() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let body = json!({ "project_id": w.a.scope.project_id(), "name": "hook", "provider": "exec",
        "config": { "command": "/usr/local/bin/dns-hook" } });
    let created = send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(body)).await;
    assert_eq!(created.status, 201, "{created:?}");
    let change = json!({ "config": { "command": "/tmp/evil" }, "version": 1 });
    let by_admin =
        send(&app, Req::new(Method::PATCH, path(&created.json["id"])).acting_as(&w.admin_a).json(change.clone())).await;
    assert_eq!(by_admin.status, 403, "{by_admin:?}");
    let renamed = send(
        &app,
        Req::new(Method::PATCH, path(&created.json["id"]))
            .acting_as(&w.admin_a)
            .json(json!({ "name": "x", "version": 1 })),
    )
    .await;
    assert_eq!(renamed.status, 403, "not even its name: {renamed:?}");
    let by_owner =
        send(&app, Req::new(Method::PATCH, path(&created.json["id"])).acting_as(&w.owner).json(change)).await;
    assert_eq!((by_owner.status.as_u16(), by_owner.json["config"]["command"].as_str()), (200, Some("/tmp/evil")));
}

/// Every provider the API accepts is creatable over REST and over GraphQL with its example
/// request (an owner, so the exec hook is included).
#[actix_web::test]
async fn every_accepted_provider_is_creatable_over_rest_and_graphql() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let names = serde_names(&DnsProvider::ACCEPTED);
    for (provider, name) in DnsProvider::ACCEPTED.into_iter().zip(names) {
        let body = json!({ "project_id": pa, "name": format!("rest-{name}"), "provider": name,
            "config": example_request(provider) });
        let rest = send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(body)).await;
        assert_eq!(rest.status, 201, "{name} over REST: {rest:?}");
        let query = "mutation($i: CreateDnsCredentialInput!) { createDnsCredential(input: $i) { provider hasSecret } }";
        let input = json!({ "i": { "projectId": pa, "name": format!("gql-{name}"), "provider": name,
            "config": example_request(provider) } });
        let resp = send(&app, post(&w.owner, query, input)).await;
        let created = &data(&resp)["createDnsCredential"];
        assert_eq!(created["provider"], json!(name), "{name} over GraphQL");
        assert_eq!(created["hasSecret"], json!(!provider.secret_fields().is_empty()), "{name}");
    }
}

/// Against a real BIND: a credential with the right TSIG key passes every step and leaves no
/// record behind; one with a wrong secret fails at "add record" with the server's refusal and no
/// secret in the answer; a credential without a zone, or a zone of another credential, is refused
/// naming `zone_id`. GraphQL's `testDnsCredential` answers the same steps.
#[actix_web::test]
async fn the_test_action_writes_and_removes_a_probe_record_at_bind() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let dir = tempfile::tempdir().unwrap();
    let key = TsigKey::random("probe-key");
    let bind = Bind::start(dir.path(), key.clone(), vec![TestZone::new("probe.test"), TestZone::new("second.test")]);
    let wrong = TsigKey::random("probe-key").secret;
    let create = |name: &str, secret: &str| {
        let config = json!({ "server": bind.addr().to_string(), "key_name": key.name, "algorithm": key.algorithm,
            "secret": secret });
        Req::new(Method::POST, "/api/v1/dns-credentials")
            .acting_as(&w.admin_a)
            .json(json!({ "project_id": pa, "name": name, "provider": "rfc2136", "config": config }))
    };
    let good = send(&app, create("good", &key.secret)).await;
    let bad = send(&app, create("bad", &wrong)).await;
    assert_eq!((good.status.as_u16(), bad.status.as_u16()), (201, 201), "{good:?} {bad:?}");
    let test = |id: &Value, body: Option<Value>| {
        let req = Req::new(Method::POST, format!("{}/test", path(id))).acting_as(&w.admin_a);
        match body {
            Some(body) => req.json(body),
            None => req,
        }
    };

    let no_zone = send(&app, test(&good.json["id"], None)).await;
    assert_eq!((no_zone.status.as_u16(), no_zone.json["field"].as_str()), (422, Some("zone_id")), "{no_zone:?}");
    let mut zones = Vec::new();
    for (apex, cred) in [("probe.test", &good), ("second.test", &bad)] {
        let body = json!({ "project_id": pa, "apex": apex, "credential_id": cred.json["id"] });
        let zone = send(&app, Req::new(Method::POST, "/api/v1/zones").acting_as(&w.admin_a).json(body)).await;
        assert_eq!(zone.status, 201, "{zone:?}");
        zones.push(zone.json["id"].clone());
    }
    let not_its_zone = send(&app, test(&good.json["id"], Some(json!({ "zone_id": zones[1] })))).await;
    assert_eq!((not_its_zone.status.as_u16(), not_its_zone.json["field"].as_str()), (422, Some("zone_id")));

    let passed = send(&app, test(&good.json["id"], Some(json!({ "zone_id": zones[0] })))).await;
    assert_eq!(passed.status, 200, "{passed:?}");
    let steps: Vec<&str> =
        passed.json["steps"].as_array().unwrap().iter().map(|s| s["step"].as_str().unwrap()).collect();
    assert_eq!(steps, ["connect", "find zone", "add record", "remove record"], "{passed:?}");
    assert_eq!(passed.json["ok"], json!(true), "{passed:?}");
    assert!(bind.txt("_certautopilot-probe.probe.test").is_empty(), "the probe record is removed");

    // BIND serves the wrong key's zone: the name lookup passes, the signed update does not.
    let failed = send(&app, test(&bad.json["id"], None)).await;
    assert_eq!(failed.status, 200, "{failed:?}");
    let steps = failed.json["steps"].as_array().unwrap();
    let last = steps.last().unwrap();
    assert_eq!(
        (failed.json["ok"].as_bool(), last["step"].as_str(), last["ok"].as_bool()),
        (Some(false), Some("add record"), Some(false)),
        "{failed:?}"
    );
    assert!(!last["detail"].as_str().unwrap_or_default().is_empty(), "{failed:?}");
    assert!(!failed.text.contains(&wrong) && !passed.text.contains(&key.secret));

    let query = "mutation($id: ID!) { testDnsCredential(id: $id) { ok zone steps { step ok detail ms } } }";
    let resp = send(&app, post(&w.admin_a, query, json!({ "id": good.json["id"] }))).await;
    let result = &data(&resp)["testDnsCredential"];
    assert_eq!((result["ok"].as_bool(), result["zone"].as_str()), (Some(true), Some("probe.test")), "{resp:?}");
    assert_eq!(result["steps"].as_array().unwrap().len(), 4);

    let events = send(
        &app,
        Req::get(format!("/api/v1/audit/events?project_id={pa}&action=credential.tested")).acting_as(&w.owner),
    )
    .await;
    assert_eq!(events.json["items"].as_array().map(Vec::len), Some(3), "every run is audited: {events:?}");
}

/// Against the Cloudflare stand-in: the test finds the zone through the API (its name and id in the
/// step's detail), writes and removes the probe record; a zone the account lacks fails at "find
/// zone" naming it, and a wrong token fails there as refused, with neither token in the answer.
#[actix_web::test]
async fn the_test_action_finds_the_zone_through_a_providers_api() {
    const TOKEN: &str = "cf-probe-token-0123456789";
    const WRONG: &str = "cf-wrong-token-9876543210";
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let api = cloudflare_standin(TOKEN, &[("z-probe", "probe.test", "active")], None);
    let mut results = Vec::new();
    for (name, apex, token) in
        [("good", "probe.test", TOKEN), ("absent", "absent.test", TOKEN), ("wrong", "probe.test", WRONG)]
    {
        let config = json!({ "api_url": api.url(), "api_token": token });
        let body = json!({ "project_id": pa, "name": name, "provider": "cloudflare", "config": config });
        let cred = send(&app, Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.admin_a).json(body)).await;
        assert_eq!(cred.status, 201, "{cred:?}");
        let body = json!({ "project_id": pa, "apex": format!("{name}.{apex}"), "credential_id": cred.json["id"] });
        let zone = send(&app, Req::new(Method::POST, "/api/v1/zones").acting_as(&w.admin_a).json(body)).await;
        assert_eq!(zone.status, 201, "{zone:?}");
        let test = Req::new(Method::POST, format!("{}/test", path(&cred.json["id"]))).acting_as(&w.admin_a);
        let result = send(&app, test).await;
        assert_eq!(result.status, 200, "{result:?}");
        assert!(!result.text.contains(TOKEN) && !result.text.contains(WRONG), "{result:?}");
        results.push(result.json);
    }
    let step = |r: &Value, i: usize| {
        (r["steps"][i]["step"].clone(), r["steps"][i]["ok"].clone(), r["steps"][i]["detail"].clone())
    };

    let good = &results[0];
    assert_eq!(good["ok"], json!(true), "{good}");
    assert_eq!(step(good, 1), (json!("find zone"), json!(true), json!("found probe.test (id z-probe)")), "{good}");
    assert!(api.values_at("_certautopilot-probe.good.probe.test").is_empty(), "the probe record is removed");
    assert_eq!(api.requests().iter().filter(|r| r.method == "POST").count(), 1, "one probe record written");

    for (result, says) in [(&results[1], "absent.test"), (&results[2], "refused")] {
        let steps = result["steps"].as_array().unwrap();
        let (last, ok, detail) = step(result, steps.len() - 1);
        assert_eq!((result["ok"].clone(), last, ok), (json!(false), json!("find zone"), json!(false)), "{result}");
        assert!(detail.as_str().unwrap().contains(says), "{result}");
    }
}
