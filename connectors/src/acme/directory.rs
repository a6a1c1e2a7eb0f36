//! Checking a CA's ACME directory before an account is saved (issue 15, item 4): one bounded GET
//! through the egress policy and the account's own trust (platform roots plus its CA bundle), so a
//! wrong bundle or an unreachable CA is reported when the account is written, not at the first order.
//! Invariant: what the check reports is a classified reason; the CA's answer body and the peer's
//! certificate contents never reach it (they go to the debug log, bounded and escaped).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};

use crate::egress::{EgressDenied, EgressPolicy};
use crate::failure::{NetFailure, log_remote_detail};

/// A directory is a small JSON object; anything bigger is not one.
const MAX_DIRECTORY_BYTES: usize = 64 * 1024;
/// Profiles kept from a directory, and the longest description kept of each.
const MAX_PROFILES: usize = 32;
const MAX_PROFILE_DESCRIPTION: usize = 200;

/// What an account keeps of its CA's directory: the ACME profiles it offers
/// (draft-ietf-acme-profiles, `meta.profiles`: name → description), empty when it offers none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DirectoryInfo {
    pub profiles: std::collections::BTreeMap<String, String>,
}

/// A profile name as certificates may name it: 1 to 64 of `A-Z a-z 0-9 . _ -`.
pub fn is_profile_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// Why a directory URL is not usable, as a user may read it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// The TLS handshake failed on the CA's certificate; permanent until the bundle changes.
    #[error("the CA's certificate is not trusted: {0}")]
    Untrusted(String),
    /// The egress policy refuses every address of the CA.
    #[error("the CA's address is refused: {0}")]
    Egress(EgressDenied),
    /// No answer: refused, timed out, name lookup failed, connection closed.
    #[error("the CA did not answer: {0}")]
    Unreachable(String),
    #[error("http {0} from the CA")]
    Status(u16),
    /// Something answered, but not with an ACME directory (RFC 8555 §7.1.1).
    #[error("the URL does not serve an ACME directory")]
    NotADirectory,
    /// The account's CA bundle cannot be loaded as PEM certificates.
    #[error("the CA bundle is unusable: {0}")]
    Bundle(String),
}

/// Fetches the directory at `url`, trusting the platform's roots and `extra_roots_pem`, within
/// `timeout` in all, reaching only what `egress` allows.
pub async fn check_directory(
    url: &str,
    extra_roots_pem: Option<&str>,
    timeout: Duration,
    egress: &EgressPolicy,
) -> Result<DirectoryInfo, DirectoryError> {
    let uri: http::Uri = url.parse().map_err(|_| DirectoryError::NotADirectory)?;
    let connector = crate::https::connector(extra_roots_pem, true, egress).map_err(DirectoryError::Bundle)?;
    let client: hyper_util::client::legacy::Client<_, Empty<Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(connector);
    let request = http::Request::get(uri)
        .header(http::header::ACCEPT, "application/json")
        .header(http::header::USER_AGENT, concat!("certautopilot/", env!("CARGO_PKG_VERSION")))
        .body(Empty::new())
        .map_err(|_| DirectoryError::NotADirectory)?;
    let exchange = async {
        let response = client.request(request).await.map_err(|e| classify(&e))?;
        let status = response.status();
        let body = Limited::new(response.into_body(), MAX_DIRECTORY_BYTES).collect().await;
        Ok::<_, DirectoryError>((status, body.map(|b| b.to_bytes())))
    };
    let (status, body) = match tokio::time::timeout(timeout, exchange).await {
        Ok(result) => result?,
        Err(_) => return Err(DirectoryError::Unreachable(format!("no answer within {} ms", timeout.as_millis()))),
    };
    if !status.is_success() {
        if let Ok(body) = &body {
            log_remote_detail("acme directory", &String::from_utf8_lossy(body));
        }
        return Err(DirectoryError::Status(status.as_u16()));
    }
    let body = body.map_err(|_| DirectoryError::NotADirectory)?;
    if is_directory(&body) {
        Ok(directory_info(&body))
    } else {
        log_remote_detail("acme directory", &String::from_utf8_lossy(&body));
        Err(DirectoryError::NotADirectory)
    }
}

