//! Logging through `tracing`: `RUST_LOG` wins over `log.filter`; pretty for people, JSON for machines.

use certautopilot_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormatArg;

pub fn init(config: &LogConfig, format_override: Option<LogFormatArg>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let json = match format_override {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Pretty) => false,
        None => config.format == LogFormat::Json,
    };
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stdout).with_ansi(ansi);
    // A second init (tests calling twice) is harmless; ignore it.
    let _ = if json { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}
