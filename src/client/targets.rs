//! `certautopilot target list|create`: a project's distribution targets.
//! Invariant: a target's settings, secrets included, come as a JSON file (or standard input),
//! never argv; their keys per type are the server's (docs/api.md, "Targets").

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::input;
use crate::client::listing::{ListArgs, list_in_project};
use crate::client::lookup::ProjectArg;
use crate::client::output::{Column, col, show_object};

#[derive(Debug, Subcommand)]
pub enum TargetCommand {
    /// A project's targets (secrets are never shown).
    List(ListArgs),
    /// Add a target (admin).
    Create {
        #[command(flatten)]
        project: ProjectArg,
        #[arg(long)]
        name: String,
        /// file, ssh, webhook, kubernetes, vault, f5, netscaler or iis.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// A JSON file with the type's settings, the API's `config` (`-` for standard input). Named
        /// `--settings` because `--config` is the service's configuration file.
        #[arg(long, value_name = "FILE")]
        settings: PathBuf,
    },
}

const COLUMNS: &[Column] =
    &[col("ID", "/id"), col("NAME", "/name"), col("TYPE", "/type"), col("CREATED", "/created_at")];

pub async fn run(ctx: &Context, command: TargetCommand) -> Result<(), ClientError> {
    match command {
        TargetCommand::List(args) => list_in_project(ctx, "/api/v1/targets", &args, COLUMNS).await,
        TargetCommand::Create { project, name, kind, settings } => {
            let config = input::json_object(&settings, "target settings")?;
            let project_id = project.resolve(&ctx.api).await?;
            let body = json!({ "project_id": project_id, "name": name, "type": kind, "config": config });
            show_object(ctx.output, &ctx.api.post("/api/v1/targets", Some(&body)).await?);
            Ok(())
        }
    }
}