/// RFC 8555 §7.1.1: an object naming at least the resources every order needs.
fn is_directory(body: &[u8]) -> bool {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body) else {
        return false;
    };
    ["newNonce", "newAccount", "newOrder"].iter().all(|k| fields.get(*k).is_some_and(serde_json::Value::is_string))
}

/// The profiles a directory offers, bounded: well-formed names only, descriptions cut and escaped.
fn directory_info(body: &[u8]) -> DirectoryInfo {
    let value: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let profiles = value["meta"]["profiles"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| is_profile_name(name))
        .take(MAX_PROFILES)
        .map(|(name, description)| {
            let text = description.as_str().unwrap_or_default();
            (name.clone(), crate::failure::bounded_escaped(text, MAX_PROFILE_DESCRIPTION))
        })
        .collect();
    DirectoryInfo { profiles }
}

/// A failed exchange as `DirectoryError`: the certificate verdict named by `failure::Untrusted`
/// (issue 15, item 3), the policy's refusal, or the classified reason no answer came.
fn classify(error: &(dyn std::error::Error + 'static)) -> DirectoryError {
    let failure = NetFailure::classify("acme directory", error);
    if let Some(why) = failure.untrusted() {
        return DirectoryError::Untrusted(why.to_string());
    }
    match failure {
        NetFailure::Egress(denied) => DirectoryError::Egress(denied),
        reason => DirectoryError::Unreachable(reason.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only an object with the three resources every order needs is a directory; a web page or
    /// another JSON document is not.
    #[test]
    fn a_directory_names_nonce_account_and_order() {
        assert!(is_directory(br#"{"newNonce":"a","newAccount":"b","newOrder":"c","meta":{}}"#));
        assert!(!is_directory(br#"{"newNonce":"a","newAccount":"b"}"#));
        assert!(!is_directory(b"<html>secret</html>"));
        assert!(!is_directory(br#"["newNonce","newAccount","newOrder"]"#));
    }

    /// Profiles come from `meta.profiles`: well-formed names only, descriptions bounded; a
    /// directory without them offers none.
    #[test]
    fn profiles_are_read_from_the_directory_meta() {
        let long = "x".repeat(500);
        let body = format!(
            r#"{{"newNonce":"a","newAccount":"b","newOrder":"c","meta":{{"profiles":{{
                "classic":"The same as today","shortlived":"Six days","bad name!":"no","tlsserver":"{long}"}}}}}}"#
        );
        let info = directory_info(body.as_bytes());
        let names: Vec<&str> = info.profiles.keys().map(String::as_str).collect();
        assert_eq!(names, ["classic", "shortlived", "tlsserver"]);
        assert_eq!(info.profiles["shortlived"], "Six days");
        assert!(info.profiles["tlsserver"].len() < 300);
        assert!(directory_info(br#"{"newNonce":"a","newAccount":"b","newOrder":"c"}"#).profiles.is_empty());
        assert!(is_profile_name("shortlived") && !is_profile_name("") && !is_profile_name("a b"));
    }

    /// A trust failure inside the io::Error tokio-rustls wraps it in reads as the CA's certificate
    /// not being trusted, with the verifier's reason; a reset connection is a missing answer.
    #[test]
    fn trust_failures_are_named_as_the_cas() {
        let wrapped = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer),
        );
        let found = classify(&wrapped);
        assert!(matches!(found, DirectoryError::Untrusted(_)), "{found:?}");
        assert!(found.to_string().starts_with("the CA's certificate is not trusted: "), "{found}");
        assert!(found.to_string().contains("UnknownIssuer"), "{found}");
        let reset = classify(&std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(reset.to_string(), "the CA did not answer: connection closed");
    }
}
