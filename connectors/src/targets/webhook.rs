//! The `webhook` target: one POST of a JSON document with the chain (and the key only when the
//! target says so), signed with HMAC-SHA256 over the timestamp and the body so the receiver can
//! check who sent it and refuse replays. 5xx and no answer are transient; other refusals are not.

use std::time::Duration;

use bytes::Bytes;
use certautopilot_core::crypto::SecretBytes;
use hmac::{KeyInit, Mac};
use http_body_util::{BodyExt, Full};
use serde_json::json;

use super::{DeployError, DeployReport, Deployable};
use crate::egress::{EgressHttpConnector, EgressPolicy};

pub const SIGNATURE_HEADER: &str = "x-certautopilot-signature";
pub const TIMESTAMP_HEADER: &str = "x-certautopilot-timestamp";

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn signature(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    let tag = mac.finalize().into_bytes();
    format!("sha256={}", tag.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

pub struct WebhookTarget {
    pub url: String,
    pub secret: SecretBytes,
    pub include_private_key: bool,
    /// Extra roots to trust for an https receiver (private CAs, tests).
    pub extra_roots_pem: Option<String>,
    pub timeout: Duration,
    /// Where this target may connect (`[egress]`).
    pub egress: EgressPolicy,
}

impl WebhookTarget {
    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let mut document = json!({
            "event": "certificate.deployed",
            "certificate_id": d.certificate_id,
            "common_name": d.common_name,
            "sans": d.sans,
            "serial": d.serial,
            "not_after": d.not_after,
            "fingerprint_sha256": d.fingerprint_sha256,
            "chain_pem": d.chain_pem,
        });
        if self.include_private_key {
            document["private_key_pem"] = d.key()?.expose_str().unwrap_or_default().into();
        }
        let body = serde_json::to_vec(&document).map_err(|e| DeployError::Permanent(e.to_string()))?;
        let sent = String::from_utf8_lossy(&body).into_owned();
        let timestamp = certautopilot_core::Timestamp::now().as_unix_millis().div_euclid(1_000).to_string();
        let request = http::Request::post(&self.url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::USER_AGENT, concat!("certautopilot/", env!("CARGO_PKG_VERSION")))
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(SIGNATURE_HEADER, signature(self.secret.expose(), &timestamp, &body))
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| DeployError::Permanent(format!("webhook URL: {e}")))?;
        let client = self.client()?;
        let what = format!("webhook {}", self.url);
        let response = match tokio::time::timeout(self.timeout, client.request(request)).await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => return Err(DeployError::unreachable(&what, &e)),
            Err(_) => return Err(DeployError::Transient(format!("{what}: timeout"))),
        };
        let status = response.status();
        match status.as_u16() {
            200..=299 => Ok(DeployReport { summary: format!("webhook answered {status}"), reload: None }),
            code => {
                let body = match tokio::time::timeout(self.timeout, response.into_body().collect()).await {
                    Ok(Ok(body)) => body.to_bytes(),
                    _ => Bytes::new(),
                };
                Err(DeployError::from_status(&what, code, &body, &[&sent]))
            }
        }
    }

    fn client(
        &self,
    ) -> Result<
        hyper_util::client::legacy::Client<hyper_rustls::HttpsConnector<EgressHttpConnector>, Full<Bytes>>,
        DeployError,
    > {
        let connector = crate::https::connector(self.extra_roots_pem.as_deref(), false, &self.egress)
            .map_err(DeployError::Permanent)?;
        Ok(hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature covers the timestamp and the body: changing either changes it.
    #[test]
    fn signature_binds_timestamp_and_body() {
        let sig = signature(b"0123456789abcdef", "1700000000", b"{}");
        assert!(sig.starts_with("sha256=") && sig.len() == 7 + 64);
        assert_ne!(sig, signature(b"0123456789abcdef", "1700000001", b"{}"));
        assert_ne!(sig, signature(b"0123456789abcdef", "1700000000", b"{ }"));
        assert_ne!(sig, signature(b"another secret!!", "1700000000", b"{}"));
    }
}
