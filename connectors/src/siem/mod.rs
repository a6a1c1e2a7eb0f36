//! Sending audit events to a SIEM: formatting (`format`) and the wire (`transport`).

mod format;
mod transport;

pub use format::{SiemFormat, cef, format as format_event, rfc5424};
pub use transport::{SiemClient, SiemError, SiemTransport, SiemTransportName, TlsDestination};
