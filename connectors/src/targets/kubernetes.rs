//! The `kubernetes` target: a `kubernetes.io/tls` Secret in a namespace, created or replaced through
//! the API server with a bearer token (a service account's) and the cluster's CA.
//! `GET /api/v1/namespaces/{ns}/secrets/{name}`: 404 → `POST …/secrets`; found → `PUT` with its
//! `resourceVersion`, so a concurrent change is refused (409) rather than overwritten.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, Reach, send};
use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;

pub struct KubernetesTarget {
    /// `https://host:port` of the API server.
    pub api_url: String,
    pub namespace: String,
    pub secret_name: String,
    pub token: SecretBytes,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl KubernetesTarget {
    fn reach(&self) -> Reach<'_> {
        Reach { ca_pem: self.ca_pem.as_deref(), timeout: self.timeout, egress: &self.egress }
    }

    fn url(&self, name: Option<&str>) -> String {
        let base = format!("{}/api/v1/namespaces/{}/secrets", self.api_url.trim_end_matches('/'), self.namespace);
        match name {
            Some(n) => format!("{base}/{n}"),
            None => base,
        }
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        vec![("authorization", format!("Bearer {}", self.token.expose_str().unwrap_or_default().trim()))]
    }

    fn what(&self) -> String {
        format!("kubernetes secret {}/{}", self.namespace, self.secret_name)
    }

    /// The Secret as the API server has it (404 when there is none).
    async fn current(&self) -> Result<super::http::JsonResponse, DeployError> {
        let url = self.url(Some(&self.secret_name));
        send(&self.what(), http::Method::GET, &url, &self.auth(), Payload::None, self.reach()).await
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let what = self.what();
        let current = self.current().await?;
        let mut secret = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/tls",
            "metadata": {
                "name": self.secret_name,
                "namespace": self.namespace,
                "annotations": { "certautopilot.io/certificate-id": d.certificate_id, "certautopilot.io/serial": d.serial },
            },
            "data": { "tls.crt": B64.encode(&d.chain_pem), "tls.key": B64.encode(d.key()?.expose()) },
        });
        let (method, url, verb) = if current.status == 404 {
            (http::Method::POST, self.url(None), "created")
        } else {
            secret["metadata"]["resourceVersion"] = current.body["metadata"]["resourceVersion"].clone();
            (http::Method::PUT, self.url(Some(&self.secret_name)), "replaced")
        };
        let written = send(&what, method, &url, &self.auth(), Payload::Json(&secret), self.reach()).await?;
        if written.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: namespace {} not found", self.namespace)));
        }
        Ok(DeployReport { summary: format!("{what} {verb}"), reload: None })
    }

    /// The fingerprint of the leaf in the Secret's `tls.crt`, if the Secret exists.
    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let current = self.current().await?;
        if current.status == 404 {
            return Ok(None);
        }
        let pem = current.body["data"]["tls.crt"].as_str().and_then(|b| B64.decode(b).ok()).unwrap_or_default();
        Ok(crate::x509::leaf_summary(&String::from_utf8_lossy(&pem), None).ok().map(|l| l.fingerprint_sha256))
    }
}
