//! The `vault` target: the certificate written to a KV version 2 secret
//! (`POST /v1/{mount}/data/{path}` with `{"data": {...}}`, token in `X-Vault-Token`). Vault's errors
//! come as `{"errors": [...]}`; a sealed Vault answers 503, which is worth retrying. (Importing into
//! a PKI mount is a different operation, for CA bundles; this target stores leaf certificates.)

use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, send};
use super::{DeployError, DeployReport, Deployable};

pub struct VaultTarget {
    /// `https://vault:8200`.
    pub address: String,
    /// The KV v2 mount, `secret` by default.
    pub mount: String,
    pub path: String,
    pub token: SecretBytes,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
}

impl VaultTarget {
    fn url(&self) -> String {
        format!(
            "{}/v1/{}/data/{}",
            self.address.trim_end_matches('/'),
            self.mount.trim_matches('/'),
            self.path.trim_matches('/')
        )
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        vec![("x-vault-token", self.token.expose_str().unwrap_or_default().trim().to_owned())]
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let what = format!("vault {}/{}", self.mount, self.path);
        let body = json!({ "data": {
            "certificate": d.chain_pem,
            "private_key": d.key_pem.expose_str().unwrap_or_default(),
            "serial": d.serial,
            "not_after": d.not_after,
            "fingerprint_sha256": d.fingerprint_sha256,
        } });
        let written = send(
            &what,
            http::Method::POST,
            &self.url(),
            &self.auth(),
            Payload::Json(&body),
            self.ca_pem.as_deref(),
            self.timeout,
        )
        .await?;
        if written.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: no KV v2 mount {}", self.mount)));
        }
        let version = written.body["data"]["version"].as_u64().map(|v| format!(" (version {v})")).unwrap_or_default();
        Ok(DeployReport { summary: format!("{what} written{version}"), reload: None })
    }

    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let what = format!("vault {}/{}", self.mount, self.path);
        let read = send(
            &what,
            http::Method::GET,
            &self.url(),
            &self.auth(),
            Payload::None,
            self.ca_pem.as_deref(),
            self.timeout,
        )
        .await?;
        if read.status == 404 {
            return Ok(None);
        }
        let pem = read.body["data"]["data"]["certificate"].as_str().unwrap_or_default();
        Ok(crate::x509::leaf_summary(pem, None).ok().map(|l| l.fingerprint_sha256))
    }
}
