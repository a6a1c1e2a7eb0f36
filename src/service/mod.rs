//! The service layer: every operation of the product as one function that takes the caller's
//! `Authorized` context and typed input and returns typed output or an `ApiError`. REST handlers
//! (`api::handlers`), GraphQL resolvers and the web console call these and add no rule of their
//! own; one file per resource, like `api::handlers`, beside what they share (the state, the
//! error, the context, credentials, validation, secret re-binding, record helpers).
//! Invariant: every operation checks its caller against its policy before it reads or writes
//! anything, and a refused request changes nothing. Imports point down only: `api` → `service` →
//! core and actors; from `api` this layer takes only the wire types (`api::views`).

pub mod acme_accounts;
pub mod admin;
pub mod approvals;
pub mod audit;
pub mod authorized;
pub mod certificate_import;
pub mod certificate_jobs;
pub mod certificate_request;
pub mod certificates;
pub mod cluster;
pub mod credentials;
pub mod directory;
pub mod discovery;
pub mod dns;
pub mod dns_probe;
pub mod error;
pub mod health;
pub mod inventory;
pub mod jobs;
pub mod members;
pub mod notification_channels;
pub mod notification_rules;
pub mod organization;
pub mod overview;
pub mod policy;
pub mod projects;
pub mod rebind;
pub mod records;
pub mod session;
pub mod setup;
pub mod state;
pub mod targets;
pub mod tokens;
pub mod users;
pub mod validate;

#[cfg(test)]
mod tests;

pub use policy::Policy;
pub use state::AppState;
