//! The `iis` target, as an agent contract rather than WinRM: a small agent on the Windows host
//! (`POST {agent_url}/certificates`) receives the chain and the key over HTTPS, signed like the
//! webhook target (HMAC-SHA256 over timestamp and body), imports them into the machine store and
//! binds them to the site; it answers `{"thumbprint": …}`. WinRM would need NTLM or Kerberos and
//! PowerShell remoting open on every server; an agent needs one outbound-reachable port and no
//! domain credentials in this service. The contract is in docs/distribution.md.

use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use serde_json::json;

use super::http::{Payload, Reach, send};
use super::webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, signature};
use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;

pub struct IisTarget {
    /// `https://web01.example.com:8443`.
    pub agent_url: String,
    pub secret: SecretBytes,
    pub site: String,
    /// `*:443`, or `host:port` for an SNI binding.
    pub binding: String,
    pub ca_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl IisTarget {
    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let body = json!({
            "site": self.site,
            "binding": self.binding,
            "store": "WebHosting",
            "certificate_id": d.certificate_id,
            "serial": d.serial,
            "not_after": d.not_after,
            "fingerprint_sha256": d.fingerprint_sha256,
            "chain_pem": d.chain_pem,
            "private_key_pem": d.key()?.expose_str().unwrap_or_default(),
        });
        let bytes = serde_json::to_vec(&body).map_err(|e| DeployError::Permanent(e.to_string()))?;
        let timestamp = certautopilot_core::Timestamp::now().as_unix_millis().div_euclid(1_000).to_string();
        let headers = vec![
            (TIMESTAMP_HEADER, timestamp.clone()),
            (SIGNATURE_HEADER, signature(self.secret.expose(), &timestamp, &bytes)),
        ];
        let url = format!("{}/certificates", self.agent_url.trim_end_matches('/'));
        let what = format!("iis agent {}", self.agent_url);
        let answer = send(
            &what,
            http::Method::POST,
            &url,
            &headers,
            Payload::Bytes(&bytes, "application/json"),
            Reach { ca_pem: self.ca_pem.as_deref(), timeout: self.timeout, egress: &self.egress },
        )
        .await?;
        if answer.status == 404 {
            return Err(DeployError::Permanent(format!("{what}: no certificates endpoint (is the agent installed?)")));
        }
        // The agent's thumbprint goes into the record only when it is what a thumbprint looks
        // like (hex), so an answer cannot put arbitrary text there.
        let thumbprint = answer.body["thumbprint"]
            .as_str()
            .filter(|t| !t.is_empty() && t.len() <= 128 && t.chars().all(|c| c.is_ascii_hexdigit()))
            .unwrap_or("?");
        Ok(DeployReport {
            summary: format!("{what} bound {} on {} (thumbprint {thumbprint})", self.binding, self.site),
            reload: None,
        })
    }
}
