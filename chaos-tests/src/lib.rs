//! Chaos tests for the cluster (M1.7): real `certautopilot` processes on loopback, killed, paused
//! and partitioned while they issue and renew certificates, and the invariants that must hold
//! after every fault. The library is the harness; the scenarios are in the main package's
//! `tests/chaos/` (so cargo builds and names the binary they run), the failover benchmark in
//! `benches/`.

pub mod harness;
pub mod http;
pub mod invariants;
pub mod proxy;
