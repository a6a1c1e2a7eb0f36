//! The ACME client (RFC 8555, on instant-acme): account registration with External Account
//! Binding, orders with DNS-01 authorizations, finalization with a CSR from a fresh key, download of
//! the full chain, revocation and ACME Renewal Information (RFC 9773). Each call is one step; the
//! caller (the certificate actor) persists progress between steps so an order resumes, never repeats.

mod client;
mod http;
mod keys;

pub use client::{AcmeAccountHandle, AuthzSnapshot, NewAccountRequest, OrderSnapshot, OrderStatus, RenewalWindow};
pub use http::parse_retry_after;
pub use keys::{csr_for_key, generate_key, public_key_der};

pub const PROBLEM_RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";
pub const PROBLEM_ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";
const TRANSIENT_PROBLEMS: [&str; 2] =
    ["urn:ietf:params:acme:error:badNonce", "urn:ietf:params:acme:error:serverInternal"];

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA could not be reached or did not answer in time.
    #[error("ACME CA unreachable: {0}")]
    Unreachable(String),
    /// The CA answered with a problem document (RFC 7807); `detail` is the CA's own reason.
    #[error("ACME CA refused: {detail} ({kind})")]
    Problem { kind: String, detail: String, status: Option<u16> },
    #[error("ACME account settings are unusable: {0}")]
    Config(String),
    #[error("cannot make the key or CSR: {0}")]
    Key(String),
    /// The CA's answer does not make sense (missing challenge, unparsable certificate).
    #[error("unexpected answer from the ACME CA: {0}")]
    Protocol(String),
}

impl AcmeError {
    pub fn problem_type(&self) -> Option<&str> {
        match self {
            AcmeError::Problem { kind, .. } => Some(kind),
            _ => None,
        }
    }

    pub fn is_rate_limited(&self) -> bool {
        self.problem_type() == Some(PROBLEM_RATE_LIMITED)
    }

    pub fn account_missing(&self) -> bool {
        self.problem_type() == Some(PROBLEM_ACCOUNT_DOES_NOT_EXIST)
    }

    /// Whether trying again later may succeed without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        match self {
            AcmeError::Unreachable(_) => true,
            AcmeError::Problem { kind, status, .. } => {
                kind == PROBLEM_RATE_LIMITED
                    || TRANSIENT_PROBLEMS.contains(&kind.as_str())
                    || status.is_some_and(|s| s >= 500)
            }
            _ => false,
        }
    }
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(problem) => AcmeError::Problem {
                kind: problem.r#type.clone().unwrap_or_else(|| "about:blank".into()),
                detail: problem_detail(&problem),
                status: problem.status,
            },
            instant_acme::Error::Hyper(e) => AcmeError::Unreachable(e.to_string()),
            instant_acme::Error::Other(e) => AcmeError::Unreachable(e.to_string()),
            instant_acme::Error::Timeout(_) => AcmeError::Unreachable("timed out".into()),
            other => AcmeError::Protocol(other.to_string()),
        }
    }
}

/// The CA's detail and its subproblems, as one line for the timeline.
pub fn problem_detail(problem: &instant_acme::Problem) -> String {
    let mut text = problem.detail.clone().unwrap_or_else(|| "no detail given".into());
    for sub in &problem.subproblems {
        let who = sub.identifier.as_ref().map(|i| format!("{i:?}")).unwrap_or_default();
        text.push_str(&format!("; {who}: {}", sub.detail.clone().unwrap_or_default()));
    }
    text
}
