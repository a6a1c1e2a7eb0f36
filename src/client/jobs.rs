//! `certautopilot job list|show [--follow]`: a project's jobs, and one job with its log.
//! Invariant: `--follow` prints each log line once, as it appears, and exits 8 when the job is dead.

use std::time::Duration;

use clap::Subcommand;
use serde_json::Value;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::follow::{follow_job, parse_duration};
use crate::client::http::encode;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::output::{Column, Output, col, emit, json_text, render_fields, render_table};

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// A project's jobs, newest first.
    List(ListArgs),
    /// One job with its log.
    Show {
        id: String,
        /// Print the log as it grows until the job has finished (exit 8 if it ends dead).
        #[arg(long)]
        follow: bool,
        /// How long to follow (exit 7 after it; the job goes on): `90s`, `10m`, `1h`.
        #[arg(long, default_value = "10m", value_parser = parse_duration, requires = "follow")]
        timeout: Duration,
    },
}

const COLUMNS: &[Column] = &[
    col("ID", "/id"),
    col("KIND", "/kind"),
    col("STATUS", "/status"),
    col("ATTEMPTS", "/attempts"),
    col("SUBJECT", "/subject"),
    col("QUEUED", "/queued_at"),
];

const LOG: &[Column] = &[col("AT", "/at"), col("LEVEL", "/level"), col("MESSAGE", "/message")];

pub async fn run(ctx: &Context, command: JobCommand) -> Result<(), ClientError> {
    match command {
        JobCommand::List(args) => list_in_project(ctx, "/api/v1/jobs", &args, COLUMNS).await,
        JobCommand::Show { id, follow, timeout } => {
            let detail = if follow {
                follow_job(&ctx.api, &id, timeout).await?
            } else {
                ctx.api.get(&format!("/api/v1/jobs/{}", encode(&id))).await?
            };
            // After --follow the log has been printed line by line already.
            show_detail(ctx.output, &detail, !follow);
            Ok(())
        }
    }
}

fn show_detail(output: Output, detail: &Value, with_log: bool) {
    match output {
        Output::Json => emit(&json_text(detail)),
        Output::Table => {
            let mut text = render_fields(&detail["job"]);
            let log = detail["log"].as_array().map(Vec::as_slice).unwrap_or_default();
            if with_log && !log.is_empty() {
                text.push('\n');
                text.push_str(&render_table(log, LOG));
            }
            emit(&text);
        }
    }
}
