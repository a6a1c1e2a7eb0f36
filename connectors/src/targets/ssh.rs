//! The `ssh` target: the chain and the key uploaded over SFTP to temporary files beside their
//! destinations, given their modes (and owner, with `chown` over ssh), then renamed into place with
//! `posix-rename@openssh.com` (one rename(2) each, so a reader never sees half a file); then an
//! optional reload command. One connection and SFTP channel serve every target on a host. The server's host key
//! must match the pinned SHA-256 fingerprint: an unknown or changed key is refused before
//! authenticating. The host is resolved and checked by the egress policy, and the connection goes
//! to the checked address; the server's own words (stderr, SFTP messages) reach only debug logs.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use certautopilot_core::crypto::SecretBytes;
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};
use sha2::{Digest, Sha256};

use super::{DeployError, DeployReport, Deployable};
use crate::egress::EgressPolicy;
use crate::failure::{NetFailure, log_remote_detail};

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
    /// Where this target may connect (`[egress]`): the host is resolved and checked here, and the
    /// connection goes to the checked address.
    pub egress: EgressPolicy,
}

/// Open SSH connections by (host, port, user, pinned key, client key), reused across deployments
/// and targets: a renewal fanned out to many targets on one host costs one handshake, not one each.
#[derive(Default)]
pub struct SshSessions {
    open: tokio::sync::Mutex<std::collections::HashMap<String, Connection>>,
}

/// One SSH connection with its SFTP channel, shared by concurrent deployments (SFTP requests are
/// independent).
#[derive(Clone)]
struct Connection {
    ssh: Arc<Handle<PinnedHostKey>>,
    sftp: Arc<RawSftpSession>,
}

/// `string` in SSH wire encoding (RFC 4251 §5): a u32 length, then the bytes.
fn ssh_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
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

/// An SSH-level failure: the protocol's own verdicts named (no algorithm in common, not an SSH
/// server, a refused channel or subsystem: permanent, a person has to look), or the classified
/// network reason (`connection refused`, `timeout`, …; transient); the library's text, which can
/// carry the server's words, goes to the debug log.
fn ssh_failed(what: &str, e: &russh::Error) -> DeployError {
    use russh::Error as E;
    let permanent = |reason: String| DeployError::Permanent(format!("{what}: {reason}"));
    match e {
        E::NoCommonAlgo { kind, .. } => {
            return permanent(format!("no {} algorithm in common with the server", format!("{kind:?}").to_lowercase()));
        }
        E::Version => return permanent("the server does not speak SSH".into()),
        E::WrongServerSig => return permanent("the server's signature does not verify".into()),
        E::NoAuthMethod | E::UnsupportedAuthMethod => {
            return permanent("the server offers no authentication method this client can use".into());
        }
        E::RequestDenied => return permanent("the server refused it".into()),
        E::ChannelOpenFailure(russh::ChannelOpenFailure::AdministrativelyProhibited) => {
            return permanent("the server refuses to open a session channel".into());
        }
        E::Keys(_) | E::CouldNotReadKey => return permanent("the ssh key is unusable".into()),
        E::Disconnect | E::HUP => return DeployError::Transient(format!("{what}: connection closed")),
        E::ConnectionTimeout | E::KeepaliveTimeout | E::InactivityTimeout | E::Elapsed(_) => {
            return DeployError::Transient(format!("{what}: timeout"));
        }
        _ => {}
    }
    // `IO` is transparent: its `source()` skips the io::Error itself, so classify that directly.
    let reason = match e {
        E::IO(io) => NetFailure::classify(what, io),
        other => NetFailure::classify(what, other),
    };
    match reason {
        NetFailure::Other => DeployError::Transient(format!("{what}: ssh error")),
        reason if reason.is_transient() => DeployError::Transient(format!("{what}: {reason}")),
        reason => DeployError::Permanent(format!("{what}: {reason}")),
    }
}

