//! Why a TLS handshake failed, in words a user can act on: the peer's certificate did not verify
//! (and why: unknown issuer, a CA certificate used as the server's own, expired, wrong name, …), no
//! protocol in common, or no TLS spoken at all. Invariant: the words come from rustls's and
//! webpki's error kinds, which are ours to name; nothing the peer sent is quoted.

use std::fmt;

use rustls::{AlertDescription, CertificateError};

/// Why the peer's certificate was not trusted (rustls's `CertificateError`, and the webpki errors
/// rustls reports only as `Other`). Permanent: retrying cannot help until a CA bundle or the
/// peer's certificate changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Untrusted {
    /// No certificate in the trusted bundle (or the platform's roots) signed it.
    UnknownIssuer,
    /// The peer presents a CA certificate as its own (a self-signed CA used as the server's
    /// certificate); the server needs a leaf signed by that CA.
    CaUsedAsEndEntity,
    /// A certificate that is not a CA signed the peer's certificate (a leaf put in the bundle as
    /// if it were a CA, or in the chain).
    EndEntityUsedAsCa,
    Expired,
    NotValidYet,
    /// It does not carry the name that was asked for.
    NotValidForName,
    Revoked,
    BadSignature,
    /// It is not meant for TLS server authentication (extended key usage).
    InvalidPurpose,
    BadEncoding,
    UnsupportedSignatureAlgorithm,
    UnhandledCriticalExtension,
    /// The chain breaks a name or path-length constraint of a CA above it.
    ConstraintViolation,
    /// Any other verification failure.
    Other,
}

impl Untrusted {
    /// The kind rustls reports for a certificate that did not verify.
    pub fn from_certificate_error(error: &CertificateError) -> Untrusted {
        use CertificateError as C;
        match error {
            C::UnknownIssuer => Untrusted::UnknownIssuer,
            C::Expired | C::ExpiredContext { .. } => Untrusted::Expired,
            C::NotValidYet | C::NotValidYetContext { .. } => Untrusted::NotValidYet,
            C::NotValidForName | C::NotValidForNameContext { .. } => Untrusted::NotValidForName,
            C::Revoked => Untrusted::Revoked,
            C::BadSignature => Untrusted::BadSignature,
            C::InvalidPurpose | C::InvalidPurposeContext { .. } => Untrusted::InvalidPurpose,
            C::BadEncoding => Untrusted::BadEncoding,
            C::UnsupportedSignatureAlgorithmContext { .. }
            | C::UnsupportedSignatureAlgorithmForPublicKeyContext { .. } => Untrusted::UnsupportedSignatureAlgorithm,
            #[allow(deprecated)]
            C::UnsupportedSignatureAlgorithm => Untrusted::UnsupportedSignatureAlgorithm,
            C::UnhandledCriticalExtension => Untrusted::UnhandledCriticalExtension,
            // rustls passes the webpki errors it has no kind for as `Other`.
            C::Other(other) => match other.0.downcast_ref::<webpki::Error>() {
                Some(e) => Untrusted::from_webpki(e),
                None => Untrusted::Other,
            },
            _ => Untrusted::Other,
        }
    }

    fn from_webpki(error: &webpki::Error) -> Untrusted {
        use webpki::Error as W;
        match error {
            W::CaUsedAsEndEntity => Untrusted::CaUsedAsEndEntity,
            W::EndEntityUsedAsCa => Untrusted::EndEntityUsedAsCa,
            W::UnknownIssuer => Untrusted::UnknownIssuer,
            W::CertExpired { .. } | W::InvalidCertValidity => Untrusted::Expired,
            W::CertNotValidYet { .. } => Untrusted::NotValidYet,
            W::CertNotValidForName(_) => Untrusted::NotValidForName,
            W::CertRevoked => Untrusted::Revoked,
            W::InvalidSignatureForPublicKey => Untrusted::BadSignature,
            W::RequiredEkuNotFoundContext(_) | W::EmptyEkuExtension => Untrusted::InvalidPurpose,
            #[allow(deprecated)]
            W::RequiredEkuNotFound => Untrusted::InvalidPurpose,
            W::BadDer | W::BadDerTime | W::TrailingData(_) | W::MalformedExtensions | W::ExtensionValueInvalid => {
                Untrusted::BadEncoding
            }
            W::UnsupportedCriticalExtension => Untrusted::UnhandledCriticalExtension,
            W::NameConstraintViolation | W::PathLenConstraintViolated | W::MaximumPathDepthExceeded => {
                Untrusted::ConstraintViolation
            }
            _ => Untrusted::Other,
        }
    }

