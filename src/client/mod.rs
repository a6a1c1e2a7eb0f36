//! The binary as a client of a running service's REST API: `login`/`logout`, then `project`,
//! `cert`, `account`, `credential`, `zone`, `target`, `job`, `org` and `audit events|verify --remote`
//! (one file per command group). It needs no configuration and opens no store; it knows only a
//! server URL and a token (context.rs, token_store.rs).
//! Invariants: every command ends with one of the documented exit codes (error.rs), printing the
//! server's problem `detail` and `code` on failure; results go to standard output, progress and
//! errors to standard error; the token is never printed.

mod accounts;
mod audit;
mod certs;
mod context;
mod dns_credentials;
mod error;
mod follow;
mod http;
mod input;
mod jobs;
mod listing;
mod lookup;
mod organization;
mod output;
mod pages;
mod projects;
mod server_url;
mod session;
mod targets;
mod token_store;
mod zones;

use std::future::Future;
use std::process::ExitCode;

use clap::Subcommand;

pub use audit::EventsArgs;
pub use context::Remote;

use crate::client::error::{ClientError, Exit};

/// The client's subcommands, merged into the binary's own (`certautopilot cert list`, …).
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Sign in to a running service and keep an API token for the commands below (in
    /// ~/.config/certautopilot/credentials.json, mode 0600). The password is read from the terminal
    /// without echo, or from standard input when that is not a terminal.
    Login(session::LoginArgs),
    /// Revoke the stored API token and delete the credentials file.
    Logout {
        #[command(flatten)]
        remote: Remote,
    },
    /// Projects on the running service.
    Project {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: projects::ProjectCommand,
    },
    /// Certificates on the running service.
    Cert {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: certs::CertCommand,
    },
    /// ACME accounts on the running service.
    Account {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: accounts::AccountCommand,
    },
    /// DNS credentials on the running service.
    Credential {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: dns_credentials::CredentialCommand,
    },
    /// DNS zones on the running service.
    Zone {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: zones::ZoneCommand,
    },
    /// Distribution targets on the running service.
    Target {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: targets::TargetCommand,
    },
    /// The organization on the running service: who owns it, and handing it over.
    Org {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: organization::OrgCommand,
    },
    /// Jobs on the running service.
    Job {
        #[command(flatten)]
        remote: Remote,
        #[command(subcommand)]
        command: jobs::JobCommand,
    },
}

pub fn run(command: ClientCommand) -> ExitCode {
    finish(async move {
        match command {
            ClientCommand::Login(args) => session::login(args).await,
            ClientCommand::Logout { remote } => session::logout(remote).await,
            ClientCommand::Project { remote, command } => projects::run(&remote.connect()?, command).await,
            ClientCommand::Cert { remote, command } => certs::run(&remote.connect()?, command).await,
            ClientCommand::Account { remote, command } => accounts::run(&remote.connect()?, command).await,
            ClientCommand::Credential { remote, command } => dns_credentials::run(&remote.connect()?, command).await,
            ClientCommand::Zone { remote, command } => zones::run(&remote.connect()?, command).await,
            ClientCommand::Target { remote, command } => targets::run(&remote.connect()?, command).await,
            ClientCommand::Job { remote, command } => jobs::run(&remote.connect()?, command).await,
            ClientCommand::Org { remote, command } => organization::run(&remote.connect()?, command).await,
        }
    })
}

/// `certautopilot audit events`.
pub fn audit_events(remote: Remote, args: EventsArgs) -> ExitCode {
    finish(async move { audit::events(&remote.connect()?, args).await })
}

/// `certautopilot audit verify --remote`.
pub fn audit_verify(remote: Remote, full: bool) -> ExitCode {
    finish(async move { audit::verify(&remote.connect()?, full).await })
}

/// Runs a command on a small runtime of its own and turns its outcome into the exit code.
fn finish(command: impl Future<Output = Result<(), ClientError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            output::note(&format!("error: cannot start the async runtime: {e}"));
            return Exit::General.into();
        }
    };
    match runtime.block_on(command) {
        Ok(()) => Exit::Ok.into(),
        Err(e) => {
            output::note(&format!("error: {e}"));
            e.exit().into()
        }
    }
}
