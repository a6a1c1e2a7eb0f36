//! `certautopilot zone list|create`: the DNS zones of a project and the credential serving each.
//! Invariant: a credential given by name must be the one credential of that name in the project.

use clap::Subcommand;
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::{ProjectArg, record_id};
use crate::client::output::{Column, col, show_object};

#[derive(Debug, Subcommand)]
pub enum ZoneCommand {
    /// A project's zones.
    List(ListArgs),
    /// Add a zone served by a DNS credential (admin).
    Create {
        #[command(flatten)]
        project: ProjectArg,
        /// The zone's apex (`example.com`).
        #[arg(long)]
        apex: String,
        /// The DNS credential that updates it: its id or name.
        #[arg(long)]
        credential: String,
    },
}

const COLUMNS: &[Column] = &[col("ID", "/id"), col("APEX", "/apex"), col("CREDENTIAL", "/credential_id")];

pub async fn run(ctx: &Context, command: ZoneCommand) -> Result<(), ClientError> {
    match command {
        ZoneCommand::List(args) => list_in_project(ctx, "/api/v1/zones", &args, COLUMNS).await,
        ZoneCommand::Create { project, apex, credential } => {
            let project_id = project.resolve(&ctx.api).await?;
            let credential =
                record_id(&ctx.api, "/api/v1/dns-credentials", &project_id, "DNS credential", &credential).await?;
            let body = json!({ "project_id": project_id, "apex": apex, "credential_id": credential });
            show_object(ctx.output, &ctx.api.post("/api/v1/zones", Some(&body)).await?);
            Ok(())
        }
    }
}
