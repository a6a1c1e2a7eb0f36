//! CertAutoPilot's actors: the registry every actor reports to, the supervisor that restarts them,
//! the audit actor (each organization's chain writer), the KEK actor (the one place data keys are
//! wrapped and unwrapped), the job pump, the SIEM forwarder, and issuance: the certificate and
//! ACME-account actors and the renewal scheduler, and distribution: the target actors that deploy
//! certificates and scan targets for drift.

pub mod audit;
pub mod audit_archive;
pub mod audit_verifier;
pub mod discovery;
pub mod distribution;
pub mod failpoint;
pub mod hub;
pub mod issuance;
pub mod job_pump;
pub mod kek;
pub mod notify;
mod pace;
pub mod registry;
pub mod siem_forwarder;
pub mod supervisor;
pub mod testing;

pub use job_pump::{
    JobContext, JobError, JobHandler, JobPump, JobPumpHandle, PumpConfig, PumpSnapshot, ShutdownReport,
};
pub use registry::{ActorRegistry, ActorSnapshot, Probe};
pub use supervisor::{ActorError, ForcePanic, Lifeline, RestartBackoff, Spawn, Supervised, supervise};
