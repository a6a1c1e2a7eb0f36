//! The `certautopilot` binary as an operator runs it: `serve` from an empty directory, its probes and
//! graceful shutdown, and `config check` on good and bad files.

mod api_flow;
mod audit;
mod backends;
mod ci_gate;
mod client;
mod config_check;
mod dev_tools;
mod distribution;
mod dns_acmedns;
mod dns_exec;
mod dns_providers;
mod dns_standin;
mod docs;
mod drift;
mod full_disk;
mod hostile_ca;
mod issuance;
mod issuance_route53;
mod kek;
mod kek_migrate;
mod login_flood;
mod pkcs11;
mod process;
mod profiles;
mod propagation;
mod reflection;
mod renewal_safety;
mod schema_fuzz;
mod secret_scan;
mod serve;
mod siem;
mod slow_clients;
mod store_copy;
mod tls;
mod trust;
