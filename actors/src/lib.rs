//! CertAutoPilot's workers: the job pump that claims and runs jobs with graceful shutdown, and the
//! SIEM forwarder that ships the audit chain;
//! the certificate, ACME-account, audit and KEK actors and their supervision arrive with M1.3–M1.5.

pub mod job_pump;
pub mod siem_forwarder;

pub use job_pump::{
    JobContext, JobError, JobHandler, JobPump, JobPumpHandle, PumpConfig, PumpSnapshot, ShutdownReport,
};
