//! The ACME client (RFC 8555, on instant-acme): account registration with External Account
//! Binding, orders with DNS-01 authorizations, finalization with a CSR from a fresh key, download of
//! the full chain, revocation and ACME Renewal Information (RFC 9773). Each call is one step; the
//! caller (the certificate actor) persists progress between steps so an order resumes, never repeats.

mod client;
mod directory;
mod http;
mod keys;
mod retry;

pub use client::{AcmeAccountHandle, AuthzSnapshot, NewAccountRequest, OrderSnapshot, OrderStatus, RenewalWindow};
pub use directory::{DirectoryError, DirectoryInfo, check_directory, is_profile_name};
pub use http::parse_retry_after;
pub use keys::{csr_for_key, generate_key, public_key_der};
pub use retry::{CallRetries, NextStep, RetryPolicy};

use crate::egress::EgressDenied;
use crate::failure::{NetFailure, Untrusted, bounded_escaped, log_remote_detail};

pub const PROBLEM_RATE_LIMITED: &str = "urn:ietf:params:acme:error:rateLimited";
pub const PROBLEM_ACCOUNT_DOES_NOT_EXIST: &str = "urn:ietf:params:acme:error:accountDoesNotExist";
const TRANSIENT_PROBLEMS: [&str; 2] =
    ["urn:ietf:params:acme:error:badNonce", "urn:ietf:params:acme:error:serverInternal"];
/// Problems that are the CA's own (its limits, its policy, its state): another CA may well issue.
/// Problems with the request itself (a bad CSR, a name that fails validation) are not among them;
/// nor is `unauthorized`, which CAs answer for a DNS-01 challenge whose record they did not find.
const CA_OWN_PROBLEMS: [&str; 7] = [
    PROBLEM_RATE_LIMITED,
    "urn:ietf:params:acme:error:serverInternal",
    "urn:ietf:params:acme:error:caa",
    "urn:ietf:params:acme:error:rejectedIdentifier",
    "urn:ietf:params:acme:error:unsupportedIdentifier",
    "urn:ietf:params:acme:error:externalAccountRequired",
    "urn:ietf:params:acme:error:userActionRequired",
];

/// Whether a problem type is the CA's own (see `CA_OWN_PROBLEMS`).
pub fn is_ca_own_problem(kind: &str) -> bool {
    CA_OWN_PROBLEMS.contains(&kind)
}

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    /// The CA could not be reached or did not answer in time; the classified reason only.
    #[error("ACME CA unreachable: {0}")]
    Unreachable(String),
    /// The egress policy refuses the CA's address; permanent until `[egress]` changes.
    #[error("ACME CA unreachable: {0}")]
    Egress(EgressDenied),
    /// The CA's TLS certificate did not verify against the account's CA bundle (or the platform's
    /// roots); permanent until the bundle or the CA's certificate changes.
    #[error("the CA's certificate is not trusted: {0}")]
    Untrusted(Untrusted),
    /// The connection can never succeed as configured (no TLS in common, no TLS spoken on the
    /// port, the handshake refused for good); permanent.
    #[error("ACME CA unreachable: {0}")]
    Unusable(NetFailure),
    /// Something in front of the CA answered 408, 429 or 5xx without an ACME problem document (a
    /// proxy's error page): worth retrying, its body withheld.
    /// `retry_after`: the `Retry-After` it sent, if any.
    #[error("ACME CA unreachable: http {status} from the CA")]
    Status { status: u16, retry_after: Option<std::time::SystemTime> },
    /// The CA answered with a problem document (RFC 7807); `detail` is the CA's own reason when
    /// the problem is an ACME one (see `problem_detail`).
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
            AcmeError::Unreachable(_) | AcmeError::Status { .. } => true,
            AcmeError::Problem { kind, status, .. } => {
                kind == PROBLEM_RATE_LIMITED
                    || TRANSIENT_PROBLEMS.contains(&kind.as_str())
                    || status.is_some_and(|s| s >= 500)
            }
            _ => false,
        }
    }

    /// Whether the cause lies with this CA (unreachable, untrusted, failing, limiting, refusing by
    /// its policy), so a fallback issuer may succeed where it did not.
    pub fn another_ca_may_succeed(&self) -> bool {
        match self {
            AcmeError::Key(_) => false,
            AcmeError::Problem { kind, status, .. } => is_ca_own_problem(kind) || status.is_some_and(|s| s >= 500),
            _ => true,
        }
    }

    fn unreachable(error: &(dyn std::error::Error + 'static)) -> AcmeError {
        let reason = NetFailure::classify("acme", error);
        if let Some(why) = reason.untrusted() {
            return AcmeError::Untrusted(why);
        }
        match reason {
            NetFailure::Egress(denied) => AcmeError::Egress(denied),
            reason if !reason.is_transient() => AcmeError::Unusable(reason),
            reason => AcmeError::Unreachable(reason.to_string()),
        }
    }
}

impl From<instant_acme::Error> for AcmeError {
    fn from(e: instant_acme::Error) -> Self {
        match e {
            instant_acme::Error::Api(problem) => AcmeError::Problem {
                kind: problem_kind(&problem).to_owned(),
                detail: problem_detail(&problem),
                status: problem.status,
            },
            instant_acme::Error::Hyper(e) => AcmeError::unreachable(&e),
            instant_acme::Error::Other(e) => match e.downcast_ref::<http::NoAcmeAnswer>() {
                Some(answer) => AcmeError::Status { status: answer.status, retry_after: answer.retry_after },
                None => AcmeError::unreachable(&*e),
            },
            instant_acme::Error::Timeout(_) => AcmeError::Unreachable("timeout".into()),
            // serde's message can quote the answer's values: an endpoint that is not a CA must
            // not have its body reflected.
            instant_acme::Error::Json(e) => {
                log_remote_detail("acme answer", &e.to_string());
                AcmeError::Protocol("the answer is not an ACME document".into())
            }
            other => AcmeError::Protocol(other.to_string()),
        }
    }
}

/// The CA's detail only travels into records for problems in the ACME namespace (a CA's reason, such
/// as a CAA or DNS failure, is what an operator needs); a generic problem document from something
/// that is not a CA (`about:blank`, a framework's error page) is withheld. Bounded and escaped.
const ACME_PROBLEM_PREFIX: &str = "urn:ietf:params:acme:error:";
/// Characters of the CA's detail kept in a record.
const PROBLEM_DETAIL_LIMIT: usize = 300;

fn problem_kind(problem: &instant_acme::Problem) -> &str {
    match problem.r#type.as_deref() {
        Some(kind) if kind.starts_with(ACME_PROBLEM_PREFIX) && kind.len() <= 100 && kind.is_ascii() => kind,
        _ => "about:blank",
    }
}

/// The CA's detail and its subproblems, as one line for the timeline (see `ACME_PROBLEM_PREFIX`).
pub fn problem_detail(problem: &instant_acme::Problem) -> String {
    if problem_kind(problem) == "about:blank" {
        log_remote_detail("acme problem", &problem.to_string());
        return match problem.status {
            Some(status) => format!("http {status} from the CA"),
            None => "the CA gave no ACME reason".into(),
        };
    }
    let mut text = problem.detail.clone().unwrap_or_else(|| "no detail given".into());
    for sub in &problem.subproblems {
        let who = sub.identifier.as_ref().map(|i| format!("{i:?}")).unwrap_or_default();
        text.push_str(&format!("; {who}: {}", sub.detail.clone().unwrap_or_default()));
    }
    bounded_escaped(&text, PROBLEM_DETAIL_LIMIT)
}
