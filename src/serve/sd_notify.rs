//! systemd's readiness protocol (`Type=notify`, sd_notify(3)) without libsystemd: `READY=1` once
//! the service answers (store open, KEK checked, listeners bound), `WATCHDOG=1` at half the
//! `WatchdogSec=` systemd asked for, `STOPPING=1` when the shutdown starts. One datagram each to
//! `$NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace).
//! Invariant: without `NOTIFY_SOCKET` (not under systemd) nothing is sent and nothing fails; a
//! datagram that cannot be sent is logged, never fatal.

use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// Where systemd listens, if it does.
#[derive(Clone)]
pub(super) struct Notifier {
    target: Option<std::os::unix::net::SocketAddr>,
}

impl Notifier {
    pub(super) fn from_env() -> Notifier {
        let target = std::env::var("NOTIFY_SOCKET").ok().and_then(|path| {
            let address = match path.strip_prefix('@') {
                Some(name) => {
                    use std::os::linux::net::SocketAddrExt;
                    std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())
                }
                None => std::os::unix::net::SocketAddr::from_pathname(&path),
            };
            address.map_err(|e| tracing::warn!(error = %e, "NOTIFY_SOCKET is unusable; systemd is not told")).ok()
        });
        Notifier { target }
    }

    fn send(&self, message: &str) {
        let Some(target) = &self.target else { return };
        let sent = UnixDatagram::unbound().and_then(|socket| socket.send_to_addr(message.as_bytes(), target));
        if let Err(e) = sent {
            tracing::warn!(error = %e, message, "cannot notify systemd");
        }
    }

    pub(super) fn ready(&self) {
        self.send("READY=1\nSTATUS=serving");
    }

    pub(super) fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=draining");
    }

    /// Pings systemd's watchdog at half its period, for as long as the runtime lives, when
    /// `WATCHDOG_USEC` asks for it (and names this process, if `WATCHDOG_PID` is set).
    pub(super) fn keep_watchdog(&self) {
        let Some(period) = watchdog_period() else { return };
        let me = self.clone();
        actix_web::rt::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                me.send("WATCHDOG=1");
            }
        });
    }
}

fn watchdog_period() -> Option<Duration> {
    let usec: u64 = std::env::var("WATCHDOG_USEC").ok()?.parse().ok()?;
    if let Ok(pid) = std::env::var("WATCHDOG_PID")
        && pid.parse::<u32>().ok() != Some(std::process::id())
    {
        return None;
    }
    (usec > 0).then(|| Duration::from_micros(usec))
}
