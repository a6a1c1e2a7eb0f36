//! The web console in a real Chromium, driven over WebDriver: the operator's whole path against
//! Pebble and BIND, what a viewer sees and what a forged form gets, another project's ids, bad
//! input on every form, accessibility (axe-core) and screenshots of every screen
//! (`target/ui-screenshots/`), DNS credential forms per provider. The server is the binary built by
//! this test run.

#[path = "../cli/process.rs"]
#[allow(dead_code, unused_imports)]
mod process;

mod bad_input;
mod browser;
mod credentials;
mod operator;
mod organization;
mod roles;

use std::path::Path;
use std::time::Duration;

use process::{Server, wait_for_status};

/// Fast polling and short backoffs (the defaults are for real CAs).
const FAST: &[(&str, &str)] = &[
    ("CERTAUTOPILOT_ISSUANCE__POLL_INITIAL_MS", "10"),
    ("CERTAUTOPILOT_ISSUANCE__POLL_MAX_MS", "200"),
    ("CERTAUTOPILOT_ISSUANCE__ACME_TIMEOUT_SECS", "5"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_PROPAGATION_TIMEOUT_SECS", "5"),
    ("CERTAUTOPILOT_ISSUANCE__DNS_QUERY_TIMEOUT_MS", "500"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_BASE_SECS", "1"),
    ("CERTAUTOPILOT_JOBS__BACKOFF_MAX_SECS", "2"),
    ("CERTAUTOPILOT_JOBS__LEASE_SECS", "5"),
    ("CERTAUTOPILOT_JOBS__HEARTBEAT_SECS", "1"),
];

/// `serve` in `dir`, file targets allowed under it, ready.
pub(crate) fn start_server(dir: &Path) -> Server {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let allowed = dir.display().to_string();
    let files = [("CERTAUTOPILOT_TARGETS__FILE__ALLOWED_DIRS", allowed.as_str())];
    let env: Vec<(&str, &str)> = FAST.iter().chain(&files).copied().collect();
    let server = Server::start(dir, &[], &env);
    wait_for_status(server.addr, "/readyz", 200, Duration::from_secs(30));
    server
}

pub(crate) const OWNER: (&str, &str) = ("owner@acme.test", "correct horse battery staple");

/// Signs in through the sign-in page and lands on the overview.
pub(crate) async fn sign_in(b: &browser::Browser, (email, password): (&str, &str)) {
    b.goto("/login").await;
    b.type_into("#f-email", email).await;
    b.type_into("#f-password", password).await;
    b.submit("main form").await;
    b.wait_for_text(None, "h1", Duration::from_secs(10), |t| t == "Overview").await;
}
