//! `certautopilot project list|create`: the projects the caller can see, and a new one (owners).
//! Invariant: answers are printed as the server gave them; nothing is decided here.

use clap::Subcommand;
use serde_json::json;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::output::{Column, col, show_object, show_page};
use crate::client::pages::{PageArgs, fetch};

#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// The projects you can see.
    List {
        #[command(flatten)]
        page: PageArgs,
    },
    /// Create a project (owners).
    Create {
        #[arg(long)]
        name: String,
    },
}

const COLUMNS: &[Column] = &[col("ID", "/id"), col("NAME", "/name"), col("CREATED", "/created_at")];

pub async fn run(ctx: &Context, command: ProjectCommand) -> Result<(), ClientError> {
    match command {
        ProjectCommand::List { page } => {
            let page = fetch(&ctx.api, "/api/v1/projects", &[], &page).await?;
            show_page(ctx.output, &page, COLUMNS);
        }
        ProjectCommand::Create { name } => {
            let created = ctx.api.post("/api/v1/projects", Some(&json!({ "name": name }))).await?;
            show_object(ctx.output, &created);
        }
    }
    Ok(())
}
