//! API tests, in-process against the real application and a real SQLite store.

mod acme_accounts;
mod actors;
mod audit;
mod bad_input;
mod certificate_edits;
mod cluster;
mod contract;
mod dns_credentials;
mod dns_exec;
pub(crate) mod harness;
mod login_abuse;
mod object_authorization;
pub(crate) mod role_matrix;
mod secrets;
mod security_headers;
mod targets;
mod tenancy;
mod token_containment;
mod tokens;
pub(crate) mod victims;
