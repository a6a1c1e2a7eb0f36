//! CertAutoPilot's core: the domain model, tenancy scopes, the store (trait and SQLite backend) and the job queue.
//! Invariant: project-scoped data is only reachable through a `ProjectScope`; the backend adds the project filter.
//! This crate knows nothing of actors, HTTP or Raft.

pub mod audit;
pub mod clock;
pub mod crypto;
pub mod ids;
pub mod jobs;
pub mod kek_check;
pub mod kek_migration;
pub mod kek_rotation;
pub mod lifecycle;
pub mod model;
pub mod scope;
#[cfg(feature = "testsuite")]
pub mod softhsm;
pub mod store;
#[cfg(feature = "testsuite")]
pub mod testsupport;
pub mod timestamp;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::*;
pub use scope::{OrgScope, Principal, ProjectScope, ScopeError, SystemScope};
pub use store::{Page, PageRequest, Store, StoreError};
pub use timestamp::Timestamp;
