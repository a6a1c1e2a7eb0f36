//! The `ssh` target: the chain and the key uploaded over SFTP to temporary files beside their
//! destinations, given their modes, then renamed into place on the server (`mv -f`, one rename(2)
//! each, so a reader never sees half a file); then an optional reload command. The server's host key
//! must match the pinned SHA-256 fingerprint: an unknown or changed key is refused before
//! authenticating.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::SftpSession;
use russh_sftp::protocol::FileAttributes;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{DeployError, DeployReport, Deployable};

pub struct SshTarget {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// `SHA256:…`, as `ssh-keygen -l -E sha256` prints it.
    pub host_key_sha256: String,
    /// The client key, OpenSSH or PEM format.
    pub private_key: SecretBytes,
    pub cert_path: String,
    pub key_path: String,
    pub key_mode: u32,
    /// `user` or `user:group` owning both files on the server (`chown` there; needs the right).
    pub owner: Option<String>,
    pub reload_command: Option<String>,
    pub timeout: Duration,
    /// Connections shared by the targets on one host (same user, key and pinned host key): each
    /// deployment opens its own channels on it. `None`: a connection per deployment.
    pub sessions: Option<Arc<SshSessions>>,
}

/// Open SSH connections by (host, port, user, pinned key, client key), reused across deployments
/// and targets: a renewal fanned out to many targets on one host costs one handshake, not one each.
#[derive(Default)]
pub struct SshSessions {
    open: tokio::sync::Mutex<std::collections::HashMap<String, Arc<Handle<PinnedHostKey>>>>,
}

pub struct PinnedHostKey {
    expected: String,
    seen: Arc<Mutex<Option<String>>>,
}

impl client::Handler for PinnedHostKey {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256).to_string(),
            // A host certificate is not a pinned key: refuse it rather than guess.
            PublicKeyOrCertificate::Certificate(_) => return Ok(false),
        };
        let ok = fingerprint == self.expected;
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(fingerprint);
        Ok(ok)
    }
}

/// Single-quotes a path for the remote shell.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

fn transient(what: &str, e: impl std::fmt::Display) -> DeployError {
    DeployError::Transient(format!("{what}: {e}"))
}

fn permanent(what: &str, e: impl std::fmt::Display) -> DeployError {
    DeployError::Permanent(format!("{what}: {e}"))
}

impl SshTarget {
    fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    fn session_key(&self) -> String {
        let key: String =
            Sha256::digest(self.private_key.expose()).iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{}@{}:{}/{}/{key}", self.user, self.host, self.port, self.host_key_sha256)
    }

    /// A live connection: the shared one for this host and identity, or a new one.
    async fn session(&self, fresh: bool) -> Result<Arc<Handle<PinnedHostKey>>, DeployError> {
        let Some(pool) = &self.sessions else { return Ok(Arc::new(self.connect().await?)) };
        let key = self.session_key();
        if !fresh && let Some(open) = pool.open.lock().await.get(&key).filter(|s| !s.is_closed()) {
            return Ok(open.clone());
        }
        let session = Arc::new(self.connect().await?);
        pool.open.lock().await.insert(key, session.clone());
        Ok(session)
    }

