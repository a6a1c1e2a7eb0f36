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
    pub reload_command: Option<String>,
    pub timeout: Duration,
}

struct PinnedHostKey {
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

    async fn sftp(&self, session: &Handle<PinnedHostKey>) -> Result<SftpSession, DeployError> {
        let channel = session.channel_open_session().await.map_err(|e| transient("ssh channel", e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| transient("sftp subsystem", e))?;
        SftpSession::new(channel.into_stream()).await.map_err(|e| permanent("sftp", e))
    }

    /// Runs `command` on the server; returns its exit status and the tail of its standard error.
    async fn exec(&self, session: &Handle<PinnedHostKey>, command: &str) -> Result<(u32, String), DeployError> {
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

    async fn upload(
        &self,
        session: &Handle<PinnedHostKey>,
        sftp: &SftpSession,
        path: &str,
        bytes: &[u8],
        mode: u32,
    ) -> Result<(), DeployError> {
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
            sftp.set_metadata(&tmp, attrs).await.map_err(|e| permanent(&format!("sftp chmod {tmp}"), e))?;
            let (status, stderr) = self.exec(session, &format!("mv -f -- {} {}", quote(&tmp), quote(path))).await?;
            if status != 0 {
                return Err(DeployError::Permanent(format!("cannot move {tmp} to {path}: {stderr}")));
            }
            Ok(())
        }
        .await;
        if written.is_err() {
            let _ = sftp.remove_file(&tmp).await;
        }
        written
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let session = self.connect().await?;
        let sftp = self.sftp(&session).await?;
        self.upload(&session, &sftp, &self.key_path, d.key_pem.expose(), self.key_mode).await?;
        self.upload(&session, &sftp, &self.cert_path, d.chain_pem.as_bytes(), 0o644).await?;
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
        let _ = session.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        Ok(DeployReport {
            summary: format!("uploaded {} and {} to {}", self.cert_path, self.key_path, self.endpoint()),
            reload,
        })
    }

    /// The SHA-256 fingerprint of the leaf now at `cert_path` on the server, if there is one.
    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let session = self.connect().await?;
        let sftp = self.sftp(&session).await?;
        let pem = match sftp.read(&self.cert_path).await {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(_) => return Ok(None),
        };
        let _ = session.disconnect(russh::Disconnect::ByApplication, "", "en").await;
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
