//! Secrets are write-only: after creating objects with known secret values through the API, no API
//! response, no log line (captured at TRACE), no metric and no byte of the database file or its WAL
//! contains any of them.

use std::io::Write;
use std::sync::{Arc, Mutex};

use actix_web::http::Method;
use serde_json::json;

use super::harness::*;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

const PASSWORD: &str = "Zebra-Violet-Password-4711";
const EAB: &str = "RUFCLWhtYWMta2V5LXplYnJhLTQ3MTE";
const TSIG: &str = "VFNJRy1zZWNyZXQtemVicmEtNDcxMQ==";
/// The TSIG secret a credential update replaces `TSIG` with.
const NEW_TSIG: &str = "TmV3LVRTSUctemVicmEtdmlvbGV0LTQ3MTI=";
const PDNS_KEY: &str = "pdns-api-key-zebra-violet-4711";
const SSH_KEY: &str =
    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAAZEBRAVIOLET4711\n-----END OPENSSH PRIVATE KEY-----\n";
const WEBHOOK: &str = "webhook-hmac-zebra-violet-4711";
const KUBE_TOKEN: &str = "kube-token-zebra-violet-4711";
const VAULT_TOKEN: &str = "hvs.vault-token-zebra-violet-4711";
const APPLIANCE_PASSWORD: &str = "appliance-zebra-violet-4711";

