//! The `netscaler` target (Citrix ADC NITRO API): upload the chain and the key as system files
//! (`POST /nitro/v1/config/systemfile`, base64, into `/nsconfig/ssl/`), then update the certkey to
//! them (`POST /nitro/v1/config/sslcertkey?action=update`). Credentials go in `X-NITRO-USER` and
//! `X-NITRO-PASS`. Files are named per serial: NITRO refuses to overwrite a file (errorcode 1642).

use std::time::Duration;

use base64::Engine;
use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, Reach, send};
use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;

pub struct NetscalerTarget {
    /// `https://adc.example.com`.
    pub url: String,
    pub username: String,
    pub password: SecretBytes,
    /// The certkey object bound to the vservers.
    pub certkey: String,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl NetscalerTarget {
    fn reach(&self) -> Reach<'_> {
        Reach { ca_pem: self.ca_pem.as_deref(), timeout: self.timeout, egress: &self.egress }
    }

    fn auth(&self) -> Vec<(&'static str, String)> {
        vec![
            ("x-nitro-user", self.username.clone()),
            ("x-nitro-pass", self.password.expose_str().unwrap_or_default().to_owned()),
        ]
    }

    async fn post(&self, what: &str, path: &str, body: &serde_json::Value) -> Result<(), DeployError> {
        let url = format!("{}{path}", self.url.trim_end_matches('/'));
        let answer = send(what, http::Method::POST, &url, &self.auth(), Payload::Json(body), self.reach()).await?;
        if answer.status == 404 {
            crate::failure::log_remote_detail(what, &answer.detail);
            return Err(DeployError::Permanent(format!("{what}: not found (404)")));
        }
        if let Some(code) = answer.body["errorcode"].as_i64().filter(|c| *c != 0) {
            // The NITRO error code is a number from a documented table; the message beside it is
            // the appliance's text and goes to the debug log only.
            crate::failure::log_remote_detail(what, &answer.detail);
            return Err(DeployError::Permanent(format!("{what}: NITRO error {code}")));
        }
        Ok(())
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let base = format!("{}_{}", self.certkey, d.serial);
        let (crt, key) = (format!("{base}.crt"), format!("{base}.key"));
        for (file, bytes) in [(&crt, d.chain_pem.as_bytes()), (&key, d.key()?.expose())] {
            let body = json!({ "systemfile": { "filename": file, "filelocation": "/nsconfig/ssl/",
                "filecontent": b64(bytes), "fileencoding": "BASE64" } });
            self.post(&format!("netscaler upload {file}"), "/nitro/v1/config/systemfile", &body).await?;
        }
        let body = json!({ "sslcertkey": { "certkey": self.certkey, "cert": crt, "key": key, "nodomaincheck": true } });
        self.post("netscaler update certkey", "/nitro/v1/config/sslcertkey?action=update", &body).await?;
        Ok(DeployReport { summary: format!("certkey {} now uses {crt}", self.certkey), reload: None })
    }
}
