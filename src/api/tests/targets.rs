//! Updating a target: the configuration is replaced and checked like on creation, secrets left out
//! keep their stored values, stale versions and bad settings change nothing.

use actix_web::http::Method;
use certautopilot_core::model::DistributionTarget;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::harness::*;

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAkeep-me\n-----END OPENSSH PRIVATE KEY-----\n";

#[actix_web::test]
async fn updates_keep_secrets_left_out_and_refuse_stale_or_bad_input() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let config = json!({ "host": "web1.example.com", "user": "deploy", "cert_path": "/etc/ssl/c.pem",
        "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "private_key": KEY });
    let created = send(
        &app,
        Req::new(Method::POST, "/api/v1/targets")
            .acting_as(&w.owner)
            .json(json!({ "project_id": pa, "name": "web1", "type": "ssh", "config": config })),
    )
    .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.json["id"].as_str().unwrap().to_owned();

    let mut moved = config.clone();
    moved["host"] = json!("web2.example.com");
    moved.as_object_mut().unwrap().remove("private_key");
    let updated = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "name": "web2", "config": moved, "version": 1 })),
    )
    .await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(
        (updated.json["name"].clone(), updated.json["config"]["host"].clone()),
        (json!("web2"), json!("web2.example.com"))
    );
    assert!(updated.json.to_string().find("keep-me").is_none(), "the secret is never returned");
    let stored: DistributionTarget =
        h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
    let credential = h.state.envelope.open(&id, "credential", stored.credential.as_ref().unwrap()).unwrap();
    assert!(credential.expose_str().unwrap().contains("keep-me"), "the key left out was kept");

    let stale = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.owner)
            .json(json!({ "name": "again", "version": 1 })),
    )
    .await;
    assert_problem(&stale, 409, "version_conflict");
    let mut bad = moved.clone();
    bad["cert_path"] = json!("relative/path");
    let refused = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.owner)
            .json(json!({ "config": bad, "version": 2 })),
    )
    .await;
    assert_eq!(
        (refused.status.as_u16(), refused.json["field"].as_str()),
        (422, Some("config.cert_path")),
        "{refused:?}"
    );
    let reload = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "config": { "reload_command": "rm -rf /" }, "version": 2 })),
    )
    .await;
    assert_problem(&reload, 403, "forbidden");
    let unchanged: DistributionTarget =
        h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
    assert_eq!((unchanged.version, unchanged.name.as_str()), (2, "web2"));
}

/// Every new setting refuses bad values with a clear error naming the field, and creates nothing.
#[actix_web::test]
async fn bad_target_and_dns_settings_are_refused_and_change_nothing() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let file = json!({ "cert_path": "/c.pem", "key_path": "/k.pem" });
    let with = |base: &serde_json::Value, key: &str, value: serde_json::Value| {
        let mut v = base.clone();
        v[key] = value;
        v
    };
    let f5 = json!({ "url": "https://bigip.example.com", "username": "admin", "password": "p", "profile": "p", "object_name": "www" });
    let vault = json!({ "address": "https://vault.example.com", "path": "tls/www", "token": "t" });
    let iis = json!({ "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef", "site": "Default" });
    let cases = [
        ("file", with(&file, "owner", json!("-root")), "config.owner"),
        ("file", with(&file, "owner", json!("a:b:c")), "config.owner"),
        ("file", with(&file, "auto_redeploy", json!("yes")), "config.auto_redeploy"),
        ("file", with(&file, "tls_server_name", json!("not a name")), "config.tls_server_name"),
        ("vault", with(&vault, "mode", json!("transit")), "config.mode"),
        ("vault", with(&vault, "path", json!("../etc")), "config.path"),
        ("f5", with(&f5, "object_name", json!("www/../x")), "config.object_name"),
        ("f5", with(&f5, "password", json!("two\nlines")), "config.password"),
        ("netscaler", json!({ "url": "https://adc", "username": "nsroot", "password": "p" }), "config.certkey"),
        ("iis", with(&iis, "binding", json!("*:0")), "config.binding"),
        ("iis", with(&iis, "hmac_secret", json!("short")), "config.hmac_secret"),
        (
            "kubernetes",
            json!({ "api_url": "https://k", "namespace": "web", "secret_name": "-x", "token": "t" }),
            "config.secret_name",
        ),
    ];
    for (kind, config, field) in cases {
        let resp = send(
            &app,
            Req::new(Method::POST, "/api/v1/targets")
                .acting_as(&w.owner)
                .json(json!({ "project_id": pa, "name": "bad", "type": kind, "config": config })),
        )
        .await;
        assert_eq!((resp.status.as_u16(), resp.json["field"].as_str()), (422, Some(field)), "{kind} {field}: {resp:?}");
    }
    let credential = send(
        &app,
        Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "bad", "provider": "rfc2136", "config": { "server": "127.0.0.1:53", "key_name": "k.",
        "algorithm": "hmac-sha256", "secret": "c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "nameservers": ["ns1.example.com"] } })),
    )
    .await;
    assert_eq!(
        (credential.status.as_u16(), credential.json["field"].as_str()),
        (422, Some("config.nameservers[0]")),
        "{credential:?}"
    );

    let targets = send(&app, Req::get(format!("/api/v1/targets?project_id={pa}")).acting_as(&w.owner)).await;
    assert!(targets.json["items"].as_array().unwrap().iter().all(|t| t["name"] != json!("bad")), "nothing was created");
    let credentials =
        send(&app, Req::get(format!("/api/v1/dns-credentials?project_id={pa}")).acting_as(&w.owner)).await;
    assert!(credentials.json["items"].as_array().unwrap().iter().all(|c| c["name"] != json!("bad")));
}