/// An SFTP failure: the status code's fixed name (`No such file`, `Permission denied`), never the
/// server's message. A lost connection or a timeout is transient; the server's verdicts are not.
fn sftp_failed(what: &str, e: &russh_sftp::client::error::Error) -> DeployError {
    use russh_sftp::client::error::Error as E;
    use russh_sftp::protocol::StatusCode;
    log_remote_detail(what, &e.to_string());
    match e {
        E::Status(status) if matches!(status.status_code, StatusCode::ConnectionLost | StatusCode::NoConnection) => {
            DeployError::Transient(format!("{what}: connection lost"))
        }
        E::Status(status) => {
            DeployError::Permanent(format!("{what}: {}", status.status_code.to_string().to_lowercase()))
        }
        E::Timeout => DeployError::Transient(format!("{what}: timeout")),
        E::IO(_) => DeployError::Transient(format!("{what}: connection lost")),
        _ => DeployError::Permanent(format!("{what}: sftp error")),
    }
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

    /// A live connection and SFTP channel: the shared ones for this host and identity, or new ones.
    async fn session(&self, fresh: bool) -> Result<Connection, DeployError> {
        let Some(pool) = &self.sessions else { return self.open_connection().await };
        let key = self.session_key();
        if !fresh && let Some(open) = pool.open.lock().await.get(&key).filter(|c| !c.ssh.is_closed()) {
            return Ok(open.clone());
        }
        let connection = self.open_connection().await?;
        pool.open.lock().await.insert(key, connection.clone());
        Ok(connection)
    }

    async fn open_connection(&self) -> Result<Connection, DeployError> {
        let ssh = Arc::new(self.connect().await?);
        let channel = ssh.channel_open_session().await.map_err(|e| ssh_failed("ssh channel", &e))?;
        channel.request_subsystem(true, "sftp").await.map_err(|e| ssh_failed("sftp subsystem", &e))?;
        let sftp = RawSftpSession::new(channel.into_stream());
        sftp.set_timeout(self.timeout.as_secs().max(1));
        sftp.init().await.map_err(|e| sftp_failed("sftp", &e))?;
        Ok(Connection { ssh, sftp: Arc::new(sftp) })
    }

    async fn connect(&self) -> Result<Handle<PinnedHostKey>, DeployError> {
        let config =
            Arc::new(client::Config { inactivity_timeout: Some(self.timeout), nodelay: true, ..Default::default() });
        let seen = Arc::new(Mutex::new(None));
        let handler = PinnedHostKey { expected: self.host_key_sha256.clone(), seen: seen.clone() };
        let what = format!("ssh {}", self.endpoint());
        let connecting = async {
            let stream = self.egress.connect_tcp(&self.host, self.port).await.map_err(std::io::Error::other)?;
            client::connect_stream(config, stream, handler).await
        };
        let mut session = match tokio::time::timeout(self.timeout, connecting).await {
            Err(_) => return Err(DeployError::Transient(format!("{what}: timeout"))),
            Ok(Err(russh::Error::UnknownKey)) => {
                let seen =
                    seen.lock().unwrap_or_else(|e| e.into_inner()).clone().unwrap_or_else(|| "a certificate".into());
                return Err(DeployError::Permanent(format!(
                    "ssh {}: host key {seen} does not match the pinned {}; refusing to connect",
                    self.endpoint(),
                    self.host_key_sha256
                )));
            }
            Ok(Err(e)) => return Err(ssh_failed(&what, &e)),
            Ok(Ok(session)) => session,
        };
        let text = self.private_key.expose_str().ok_or_else(|| DeployError::Permanent("ssh key is not text".into()))?;
        let key = russh::keys::decode_secret_key(text, None).map_err(|e| permanent("ssh private key", e))?;
        let hash = session.best_supported_rsa_hash().await.ok().flatten().flatten();
        let auth = session
            .authenticate_publickey(&self.user, PrivateKeyWithHashAlg::new(Arc::new(key), hash))
            .await
            .map_err(|e| ssh_failed(&what, &e))?;
        if !auth.success() {
            return Err(DeployError::Permanent(format!(
                "ssh {}: the server refused the key for user {}",
                self.endpoint(),
                self.user
            )));
        }
        Ok(session)
    }

    /// Runs `command` on the server; returns its exit status. Its standard error is the server's
    /// text: it goes to the debug log, not into records.
    async fn exec(&self, session: &Arc<Handle<PinnedHostKey>>, command: &str) -> Result<u32, DeployError> {
        let mut channel = session.channel_open_session().await.map_err(|e| ssh_failed("ssh channel", &e))?;
        channel.exec(true, command).await.map_err(|e| ssh_failed("ssh exec", &e))?;
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
        if !stderr.is_empty() {
            log_remote_detail(&format!("ssh {} command stderr", self.endpoint()), &String::from_utf8_lossy(&stderr));
        }
        Ok(status.unwrap_or(255))
    }

    /// Writes `bytes` to a temporary file beside `path` with `mode`; returns its name.
    async fn upload(&self, sftp: &RawSftpSession, path: &str, bytes: &[u8], mode: u32) -> Result<String, DeployError> {
        let (dir, name) =
            path.rsplit_once('/').ok_or_else(|| DeployError::Permanent(format!("{path} is not absolute")))?;
        let tmp = format!("{dir}/.{name}.certautopilot-{:016x}", rand::random::<u64>());
        let attrs = FileAttributes { permissions: Some(mode), ..Default::default() };
        let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::EXCLUDE;
        let handle =
            sftp.open(&tmp, flags, attrs).await.map_err(|e| sftp_failed(&format!("sftp create {tmp}"), &e))?.handle;
        let written = async {
            let mut offset = 0u64;
            for chunk in bytes.chunks(32 * 1024) {
                sftp.write(&handle, offset, chunk.to_vec())
                    .await
                    .map_err(|e| sftp_failed(&format!("sftp write {tmp}"), &e))?;
                offset += chunk.len() as u64;
            }
            // fsync@openssh.com when the server offers it; not every server does.
            let _ = sftp.fsync(&handle).await;
            Ok(())
        }
        .await;
        let closed = sftp.close(&handle).await.map_err(|e| sftp_failed(&format!("sftp close {tmp}"), &e));
        let result = match (written, closed) {
            (Err(e), _) | (Ok(()), Err(e)) => Err(e),
            // The umask may have narrowed the mode at creation.
            (Ok(()), Ok(_)) => sftp
                .setstat(&tmp, FileAttributes { permissions: Some(mode), ..Default::default() })
                .await
                .map(|_| ())
                .map_err(|e| sftp_failed(&format!("sftp chmod {tmp}"), &e)),
        };
        if let Err(e) = result {
            let _ = sftp.remove(&tmp).await;
            return Err(e);
        }
        Ok(tmp)
    }

    /// Renames over an existing file atomically: `posix-rename@openssh.com` (plain SFTP rename
    /// refuses an existing destination).
    async fn rename_over(&self, sftp: &RawSftpSession, from: &str, to: &str) -> Result<(), DeployError> {
        let mut data = Vec::new();
        ssh_string(&mut data, from);
        ssh_string(&mut data, to);
        match sftp.extended("posix-rename@openssh.com", data).await {
            Ok(russh_sftp::protocol::Packet::Status(status))
                if status.status_code == russh_sftp::protocol::StatusCode::Ok =>
            {
                Ok(())
            }
            Ok(russh_sftp::protocol::Packet::Status(status)) => {
                log_remote_detail(&format!("sftp rename {from}"), &status.error_message);
                let code = status.status_code.to_string().to_lowercase();
                Err(DeployError::Permanent(format!("cannot move {from} to {to}: {code}")))
            }
            Ok(_) => Err(DeployError::Permanent(format!("cannot move {from} to {to}: unexpected answer"))),
            Err(e) => Err(sftp_failed(&format!("cannot move {from} to {to}"), &e)),
        }
    }

    pub async fn deploy(&self, d: &Deployable) -> Result<DeployReport, DeployError> {
        let mut connection = self.session(false).await?;
        let key_tmp = match self.upload(&connection.sftp, &self.key_path, d.key()?.expose(), self.key_mode).await {
            Ok(tmp) => tmp,
            // A shared connection the server has dropped since: connect again, once.
            Err(_) if self.sessions.is_some() => {
                connection = self.session(true).await?;
                self.upload(&connection.sftp, &self.key_path, d.key()?.expose(), self.key_mode).await?
            }
            Err(e) => return Err(e),
        };
        let sftp = &connection.sftp;
        let cert_tmp = match self.upload(sftp, &self.cert_path, d.chain_pem.as_bytes(), 0o644).await {
            Ok(tmp) => tmp,
            Err(e) => {
                let _ = sftp.remove(&key_tmp).await;
                return Err(e);
            }
        };
        let placed = async {
            if let Some(owner) = &self.owner {
                let command = format!("chown -- {} {} {}", quote(owner), quote(&key_tmp), quote(&cert_tmp));
                let status = self.exec(&connection.ssh, &command).await?;
                if status != 0 {
                    return Err(DeployError::Permanent(format!("cannot give the files to {owner} (exit {status})")));
                }
            }
            // The key first, so a reader never finds a new certificate beside an old key.
            self.rename_over(sftp, &key_tmp, &self.key_path).await?;
            self.rename_over(sftp, &cert_tmp, &self.cert_path).await
        }
        .await;
        if let Err(e) = placed {
            let _ = sftp.remove(&key_tmp).await;
            let _ = sftp.remove(&cert_tmp).await;
            return Err(e);
        }
        let reload = match &self.reload_command {
            Some(command) => {
                let status = self.exec(&connection.ssh, command).await?;
                if status != 0 {
                    return Err(DeployError::Permanent(format!(
                        "the reload command failed on {} (exit {status})",
                        self.endpoint()
                    )));
                }
                Some("reload command succeeded".to_owned())
            }
            None => None,
        };
        if self.sessions.is_none() {
            let _ = connection.ssh.disconnect(russh::Disconnect::ByApplication, "", "en").await;
        }
        Ok(DeployReport {
            summary: format!("uploaded {} and {} to {}", self.cert_path, self.key_path, self.endpoint()),
            reload,
        })
    }

    /// The SHA-256 fingerprint of the leaf now at `cert_path` on the server, if there is one.
    /// Only "no such file" means nothing is there: any other failure is an error, not a finding
    /// (a dropped connection must not read as a deleted certificate).
    pub async fn deployed_fingerprint(&self) -> Result<Option<String>, DeployError> {
        let what = format!("sftp read {}", self.cert_path);
        let mut connection = self.session(false).await?;
        let mut opened = connection.sftp.open(&self.cert_path, OpenFlags::READ, FileAttributes::default()).await;
        if opened.as_ref().is_err_and(|e| sftp_failed(&what, e).is_transient()) && self.sessions.is_some() {
            // A shared connection the server has dropped since: connect again, once.
            connection = self.session(true).await?;
            opened = connection.sftp.open(&self.cert_path, OpenFlags::READ, FileAttributes::default()).await;
        }
        let handle = match opened {
            Ok(handle) => handle,
            Err(russh_sftp::client::error::Error::Status(status))
                if status.status_code == russh_sftp::protocol::StatusCode::NoSuchFile =>
            {
                return Ok(None);
            }
            Err(e) => return Err(sftp_failed(&what, &e)),
        };
        let sftp = &connection.sftp;
        let mut pem = Vec::new();
        while pem.len() < 1024 * 1024 {
            match sftp.read(&handle.handle, pem.len() as u64, 32 * 1024).await {
                Ok(data) if !data.data.is_empty() => pem.extend_from_slice(&data.data),
                _ => break,
            }
        }
        let _ = sftp.close(&handle.handle).await;
        Ok(crate::x509::chain_der(&String::from_utf8_lossy(&pem))
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
