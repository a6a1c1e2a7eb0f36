//! The exec hook: a program on this host, configured by an organization owner, that publishes and
//! removes challenge records itself. It is run without a shell and without arguments, with
//! `ACTION=present|cleanup`, `FQDN`, `VALUE`, `ZONE` and a fixed `PATH` as its whole environment.
//! Invariants: a program other users could rewrite is not run; nothing of the service's environment (where its own secrets may be) reaches the
//! hook; the hook and every process in its process group are killed when its time runs out; its
//! output is read to a bound, never enters an error, and is logged at debug level only (the
//! script is the user's own, and it may print the credentials it uses).

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use certautopilot_core::model::{DnsProvider, ExecConfig};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::DnsError;
use crate::failure::bounded_escaped;

/// The most of each of stdout and stderr kept for the log; the rest is read and dropped (so the
/// hook never blocks on a full pipe) and counted in a marker.
pub const OUTPUT_LIMIT: usize = 16 * 1024;
/// `EX_TEMPFAIL` (sysexits.h): "try again later". The one exit status taken as transient.
pub const EXIT_TEMPFAIL: i32 = 75;
/// The whole `PATH` a hook gets: the system's directories, not the service's.
const HOOK_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// How long output is still read after the hook ended; a process it left running in the background
/// may hold its pipes open.
const OUTPUT_GRACE: Duration = Duration::from_secs(1);

pub struct ExecHook {
    command: PathBuf,
    timeout: Duration,
}

impl std::fmt::Debug for ExecHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecHook").field("command", &self.command).field("timeout", &self.timeout).finish()
    }
}

/// What a stream printed, up to `OUTPUT_LIMIT` bytes, and how much more was dropped.
#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: usize,
}

impl Captured {
    fn text(&self) -> String {
        let mut text = String::from_utf8_lossy(&self.kept).into_owned();
        if self.dropped > 0 {
            text.push_str(&format!("\n[{} more bytes dropped]", self.dropped));
        }
        text
    }
}

async fn capture(mut stream: impl AsyncRead + Unpin) -> Captured {
    let mut captured = Captured::default();
    let mut chunk = [0u8; 4096];
    loop {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return captured,
            Ok(n) => {
                let room = OUTPUT_LIMIT.saturating_sub(captured.kept.len()).min(n);
                captured.kept.extend_from_slice(&chunk[..room]);
                captured.dropped += n - room;
            }
        }
    }
}

/// Output as the log may carry it: bounded and escaped (one line per field).
fn for_log(captured: &Captured) -> String {
    bounded_escaped(&captured.text(), OUTPUT_LIMIT + 64)
}

impl ExecHook {
    pub fn new(config: &ExecConfig) -> Self {
        ExecHook {
            command: PathBuf::from(&config.command),
            timeout: Duration::from_secs(config.timeout_seconds.into()),
        }
    }

    fn failed(&self, action: &str, what: String, transient: bool) -> DnsError {
        DnsError::Hook { reason: format!("{} ({action}) {what}", self.command.display()), transient }
    }

    /// Refuses a program other local users could rewrite (group- or world-writable): it would run
    /// their code with the service's rights.
    fn check_writable(&self, action: &'static str) -> Result<(), DnsError> {
        use std::os::unix::fs::PermissionsExt;
        match std::fs::metadata(&self.command) {
            Ok(meta) if meta.permissions().mode() & 0o022 != 0 => {
                Err(self.failed(action, "is writable by other users; refusing to run it".into(), false))
            }
            _ => Ok(()),
        }
    }

