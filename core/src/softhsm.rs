//! Test support: a SoftHSM2 token in a temporary directory (../shared/notes/crates.md). The library
//! reads `SOFTHSM2_CONF` when it is first initialized in a process, so a test sets it (see
//! `SoftHsm::env`) before opening the module, and passes it on to child processes.

use std::path::{Path, PathBuf};
use std::process::Command;

pub const USER_PIN: &str = "certautopilot-test-pin";
const SO_PIN: &str = "certautopilot-test-so-pin";

/// Where Debian's `softhsm2` package puts the module.
pub const MODULE_PATHS: [&str; 2] =
    ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"];

pub struct SoftHsm {
    pub dir: tempfile::TempDir,
    pub conf: PathBuf,
    pub module: PathBuf,
    pub label: String,
}

impl SoftHsm {
    /// Initializes a fresh token labelled `label` in a new temporary directory.
    pub fn start(label: &str) -> Result<SoftHsm, String> {
        let module = MODULE_PATHS
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .ok_or("SoftHSM2 is not installed (Debian package softhsm2; ./scripts/test installs it)")?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let tokens = dir.path().join("tokens");
        std::fs::create_dir(&tokens).map_err(|e| e.to_string())?;
        let conf = dir.path().join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!("directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n", tokens.display()),
        )
        .map_err(|e| e.to_string())?;
        let hsm = SoftHsm { dir, conf, module, label: label.to_owned() };
        hsm.util(&["--init-token", "--free", "--label", label, "--so-pin", SO_PIN, "--pin", USER_PIN])?;
        Ok(hsm)
    }

    /// The environment the module needs, for this process or a child.
    pub fn env(&self) -> (&'static str, &Path) {
        ("SOFTHSM2_CONF", &self.conf)
    }

    /// Removes the token, as if it were pulled from its slot.
    pub fn delete_token(&self) -> Result<(), String> {
        self.util(&["--delete-token", "--token", &self.label])
    }

    fn util(&self, args: &[&str]) -> Result<(), String> {
        let output = Command::new("softhsm2-util")
            .args(args)
            .env("SOFTHSM2_CONF", &self.conf)
            .output()
            .map_err(|e| format!("cannot run softhsm2-util: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("softhsm2-util {args:?} failed: {}", String::from_utf8_lossy(&output.stderr)))
        }
    }
}
