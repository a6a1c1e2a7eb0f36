//! Targets whose systems cannot run here, each against a stand-in that implements the documented
//! requests and error answers: the happy path, a refused credential, and a server error.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use certautopilot_connectors::egress::EgressPolicy;
use certautopilot_connectors::targets::{
    DeployError, F5Target, IisTarget, KubernetesTarget, NetscalerTarget, SIGNATURE_HEADER, TIMESTAMP_HEADER,
    VaultTarget, signature,
};
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
        egress: EgressPolicy::allowing_loopback(),
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
        pki: false,
        token: SecretBytes::from_text(token),
        ca_pem: None,
        timeout: Duration::from_secs(5),
        egress: EgressPolicy::allowing_loopback(),
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
    assert!(matches!(&err, DeployError::Permanent(m) if m.contains("credential was refused (403)")), "{err}");
    assert!(!err.to_string().contains("permission denied"), "Vault's own words are not reflected: {err}");

    *sealed.lock().unwrap() = true;
    let err = target.deploy(&d).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("http 503 from the target"), "{err}");
    assert!(!err.to_string().contains("sealed"), "Vault's own words are not reflected: {err}");
}

/// BIG-IP iControl REST: Basic auth (401 `{"code":401,"message":"Authentication failed."}`), the
/// file-transfer upload with `Content-Range`, installing crypto objects from the uploaded files
/// (400 when the file is not there), and the client-SSL profile PATCH; `busy` answers 503.
fn bigip(busy: Arc<Mutex<bool>>) -> StandIn {
    let uploaded: Arc<Mutex<Vec<String>>> = Arc::default();
    let basic = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("admin:{TOKEN}")));
    StandIn::start(move |r| {
        if *busy.lock().unwrap() {
            return (503, json!({ "code": 503, "message": "Service Unavailable" }));
        }
        if r.header("authorization") != Some(basic.as_str()) {
            return (401, json!({ "code": 401, "message": "Authentication failed." }));
        }
        let mut uploaded = uploaded.lock().unwrap();
        if let Some(file) = r.path.strip_prefix("/mgmt/shared/file-transfer/uploads/") {
            assert!(r.header("content-range").is_some_and(|c| c.starts_with("0-")), "Content-Range is required");
            uploaded.push(file.to_owned());
            return (200, json!({ "remainingByteCount": 0 }));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/mgmt/tm/sys/crypto/cert" | "/mgmt/tm/sys/crypto/key") => {
                let from = r.body["from-local-file"].as_str().unwrap_or_default();
                match from.strip_prefix("/var/config/rest/downloads/") {
                    Some(file) if uploaded.iter().any(|u| u == file) => (200, json!({ "command": "install" })),
                    _ => (400, json!({ "code": 400, "message": format!("File not found: {from}") })),
                }
            }
            ("PATCH", "/mgmt/tm/ltm/profile/client-ssl/~Common~www_ssl") => (200, r.body.clone()),
            _ => (
                404,
                json!({ "code": 404, "message": format!("01020036:3: The requested object was not found ({})", r.path) }),
            ),
        }
    })
}

fn f5(api: &StandIn, password: &str, profile: &str) -> F5Target {
    F5Target {
        url: api.url(),
        username: "admin".into(),
        password: SecretBytes::from_text(password),
        partition: "Common".into(),
        profile: profile.into(),
        object_name: "www".into(),
        ca_pem: None,
        timeout: Duration::from_secs(5),
        egress: EgressPolicy::allowing_loopback(),
    }
}

