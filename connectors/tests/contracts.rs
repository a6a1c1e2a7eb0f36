//! Targets whose systems cannot run here, each against a stand-in that implements the documented
//! requests and error answers: the happy path, a refused credential, and a server error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::targets::{DeployError, KubernetesTarget, VaultTarget};
use certautopilot_connectors::testsupport::{StandIn, sample_deployable};
use certautopilot_core::crypto::SecretBytes;
use serde_json::{Value, json};

const TOKEN: &str = "s3cr3t-token";

/// The Kubernetes API server's Secret endpoints: bearer auth (401 Status otherwise), 404 for a
/// missing Secret, create, and replace guarded by resourceVersion (409 when stale); `down` answers
/// 503 to everything.
fn kube_api(down: Arc<Mutex<bool>>) -> StandIn {
    let stored: Arc<Mutex<Option<Value>>> = Arc::default();
    StandIn::start(move |r| {
        let status = |code: u16, reason: &str| {
            (code, json!({ "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason, "code": code }))
        };
        if *down.lock().unwrap() {
            return status(503, "ServiceUnavailable");
        }
        if r.header("authorization") != Some(&format!("Bearer {TOKEN}")) {
            return status(401, "Unauthorized");
        }
        let mut stored = stored.lock().unwrap();
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/api/v1/namespaces/web/secrets/www-tls") => match &*stored {
                Some(secret) => (200, secret.clone()),
                None => status(404, "NotFound"),
            },
            ("POST", "/api/v1/namespaces/web/secrets") if stored.is_none() => {
                let mut secret = r.body.clone();
                secret["metadata"]["resourceVersion"] = json!("1");
                *stored = Some(secret.clone());
                (201, secret)
            }
            ("PUT", "/api/v1/namespaces/web/secrets/www-tls") => {
                let current = stored.as_ref().map(|s| s["metadata"]["resourceVersion"].clone());
                if current != Some(r.body["metadata"]["resourceVersion"].clone()) {
                    return status(409, "Conflict");
                }
                let next: u64 = current.and_then(|v| v.as_str()?.parse().ok()).unwrap_or(0) + 1;
                let mut secret = r.body.clone();
                secret["metadata"]["resourceVersion"] = json!(next.to_string());
                *stored = Some(secret.clone());
                (200, secret)
            }
            _ => status(404, "NotFound"),
        }
    })
}

fn kube(api: &StandIn, token: &str) -> KubernetesTarget {
    KubernetesTarget {
        api_url: api.url(),
        namespace: "web".into(),
        secret_name: "www-tls".into(),
        token: SecretBytes::from_text(token),
        ca_pem: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn kubernetes_secret_created_replaced_refused_and_unavailable() {
    let down = Arc::new(Mutex::new(false));
    let api = kube_api(down.clone());
    let target = kube(&api, TOKEN);
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert!(target.deploy(&d).await.unwrap().summary.ends_with("created"));
    assert!(target.deploy(&d).await.unwrap().summary.ends_with("replaced"));
    let requests = api.requests();
    let methods: Vec<&str> = requests.iter().map(|r| r.method.as_str()).collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PUT"]);
    let secret = &requests[3].body;
    assert_eq!(secret["type"], json!("kubernetes.io/tls"));
    assert_eq!(secret["metadata"]["resourceVersion"], json!("1"), "the replace names the version it read");
    let crt = base64::engine::general_purpose::STANDARD.decode(secret["data"]["tls.crt"].as_str().unwrap()).unwrap();
    assert_eq!(String::from_utf8(crt).unwrap(), d.chain_pem);

    let err = kube(&api, "wrong").deploy(&d).await.unwrap_err();
    assert!(matches!(&err, DeployError::Permanent(m) if m.contains("credential was refused (401)")), "{err}");
    assert!(!err.to_string().contains("wrong"), "the token never appears in errors");

    *down.lock().unwrap() = true;
    let err = target.deploy(&d).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("503"), "{err}");
}

/// Vault's KV v2 write and read: `X-Vault-Token` (403 `{"errors":["permission denied"]}` otherwise),
/// versions counting up, 503 while sealed.
fn vault_api(sealed: Arc<Mutex<bool>>) -> StandIn {
    let versions: Arc<Mutex<Vec<Value>>> = Arc::default();
    StandIn::start(move |r| {
        if *sealed.lock().unwrap() {
            return (503, json!({ "errors": ["Vault is sealed"] }));
        }
        if r.header("x-vault-token") != Some(TOKEN) {
            return (403, json!({ "errors": ["permission denied"] }));
        }
        let mut versions = versions.lock().unwrap();
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1/secret/data/tls/www") => {
                versions.push(r.body["data"].clone());
                (200, json!({ "data": { "version": versions.len(), "destroyed": false } }))
            }
            ("GET", "/v1/secret/data/tls/www") => match versions.last() {
                Some(data) => (200, json!({ "data": { "data": data, "metadata": { "version": versions.len() } } })),
                None => (404, json!({ "errors": [] })),
            },
            _ => (404, json!({ "errors": [] })),
        }
    })
}

fn vault(api: &StandIn, token: &str) -> VaultTarget {
    VaultTarget {
        address: api.url(),
        mount: "secret".into(),
        path: "tls/www".into(),
        token: SecretBytes::from_text(token),
        ca_pem: None,
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn vault_kv_written_refused_and_sealed() {
    let sealed = Arc::new(Mutex::new(false));
    let api = vault_api(sealed.clone());
    let target = vault(&api, TOKEN);
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert_eq!(target.deployed_fingerprint().await.unwrap(), None, "nothing there yet");
    assert!(target.deploy(&d).await.unwrap().summary.contains("(version 1)"));
    assert!(target.deploy(&d).await.unwrap().summary.contains("(version 2)"));
    let written = &api.requests()[1].body["data"];
    assert_eq!((written["certificate"].as_str(), written["serial"].as_str()), (Some(d.chain_pem.as_str()), Some("01")));

    let err = vault(&api, "nope").deploy(&d).await.unwrap_err();
    assert!(matches!(&err, DeployError::Permanent(m) if m.contains("permission denied")), "{err}");

    *sealed.lock().unwrap() = true;
    let err = target.deploy(&d).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("sealed"), "{err}");
}
