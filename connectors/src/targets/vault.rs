//! The `vault` target, token in `X-Vault-Token`, in one of two modes:
//! - `kv` (default): a KV version 2 secret, `POST /v1/{mount}/data/{path}` with `{"data": {...}}`;
//! - `pki`: an import into a PKI mount, `POST /v1/{mount}/issuers/import/bundle` with the chain and
//!   the key as `pem_bundle` (Vault keeps the key and the certificates as issuer material).
//!
//! Vault's errors come as `{"errors": [...]}`; a sealed Vault answers 503, which is worth retrying.

use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, Reach, send};
use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;

pub struct VaultTarget {
    /// `https://vault:8200`.
    pub address: String,
    /// The KV v2 mount, `secret` by default.
    pub mount: String,
    pub path: String,
    /// Import into a PKI mount instead of writing a KV secret (`path` is then unused).
    pub pki: bool,
    pub token: SecretBytes,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl VaultTarget {
    fn reach(&self) -> Reach<'_> {
        Reach { ca_pem: self.ca_pem.as_deref(), timeout: self.timeout, egress: &self.egress }
    }

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

    async fn import_pki(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let what = format!("vault pki mount {}", self.mount);
        let url =
            format!("{}/v1/{}/issuers/import/bundle", self.address.trim_end_matches('/'), self.mount.trim_matches('/'));
        let bundle = format!("{}\n{}", d.chain_pem.trim_end(), d.key()?.expose_str().unwrap_or_default());
        let body = json!({ "pem_bundle": bundle });
        let answer = send(&what, http::Method::POST, &url, &self.auth(), Payload::Json(&body), self.reach()).await?;
        if answer.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: no PKI mount {}", self.mount)));
        }
        let issuers = answer.body["data"]["imported_issuers"].as_array().map(Vec::len).unwrap_or(0);
        Ok(DeployReport { summary: format!("{what}: imported ({issuers} new issuers)"), reload: None })
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        if self.pki {
            return self.import_pki(d).await;
        }
        let what = format!("vault {}/{}", self.mount, self.path);
        let body = json!({ "data": {
            "certificate": d.chain_pem,
            "private_key": d.key()?.expose_str().unwrap_or_default(),
            "serial": d.serial,
            "not_after": d.not_after,
            "fingerprint_sha256": d.fingerprint_sha256,
        } });
        let written =
            send(&what, http::Method::POST, &self.url(), &self.auth(), Payload::Json(&body), self.reach()).await?;
        if written.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: no KV v2 mount {}", self.mount)));
        }
        let version = written.body["data"]["version"].as_u64().map(|v| format!(" (version {v})")).unwrap_or_default();
        Ok(DeployReport { summary: format!("{what} written{version}"), reload: None })
    }

    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        if self.pki {
            return Err(DeployError::Permanent(
                "a PKI import cannot be read back; give the target a tls_endpoint to scan".into(),
            ));
        }
        let what = format!("vault {}/{}", self.mount, self.path);
        let read = send(&what, http::Method::GET, &self.url(), &self.auth(), Payload::None, self.reach()).await?;
        if read.status == 404 {
            return Ok(None);
        }
        let pem = read.body["data"]["data"]["certificate"].as_str().unwrap_or_default();
        Ok(crate::x509::leaf_summary(pem, None).ok().map(|l| l.fingerprint_sha256))
    }
}