#[tokio::test]
async fn f5_uploads_installs_and_switches_the_profile() {
    let busy = Arc::new(Mutex::new(false));
    let api = bigip(busy.clone());
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    f5(&api, TOKEN, "www_ssl").deploy(&d).await.unwrap();
    let paths: Vec<String> = api.requests().iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        paths,
        [
            "POST /mgmt/shared/file-transfer/uploads/www_01.crt",
            "POST /mgmt/shared/file-transfer/uploads/www_01.key",
            "POST /mgmt/tm/sys/crypto/cert",
            "POST /mgmt/tm/sys/crypto/key",
            "PATCH /mgmt/tm/ltm/profile/client-ssl/~Common~www_ssl",
        ]
    );
    let profile = &api.requests()[4].body;
    assert_eq!(profile["certKeyChain"][0]["cert"], json!("/Common/www_01.crt"));
    assert_eq!(profile["certKeyChain"][0]["key"], json!("/Common/www_01.key"));

    let err = f5(&api, "wrong", "www_ssl").deploy(&d).await.unwrap_err();
    assert!(matches!(&err, DeployError::Permanent(m) if m.contains("credential was refused (401)")), "{err}");
    assert!(!err.to_string().contains("Authentication failed"), "{err}");
    let err = f5(&api, TOKEN, "no_such_profile").deploy(&d).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("not found"), "{err}");
    *busy.lock().unwrap() = true;
    assert!(f5(&api, TOKEN, "www_ssl").deploy(&d).await.unwrap_err().is_transient());
}

/// NetScaler NITRO: `X-NITRO-USER`/`X-NITRO-PASS` (401 errorcode 354), system files that may not be
/// overwritten (errorcode 1642), the certkey update; `busy` answers 503.
fn nitro(busy: Arc<Mutex<bool>>) -> StandIn {
    let files: Arc<Mutex<Vec<String>>> = Arc::default();
    StandIn::start(move |r| {
        if *busy.lock().unwrap() {
            return (503, json!({ "errorcode": 503, "message": "Service Unavailable", "severity": "ERROR" }));
        }
        if r.header("x-nitro-user") != Some("nsroot") || r.header("x-nitro-pass") != Some(TOKEN) {
            return (401, json!({ "errorcode": 354, "message": "Invalid username or password", "severity": "ERROR" }));
        }
        let mut files = files.lock().unwrap();
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/nitro/v1/config/systemfile") => {
                let name = r.body["systemfile"]["filename"].as_str().unwrap_or_default().to_owned();
                assert_eq!(r.body["systemfile"]["fileencoding"], json!("BASE64"));
                if files.contains(&name) {
                    return (409, json!({ "errorcode": 1642, "message": "File already exists", "severity": "ERROR" }));
                }
                files.push(name);
                (201, json!({ "errorcode": 0, "message": "Done", "severity": "NONE" }))
            }
            ("POST", "/nitro/v1/config/sslcertkey?action=update") => {
                let cert = r.body["sslcertkey"]["cert"].as_str().unwrap_or_default();
                if !files.iter().any(|f| f == cert) {
                    return (
                        599,
                        json!({ "errorcode": 1540, "message": "Certificate does not exist", "severity": "ERROR" }),
                    );
                }
                (200, json!({ "errorcode": 0, "message": "Done", "severity": "NONE" }))
            }
            _ => (404, json!({ "errorcode": 258, "message": "No such resource", "severity": "ERROR" })),
        }
    })
}

fn netscaler(api: &StandIn, password: &str) -> NetscalerTarget {
    NetscalerTarget {
        url: api.url(),
        username: "nsroot".into(),
        password: SecretBytes::from_text(password),
        certkey: "www".into(),
        ca_pem: None,
        timeout: Duration::from_secs(5),
        egress: EgressPolicy::allowing_loopback(),
    }
}

#[tokio::test]
async fn netscaler_uploads_and_updates_the_certkey() {
    let busy = Arc::new(Mutex::new(false));
    let api = nitro(busy.clone());
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert_eq!(netscaler(&api, TOKEN).deploy(&d).await.unwrap().summary, "certkey www now uses www_01.crt");
    let update = &api.requests()[2].body["sslcertkey"];
    assert_eq!((update["cert"].as_str(), update["key"].as_str()), (Some("www_01.crt"), Some("www_01.key")));
    let err = netscaler(&api, TOKEN).deploy(&d).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("http 409"), "the same serial twice: {err}");
    assert!(!err.to_string().contains("File already exists"), "{err}");
    let err = netscaler(&api, "wrong").deploy(&d).await.unwrap_err();
    assert!(matches!(&err, DeployError::Permanent(m) if m.contains("credential was refused (401)")), "{err}");
    assert!(!err.to_string().contains("Invalid username"), "{err}");
    *busy.lock().unwrap() = true;
    assert!(netscaler(&api, TOKEN).deploy(&d).await.unwrap_err().is_transient());
}

