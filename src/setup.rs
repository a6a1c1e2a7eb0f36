//! `certautopilot setup` and `certautopilot kek init`: first-run chores from the command line.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use certautopilot_config::{Config, KekConfig};
use certautopilot_core::SystemClock;
use certautopilot_core::crypto::LocalKek;
use zeroize::Zeroizing;

use crate::service::AppState;
use crate::wiring::{open_envelope, open_store};

pub async fn run(config: &Config, org: &str, email: &str) -> anyhow::Result<()> {
    let password = read_password("owner password: ")?;
    let kek = open_envelope(config, &certautopilot_actors::ActorRegistry::new())?;
    let envelope = kek.envelope.clone();
    let state =
        AppState::new(envelope.clone(), config.auth.clone(), config.jobs.max_attempts, false, Arc::new(SystemClock));
    let store = open_store(config).await?;
    crate::kek_check::require_kek_opens_store(config, store.as_ref(), &envelope).await?;
    state.set_store(store.clone());
    let (org, owner) = crate::service::setup::perform(&state, org, email, &password).await.map_err(|e| {
        anyhow::anyhow!("setup refused: {}{}", e.field.map(|f| format!("{f}: ")).unwrap_or_default(), e.detail)
    })?;
    crate::audit::chain_outbox(store.as_ref(), &envelope).await?;
    println!("organization {} ({}) set up; owner {} ({})", org.name, org.id, owner.email, owner.id);
    Ok(())
}

/// From the terminal without echo (after `prompt`), or the first line of standard input. Also
/// `certautopilot login`'s (src/client/session.rs).
pub(crate) fn read_password(prompt: &str) -> anyhow::Result<Zeroizing<String>> {
    let stdin = std::io::stdin();
    let mut line = Zeroizing::new(String::new());
    if stdin.is_terminal() {
        eprint!("{prompt}");
        std::io::stderr().flush()?;
        let _echo = EchoOff::new();
        stdin.lock().read_line(&mut line)?;
        eprintln!();
    } else {
        stdin.lock().read_line(&mut line).context("cannot read the password from standard input")?;
    }
    let password = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    if password.is_empty() {
        bail!("no password given (type it at the prompt or pipe it on standard input)");
    }
    Ok(password)
}

/// Turns terminal echo off while alive.
struct EchoOff(Option<libc::termios>);

impl EchoOff {
    fn new() -> Self {
        // SAFETY: termios calls on fd 0 with a zeroed struct that tcgetattr fills.
        unsafe {
            let mut term: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut term) != 0 {
                return EchoOff(None);
            }
            let saved = term;
            term.c_lflag &= !libc::ECHO;
            libc::tcsetattr(0, libc::TCSANOW, &term);
            EchoOff(Some(saved))
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = self.0 {
            // SAFETY: restores the attributes read in `new`.
            unsafe {
                libc::tcsetattr(0, libc::TCSANOW, &saved);
            }
        }
    }
}

pub fn kek_init(config: &Config, path: Option<PathBuf>) -> anyhow::Result<()> {
    let path = match (path, &config.kek) {
        (Some(p), _) => p,
        (None, KekConfig::File { path }) => path.clone(),
        (None, KekConfig::Dev { .. }) => bail!("give --path, or set kek.provider = \"file\" and kek.file_path"),
        (None, KekConfig::Pkcs11 { .. }) => {
            bail!("a PKCS#11 KEK is generated inside the token on first start; there is no file to create")
        }
    };
    LocalKek::init(&path).with_context(|| format!("cannot create the KEK file {}", path.display()))?;
    println!("KEK file created at {} (mode 0600); back it up apart from the database", path.display());
    Ok(())
}
