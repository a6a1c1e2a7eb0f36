//! Clients for the outside world: SIEM forwarding of audit events (RFC 5424 or CEF over UDP, TCP, TLS
//! or RELP), DNS-01 providers and authoritative checks, the ACME client. Distribution targets follow
//! (M1.6). Connectors know nothing of actors.

pub mod acme;
pub mod csr;
pub mod discovery;
pub mod dns;
pub mod egress;
pub mod failure;
pub mod https;
pub mod import;
pub mod notify;
pub mod siem;
pub mod targets;
pub mod x509;

#[cfg(feature = "testsuite")]
pub mod testsupport;
