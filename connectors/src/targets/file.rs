//! The `file` target: the chain and the key written to local paths atomically (a temporary file in
//! the same directory, fsynced, renamed over the old one, the directory fsynced), so a reader sees
//! the old file or the new one and never half of one; then an optional reload command.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::file_policy::{FilePathPolicy, create_in, remove_in, rename_in};
use super::{DeployError, DeployReport, Deployable, MAX_CERT_MODE, MAX_KEY_MODE, check_mode};

/// A shell command run after the files are in place (`systemctl reload nginx`), with a time limit.
#[derive(Debug, Clone)]
pub struct ReloadCommand {
    pub command: String,
    pub timeout: Duration,
}

impl ReloadCommand {
    /// Runs the command; a non-zero exit, a signal or the time limit is an error carrying the tail of
    /// its standard error.
    pub async fn run(&self) -> Result<String, DeployError> {
        let mut command = tokio::process::Command::new("/bin/sh");
        // SAFETY: umask is async-signal-safe; the service runs with 077, a reload command (which may
        // create files other services read) gets the usual 022.
        unsafe {
            command.pre_exec(|| {
                libc::umask(0o022);
                Ok(())
            });
        }
        let child = command
            .args(["-c", &self.command])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| DeployError::Permanent(format!("cannot run the reload command: {e}")))?;
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(output) => output.map_err(|e| DeployError::Permanent(format!("reload command: {e}")))?,
            Err(_) => {
                return Err(DeployError::Permanent(format!(
                    "the reload command did not finish within {} s",
                    self.timeout.as_secs()
                )));
            }
        };
        if output.status.success() {
            return Ok("reload command succeeded".into());
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: String = stderr.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        Err(DeployError::Permanent(match output.status.code() {
            Some(code) => format!("the reload command failed (exit {code}): {tail}"),
            None => format!("the reload command was killed by a signal: {tail}"),
        }))
    }
}

#[derive(Debug, Clone)]
pub struct FileTarget {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    /// The key file's mode: at most 0640 (`MAX_KEY_MODE`).
    pub key_mode: u32,
    /// The chain's mode: at most 0644, as certificates are public.
    pub cert_mode: u32,
    /// `user` or `user:group` owning both files (setting another owner needs root).
    pub owner: Option<String>,
    pub reload: Option<ReloadCommand>,
    /// Where this host lets file targets write; checked again at every write.
    pub policy: Arc<FilePathPolicy>,
}

/// A `user` or `user:group` resolved to ids, through the system's user and group databases.
fn resolve_owner(owner: &str) -> Result<(u32, Option<u32>), DeployError> {
    let (user, group) = match owner.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (owner, None),
    };
    let c = |s: &str| {
        std::ffi::CString::new(s).map_err(|_| DeployError::Permanent(format!("owner {owner:?} is not a name")))
    };
    let user_c = c(user)?;
    // SAFETY: getpwnam/getgrnam read the name we own and return a pointer into static storage,
    // copied out before the next call; the calls happen on this blocking thread only.
    let uid = unsafe {
        let pw = libc::getpwnam(user_c.as_ptr());
        if pw.is_null() {
            return Err(DeployError::Permanent(format!("no user {user:?} on this host")));
        }
        (*pw).pw_uid
    };
    let gid = match group {
        Some(group) => {
            let group_c = c(group)?;
            // SAFETY: as above.
            unsafe {
                let gr = libc::getgrnam(group_c.as_ptr());
                if gr.is_null() {
                    return Err(DeployError::Permanent(format!("no group {group:?} on this host")));
                }
                Some((*gr).gr_gid)
            }
        }
        None => None,
    };
    Ok((uid, gid))
}

