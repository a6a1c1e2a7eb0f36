//! Loading the configuration for every subcommand, and `config check`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use certautopilot_config::{Config, RawConfig};

/// Loads and validates the configuration, including the checks that need the machine.
pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
    let config = certautopilot_config::load(path, std::env::vars()).context("invalid configuration")?;
    config.check_environment().context("invalid configuration")?;
    Ok(config)
}

/// Prints the effective configuration and exits 0, or prints what is wrong and exits 1.
pub fn run(path: Option<&Path>) -> ExitCode {
    match load(path) {
        Ok(config) => match toml::to_string_pretty(&RawConfig::from(&config)) {
            Ok(text) => {
                println!("# effective configuration (secrets redacted)\n{text}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot print the configuration: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
