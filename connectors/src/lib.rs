//! Clients for the outside world. Today: SIEM forwarding of audit events (RFC 5424 or CEF over UDP,
//! TCP or RELP). ACME (M1.5) and distribution targets (M1.6) follow. Connectors know nothing of actors.

pub mod siem;

#[cfg(feature = "testsuite")]
pub mod testsupport;
