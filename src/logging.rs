//! Logging through `tracing`: `RUST_LOG` wins over `log.filter`; pretty for people, JSON for machines.
//! Invariant: one event is one line in both formats. Values can come from outside (a remote answer, a
//! header, a name typed into the API), so control and line-separator characters in every field and
//! message are escaped; JSON escapes them itself, the pretty format through `escaped_fields`.

use std::fmt::Write as _;

use certautopilot_config::{LogConfig, LogFormat};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::util::SubscriberInitExt;

use crate::cli::LogFormatArg;

/// Where log lines go: `serve` logs to standard output (its only output); the other commands keep
/// standard output for their result and log to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Stdout,
    Stderr,
}

pub fn init(config: &LogConfig, format_override: Option<LogFormatArg>, output: Output) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&config.filter));
    let json = match format_override {
        Some(LogFormatArg::Json) => true,
        Some(LogFormatArg::Pretty) => false,
        None => config.format == LogFormat::Json,
    };
    // A second init (tests calling twice) is harmless; ignore it. `try_init` also routes the `log`
    // records of dependencies into the same subscriber.
    let _ = match output {
        Output::Stdout => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
            subscriber(filter, json, ansi, std::io::stdout).try_init()
        }
        Output::Stderr => {
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            subscriber(filter, json, ansi, std::io::stderr).try_init()
        }
    };
}

/// The subscriber `init` installs, writing to `writer`.
fn subscriber<W>(filter: EnvFilter, json: bool, ansi: bool, writer: W) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(ansi);
    if json {
        Box::new(builder.json().flatten_event(true).finish())
    } else {
        Box::new(builder.fmt_fields(escaped_fields()).finish())
    }
}

/// Fields as the default pretty format writes them (`message`, then `name=value`), with every control
/// or separator character escaped so a value cannot start a forged line.
fn escaped_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + Send + Sync + 'static {
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let text = escape(&format!("{value:?}"));
        match field.name() {
            "message" => writer.write_str(&text),
            name => write!(writer, "{name}={text}"),
        }
    })
    .delimited(" ")
}

/// `text` with control characters and the Unicode line and paragraph separators written as escapes.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(json: bool) -> String {
        let buffer = Buffer::default();
        let sink = buffer.clone();
        let subscriber = subscriber(EnvFilter::new("info"), json, false, move || sink.clone());
        tracing::subscriber::with_default(subscriber, || {
            let body = "oops\n2026-12-04T00:00:00Z  INFO certautopilot: forged admin login\r\u{2028}x\u{85}";
            tracing::warn!(status = 500, body = %body, debug_body = ?body, "target answered\nforged {}", body);
            tracing::info_span!("job", name = %"a\nb").in_scope(|| tracing::info!(detail = %"c\nd", "in span"));
        });
        String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
    }

    /// Issue M2.1 item 7: a remote answer with newlines, carriage returns and Unicode separators,
    /// logged as a Display field, a Debug field, in the message and in a span, stays on its event's
    /// one line in the pretty format, and the JSON format stays one parseable document per line.
    #[test]
    fn values_from_outside_cannot_forge_log_lines() {
        let pretty = logged(false);
        let lines: Vec<&str> = pretty.lines().collect();
        assert_eq!(lines.len(), 2, "{pretty}");
        assert!(lines[0].contains("body=oops\\u{a}2026-12-04") && lines[0].contains("\\u{2028}"), "{pretty}");
        assert!(lines[0].contains("target answered\\u{a}forged"), "{pretty}");
        assert!(lines[1].contains("name=a\\u{a}b") && lines[1].contains("detail=c\\u{a}d"), "{pretty}");
        assert!(!pretty.contains('\r') && !pretty.contains('\u{2028}') && !pretty.contains('\u{85}'));

        let json = logged(true);
        let lines: Vec<&str> = json.lines().collect();
        assert_eq!(lines.len(), 2, "{json}");
        for line in lines {
            let event: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(event.get("level").is_some(), "{line}");
        }
        assert!(!json.contains('\r'));
    }
}
