//! `certautopilot`: one binary for every role (api, worker, scheduler, or all three) and its tools.
//! This is the edge where typed errors become `anyhow` reports and exit codes.

mod api;
mod audit;
mod backup;
#[cfg(feature = "bench")]
mod bench;
mod cli;
mod client;
mod cluster;
mod config_check;
#[cfg(feature = "dev-env")]
mod dev_env;
mod graphql;
mod http;
mod kek;
mod kek_check;
mod kek_migrate;
mod logging;
mod metrics;
mod serve;
mod service;
mod setup;
mod store_copy;
mod store_location;
mod tls;
mod ui;
mod wiring;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{AuditCommand, Cli, Command, ConfigCommand, KekCommand, StoreCommand};

fn main() -> ExitCode {
    // ring is the only TLS provider in the build (../shared/notes/crates.md); install it before any TLS use.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Everything this process creates (store, WAL, dev KEK, Raft log, spools, exported keys) is for
    // its own user only; a reload command gets the usual 022 back (connectors' ReloadCommand).
    // SAFETY: umask only sets this process's file-creation mask; no thread has started yet.
    unsafe { libc::umask(0o077) };
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => {
            let config = config_check::load(cli.config.as_deref())?;
            logging::init(&config.log, args.log_format, logging::Output::Stdout);
            actix_web::rt::System::new().block_on(serve::run(config, args.mode))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { command: ConfigCommand::Check } => Ok(config_check::run(cli.config.as_deref())),
        Command::Version => {
            println!(
                "certautopilot {} (store schema {}, mongodb schema {})",
                env!("CARGO_PKG_VERSION"),
                certautopilot_core::store::sqlite::SCHEMA_VERSION,
                certautopilot_core::store::mongodb::SCHEMA_VERSION
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Setup { org, email } => {
            let config = config_check::load(cli.config.as_deref())?;
            logging::init(&config.log, None, logging::Output::Stderr);
            block_on(setup::run(&config, &org, &email))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kek { command: KekCommand::Init { path } } => {
            let config = config_check::load(cli.config.as_deref())?;
            setup::kek_init(&config, path)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kek {
            command:
                command @ (KekCommand::Rotate { .. }
                | KekCommand::Status
                | KekCommand::Retire { .. }
                | KekCommand::Migrate { .. }),
        } => {
            let config = config_check::load(cli.config.as_deref())?;
            store_location::require_existing(&config)?;
            logging::init(&config.log, None, logging::Output::Stderr);
            let action = match command {
                KekCommand::Rotate { batch } => kek::Action::Rotate { batch },
                // clap requires exactly one of `--version` and `--previous`.
                KekCommand::Retire { version, settle_secs, .. } => {
                    let settle = std::time::Duration::from_secs(settle_secs);
                    match version {
                        Some(version) => kek::Action::Retire { version, settle },
                        None => kek::Action::RetirePrevious { settle },
                    }
                }
                KekCommand::Migrate { to, batch } => {
                    block_on(kek_migrate::run(&config, to, batch))?;
                    return Ok(ExitCode::SUCCESS);
                }
                _ => kek::Action::Status,
            };
            block_on(kek::run(&config, action))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Store { command: StoreCommand::Copy { from, to, batch } } => {
            // Warnings only: stdout carries the report, stderr the progress.
            let log = certautopilot_config::LogConfig {
                format: certautopilot_config::LogFormat::Pretty,
                filter: "warn".into(),
            };
            logging::init(&log, None, logging::Output::Stderr);
            block_on(store_copy::run(&from, &to, batch))
        }
        Command::Healthcheck { addr, path } => Ok(healthcheck(addr, &path)),
        Command::Backup { to } => {
            let config = config_check::load(cli.config.as_deref())?;
            store_location::require_existing(&config)?;
            logging::init(&config.log, None, logging::Output::Stderr);
            block_on(backup::backup(&config, &to))
        }
        Command::Restore { from } => {
            let config = config_check::load(cli.config.as_deref())?;
            logging::init(&config.log, None, logging::Output::Stderr);
            block_on(backup::restore(&config, &from))
        }
        Command::Audit { command: AuditCommand::Verify { remote: true, connection, full, .. } } => {
            Ok(client::audit_verify(connection, full))
        }
        Command::Audit { command: AuditCommand::Events { remote, args } } => Ok(client::audit_events(remote, args)),
        Command::Client(command) => Ok(client::run(command)),
        Command::Audit { command: AuditCommand::Verify { org, full, archives, .. } } => {
            let config = config_check::load(cli.config.as_deref())?;
            store_location::require_existing(&config)?;
            logging::init(&config.log, None, logging::Output::Stderr);
            block_on(audit::verify(&config, org, audit::VerifyMode { full, archives }))
        }
        Command::Cluster { command } => {
            let config = config_check::load(cli.config.as_deref())?;
            block_on(cluster::run(&config, command))
        }
        #[cfg(feature = "dev-env")]
        Command::DevEnv { dir } => {
            block_on(dev_env::run(&dir))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(not(feature = "dev-env"))]
        Command::DevEnv { .. } => Err(anyhow::anyhow!(
            "this build has no dev-env (it runs the test support's Pebble and BIND 9, which release builds leave \
             out); build with the feature: cargo run --release --features dev-env -- dev-env"
        )),
        #[cfg(feature = "bench")]
        Command::Bench { command } => {
            let config = config_check::load(cli.config.as_deref())?;
            block_on(bench::run(command, &config))?;
            Ok(ExitCode::SUCCESS)
        }
        #[cfg(not(feature = "bench"))]
        Command::Bench { .. } => Err(anyhow::anyhow!(
            "this build has no benches (release builds leave them and their test support out); build with the \
             feature: cargo run --release --features bench -- bench …"
        )),
    }
}

/// Runs a subcommand on a multi-threaded runtime inside an actix `System`, so that actors (the KEK
/// actor above all) can start there as they do in `serve`.
fn block_on<F: std::future::Future>(future: F) -> F::Output {
    actix_rt::System::with_tokio_rt(|| {
        tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("cannot start the async runtime")
    })
    .block_on(future)
}

/// One GET of `path` at `addr` over plain HTTP (the service's own listener), within 3 s.
fn healthcheck(addr: std::net::SocketAddr, path: &str) -> ExitCode {
    use std::io::{Read, Write};
    let timeout = std::time::Duration::from_secs(3);
    let answer = std::net::TcpStream::connect_timeout(&addr, timeout).and_then(|mut stream| {
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head)?;
        Ok(String::from_utf8_lossy(&head[..n]).into_owned())
    });
    match answer {
        Ok(head) if head.starts_with("HTTP/1.1 200") => ExitCode::SUCCESS,
        Ok(head) => {
            eprintln!("{addr}{path}: {}", head.lines().next().unwrap_or("no answer"));
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("{addr}{path}: {e}");
            ExitCode::FAILURE
        }
    }
}
