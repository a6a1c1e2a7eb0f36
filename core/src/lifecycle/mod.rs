//! A certificate's lifecycle as a pure engine (the openraft Engine / Runtime shape): the engine takes
//! the certificate and one event and returns the effects to run; the runtime (the certificate actor's
//! flow in `actors`) runs them, I/O and all, and feeds each result back as the next event.
//! Invariant: no code outside this module writes a certificate's `status`; every move is a row of
//! `transition`, and every decision (already renewed, expired first, retry or fail, which history to
//! keep) is made here, where tests can drive it without a CA or a DNS server.
//!
//! | file            | holds                                                         |
//! |-----------------|---------------------------------------------------------------|
//! | `transition.rs` | the status table: event × status → status and audit action    |
//! | `effects.rs`    | the engine's vocabulary: `Request`, `Event`, `Effect`, `Outcome` |
//! | `certificate.rs`| `CertificateEngine`: `(state, event) -> (state, Vec<Effect>)`; its failure and fallback path in `certificate/failure.rs`, revocation in `certificate/revoke.rs` |
//! | `record.rs`     | pure record updates: an issuance applied, history rotated, a certificate put under management |

mod certificate;
mod effects;
mod record;
mod transition;

#[cfg(test)]
mod tests;

pub use certificate::{CertificateEngine, NEEDS_NEW_CSR};
pub use effects::{
    Effect, Event, Failure, Issuance, JobRun, OrderState, OrderView, Outcome, PendingChallenge, PollUntil, Request,
    TraceLine,
};
pub use record::{apply_issuance, not_approved, put_under_management, rotate_history};
pub use transition::{InvalidTransition, LifecycleEvent, Transition, transition};
