//! The service layer: every operation of the product as one function that takes the caller's
//! `Authorized` context and typed input and returns typed output or an `ApiError`. REST handlers
//! (`api::handlers`), GraphQL resolvers and the web console call these and add no rule of their
//! own; one file per resource, like `api::handlers`.
//! Invariant: every operation checks its caller against its policy before it reads or writes
//! anything, and a refused request changes nothing. Imports point down only: `api` → `service` →
//! core and actors; from `api` this layer takes only the wire types (`api::views`).

pub mod authorized;
pub mod certificates;
pub mod credentials;
pub mod directory;
pub mod error;
pub mod policy;
pub mod rebind;
pub mod records;
pub mod state;
pub mod validate;

#[cfg(test)]
mod tests;

pub use authorized::{AuthMethod, Authorized, Caller};
pub use error::{ApiError, ErrorCode};
pub use policy::Policy;
pub use state::AppState;
