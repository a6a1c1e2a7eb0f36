//! The `f5` target (BIG-IP iControl REST): upload the chain and the key
//! (`POST /mgmt/shared/file-transfer/uploads/{file}` with `Content-Range`), install them as crypto
//! objects in the partition (`POST /mgmt/tm/sys/crypto/cert` and `…/key`, `command: install`), then
//! point the client-SSL profile at them (`PATCH /mgmt/tm/ltm/profile/client-ssl/~{partition}~{profile}`).
//! Objects are named per serial so the profile switches from one complete pair to the next.

use std::time::Duration;

use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, Reach, send};
use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;

pub struct F5Target {
    /// `https://bigip.example.com`.
    pub url: String,
    pub username: String,
    pub password: SecretBytes,
    pub partition: String,
    pub profile: String,
    /// Base name of the crypto objects (`www` → `www_<serial>.crt`).
    pub object_name: String,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl F5Target {
    fn reach(&self) -> Reach<'_> {
        Reach { ca_pem: self.ca_pem.as_deref(), timeout: self.timeout, egress: &self.egress }
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            self.username,
            self.password.expose_str().unwrap_or_default()
        ));
        vec![("authorization", format!("Basic {basic}"))]
    }

    async fn upload(&self, name: &str, bytes: &[u8]) -> Result<(), DeployError> {
        let url = format!("{}/mgmt/shared/file-transfer/uploads/{name}", self.url.trim_end_matches('/'));
        let mut headers = self.auth();
        headers.push(("content-range", format!("0-{}/{}", bytes.len().saturating_sub(1), bytes.len())));
        let what = format!("f5 upload {name}");
        let answer = send(
            &what,
            http::Method::POST,
            &url,
            &headers,
            Payload::Bytes(bytes, "application/octet-stream"),
            self.reach(),
        )
        .await?;
        if answer.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: the file-transfer endpoint was not found")));
        }
        Ok(())
    }

    async fn call(
        &self,
        what: &str,
        method: http::Method,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<(), DeployError> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let answer = send(what, method, &url, &self.auth(), Payload::Json(body), self.reach()).await?;
        if answer.status == 404 {
            // iControl's own message names the missing object; it is the appliance's text, so it
            // goes to the debug log only.
            crate::failure::log_remote_detail(what, &answer.detail);
            return Err(DeployError::Permanent(format!("{what}: not found (404)")));
        }
        Ok(())
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let name = format!("{}_{}", self.object_name, d.serial);
        let (crt, key) = (format!("{name}.crt"), format!("{name}.key"));
        self.upload(&crt, d.chain_pem.as_bytes()).await?;
        self.upload(&key, d.key()?.expose()).await?;
        let local = |file: &str| format!("/var/config/rest/downloads/{file}");
        self.call(
            "f5 install certificate",
            http::Method::POST,
            "/mgmt/tm/sys/crypto/cert",
            &json!({ "command": "install", "name": crt, "partition": self.partition, "from-local-file": local(&crt) }),
        )
        .await?;
        self.call(
            "f5 install key",
            http::Method::POST,
            "/mgmt/tm/sys/crypto/key",
            &json!({ "command": "install", "name": key, "partition": self.partition, "from-local-file": local(&key) }),
        )
        .await?;
        let object = |file: &str| format!("/{}/{file}", self.partition);
        self.call(
            "f5 update client-ssl profile",
            http::Method::PATCH,
            &format!("/mgmt/tm/ltm/profile/client-ssl/~{}~{}", self.partition, self.profile),
            &json!({ "certKeyChain": [{ "name": "default", "cert": object(&crt), "key": object(&key), "chain": object(&crt) }] }),
        )
        .await?;
        Ok(DeployReport {
            summary: format!("installed {crt} and {key} in /{} and set profile {}", self.partition, self.profile),
            reload: None,
        })
    }
}