    /// The rustls/webpki name of the kind, for searching.
    fn code(self) -> &'static str {
        match self {
            Untrusted::UnknownIssuer => "UnknownIssuer",
            Untrusted::CaUsedAsEndEntity => "CaUsedAsEndEntity",
            Untrusted::EndEntityUsedAsCa => "EndEntityUsedAsCa",
            Untrusted::Expired => "Expired",
            Untrusted::NotValidYet => "NotValidYet",
            Untrusted::NotValidForName => "NotValidForName",
            Untrusted::Revoked => "Revoked",
            Untrusted::BadSignature => "BadSignature",
            Untrusted::InvalidPurpose => "InvalidPurpose",
            Untrusted::BadEncoding => "BadEncoding",
            Untrusted::UnsupportedSignatureAlgorithm => "UnsupportedSignatureAlgorithm",
            Untrusted::UnhandledCriticalExtension => "UnhandledCriticalExtension",
            Untrusted::ConstraintViolation => "ConstraintViolation",
            Untrusted::Other => "Other",
        }
    }
}

impl fmt::Display for Untrusted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let words = match self {
            Untrusted::UnknownIssuer => "it is not signed by a certificate in the trusted CA bundle",
            Untrusted::CaUsedAsEndEntity => {
                "it is a CA certificate used as the server's own; the server needs a separate leaf certificate signed by that CA"
            }
            Untrusted::EndEntityUsedAsCa => {
                "it is signed by a certificate that is not a CA; the CA bundle must hold the CA, not a leaf"
            }
            Untrusted::Expired => "it has expired",
            Untrusted::NotValidYet => "it is not valid yet (check the clocks)",
            Untrusted::NotValidForName => "it is not valid for the name connected to",
            Untrusted::Revoked => "it has been revoked",
            Untrusted::BadSignature => "its signature does not verify",
            Untrusted::InvalidPurpose => "it is not meant for TLS server authentication (extended key usage)",
            Untrusted::BadEncoding => "it is malformed",
            Untrusted::UnsupportedSignatureAlgorithm => "it is signed with an unsupported algorithm",
            Untrusted::UnhandledCriticalExtension => "it carries a critical extension that is not supported",
            Untrusted::ConstraintViolation => "its chain breaks a name or path-length constraint",
            Untrusted::Other => "it failed verification",
        };
        write!(f, "{words} ({})", self.code())
    }
}

/// What went wrong in a TLS handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The peer's certificate failed verification; permanent.
    Untrusted(Untrusted),
    /// No protocol version or cipher suite in common; permanent.
    Incompatible,
    /// Something answered that does not speak TLS (plain HTTP on the port, another protocol);
    /// permanent.
    NotTls,
    /// The peer ended the handshake with an alert; permanent when the alert says the handshake
    /// can never succeed as configured (`alert_is_final`).
    Alert(AlertDescription),
    /// Anything else (a connection cut mid-handshake, a corrupted record); transient.
    Handshake,
}

impl TlsFailure {
    pub fn from_rustls(error: &rustls::Error) -> TlsFailure {
        use rustls::Error as E;
        match error {
            E::InvalidCertificate(c) => TlsFailure::Untrusted(Untrusted::from_certificate_error(c)),
            E::NoCertificatesPresented => TlsFailure::Untrusted(Untrusted::Other),
            E::PeerIncompatible(_) => TlsFailure::Incompatible,
            E::InvalidMessage(rustls::InvalidMessage::InvalidContentType)
            | E::InvalidMessage(rustls::InvalidMessage::UnknownProtocolVersion) => TlsFailure::NotTls,
            E::AlertReceived(alert) => TlsFailure::Alert(*alert),
            _ => TlsFailure::Handshake,
        }
    }

    pub fn is_transient(&self) -> bool {
        match self {
            TlsFailure::Handshake => true,
            TlsFailure::Alert(alert) => !alert_is_final(*alert),
            TlsFailure::Untrusted(_) | TlsFailure::Incompatible | TlsFailure::NotTls => false,
        }
    }
}