#[actix_web::test]
async fn secrets_never_leave_through_responses_logs_metrics_or_the_database_file() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .try_init()
        .expect("this test binary's process has no other subscriber");

    let h = Harness::new().await;
    let w = world(&h).await;
    let app = app!(h);
    let pa = w.a.scope.project_id();
    let mut seen = String::new();
    let mut call = |resp: Resp| {
        seen.push_str(&resp.text);
        seen.push_str(&format!("{:?}", resp.headers));
        resp
    };

    let user = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/users")
                .acting_as(&w.owner)
                .json(json!({ "email": "new@acme.test", "password": PASSWORD })),
        )
        .await,
    );
    assert_eq!(user.status, 201, "{user:?}");
    let login = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/auth/login")
                .json(json!({ "email": "new@acme.test", "password": PASSWORD })),
        )
        .await,
    );
    assert_eq!(login.status, 200);
    let bad_login = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/auth/login")
                .json(json!({ "email": "new@acme.test", "password": format!("{PASSWORD}x") })),
        )
        .await,
    );
    assert_eq!(bad_login.status, 401);
    let account = call(send(&app, Req::new(Method::POST, "/api/v1/acme-accounts").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "eab", "directory_url": "https://ca.test/dir", "tos_agreed": true, "eab_kid": "kid", "eab_hmac_key": EAB })))
    .await);
    assert_eq!(account.status, 201, "{account:?}");
    let credential = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "tsig", "provider": "rfc2136",
        "config": { "server": "127.0.0.1:53", "key_name": "update.", "algorithm": "hmac-sha256", "secret": TSIG } })),
        )
        .await,
    );
    assert_eq!(credential.status, 201, "{credential:?}");
    let credential_path = format!("/api/v1/dns-credentials/{}", credential.json["id"].as_str().unwrap());
    let replaced = call(
        send(
            &app,
            Req::new(Method::PATCH, credential_path.clone()).acting_as(&w.owner).json(json!({
        "config": { "server": "127.0.0.2:53", "key_name": "update.", "algorithm": "hmac-sha256", "secret": NEW_TSIG },
        "version": 1 })),
        )
        .await,
    );
    assert_eq!(replaced.status, 200, "{replaced:?}");
    // A refused update (a moved API without its key) and a test that fails at a step answer
    // without the secret either.
    let pdns = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/dns-credentials").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "pdns", "provider": "pdns",
        "config": { "api_url": "http://127.0.0.1:9", "api_key": PDNS_KEY } })),
        )
        .await,
    );
    assert_eq!(pdns.status, 201, "{pdns:?}");
    let pdns_path = format!("/api/v1/dns-credentials/{}", pdns.json["id"].as_str().unwrap());
    let moved = call(
        send(
            &app,
            Req::new(Method::PATCH, pdns_path.clone()).acting_as(&w.owner).json(json!({
        "config": { "api_url": "http://127.0.0.2:9" }, "version": 1 })),
        )
        .await,
    );
    assert_eq!(moved.status, 422, "{moved:?}");
    let zone = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/zones").acting_as(&w.owner).json(json!({
        "project_id": pa, "apex": "leak.example.test", "credential_id": pdns.json["id"] })),
        )
        .await,
    );
    assert_eq!(zone.status, 201, "{zone:?}");
    for path in [&credential_path, &pdns_path] {
        let tested = call(send(&app, Req::new(Method::POST, format!("{path}/test")).acting_as(&w.owner)).await);
        assert!(matches!(tested.status.as_u16(), 200 | 422), "{tested:?}");
    }
    let ssh = call(send(&app, Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "ssh", "type": "ssh", "config": { "host": "web1.example.com", "user": "deploy",
        "cert_path": "/etc/ssl/c.pem", "key_path": "/etc/ssl/k.pem", "host_key_sha256": "SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "private_key": SSH_KEY } })))
    .await);
    assert_eq!(ssh.status, 201, "{ssh:?}");
    let hook = call(send(&app, Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "hook", "type": "webhook", "config": { "url": "https://hooks.example.com/x", "hmac_secret": WEBHOOK } })))
    .await);
    assert_eq!(hook.status, 201, "{hook:?}");
    let kube = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "kube", "type": "kubernetes", "config": { "api_url": "https://k8s.example.com:6443",
        "namespace": "web", "secret_name": "www-tls", "token": KUBE_TOKEN } })),
        )
        .await,
    );
    assert_eq!(kube.status, 201, "{kube:?}");
    let vault = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
        "project_id": pa, "name": "vault", "type": "vault", "config": { "address": "https://vault.example.com:8200",
        "path": "tls/www", "token": VAULT_TOKEN } })),
        )
        .await,
    );
    assert_eq!(vault.status, 201, "{vault:?}");
    for (kind, config) in [
        (
            "f5",
            json!({ "url": "https://bigip.example.com", "username": "admin", "password": APPLIANCE_PASSWORD,
            "profile": "www_ssl", "object_name": "www" }),
        ),
        (
            "netscaler",
            json!({ "url": "https://adc.example.com", "username": "nsroot", "password": APPLIANCE_PASSWORD,
            "certkey": "www" }),
        ),
        (
            "iis",
            json!({ "agent_url": "https://web01.example.com:8443", "hmac_secret": APPLIANCE_PASSWORD,
            "site": "Default Web Site" }),
        ),
    ] {
        let created = call(
            send(
                &app,
                Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
            "project_id": pa, "name": kind, "type": kind, "config": config })),
            )
            .await,
        );
        assert_eq!(created.status, 201, "{kind}: {created:?}");
        assert_eq!(created.json["has_credential"], json!(true));
    }
    for (config, field) in [
        (json!({ "api_url": "https://k", "namespace": "Web", "secret_name": "x", "token": "t" }), "config.namespace"),
        (
            json!({ "api_url": "https://k", "namespace": "web", "secret_name": "x", "token": "t", "tls_endpoint": "k:0" }),
            "config.tls_endpoint",
        ),
    ] {
        let bad = call(
            send(
                &app,
                Req::new(Method::POST, "/api/v1/targets").acting_as(&w.owner).json(json!({
            "project_id": pa, "name": "bad", "type": "kubernetes", "config": config })),
            )
            .await,
        );
        assert_eq!((bad.status.as_u16(), bad.json["field"].as_str()), (422, Some(field)), "{bad:?}");
    }
    // A bad request carrying a secret in a wrongly typed field: the error must not echo it.
    let wrong = call(
        send(
            &app,
            Req::new(Method::POST, "/api/v1/users")
                .acting_as(&w.owner)
                .json(json!({ "email": "x@acme.test", "password": [PASSWORD] })),
        )
        .await,
    );
    assert_eq!(wrong.status, 400);

    for path in [
        format!("/api/v1/acme-accounts?project_id={pa}"),
        format!("/api/v1/acme-accounts/{}", account.json["id"].as_str().unwrap()),
        format!("/api/v1/dns-credentials?project_id={pa}"),
        format!("/api/v1/dns-credentials/{}", credential.json["id"].as_str().unwrap()),
        format!("/api/v1/targets?project_id={pa}"),
        format!("/api/v1/targets/{}", ssh.json["id"].as_str().unwrap()),
        "/api/v1/users".to_owned(),
        "/api/v1/auth/me".to_owned(),
    ] {
        let resp = call(send(&app, Req::get(&path).acting_as(&w.owner)).await);
        assert_eq!(resp.status, 200, "{path}: {resp:?}");
    }
    assert_eq!(account.json["has_eab_hmac_key"], json!(true));
    assert_eq!(credential.json["has_secret"], json!(true));
    assert_eq!(ssh.json["has_credential"], json!(true));

    let metrics = crate::metrics::render(
        &h.metrics,
        Some(&(h.store.clone() as Arc<dyn certautopilot_core::store::Store>)),
        &Default::default(),
        crate::service::health::SchedulerWatch {
            absent_after: std::time::Duration::from_secs(300),
            started: certautopilot_core::Timestamp::now(),
        },
    )
    .await;
    assert!(metrics.contains("certautopilot_http_requests_total"));
    // Let the writer commit and checkpoint nothing away: read the file and its WAL as they are.
    let mut db = Vec::new();
    for entry in std::fs::read_dir(h.dir.path()).unwrap() {
        db.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(logs.contains("login failed"), "the log capture works");
    for secret in [
        PASSWORD,
        EAB,
        TSIG,
        NEW_TSIG,
        PDNS_KEY,
        SSH_KEY.lines().nth(1).unwrap(),
        WEBHOOK,
        KUBE_TOKEN,
        VAULT_TOKEN,
        APPLIANCE_PASSWORD,
    ] {
        assert!(!seen.contains(secret), "a response contains {secret:?}");
        assert!(!logs.contains(secret), "the log contains {secret:?}");
        assert!(!metrics.contains(secret), "the metrics contain {secret:?}");
        assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()), "the database file contains {secret:?}");
    }
}
