//! Child processes for the multi-process tests: the test binary re-runs one of its own tests with
//! `CAP_STORE_CHILD` set, and that test then plays the child role instead of the parent.
//! `CAP_STORE_DB` tells the child which store to open: a SQLite path, or what `processes::Shared`
//! encodes for either backend.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ROLE_VAR: &str = "CAP_STORE_CHILD";
pub const DB_VAR: &str = "CAP_STORE_DB";
pub const OUT_VAR: &str = "CAP_STORE_OUT";

/// The role this process was started for, if it is a child.
pub fn role() -> Option<String> {
    std::env::var(ROLE_VAR).ok()
}

/// Starts this test binary again, running only `test_name`, in `role`.
pub fn spawn(test_name: &str, role: &str, db: impl AsRef<std::ffi::OsStr>, out: &Path) -> Child {
    Command::new(std::env::current_exe().expect("test binary path"))
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(ROLE_VAR, role)
        .env(DB_VAR, db)
        .env(OUT_VAR, out)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child test process")
}

pub fn env_path(var: &str) -> std::path::PathBuf {
    std::env::var_os(var).unwrap_or_else(|| panic!("{var} is set for children")).into()
}

/// Waits for `child` to exit successfully within `deadline`.
pub fn wait_ok(child: &mut Child, deadline: Duration, what: &str) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("poll child") {
            assert!(status.success(), "{what}: child exited with {status}");
            return;
        }
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("{what}: child still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `condition` until it holds or `deadline` passes (then panics naming `what`).
pub async fn wait_for<F, Fut>(deadline: Duration, what: &str, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while !condition().await {
        assert!(start.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
