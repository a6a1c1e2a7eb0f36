//! Who may call an operation. The route table (`api::routes`) declares one `Policy` per operation
//! and is the only place that does: REST attaches it to each route, GraphQL looks it up by the
//! operation's id (`api::routes::policy_of`), and `Authorized` enforces it for both.
//! Invariant: a leaf (it imports only core's `Role`), so the table and the service can both name it.

use certautopilot_core::model::Role;

/// Who may call an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone, signed in or not.
    Public,
    /// Any signed-in user of the organization.
    Authenticated,
    /// The organization's owners only.
    Owner,
    /// Members of the addressed project with at least this role (owners always qualify).
    Project(Role),
}
