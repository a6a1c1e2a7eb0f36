//! Chaos tests for the cluster (M1.7): real `certautopilot` processes on loopback, killed, paused
//! and partitioned while they issue and renew certificates, and the invariants that must hold
//! after every fault, on SQLite (one host) and on MongoDB (nodes sharing nothing but the store
//! and the cluster CA). The library is the harness; the scenarios are in the main package's
//! `tests/chaos/` (so cargo builds and names the binary they run), the failover benchmark in
//! `benches/`.

pub mod harness;
pub mod host;
pub mod http;
pub mod invariants;
pub mod proxy;
pub mod store_proxy;
pub mod store_view;
