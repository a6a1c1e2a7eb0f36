//! `certautopilot audit events` and `audit verify --remote`: the organization's audit chain as the
//! running service shows it (owners). `audit verify` without `--remote` opens the store on this
//! host instead (src/audit.rs).
//! Invariant: a broken chain exits non-zero (1), with the server's answer printed first.

use clap::Args;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::lookup::project_id;
use crate::client::output::{Column, col, show_object, show_page};
use crate::client::pages::{PageArgs, fetch};

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Only this project's events (id or name); default: the whole organization.
    #[arg(long)]
    pub project: Option<String>,
    /// Only this action (e.g. `cert.issued`; the list is in docs/audit.md).
    #[arg(long)]
    pub action: Option<String>,
    /// From this instant (RFC 3339, inclusive).
    #[arg(long, value_name = "TIME")]
    pub from: Option<String>,
    /// Until this instant (RFC 3339, exclusive).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

const COLUMNS: &[Column] = &[
    col("SEQ", "/seq"),
    col("AT", "/at"),
    col("ACTOR", "/actor"),
    col("ACTION", "/action"),
    col("OBJECT", "/object/id"),
    col("PROJECT", "/project_id"),
];

pub async fn events(ctx: &Context, args: EventsArgs) -> Result<(), ClientError> {
    let project = match args.project.as_deref() {
        Some(given) => Some(project_id(&ctx.api, Some(given)).await?),
        None => None,
    };
    let filters = [("project_id", project), ("action", args.action), ("from", args.from), ("until", args.until)];
    show_page(ctx.output, &fetch(&ctx.api, "/api/v1/audit/events", &filters, &args.page).await?, COLUMNS);
    Ok(())
}

pub async fn verify(ctx: &Context, full: bool) -> Result<(), ClientError> {
    let path = if full { "/api/v1/audit/verify?full=true" } else { "/api/v1/audit/verify" };
    let result = ctx.api.post(path, None).await?;
    show_object(ctx.output, &result);
    if result["intact"] == serde_json::json!(true) {
        return Ok(());
    }
    Err(ClientError::Refused(format!(
        "the audit chain is broken at entry {}: {}",
        result["broken_at"],
        result["reason"].as_str().unwrap_or("no reason given")
    )))
}
