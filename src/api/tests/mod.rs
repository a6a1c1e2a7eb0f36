//! API tests, in-process against the real application and a real SQLite store.

mod actors;
mod audit;
mod bad_input;
mod cluster;
mod harness;
mod object_authorization;
mod role_matrix;
mod secrets;
mod targets;
mod tokens;