    /// Runs the hook once for `action`; `Ok` only when it exits with status 0 in time.
    async fn run(&self, action: &'static str, zone: &str, fqdn: &str, value: &str) -> Result<(), DnsError> {
        self.check_writable(action)?;
        let mut command = tokio::process::Command::new(&self.command);
        command
            .env_clear()
            .env("PATH", HOOK_PATH)
            .env("ACTION", action)
            .env("FQDN", fqdn)
            .env("VALUE", value)
            .env("ZONE", zone)
            // Not the service's working directory (its data directory).
            .current_dir("/")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Its own process group, so that a timeout ends what it started too.
            .process_group(0)
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "does not exist".to_owned(),
                std::io::ErrorKind::PermissionDenied => "is not executable by the service".to_owned(),
                _ => format!("could not be started: {}", e.kind()),
            };
            self.failed(action, why, false)
        })?;
        let group = child.id().map(|pid| pid as libc::pid_t);
        let stdout = tokio::spawn(capture(child.stdout.take().expect("stdout is piped")));
        let stderr = tokio::spawn(capture(child.stderr.take().expect("stderr is piped")));
        let status = match tokio::time::timeout(self.timeout, child.wait()).await {
            Ok(status) => Some(status),
            Err(_) => {
                // The leader is not reaped yet, so its pid still names its group: no other group
                // can be hit.
                if let Some(group) = group {
                    // SAFETY: kill(2) with a negative pid signals that process group; no memory is shared.
                    unsafe { libc::kill(-group, libc::SIGKILL) };
                }
                let _ = child.wait().await;
                None
            }
        };
        let stdout = output(stdout).await;
        let stderr = output(stderr).await;
        tracing::debug!(
            command = %self.command.display(),
            action,
            fqdn,
            status = ?status.as_ref().map(|s| s.as_ref().ok().and_then(|s| s.code())),
            stdout = %for_log(&stdout),
            stderr = %for_log(&stderr),
            "dns hook ran; its output, withheld from records"
        );
        let status = match status {
            None => {
                let limit = self.timeout.as_secs();
                return Err(self.failed(action, format!("did not finish within {limit} s and was killed"), true));
            }
            Some(Err(e)) => return Err(self.failed(action, format!("could not be waited for: {}", e.kind()), true)),
            Some(Ok(status)) => status,
        };
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(()),
            (Some(EXIT_TEMPFAIL), _) => {
                Err(self.failed(action, format!("exited with status {EXIT_TEMPFAIL} (try again later)"), true))
            }
            (Some(code), _) => Err(self.failed(action, format!("exited with status {code}"), false)),
            (None, Some(signal)) => Err(self.failed(action, format!("was killed by signal {signal}"), false)),
            (None, None) => Err(self.failed(action, "ended without an exit status".into(), false)),
        }
    }
}

/// A reader's capture, waiting at most `OUTPUT_GRACE` after the hook ended.
async fn output(reader: tokio::task::JoinHandle<Captured>) -> Captured {
    let abort = reader.abort_handle();
    match tokio::time::timeout(OUTPUT_GRACE, reader).await {
        Ok(Ok(captured)) => captured,
        Ok(Err(_)) => Captured::default(),
        Err(_) => {
            abort.abort();
            Captured { kept: b"[output still open when the hook ended; not read]".to_vec(), dropped: 0 }
        }
    }
}

#[async_trait::async_trait]
impl super::TxtRecords for ExecHook {
    fn provider(&self) -> DnsProvider {
        DnsProvider::Exec
    }

    /// `ACTION=present`; `FQDN` is the record's name with the final dot, `ZONE` the zone's apex.
    async fn add_txt(&self, zone: &str, name: &str, value: &str, _ttl: u32) -> Result<(), DnsError> {
        self.run("present", zone, &absolute(name), value).await
    }

    /// `ACTION=cleanup` with the same environment as its `present`.
    async fn remove_txt(&self, zone: &str, name: &str, value: &str) -> Result<(), DnsError> {
        self.run("cleanup", zone, &absolute(name), value).await
    }
}

/// `name.` (a hook can hand it to nsupdate or an API as is, or trim the dot).
fn absolute(name: &str) -> String {
    format!("{}.", name.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Past the limit, output is counted, not kept, and the marker says how much was dropped.
    #[tokio::test]
    async fn output_is_bounded_with_a_marker() {
        let data = vec![b'x'; OUTPUT_LIMIT + 100];
        let captured = capture(&data[..]).await;
        assert_eq!(captured.kept.len(), OUTPUT_LIMIT);
        assert_eq!(captured.dropped, 100);
        assert!(captured.text().ends_with("[100 more bytes dropped]"), "{}", &captured.text()[OUTPUT_LIMIT..]);
        assert_eq!(absolute("_acme-challenge.example.test"), "_acme-challenge.example.test.");
        assert_eq!(absolute("_acme-challenge.example.test."), "_acme-challenge.example.test.");
    }
}