/// Alerts that say the peer will refuse every handshake we can offer as configured (no common
/// protocol, a client certificate it wants or refuses, a name it does not serve).
fn alert_is_final(alert: AlertDescription) -> bool {
    use AlertDescription as A;
    matches!(
        alert,
        A::HandshakeFailure
            | A::ProtocolVersion
            | A::InsufficientSecurity
            | A::BadCertificate
            | A::UnsupportedCertificate
            | A::CertificateRequired
            | A::UnknownCA
            | A::AccessDenied
            | A::UnrecognisedName
            | A::NoApplicationProtocol
    )
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsFailure::Untrusted(why) => write!(f, "the server's certificate is not trusted: {why}"),
            TlsFailure::Incompatible => {
                f.write_str("tls handshake failed: no protocol version or cipher suite in common")
            }
            TlsFailure::NotTls => f.write_str("tls handshake failed: the server does not speak TLS on that port"),
            TlsFailure::Alert(alert) => write!(f, "tls handshake refused by the server ({alert:?})"),
            TlsFailure::Handshake => f.write_str("tls handshake failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use rustls::{CertificateError, Error, OtherError};

    use super::*;

    fn classify(error: Error) -> TlsFailure {
        TlsFailure::from_rustls(&error)
    }

    fn webpki_other(e: webpki::Error) -> Error {
        Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(e))))
    }

    /// Each certificate verification failure rustls (or webpki through rustls's `Other`) reports
    /// gets its own name, is permanent, and reads as words plus the kind's name.
    #[test]
    fn every_certificate_cause_is_named_and_permanent() {
        let cases = [
            (Error::InvalidCertificate(CertificateError::UnknownIssuer), Untrusted::UnknownIssuer),
            (webpki_other(webpki::Error::CaUsedAsEndEntity), Untrusted::CaUsedAsEndEntity),
            (webpki_other(webpki::Error::EndEntityUsedAsCa), Untrusted::EndEntityUsedAsCa),
            (Error::InvalidCertificate(CertificateError::Expired), Untrusted::Expired),
            (
                Error::InvalidCertificate(CertificateError::ExpiredContext {
                    time: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(2)),
                    not_after: rustls::pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(1)),
                }),
                Untrusted::Expired,
            ),
            (Error::InvalidCertificate(CertificateError::NotValidYet), Untrusted::NotValidYet),
            (Error::InvalidCertificate(CertificateError::NotValidForName), Untrusted::NotValidForName),
            (
                Error::InvalidCertificate(CertificateError::NotValidForNameContext {
                    expected: rustls::pki_types::ServerName::try_from("ca.example").unwrap(),
                    presented: vec!["PRESENTED-BY-PEER".into()],
                }),
                Untrusted::NotValidForName,
            ),
            (Error::InvalidCertificate(CertificateError::Revoked), Untrusted::Revoked),
            (Error::InvalidCertificate(CertificateError::BadSignature), Untrusted::BadSignature),
            (Error::InvalidCertificate(CertificateError::InvalidPurpose), Untrusted::InvalidPurpose),
            (Error::InvalidCertificate(CertificateError::BadEncoding), Untrusted::BadEncoding),
            (
                Error::InvalidCertificate(CertificateError::UnhandledCriticalExtension),
                Untrusted::UnhandledCriticalExtension,
            ),
            (webpki_other(webpki::Error::NameConstraintViolation), Untrusted::ConstraintViolation),
            (webpki_other(webpki::Error::MaximumPathBuildCallsExceeded), Untrusted::Other),
            (Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure), Untrusted::Other),
        ];
        for (error, expected) in cases {
            let found = classify(error.clone());
            assert_eq!(found, TlsFailure::Untrusted(expected), "{error:?}");
            assert!(!found.is_transient(), "{error:?} is permanent");
            let text = found.to_string();
            assert!(text.starts_with("the server's certificate is not trusted: "), "{text}");
            assert!(!text.contains("PRESENTED-BY-PEER"), "names the peer sent are not quoted: {text}");
        }
        assert!(
            classify(webpki_other(webpki::Error::CaUsedAsEndEntity))
                .to_string()
                .contains("CA certificate used as the server's own"),
        );
    }

    /// The handshake's other failures: no common protocol and not-TLS are permanent, an alert is
    /// permanent only when it says the handshake cannot succeed, anything else is transient.
    #[test]
    fn other_handshake_failures() {
        let incompatible = classify(Error::PeerIncompatible(rustls::PeerIncompatible::Tls12NotOffered));
        assert_eq!((incompatible, incompatible.is_transient()), (TlsFailure::Incompatible, false));
        let not_tls = classify(Error::InvalidMessage(rustls::InvalidMessage::InvalidContentType));
        assert_eq!((not_tls, not_tls.is_transient()), (TlsFailure::NotTls, false));
        let refused = classify(Error::AlertReceived(AlertDescription::CertificateRequired));
        assert!(!refused.is_transient());
        assert_eq!(refused.to_string(), "tls handshake refused by the server (CertificateRequired)");
        assert!(classify(Error::AlertReceived(AlertDescription::InternalError)).is_transient());
        assert!(classify(Error::DecryptError).is_transient());
        assert_eq!(classify(Error::DecryptError).to_string(), "tls handshake failed");
    }
}
