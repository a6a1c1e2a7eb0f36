//! Distribution targets: putting an issued certificate where it is served. Each target takes a
//! `Deployable` (the chain, the key, what identifies them) and reports what it did; errors say
//! whether trying again later can help. `file` writes local files atomically; `ssh` uploads over
//! SFTP to a pinned host; `webhook` POSTs a signed JSON document; `kubernetes` writes a TLS Secret;
//! `vault` writes a KV v2 secret; `f5` and `netscaler` install through iControl REST and NITRO;
//! `iis` hands the certificate to an agent on the Windows host.

mod connector;
mod f5;
mod file;
mod file_policy;
mod http;
mod iis;
mod kubernetes;
mod netscaler;
mod probe;
mod ssh;
mod vault;
mod webhook;

pub use certautopilot_core::model::{MAX_CERT_MODE, MAX_KEY_MODE, check_mode};
pub use connector::{Connector, ConnectorEnv, RELOAD_TIMEOUT, connector};
pub use f5::F5Target;
pub use file::{FileTarget, ReloadCommand};
pub use file_policy::{FilePathPolicy, PathRefused};
pub use iis::IisTarget;
pub use kubernetes::KubernetesTarget;
pub use netscaler::NetscalerTarget;
pub use probe::{presented_chain, presented_fingerprint};
pub use ssh::{SshSessions, SshTarget};
pub use vault::VaultTarget;
pub use webhook::{SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookTarget, signature};

use certautopilot_core::Timestamp;
use certautopilot_core::crypto::SecretBytes;
use serde::Serialize;

/// What a target installs: the full chain (leaf first) and the private key, with the identifiers a
/// receiver needs.
pub struct Deployable {
    pub certificate_id: String,
    pub common_name: String,
    pub sans: Vec<String>,
    pub serial: String,
    pub not_after: Timestamp,
    pub fingerprint_sha256: String,
    pub chain_pem: String,
    /// `None` when the certificate was issued from the operator's own CSR: no key is held.
    pub key_pem: Option<SecretBytes>,
}

impl Deployable {
    /// The private key, for targets that install one; a certificate issued from the operator's
    /// CSR has none here, and the target says so instead of installing half a certificate.
    pub fn key(&self) -> Result<&SecretBytes, DeployError> {
        self.key_pem.as_ref().ok_or_else(|| {
            DeployError::Permanent(
                "this certificate was issued from your CSR or imported without its key: CertAutoPilot holds no private key, and this target installs one; fetch the chain (GET /api/v1/certificates/{id}/chain) and install it beside your key".into(),
            )
        })
    }
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum DeployError {
    /// The destination could not be reached or answered 5xx: try again later.
    #[error("{0}")]
    Transient(String),
    /// The destination refused, or a setting is wrong: a person has to look.
    #[error("{0}")]
    Permanent(String),
}

impl DeployError {
    pub fn is_transient(&self) -> bool {
        matches!(self, DeployError::Transient(_))
    }

    /// No answer from `what`: the classified reason only (the detail goes to the debug log);
    /// transient, except the egress policy's refusal.
    pub(crate) fn unreachable(what: &str, error: &(dyn std::error::Error + 'static)) -> DeployError {
        let reason = crate::failure::NetFailure::classify(what, error);
        if reason.is_transient() {
            DeployError::Transient(format!("{what}: {reason}"))
        } else {
            DeployError::Permanent(format!("{what}: {reason}"))
        }
    }

    /// `what` answered `status` (not a success): the status and its classified reason, never the
    /// body (logged at debug level, without anything of `sent`: see `withhold_sent`). 408, 429 and
    /// 5xx are transient.
    pub(crate) fn from_status(what: &str, status: u16, body: &[u8], sent: &[&str]) -> DeployError {
        crate::failure::log_remote_detail(what, &withhold_sent(&String::from_utf8_lossy(body), sent));
        let reason = format!("{what}: {}", crate::failure::http_status_reason(status, "target"));
        match status {
            408 | 429 | 500..=599 => DeployError::Transient(reason),
            _ => DeployError::Permanent(reason),
        }
    }
}

/// `answer` with everything it repeats of what was sent replaced by `[sent]`: a remote that echoes
/// the request (its credential headers, the private key in its body) must not bring them into the
/// debug log. Each sent text counts whole and, for a header value, without its scheme (`Bearer`,
/// `Basic`), when at least 8 characters long; and each run of at least 16 characters between its
/// line breaks (escaped or not) and quotes, so a key's PEM lines are found however an echo encodes
/// them.
pub(crate) fn withhold_sent(answer: &str, sent: &[&str]) -> String {
    let mut fragments: Vec<&str> = Vec::new();
    for text in sent {
        let scheme_less = text.trim().split_once(' ').map(|(_, credential)| credential.trim());
        fragments.extend([Some(text.trim()), scheme_less].into_iter().flatten().filter(|f| f.len() >= 8));
        let runs = text.split(['\n', '\r', '"']).flat_map(|f| f.split("\\n")).flat_map(|f| f.split("\\r"));
        fragments.extend(runs.filter(|f| f.len() >= 16));
    }
    // Longest first, so a fragment inside a longer one does not break the longer one's match.
    fragments.sort_by_key(|f| std::cmp::Reverse(f.len()));
    let mut out = answer.to_owned();
    for fragment in fragments {
        if out.contains(fragment) {
            out = out.replace(fragment, "[sent]");
        }
    }
    out
}

/// What one deployment did, for the timeline.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct DeployReport {
    pub summary: String,
    /// The reload command's outcome, when one is configured.
    pub reload: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::withhold_sent;

    /// An answer echoing the request loses the credential (whole and without its scheme) and the
    /// key's lines, raw or JSON-escaped; the remote's own words stay.
    #[test]
    fn an_echoed_request_is_withheld() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\nAbCdEfGhIjKlMnOpQrStUvWxYz012345\n-----END PRIVATE KEY-----\n";
        let body = serde_json::json!({ "private_key": key }).to_string();
        let sent = ["Bearer tok3n-0123456789", "Basic YWRtaW46cGFzc3dvcmQ=", body.as_str()];
        for answer in [
            format!("denied: authorization: Bearer tok3n-0123456789; body {body}"),
            format!("user YWRtaW46cGFzc3dvcmQ= sent {key}"),
            "token tok3n-0123456789 refused".to_owned(),
        ] {
            let kept = withhold_sent(&answer, &sent);
            for secret in ["tok3n-0123456789", "YWRtaW46cGFzc3dvcmQ=", "MIGHAgEAMBMGByqGSM49", "AbCdEfGhIjKlMnOp"] {
                assert!(!kept.contains(secret), "{secret} kept in {kept}");
            }
            assert!(kept.contains("[sent]"), "{kept}");
        }
        assert_eq!(withhold_sent("permission denied", &sent), "permission denied");
    }
}
