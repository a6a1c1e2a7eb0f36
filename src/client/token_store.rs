//! The stored credential of `certautopilot login`: `{server, token}` (and the `--ca-file` roots
//! the login trusted, if any) in `$XDG_CONFIG_HOME/certautopilot/credentials.json` (or
//! `~/.config/certautopilot/…`).
//! Invariants: the file is written whole or not at all (a temporary file in the same directory,
//! fsynced, then renamed), is mode 0600 in a 0700 directory, and is refused when others may read
//! it; the token's `Debug` is redacted and it has no `Display`, so it cannot reach output or errors.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::client::error::ClientError;
use crate::client::server_url::ServerUrl;

/// An API token (`cap_<id>.<secret>`) or a session JWT. Only `bearer()` reveals it, to build the
/// `Authorization` header.
#[derive(Clone)]
pub struct ApiToken(Zeroizing<String>);

impl ApiToken {
    pub fn new(value: String) -> Self {
        ApiToken(Zeroizing::new(value.trim().to_owned()))
    }

    pub fn bearer(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("Bearer {}", self.0.as_str()))
    }

    /// The token's id, for revoking it (`DELETE /auth/tokens/{id}`); none for session tokens.
    pub fn api_token_id(&self) -> Option<&str> {
        let rest = self.0.strip_prefix("cap_")?;
        rest.split_once('.').map(|(id, _)| id)
    }

    /// For tests that prove the token appears in no output.
    #[cfg(test)]
    pub fn reveal_for_test(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// What the file holds.
#[derive(Debug)]
pub struct Credentials {
    pub server: ServerUrl,
    pub token: ApiToken,
    /// The PEM roots given with `--ca-file` at login, trusted again for this server without it.
    pub ca_pem: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct OnDisk {
    server: String,
    token: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_pem: Option<String>,
}

/// Where the credentials live: `$XDG_CONFIG_HOME/certautopilot/credentials.json`, else under
/// `$HOME/.config`.
pub fn default_path() -> Result<PathBuf, ClientError> {
    let base = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
            Some(home) => PathBuf::from(home).join(".config"),
            None => {
                return Err(ClientError::Refused(
                    "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep the credentials".into(),
                ));
            }
        },
    };
    Ok(base.join("certautopilot").join("credentials.json"))
}

/// The stored credentials, or `None` when there is no file.
pub fn load(path: &Path) -> Result<Option<Credentials>, ClientError> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(ClientError::local(format!("cannot read {}", path.display()))(e)),
    };
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(ClientError::Refused(format!(
            "{} is readable by others (mode {mode:04o}); run `chmod 600 {}` or log in again",
            path.display(),
            path.display()
        )));
    }
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(ClientError::local(format!("cannot read {}", path.display())))?,
    );
    let disk: OnDisk = serde_json::from_str(&text).map_err(|e| {
        // The parser's message names a line and column, never the file's contents.
        ClientError::Refused(format!("{} is not a credentials file ({e}); log in again", path.display()))
    })?;
    let token = ApiToken::new(disk.token);
    Ok(Some(Credentials { server: ServerUrl::parse(&disk.server)?, token, ca_pem: disk.ca_pem }))
}

/// Writes the credentials atomically: the directory is made 0700, the file 0600.
pub fn save(path: &Path, credentials: &Credentials) -> Result<(), ClientError> {
    let dir = path.parent().ok_or_else(|| ClientError::Refused(format!("{} has no directory", path.display())))?;
    let cannot = |what: &str| ClientError::local(format!("cannot {what} {}", dir.display()));
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(cannot("create"))?;
    // Our own directory: if it existed with a wider mode, close it.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(cannot("restrict"))?;
    let body = Zeroizing::new(
        serde_json::to_string_pretty(&OnDisk {
            server: credentials.server.as_str().to_owned(),
            token: credentials.token.0.to_string(),
            ca_pem: credentials.ca_pem.clone(),
        })
        .expect("strings serialize"),
    );
    // tempfile creates the file with mode 0600 in the same directory, so the rename is atomic.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(cannot("write in"))?;
    file.write_all(body.as_bytes()).map_err(cannot("write in"))?;
    file.write_all(b"\n").map_err(cannot("write in"))?;
    file.as_file().sync_all().map_err(cannot("write in"))?;
    file.persist(path).map_err(|e| cannot("write in")(e.error))?;
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(cannot("sync"))?;
    Ok(())
}

/// Deletes the file; `false` when there was none.
pub fn remove(path: &Path) -> Result<bool, ClientError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(ClientError::local(format!("cannot delete {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Credentials {
        Credentials {
            server: ServerUrl::parse("https://certs.example.com").unwrap(),
            token: ApiToken::new("cap_0190b0e0-0000-7000-8000-000000000001.s3cr3t-value".into()),
            ca_pem: Some("-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n".into()),
        }
    }

    /// The file round-trips, is 0600 in a 0700 directory (even one that existed wider), leaves no
    /// temporary file behind, and the token's id is readable for revocation while `Debug` hides it.
    #[test]
    fn saved_credentials_are_private_and_round_trip() {
        let home = tempfile::tempdir().unwrap();
        let dir = home.path().join("certautopilot");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = dir.join("credentials.json");
        save(&path, &sample()).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file left");
        let back = load(&path).unwrap().unwrap();
        assert_eq!((&back.server, &back.ca_pem), (&sample().server, &sample().ca_pem));
        assert_eq!(back.token.reveal_for_test(), sample().token.reveal_for_test());
        assert_eq!(back.token.api_token_id(), Some("0190b0e0-0000-7000-8000-000000000001"));
        let debug = format!("{back:?}");
        assert!(!debug.contains("s3cr3t"), "{debug}");
        assert!(remove(&path).unwrap());
        assert!(!remove(&path).unwrap());
        assert!(load(&path).unwrap().is_none());
    }

    /// A file others can read is refused (naming the fix) rather than used; a damaged file is
    /// refused without echoing its contents.
    #[test]
    fn unsafe_or_damaged_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("credentials.json");
        save(&path, &sample()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::write(&path, "{\"server\": \"https://x\", \"token\": cap_leaked").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("not a credentials file") && !err.contains("cap_leaked"), "{err}");
    }
}