/// The IIS agent contract: the signature checked (401 otherwise), the import answered with the
/// thumbprint; 500 while the agent fails.
#[tokio::test]
async fn iis_agent_gets_a_signed_import() {
    let failing = Arc::new(Mutex::new(false));
    let flag = failing.clone();
    let agent = StandIn::start(move |r| {
        if *flag.lock().unwrap() {
            return (500, json!({ "error": "import failed: keyset does not exist" }));
        }
        let body = serde_json::to_vec(&r.body).unwrap();
        let expected = signature(TOKEN.as_bytes(), r.header(TIMESTAMP_HEADER).unwrap_or_default(), &body);
        if r.header(SIGNATURE_HEADER) != Some(expected.as_str()) || r.path != "/certificates" {
            return (401, json!({ "error": "bad signature" }));
        }
        (200, json!({ "thumbprint": "3A7B" }))
    });
    let target = |secret: &str| IisTarget {
        agent_url: agent.url(),
        secret: SecretBytes::from_text(secret),
        site: "Default Web Site".into(),
        binding: "*:443".into(),
        ca_pem: None,
        timeout: Duration::from_secs(5),
        egress: EgressPolicy::allowing_loopback(),
    };
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert!(target(TOKEN).deploy(&d).await.unwrap().summary.contains("thumbprint 3A7B"));
    assert_eq!(agent.requests()[0].body["site"], json!("Default Web Site"));
    let err = target("not-the-secret").deploy(&d).await.unwrap_err();
    assert!(!err.is_transient() && err.to_string().contains("401"), "{err}");
    *failing.lock().unwrap() = true;
    let err = target(TOKEN).deploy(&d).await.unwrap_err();
    assert!(err.is_transient() && err.to_string().contains("http 500 from the target"), "{err}");
    assert!(!err.to_string().contains("keyset"), "the agent's own words are not reflected: {err}");
}

/// Vault's PKI bundle import: the chain and key as one `pem_bundle`, answered with the imported
/// issuers; a bundle without a key is refused with 400 as Vault does.
#[tokio::test]
async fn vault_pki_import() {
    let api = StandIn::start(|r| {
        if r.header("x-vault-token") != Some(TOKEN) {
            return (403, json!({ "errors": ["permission denied"] }));
        }
        match (r.method.as_str(), r.path.as_str()) {
            ("POST", "/v1/pki/issuers/import/bundle") => {
                let bundle = r.body["pem_bundle"].as_str().unwrap_or_default();
                if !bundle.contains("PRIVATE KEY") {
                    return (400, json!({ "errors": ["no key found in the bundle"] }));
                }
                (200, json!({ "data": { "imported_issuers": ["0d9a"], "imported_keys": ["c3f1"] } }))
            }
            _ => (404, json!({ "errors": [] })),
        }
    });
    let target = VaultTarget { mount: "pki".into(), pki: true, ..vault(&api, TOKEN) };
    let d = sample_deployable("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
    assert!(target.deploy(&d).await.unwrap().summary.contains("imported (1 new issuers)"));
    let bundle = api.requests()[0].body["pem_bundle"].as_str().unwrap().to_owned();
    assert!(bundle.contains("BEGIN CERTIFICATE") && bundle.contains("PRIVATE KEY"));
    let err = VaultTarget { mount: "pki".into(), pki: true, ..vault(&api, "nope") }.deploy(&d).await.unwrap_err();
    assert!(err.to_string().contains("credential was refused (403)"), "{err}");
}
