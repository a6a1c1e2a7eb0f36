//! What a failed exchange with the outside world may tell a user: a short, classified reason
//! (`connection refused`, `tls handshake failed`, `http 500 from the target`), never the remote
//! party's own words nor a low-level error's text. Invariant: remote bodies and error chains reach
//! only `debug!` logs, bounded to `DETAIL_LIMIT` characters and escaped, so a viewer-readable record
//! can never carry an internal service's answer and a log line can never be forged by one. A TLS
//! failure is named from rustls's own error kinds (`tls`): the CA bundle not trusting the peer is a
//! cause a person must fix, so it is permanent and says why, never a retried "unreachable".

mod tls;

pub use tls::{TlsFailure, Untrusted};

use std::error::Error;
use std::fmt;

use crate::egress::{EgressDenied, OutboundError};

/// At most this many characters of a remote answer or error chain reach the debug log.
pub const DETAIL_LIMIT: usize = 512;

/// Why no answer came back, classified from the error's chain of sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetFailure {
    /// The egress policy refused the address; permanent.
    Egress(EgressDenied),
    NameLookup,
    ConnectionRefused,
    Timeout,
    /// The TLS handshake failed; permanent when the peer's certificate is not trusted or the two
    /// sides can never agree (`TlsFailure::is_transient`).
    Tls(TlsFailure),
    /// The peer closed or reset the connection, or the answer ended early.
    ConnectionClosed,
    NetworkUnreachable,
    /// Something answered, but not in the protocol spoken.
    Protocol,
    /// Anything else.
    Other,
}

impl fmt::Display for NetFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetFailure::Egress(denied) => write!(f, "{denied}"),
            NetFailure::NameLookup => f.write_str("name lookup failed"),
            NetFailure::ConnectionRefused => f.write_str("connection refused"),
            NetFailure::Timeout => f.write_str("timeout"),
            NetFailure::Tls(failure) => write!(f, "{failure}"),
            NetFailure::ConnectionClosed => f.write_str("connection closed"),
            NetFailure::NetworkUnreachable => f.write_str("network unreachable"),
            NetFailure::Protocol => f.write_str("unexpected answer"),
            NetFailure::Other => f.write_str("connection failed"),
        }
    }
}

impl NetFailure {
    /// Whether trying again later may help: not after the policy's refusal, nor after a TLS
    /// failure that only a changed setting or certificate can fix.
    pub fn is_transient(&self) -> bool {
        match self {
            NetFailure::Egress(_) => false,
            NetFailure::Tls(tls) => tls.is_transient(),
            _ => true,
        }
    }

    /// Why the peer's certificate was not trusted, when that is the failure.
    pub fn untrusted(&self) -> Option<Untrusted> {
        match self {
            NetFailure::Tls(TlsFailure::Untrusted(why)) => Some(*why),
            _ => None,
        }
    }

    /// Classifies `error` by walking its sources (and the errors inside `io::Error`s); the first
    /// recognised cause wins. Logs the chain at debug level, bounded and escaped, under `what`.
    pub fn classify(what: &str, error: &(dyn Error + 'static)) -> NetFailure {
        let found = classify_chain(error);
        if tracing::enabled!(tracing::Level::DEBUG) {
            let mut chain = error.to_string();
            let mut next = error.source();
            while let Some(e) = next {
                chain.push_str(": ");
                chain.push_str(&e.to_string());
                next = e.source();
            }
            log_remote_detail(what, &chain);
        }
        found
    }
}

fn classify_chain(error: &(dyn Error + 'static)) -> NetFailure {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(found) = classify_one(e) {
            return found;
        }
        next = e.source();
    }
    NetFailure::Other
}

