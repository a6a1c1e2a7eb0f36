//! The `list` command every project-scoped resource has: resolve `--project`, fetch the page (or
//! every page), print it. Invariant: the project filter is always sent; the server refuses a
//! project the caller cannot see (exit 5) rather than the client guessing.

use clap::Args;

use crate::client::context::Context;
use crate::client::error::ClientError;
use crate::client::lookup::ProjectArg;
use crate::client::output::{Column, show_page};
use crate::client::pages::{PageArgs, fetch};

/// The flags of every `list` in a project.
#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub project: ProjectArg,
    #[command(flatten)]
    pub page: PageArgs,
}

pub async fn list_in_project(
    ctx: &Context,
    collection: &str,
    args: &ListArgs,
    columns: &[Column],
) -> Result<(), ClientError> {
    let filters = [("project_id", Some(args.project.resolve(&ctx.api).await?))];
    show_page(ctx.output, &fetch(&ctx.api, collection, &filters, &args.page).await?, columns);
    Ok(())
}
