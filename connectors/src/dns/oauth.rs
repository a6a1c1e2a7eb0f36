//! OAuth 2.0 access tokens for the providers that exchange a credential for a short-lived bearer
//! token (Google Cloud DNS: a signed JWT; Azure DNS: a client secret), and the small text helpers
//! their requests share (form bodies, query values, names relative to a zone).
//! Invariant: one token request serves every change until the token is within `REFRESH_MARGIN` of
//! its expiry (the cache is held across the request, so concurrent changes do not each ask); the
//! token itself is never logged or put in an error.

use std::time::{Duration, Instant};

use certautopilot_core::crypto::SecretBytes;

use super::DnsError;
use super::api::{Answer, Api, Body, json_message};

/// A token this close to its expiry is replaced before use: a change must not start with a token
/// that lapses in flight.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// What a token answer without `expires_in` is taken to last (RFC 6749 §5.1 makes it optional).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);

/// The current bearer token, if one is held and still good.
#[derive(Default)]
pub struct TokenCache {
    held: tokio::sync::Mutex<Option<(SecretBytes, Instant)>>,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenCache(<redacted>)")
    }
}

impl TokenCache {
    /// The held token as an `Authorization` value, or a new one: `form` (built only when a token
    /// is asked for: a JWT carries its issue time) posted to the token endpoint `url`.
    async fn bearer(&self, api: &Api<'_>, url: &str, form: TokenForm<'_>) -> Result<String, DnsError> {
        let mut held = self.held.lock().await;
        if let Some((token, until)) = held.as_ref()
            && Instant::now() + REFRESH_MARGIN < *until
        {
            return Ok(format!("Bearer {}", token.expose_str().unwrap_or_default()));
        }
        let body = form()?;
        let answer = api.send("token request", http::Method::POST, url, &Vec::new, Body::Raw(&body, FORM)).await?;
        let json = answer.json();
        let token = json["access_token"].as_str().filter(|t| !t.is_empty() && answer.status == 200);
        let Some(token) = token else {
            return Err(DnsError::Api {
                provider: api.provider,
                operation: "token request",
                status: answer.status,
                message: Some("the token endpoint answered without an access token".into()),
            });
        };
        let lifetime = json["expires_in"]
            .as_u64()
            .or_else(|| json["expires_in"].as_str().and_then(|s| s.parse().ok()))
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        let bearer = format!("Bearer {token}");
        *held = Some((SecretBytes::from_text(token), Instant::now() + lifetime));
        Ok(bearer)
    }

    /// Drops the held token (the API refused it: revoked, or the clock moved).
    async fn forget(&self) {
        *self.held.lock().await = None;
    }
}

/// The form body a token request posts (built per request: a JWT carries its issue time).
pub type TokenForm<'a> = &'a (dyn Fn() -> Result<Vec<u8>, DnsError> + Sync);

/// An API reached with a bearer token from `cache`, asked for at `token_url` with `form`.
pub struct Authorized<'a> {
    pub api: Api<'a>,
    pub cache: &'a TokenCache,
    pub token_url: &'a str,
    pub form: TokenForm<'a>,
}

impl Authorized<'_> {
    /// One call with the current token and `extra` headers; a token the API no longer takes (401:
    /// revoked, or expired early) is replaced once.
    pub async fn send(
        &self,
        operation: &'static str,
        method: http::Method,
        url: &str,
        extra: &[(&str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, DnsError> {
        let mut renewed = false;
        loop {
            let bearer = self.cache.bearer(&self.api, self.token_url, self.form).await?;
            let headers = || {
                let mut h = vec![("authorization".to_owned(), bearer.clone())];
                h.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
                h
            };
            let body = body.map_or(Body::None, Body::Json);
            match self.api.send(operation, method.clone(), url, &headers, body).await {
                Err(DnsError::Api { status: 401, .. }) if !renewed => {
                    self.cache.forget().await;
                    renewed = true;
                }
                other => return other,
            }
        }
    }
}

/// `values` with `value` added, or `None` when it is there already.
pub fn with_value(values: &[String], value: &str) -> Option<Vec<String>> {
    (!values.iter().any(|v| v == value)).then(|| values.iter().cloned().chain([value.to_owned()]).collect())
}

/// `values` without `value`, or `None` when it is not there.
pub fn without_value(values: &[String], value: &str) -> Option<Vec<String>> {
    values.iter().any(|v| v == value).then(|| values.iter().filter(|v| *v != value).cloned().collect())
}

/// The content type of form bodies.
pub const FORM: &str = "application/x-www-form-urlencoded";

/// `application/x-www-form-urlencoded` of `pairs`.
pub fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish().into_bytes()
}

/// One query-string value, percent-encoded.
pub fn query_value(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The message of an OAuth error (`error_description`, RFC 6749 §5.2) or of the API's own error
/// body (`{"error": {"message": …}}`).
pub fn oauth_message(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["error_description"].as_str().map(str::to_owned).or_else(|| json_message(body))
}

/// `name` without its trailing dot, lower-cased.
pub fn bare(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// `name` relative to `zone` (`_acme-challenge.www` in `example.com`; `@` for the apex), or a
/// clear error when the name is not inside the zone.
pub fn relative_name(name: &str, zone: &str) -> Result<String, DnsError> {
    let (name, zone) = (bare(name), bare(zone));
    if name == zone {
        return Ok("@".into());
    }
    match name.strip_suffix(&zone).and_then(|r| r.strip_suffix('.')) {
        Some(relative) if !relative.is_empty() => Ok(relative.to_owned()),
        _ => Err(DnsError::BadName { name, reason: format!("not inside the zone {zone}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names are made relative to their zone (apex as `@`), names outside it are refused; form
    /// bodies are encoded and OAuth messages picked.
    #[test]
    fn names_and_quotes() {
        assert_eq!(relative_name("_acme-challenge.www.Example.com.", "example.com").unwrap(), "_acme-challenge.www");
        assert_eq!(relative_name("example.com", "example.com.").unwrap(), "@");
        assert!(matches!(relative_name("a.example.org", "example.com"), Err(DnsError::BadName { .. })));
        assert!(relative_name("badexample.com", "example.com").is_err());
        assert_eq!(String::from_utf8(form_body(&[("a", "b c&"), ("d", "=")])).unwrap(), "a=b+c%26&d=%3D");
        assert_eq!(
            oauth_message(br#"{"error":"invalid_client","error_description":"AADSTS7000215"}"#).unwrap(),
            "AADSTS7000215"
        );
        assert_eq!(oauth_message(br#"{"error":{"code":403,"message":"Forbidden"}}"#).unwrap(), "Forbidden");
    }
}