fn classify_one(e: &(dyn Error + 'static)) -> Option<NetFailure> {
    if let Some(denied) = e.downcast_ref::<EgressDenied>() {
        return Some(NetFailure::Egress(denied.clone()));
    }
    if let Some(outbound) = e.downcast_ref::<OutboundError>() {
        return match outbound {
            OutboundError::Denied(denied) => Some(NetFailure::Egress(denied.clone())),
            OutboundError::Lookup(_) => Some(NetFailure::NameLookup),
            OutboundError::Connect(io) => Some(classify_io(io)),
        };
    }
    if let Some(io) = e.downcast_ref::<std::io::Error>() {
        return Some(classify_io(io));
    }
    if let Some(tls) = e.downcast_ref::<rustls::Error>() {
        return Some(NetFailure::Tls(TlsFailure::from_rustls(tls)));
    }
    if e.is::<tokio::time::error::Elapsed>() {
        return Some(NetFailure::Timeout);
    }
    if let Some(h) = e.downcast_ref::<hyper::Error>() {
        if h.is_timeout() {
            return Some(NetFailure::Timeout);
        }
        if h.is_incomplete_message() || h.is_closed() || h.is_canceled() {
            return Some(NetFailure::ConnectionClosed);
        }
        if h.is_parse() || h.is_parse_status() {
            return Some(NetFailure::Protocol);
        }
    }
    None
}

fn classify_io(io: &std::io::Error) -> NetFailure {
    // A wrapped error (a rustls alert, our own refusal) says more than the kind.
    if let Some(inner) = io.get_ref() {
        let inner: &(dyn Error + 'static) = inner;
        let found = classify_chain(inner);
        if found != NetFailure::Other {
            return found;
        }
    }
    use std::io::ErrorKind as K;
    match io.kind() {
        K::ConnectionRefused => NetFailure::ConnectionRefused,
        K::TimedOut => NetFailure::Timeout,
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof | K::NotConnected => {
            NetFailure::ConnectionClosed
        }
        K::HostUnreachable | K::NetworkUnreachable | K::AddrNotAvailable | K::NetworkDown => {
            NetFailure::NetworkUnreachable
        }
        K::InvalidData => NetFailure::Protocol,
        _ => NetFailure::Other,
    }
}

/// The user-visible reason for an HTTP answer that is not a success: the credential's refusal
/// (401, 403) or `http <status> from the <peer>`.
pub fn http_status_reason(status: u16, peer: &str) -> String {
    match status {
        401 | 403 => format!("the credential was refused ({status})"),
        _ => format!("http {status} from the {peer}"),
    }
}

/// `text` cut to `limit` characters and escaped (`escape_debug`: newlines and other control
/// characters become visible escapes), for logs.
pub fn bounded_escaped(text: &str, limit: usize) -> String {
    let mut out: String = text.chars().take(limit).flat_map(char::escape_debug).collect();
    if text.chars().nth(limit).is_some() {
        out.push('…');
    }
    out
}

/// Logs what a remote party said (an answer body, a server's error message) at debug level only.
/// Whether `log_remote_detail` would write anything: the same module and level, so callers build
/// the detail (scrubbing what was sent out of an answer) only when it will be logged.
pub fn remote_detail_wanted() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

pub fn log_remote_detail(what: &str, detail: &str) {
    tracing::debug!(
        what = %bounded_escaped(what, 200),
        detail = %bounded_escaped(detail, DETAIL_LIMIT),
        "remote detail, withheld from records"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kinds map to their short reasons, through wrappers; a policy refusal is found inside an
    /// `io::Error` and is the only permanent one.
    #[test]
    fn classification_walks_the_chain() {
        let io = |k| std::io::Error::new(k, "remote says: SECRET");
        assert_eq!(
            NetFailure::classify("t", &io(std::io::ErrorKind::ConnectionRefused)),
            NetFailure::ConnectionRefused
        );
        assert_eq!(NetFailure::classify("t", &io(std::io::ErrorKind::TimedOut)).to_string(), "timeout");
        let denied = EgressDenied {
            address: "169.254.169.254".parse().unwrap(),
            reason: crate::egress::DenyReason::LinkLocalOrMetadata,
        };
        let wrapped = std::io::Error::other(OutboundError::Denied(denied.clone()));
        let found = NetFailure::classify("t", &wrapped);
        assert_eq!(found, NetFailure::Egress(denied));
        assert!(!found.is_transient());
        let tls = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls::Error::DecryptError);
        assert_eq!(NetFailure::classify("t", &tls).to_string(), "tls handshake failed");
        assert!(!NetFailure::classify("t", &io(std::io::ErrorKind::Other)).to_string().contains("SECRET"));
    }

    /// A certificate the bundle does not trust, inside the `io::Error` wrappers tokio-rustls and
    /// hyper-rustls put around rustls's error, is named and permanent; a cut connection is not.
    #[test]
    fn an_untrusted_certificate_is_found_through_wrappers() {
        let rustls_error = rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let inner = std::io::Error::new(std::io::ErrorKind::InvalidData, rustls_error);
        let found = NetFailure::classify("t", &std::io::Error::other(inner));
        assert_eq!(found.untrusted(), Some(Untrusted::UnknownIssuer));
        assert!(!found.is_transient());
        assert!(found.to_string().starts_with("the server's certificate is not trusted: "), "{found}");
        let reset = NetFailure::classify("t", &std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!((reset.untrusted(), reset.is_transient()), (None, true));
    }

    /// Details are cut and escaped: a newline cannot start a new log line.
    #[test]
    fn details_are_bounded_and_escaped() {
        assert_eq!(bounded_escaped("a\nb\u{1b}[31m", 100), "a\\nb\\u{1b}[31m");
        let long = "x".repeat(600);
        let cut = bounded_escaped(&long, DETAIL_LIMIT);
        assert_eq!(cut.chars().count(), DETAIL_LIMIT + 1);
        assert_eq!(http_status_reason(500, "target"), "http 500 from the target");
        assert_eq!(http_status_reason(403, "target"), "the credential was refused (403)");
    }
}
