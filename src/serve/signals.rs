//! The signals `serve` answers: SIGTERM and SIGINT stop it, SIGHUP reloads the TLS certificate.
//! Installed before anything else, so an early SIGHUP cannot kill the process (its default action).

use anyhow::Context;
use tracing::info;

use crate::tls::ReloadingCertificate;

pub(super) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    pub(super) fn install() -> anyhow::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot install the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("cannot install the SIGINT handler")?,
            hup: signal(SignalKind::hangup()).context("cannot install the SIGHUP handler")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; SIGHUP meanwhile reloads the TLS certificate.
    pub(super) async fn wait_for_shutdown(&mut self, tls: Option<&ReloadingCertificate>) -> &'static str {
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => match tls {
                    Some(tls) => match tls.reload() {
                        Ok(()) => info!("tls certificate reloaded"),
                        Err(e) => tracing::warn!(error = %format!("{e:#}"), "tls certificate reload failed; still serving the previous one"),
                    },
                    None => info!("SIGHUP received; nothing to reload (no api.tls)"),
                },
            }
        }
    }
}