impl FileTarget {
    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let (target, chain, key) = (self.clone(), d.chain_pem.clone(), d.key()?.clone());
        tokio::task::spawn_blocking(move || {
            let key_mode = check_mode("key mode", target.key_mode, MAX_KEY_MODE).map_err(DeployError::Permanent)?;
            let cert_mode = check_mode("cert mode", target.cert_mode, MAX_CERT_MODE).map_err(DeployError::Permanent)?;
            let owner = target.owner.as_deref().map(resolve_owner).transpose()?;
            write_atomically(&target.policy, &target.key_path, key.expose(), key_mode, owner)?;
            write_atomically(&target.policy, &target.cert_path, chain.as_bytes(), cert_mode, owner)
        })
        .await
        .map_err(|e| DeployError::Permanent(format!("writing stopped: {e}")))??;
        let reload = match &self.reload {
            Some(cmd) => Some(cmd.run().await?),
            None => None,
        };
        Ok(DeployReport {
            summary: format!("wrote {} and {}", self.cert_path.display(), self.key_path.display()),
            reload,
        })
    }

    /// The SHA-256 fingerprint of the leaf now at `cert_path`, if there is a readable one.
    pub fn deployed_fingerprint(&self) -> Option<String> {
        // Reading back is held to the same places as writing.
        self.policy.check(&self.cert_path.to_string_lossy()).ok()?;
        let pem = std::fs::read_to_string(&self.cert_path).ok()?;
        let leaf = crate::x509::chain_der(&pem).ok()?.into_iter().next()?;
        Some(Sha256::digest(leaf.as_ref()).iter().map(|b| format!("{b:02x}")).collect())
    }
}

/// A local file operation that failed. A full disk or quota is freed without anyone touching the
/// target, so it is retried; anything else (permissions, a missing directory) needs a person.
fn io_error(path: &Path, what: &str, e: std::io::Error) -> DeployError {
    let text = format!("{what} {}: {e}", path.display());
    match e.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => DeployError::Transient(text),
        _ => DeployError::Permanent(text),
    }
}

/// Writes `bytes` to `path` so that readers see either the old content or all of the new, inside
/// the directory the policy vouched for (the temporary file and the rename never leave it).
fn write_atomically(
    policy: &FilePathPolicy,
    path: &Path,
    bytes: &[u8],
    mode: u32,
    owner: Option<(u32, Option<u32>)>,
) -> Result<(), DeployError> {
    let (dir, name) = policy.open_directory(path).map_err(|e| DeployError::Permanent(e.to_string()))?;
    let tmp_name = format!(".{}.certautopilot-{:016x}", name.to_string_lossy(), rand::random::<u64>());
    let tmp = std::ffi::OsStr::new(&tmp_name);
    let tmp_path = path.with_file_name(&tmp_name);
    let result = (|| {
        let mut file = create_in(&dir, tmp, mode).map_err(|e| io_error(&tmp_path, "cannot create", e))?;
        // The umask may have narrowed the mode at creation; set exactly what was asked.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(|e| io_error(&tmp_path, "cannot chmod", e))?;
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::fchown(&file, Some(uid), gid)
                .map_err(|e| io_error(&tmp_path, "cannot chown (setting another owner needs root)", e))?;
        }
        file.write_all(bytes).map_err(|e| io_error(&tmp_path, "cannot write", e))?;
        file.sync_all().map_err(|e| io_error(&tmp_path, "cannot sync", e))?;
        rename_in(&dir, tmp, &name).map_err(|e| io_error(path, "cannot replace", e))?;
        dir.sync_all().map_err(|e| io_error(path, "cannot sync the directory of", e))
    })();
    if result.is_err() {
        remove_in(&dir, tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A full disk or quota is worth retrying (freeing space fixes it); a refused permission is not.
    #[test]
    fn a_full_disk_is_retried() {
        let path = Path::new("/srv/cert.pem");
        let error = |kind| io_error(path, "cannot write", std::io::Error::from(kind));
        assert!(error(std::io::ErrorKind::StorageFull).is_transient());
        assert!(error(std::io::ErrorKind::QuotaExceeded).is_transient());
        assert!(!error(std::io::ErrorKind::PermissionDenied).is_transient());
    }
}
