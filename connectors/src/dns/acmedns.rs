//! acme-dns (joohoi/acme-dns), the CNAME delegation service: `_acme-challenge.<name>` is a CNAME to
//! `<subdomain>.<acme-dns domain>`, and the credential may only set the TXT answer of that one
//! subdomain, through `POST {api_url}/update` with `X-Api-User` / `X-Api-Key`.
//! Invariants: a value is sent only when it has the shape acme-dns accepts (43 base64url
//! characters, an ACME key authorization digest) and only for the name the credential owns
//! (`<subdomain>.<zone>`); nothing is ever deleted (acme-dns has no delete, see `remove_txt`).

use certautopilot_core::crypto::SecretBytes;
use certautopilot_core::model::{AcmeDnsConfig, DnsProvider};

use super::DnsError;
use super::api::{Api, Body, Reach, json_message};

const PROVIDER: &str = "acme-dns";
/// The length acme-dns requires of a TXT value: base64url of 32 bytes (a SHA-256 digest) without
/// padding, what DNS-01 publishes (RFC 8555 §8.4). It refuses anything else with `bad_txt`.
const TOKEN_LEN: usize = 43;

pub struct AcmeDns {
    api_url: String,
    username: String,
    subdomain: String,
    password: SecretBytes,
    reach: Reach,
}

impl std::fmt::Debug for AcmeDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeDns")
            .field("api_url", &self.api_url)
            .field("subdomain", &self.subdomain)
            .finish_non_exhaustive()
    }
}

impl AcmeDns {
    pub fn new(config: &AcmeDnsConfig, password: SecretBytes, reach: Reach) -> Self {
        AcmeDns {
            api_url: config.api_url.trim_end_matches('/').to_owned(),
            username: config.username.clone(),
            subdomain: config.subdomain.to_ascii_lowercase(),
            password,
            reach,
        }
    }

    fn api(&self) -> Api<'_> {
        Api { provider: PROVIDER, reach: &self.reach, message: json_message }
    }

    /// The name this credential can write: `<subdomain>.<zone>`. Any other name would be written
    /// (acme-dns does not look at it) at the subdomain instead, and the CA would look elsewhere.
    fn check_name(&self, zone: &str, name: &str) -> Result<(), DnsError> {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let owned = format!("{}.{zone}", self.subdomain);
        if name == owned {
            return Ok(());
        }
        Err(DnsError::Config(format!(
            "this acme-dns credential can only set {owned}, not {}; point the _acme-challenge CNAME at {owned}",
            name.escape_debug()
        )))
    }
}

/// Whether acme-dns would accept `value`: 43 base64url characters.
fn is_acme_token(value: &str) -> bool {
    value.len() == TOKEN_LEN && value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[async_trait::async_trait]
impl super::TxtRecords for AcmeDns {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Acmedns
    }

    /// Sets `value` as the subdomain's newest TXT answer. acme-dns keeps the two most recent values
    /// (its documented rolling update), so a wildcard and its base name, both delegated to the same
    /// subdomain and validated in one order, are answered together; a third update drops the oldest.
    async fn add_txt(&self, zone: &str, name: &str, value: &str, _ttl: u32) -> Result<(), DnsError> {
        self.check_name(zone, name)?;
        if !is_acme_token(value) {
            return Err(DnsError::Config(format!(
                "acme-dns accepts only {TOKEN_LEN}-character ACME challenge values (base64url), not one of {} characters",
                value.len()
            )));
        }
        let headers = || {
            vec![
                ("X-Api-User".to_owned(), self.username.clone()),
                ("X-Api-Key".to_owned(), self.password.expose_str().unwrap_or_default().to_owned()),
            ]
        };
        let body = serde_json::json!({ "subdomain": self.subdomain, "txt": value });
        let url = format!("{}/update", self.api_url);
        let answer = self.api().send("update", http::Method::POST, &url, &headers, Body::Json(&body)).await?;
        if answer.status == 404 {
            // No /update here: the api_url is not an acme-dns API.
            return Err(DnsError::Api {
                provider: PROVIDER,
                operation: "update",
                status: 404,
                message: Some("no /update endpoint at api_url".into()),
            });
        }
        Ok(())
    }

    /// Succeeds without a request: acme-dns has no delete. The value stays one of the subdomain's
    /// two answers until two newer updates rotate it out; it is a digest for an authorization that
    /// is over, and the subdomain answers nothing else, so leaving it is harmless.
    async fn remove_txt(&self, _zone: &str, _name: &str, _value: &str) -> Result<(), DnsError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape check matches acme-dns's: 43 base64url characters and nothing else.
    #[test]
    fn only_acme_tokens_are_sent() {
        assert!(is_acme_token(&"a".repeat(43)));
        assert!(is_acme_token("LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"));
        assert!(!is_acme_token(&"a".repeat(42)));
        assert!(!is_acme_token(&"a".repeat(44)));
        assert!(!is_acme_token(&format!("{}=", "a".repeat(42))));
        assert!(!is_acme_token(&format!("{}+", "a".repeat(42))));
    }
}