    async fn connect(&self) -> Result<Handle<PinnedHostKey>, DeployError> {
        let config =
            Arc::new(client::Config { inactivity_timeout: Some(self.timeout), nodelay: true, ..Default::default() });
        let seen = Arc::new(Mutex::new(None));
        let handler = PinnedHostKey { expected: self.host_key_sha256.clone(), seen: seen.clone() };
        let connecting = client::connect(config, (self.host.as_str(), self.port), handler);
        let mut session = match tokio::time::timeout(self.timeout, connecting).await {
            Err(_) => return Err(DeployError::Transient(format!("ssh {}: no answer in time", self.endpoint()))),
            Ok(Err(russh::Error::UnknownKey)) => {
                let seen =
                    seen.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| "a certificate".into());
                return Err(DeployError::Permanent(format!(
                    "ssh {}: host key {seen} does not match the pinned {}; refusing to connect",
                    self.endpoint(),
                    self.host_key_sha256
                )));
            }
            Ok(Err(e)) => return Err(transient(&format!("ssh {}", self.endpoint()), e)),
            Ok(Ok(session)) => session,
        };
        let text = self.private_key.expose_str().ok_or_else(|| DeployError::Permanent("ssh key is not text".into()))?;
        let key = russh::keys::decode_secret_key(text, None).map_err(|e| permanent("ssh private key", e))?;
        let hash = session.best_supported_rsa_hash().await.ok().flatten().flatten();
        let auth = session
            .authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| transient(&format!("ssh {}", self.endpoint()), e))?;
        if !auth.success() {
            return Err(DeployError::Permanent(format!(
                "ssh {}: the server refused the key for user {}",
                self.endpoint(),
                self.user
            )));
        }
        Ok(session)
    }

    async fn sftp(&self, session: &Arc<Handle<PinnedHostKey>>) -> Result<SftpSession, DeployError> {
        let channel = session.channel_open_session().await.map_err(|e| transient("ssh channel", e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| transient("sftp subsystem", e))?;
        SftpSession::new(channel.into_stream()).await.map_err(|e| permanent("sftp", e))
    }

    /// Runs `command` on the server; returns its exit status and the tail of its standard error.
    async fn exec(&self, session: &Arc<Handle<PinnedHostKey>>, command: &str) -> Result<(u32, String), DeployError> {
        let mut channel = session.channel_open_session().await.map_err(|e| transient("ssh channel", e))?;
        channel.exec(true, command).await.map_err(|e| transient("ssh exec", e))?;
        let mut stderr = Vec::new();
        let mut status = None;
        let waiting = async {
            while let Some(msg) = channel.wait().await {
                match msg {
                    ChannelMsg::ExtendedData { data, ext: 1 } => stderr.extend_from_slice(&data),
                    ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                    _ => {}
                }
            }
        };
        tokio::time::timeout(self.timeout, waiting).await.map_err(|_| {
            DeployError::Permanent(format!("`{command}` did not finish within {} s", self.timeout.as_secs()))
        })?;
        let text = String::from_utf8_lossy(&stderr);
        let tail: String = text.trim().chars().rev().take(300).collect::<Vec<_>>().into_iter().rev().collect();
        Ok((status.unwrap_or(255), tail))
    }

    /// Writes `bytes` to a temporary file beside `path` with `mode`; returns its name.
    async fn upload(&self, sftp: &SftpSession, path: &str, bytes: &[u8], mode: u32) -> Result<String, DeployError> {
        let (dir, name) =
            path.rsplit_once('/').ok_or_else(|| DeployError::Permanent(format!("{path} is not absolute")))?;
        let tmp = format!("{dir}/.{name}.certautopilot-{:016x}", rand::random::<u64>());
        let written = async {
            let mut file = sftp.create(&tmp).await.map_err(|e| permanent(&format!("sftp create {tmp}"), e))?;
            file.write_all(bytes).await.map_err(|e| permanent(&format!("sftp write {tmp}"), e))?;
            // fsync@openssh.com when the server offers it; not every server does.
            let _ = file.sync_all().await;
            file.shutdown().await.map_err(|e| permanent(&format!("sftp close {tmp}"), e))?;
            let attrs = FileAttributes { permissions: Some(mode), ..Default::default() };
            sftp.set_metadata(&tmp, attrs).await.map_err(|e| permanent(&format!("sftp chmod {tmp}"), e))
        }
        .await;
        if let Err(e) = written {
            let _ = sftp.remove_file(&tmp).await;
            return Err(e);
        }
        Ok(tmp)
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let mut session = self.session(false).await?;
        let sftp = match self.sftp(&session).await {
            Ok(sftp) => sftp,
            // A shared connection the server has dropped since: connect again, once.
            Err(_) if self.sessions.is_some() => {
                session = self.session(true).await?;
                self.sftp(&session).await?
            }
            Err(e) => return Err(e),
        };
        let key_tmp = self.upload(&sftp, &self.key_path, d.key_pem.expose(), self.key_mode).await?;
        let cert_tmp = match self.upload(&sftp, &self.cert_path, d.chain_pem.as_bytes(), 0o644).await {
            Ok(tmp) => tmp,
            Err(e) => {
                let _ = sftp.remove_file(&key_tmp).await;
                return Err(e);
            }
        };
        // Both renames in one command: each is atomic, and the key goes first so a reader never
        // finds a new certificate beside an old key.
        let mut command = format!(
            "mv -f -- {} {} && mv -f -- {} {}",
            quote(&key_tmp),
            quote(&self.key_path),
            quote(&cert_tmp),
            quote(&self.cert_path)
        );
        if let Some(owner) = &self.owner {
            command = format!("chown -- {} {} {} && {command}", quote(owner), quote(&key_tmp), quote(&cert_tmp));
        }
        let (status, stderr) = self.exec(&session, &command).await?;
        if status != 0 {
            let _ = sftp.remove_file(&key_tmp).await;
            let _ = sftp.remove_file(&cert_tmp).await;
            return Err(DeployError::Permanent(format!("cannot move the files into place: {stderr}")));
        }
        let _ = sftp.close().await;
        let reload = match &self.reload_command {
            Some(command) => {
                let (status, stderr) = self.exec(&session, command).await?;
                if status != 0 {
                    return Err(DeployError::Permanent(format!(
                        "the reload command failed on {} (exit {status}): {stderr}",
                        self.endpoint()
                    )));
                }
                Some("reload command succeeded".to_owned())
            }
            None => None,
        };
        if self.sessions.is_none() {
            let _ = session.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
        Ok(DeployReport {
            summary: format!("uploaded {} and {} to {}", self.cert_path, self.key_path, self.endpoint()),
            reload,
        })
    }

    /// The SHA-256 fingerprint of the leaf now at `cert_path` on the server, if there is one.
    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let session = self.session(false).await?;
        let sftp = self.sftp(&session).await?;
        let pem = match sftp.read(&self.cert_path).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Ok(None),
        };
        let _ = sftp.close().await;
        Ok(crate::x509::chain_der(&pem)
            .ok()
            .and_then(|c| c.into_iter().next())
            .map(|leaf| Sha256::digest(leaf.as_ref()).iter().map(|b| format!("{b:02x}")).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_survives_quotes_and_spaces() {
        assert_eq!(quote("/etc/ssl/my cert's.pem"), r"'/etc/ssl/my cert'\''s.pem'");
    }
}
