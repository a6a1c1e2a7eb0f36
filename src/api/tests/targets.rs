//! Updating a target: the configuration is replaced and checked like on creation, secrets left out
//! keep their stored values only while their destination stays, stale versions and bad settings
//! change nothing; file targets write only where the host allows.

use actix_web::http::Method;
use certautopilot_core::model::DistributionTarget;
use certautopilot_core::store::RecordStore;
use serde_json::json;

use super::harness::*;

const KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAkeep-me\n-----END OPENSSH PRIVATE KEY-----\n";
const NEW_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAnew-one\n-----END OPENSSH PRIVATE KEY-----\n";

/// A PATCH that leaves the secret out keeps it for an unchanged destination and is refused (nothing
/// changed) when it moves the host; stale versions, bad input and an admin's reload command are
/// refused too.
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
    let repointed = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "name": "web2", "config": moved, "version": 1 })),
    )
    .await;
    assert_eq!(
        (repointed.status.as_u16(), repointed.json["field"].as_str()),
        (422, Some("config.private_key")),
        "a new host without the key again is refused: {repointed:?}"
    );
    let mut moved_path = config.clone();
    moved_path["cert_path"] = json!("/etc/ssl/www.pem");
    moved_path.as_object_mut().unwrap().remove("private_key");
    moved = moved_path.clone();
    let updated = send(
        &app,
        Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
            .acting_as(&w.admin_a)
            .json(json!({ "name": "web2", "config": moved, "version": 1 })),
    )
    .await;
    assert_eq!(updated.status, 200, "{updated:?}");
    assert_eq!(
        (updated.json["name"].clone(), updated.json["config"]["cert_path"].clone()),
        (json!("web2"), json!("/etc/ssl/www.pem"))
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
    let file = json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem" });
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

/// Issue M2.1 item 2: for every type holding a secret, re-pointing its destination while leaving the
/// stored secret out is refused and leaves the target as it was; giving the secret again with the
/// change is accepted, and the new secret replaces the old.
#[actix_web::test]
async fn a_stored_secret_is_never_sent_to_a_new_destination() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let ssh = json!({ "host": "web1.example.com", "user": "deploy", "cert_path": "/etc/ssl/c.pem",
        "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "private_key": KEY });
    let cases = [
        ("ssh", ssh.clone(), "host", json!("evil.example.net"), "private_key", json!(NEW_KEY)),
        ("ssh", ssh.clone(), "port", json!(2222), "private_key", json!(NEW_KEY)),
        (
            "ssh",
            ssh,
            "host_key_sha256",
            json!("SHA256:ZZZdefghijklmnopqrstuvwxyz0123456789ABCDEFG"),
            "private_key",
            json!(NEW_KEY),
        ),
        (
            "webhook",
            json!({ "url": "https://hooks.example.com/x", "hmac_secret": "0123456789abcdef-keep-me" }),
            "url",
            json!("https://evil.example.net/x"),
            "hmac_secret",
            json!("0123456789abcdef-new"),
        ),
        (
            "kubernetes",
            json!({ "api_url": "https://k8s.example.com", "namespace": "web", "secret_name": "tls", "token": "keep-me" }),
            "api_url",
            json!("https://evil.example.net"),
            "token",
            json!("new-token"),
        ),
        (
            "vault",
            json!({ "address": "https://vault.example.com", "path": "tls/www", "token": "keep-me" }),
            "address",
            json!("https://evil.example.net"),
            "token",
            json!("new-token"),
        ),
        (
            "vault",
            json!({ "address": "https://vault.example.com", "path": "tls/www", "token": "keep-me" }),
            "mount",
            json!("stolen"),
            "token",
            json!("new-token"),
        ),
        (
            "f5",
            json!({ "url": "https://bigip.example.com", "username": "admin", "password": "keep-me", "profile": "p", "object_name": "www" }),
            "url",
            json!("https://evil.example.net"),
            "password",
            json!("new-password"),
        ),
        (
            "netscaler",
            json!({ "url": "https://adc.example.com", "username": "nsroot", "password": "keep-me", "certkey": "www" }),
            "url",
            json!("https://evil.example.net"),
            "password",
            json!("new-password"),
        ),
        (
            "iis",
            json!({ "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef-keep-me", "site": "Default" }),
            "agent_url",
            json!("https://evil.example.net"),
            "hmac_secret",
            json!("0123456789abcdef-new"),
        ),
        (
            "iis",
            json!({ "agent_url": "https://web01.example.com", "hmac_secret": "0123456789abcdef-keep-me", "site": "Default" }),
            "ca_bundle_pem",
            json!("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            "hmac_secret",
            json!("0123456789abcdef-new"),
        ),
    ];
    for (n, (kind, config, field, value, secret, new_secret)) in cases.into_iter().enumerate() {
        let created = send(
            &app,
            Req::new(Method::POST, "/api/v1/targets")
                .acting_as(&w.owner)
                .json(json!({ "project_id": pa, "name": format!("t{n}"), "type": kind, "config": config })),
        )
        .await;
        assert_eq!(created.status, 201, "{kind}: {created:?}");
        let id = created.json["id"].as_str().unwrap().to_owned();
        let mut moved = config.clone();
        moved[field] = value;
        moved.as_object_mut().unwrap().remove(secret);
        let refused = send(
            &app,
            Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
                .acting_as(&w.admin_a)
                .json(json!({ "config": moved, "version": 1 })),
        )
        .await;
        let expected_field = format!("config.{secret}");
        assert_eq!(
            (refused.status.as_u16(), refused.json["field"].as_str()),
            (422, Some(expected_field.as_str())),
            "{kind}.{field}: {refused:?}"
        );
        assert!(refused.json["detail"].as_str().unwrap().contains(&format!("config.{field}")), "{refused:?}");
        let stored: DistributionTarget =
            h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
        assert_eq!(stored.version, 1, "{kind}.{field}: the refused change wrote nothing");
        assert_eq!(stored.config.to_json(), created_config(&created), "{kind}.{field}");

        moved[secret] = new_secret;
        let accepted = send(
            &app,
            Req::new(Method::PATCH, format!("/api/v1/targets/{id}"))
                .acting_as(&w.admin_a)
                .json(json!({ "config": moved, "version": 1 })),
        )
        .await;
        assert_eq!(accepted.status, 200, "{kind}.{field} with the secret again: {accepted:?}");
        let stored: DistributionTarget =
            h.store.get(&w.a.scope, &id.parse::<certautopilot_core::TargetId>().unwrap()).await.unwrap();
        let opened = h.state.envelope.open(&id, "credential", stored.credential.as_ref().unwrap()).unwrap();
        assert!(!opened.expose_str().unwrap().contains("keep-me"), "{kind}.{field}: the old secret is gone");
    }
}

fn created_config(created: &Resp) -> serde_json::Value {
    created.json["config"].clone()
}

/// Issue M2.1 item 1: file targets may name only paths under the host's allowed directories, never
/// the service's own files, and keys and chains get no wider modes than 0640 and 0644; each refusal
/// names the field and creates nothing (with no allowed directory at all: tests/cli/distribution.rs).
#[actix_web::test]
async fn file_targets_may_only_name_paths_the_host_allows() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let kek = h.dir.path().join("kek.key").display().to_string();
    let cases = [
        (json!({ "cert_path": "/etc/ssl/c.pem", "key_path": kek }), "config.key_path", "own files"),
        (
            json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/root/.ssh/authorized_keys" }),
            "config.key_path",
            "not under",
        ),
        (json!({ "cert_path": "/etc/ssl/../passwd", "key_path": "/etc/ssl/k.pem" }), "config.cert_path", "'..'"),
        (
            json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem", "mode": "0777" }),
            "config.mode",
            "wider than 0640",
        ),
        (
            json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem", "mode": "0644" }),
            "config.mode",
            "wider than 0640",
        ),
        (
            json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem", "cert_mode": "0666" }),
            "config.cert_mode",
            "wider than 0644",
        ),
        (json!({ "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/c.pem" }), "config.key_path", "differ"),
    ];
    for (config, field, says) in cases {
        let resp = send(
            &app,
            Req::new(Method::POST, "/api/v1/targets")
                .acting_as(&w.owner)
                .json(json!({ "project_id": pa, "name": "bad", "type": "file", "config": config })),
        )
        .await;
        assert_eq!((resp.status.as_u16(), resp.json["field"].as_str()), (422, Some(field)), "{config}: {resp:?}");
        assert!(resp.json["detail"].as_str().unwrap().contains(says), "{config}: {resp:?}");
    }
    let ok = send(
        &app,
        Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({ "project_id": pa, "name": "good",
            "type": "file", "config": { "cert_path": "/etc/ssl/./c.pem", "key_path": "/etc/ssl/k.pem", "mode": "0640" } })),
    )
    .await;
    assert_eq!(ok.status, 201, "{ok:?}");
    assert_eq!(ok.json["config"]["cert_path"], json!("/etc/ssl/c.pem"), "stored normalized");
    let targets = send(&app, Req::get(format!("/api/v1/targets?project_id={pa}")).acting_as(&w.owner)).await;
    assert!(targets.json["items"].as_array().unwrap().iter().all(|t| t["name"] != json!("bad")), "nothing was created");
}

/// An ssh target keeps its `owner` and a vault target its `mode`: both were refused or dropped by
/// the validator although the connectors use them (a `pki` target silently wrote KV).
#[actix_web::test]
async fn ssh_owner_and_vault_mode_are_kept() {
    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let ssh = json!({ "host": "web1.example.com", "user": "deploy", "cert_path": "/etc/ssl/c.pem", "owner": "www-data:ssl-cert",
        "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "private_key": KEY });
    let vault = json!({ "address": "https://vault.example.com", "mode": "pki", "mount": "pki_int", "path": "tls/www", "token": "t" });
    for (kind, config, key, value) in [("ssh", ssh, "owner", "www-data:ssl-cert"), ("vault", vault, "mode", "pki")] {
        let created = send(
            &app,
            Req::new(Method::POST, "/api/v1/targets")
                .acting_as(&w.owner)
                .json(json!({ "project_id": pa, "name": kind, "type": kind, "config": config })),
        )
        .await;
        assert_eq!(created.status, 201, "{kind}: {created:?}");
        assert_eq!(created.json["config"][key], json!(value), "{kind}: {created:?}");
    }
}
